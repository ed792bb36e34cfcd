"""Layers with parameters or randomness and hand-derived backward passes, written once for any array API
namespace (NumPy or torch); the activations are in `redes.nn.activations`, each beside its torch module.

Every layer has `forward(x) -> y` and `backward(dy) -> dx`; a layer with parameters also has
`params` and `grads` (dicts of arrays with the same keys, `grads` valid after `backward`), and
`sgd_backward(dy, sgd)` hands its gradients to an SGD step (`optim.SGDThroughProducts`) as it goes.
Parameters are updated in place, so they may be views of an nn.Module's tensors. No torch.autograd here.
"""

from __future__ import annotations

from redes.arrays import Array, affine, matmul_into, sum_rows_into


class Layer:
    """Base class: no parameters; subclasses set `xp`, the array namespace they compute with."""

    params: dict[str, Array] = {}
    grads: dict[str, Array] = {}
    grad_into: dict[str, Array] = {}  # where a layer that can writes its gradients (Network's one buffer)

    def __init__(self, xp):
        self.xp = xp

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array:
        raise NotImplementedError

    def sgd_backward(self, dy: Array, sgd) -> Array:
        """backward, with the gradients written where `sgd` (an optim.SGDThroughProducts) reads them; returns dx."""
        dx = self.backward(dy)
        for name, grad in self.grads.items():
            self.grad_into[name][...] = grad
        return dx


class Linear(Layer):
    """y = x W^T + b with W of shape (out, in), as nn.Linear stores it.

    Its gradients are computed from the saved x and dy when read, so that `sgd_backward` can add dyᵀx
    straight into W's momentum buffer (or -lr dyᵀx into W) without writing the gradient matrix out.
    `needs_input_grad=False` (the network's first layer) skips dx, which nothing reads.
    """

    def __init__(self, xp, weight: Array, bias: Array, needs_input_grad: bool = True):
        super().__init__(xp)
        self.params = {"weight": weight, "bias": bias}
        self.needs_input_grad = needs_input_grad

    def forward(self, x):
        self.x = x  # (B, in)
        return affine(x, self.params["weight"], self.params["bias"])  # x W^T + b: (B, in) -> (B, out)

    def backward(self, dy):  # dy: (B, out)
        self.dy = dy
        return dy @ self.params["weight"] if self.needs_input_grad else None  # (B, out) -> (B, in)

    @property
    def grads(self):
        if not self.grad_into:
            return {"weight": self.dy.T @ self.x, "bias": self.xp.sum(self.dy, axis=0)}
        matmul_into(self.grad_into["weight"], self.dy.T, self.x)
        sum_rows_into(self.grad_into["bias"], self.dy)
        return self.grad_into

    def sgd_backward(self, dy, sgd):
        dx = self.backward(dy)  # with W before its update
        sgd.add_weight_gradient(self.params["weight"], dy.T, self.x)
        sum_rows_into(self.grad_into["bias"], dy)
        return dx


class Dropout(Layer):
    """Zero each unit with probability p and scale the rest by 1/(1-p); the mask comes from `draw_mask`.

    `draw_mask(x, keep)` returns a 0/1 array shaped like x, each entry 1 with probability `keep`; the
    engine passes one drawing from torch's generator, as nn.Dropout does on the CPU, so the masks match.
    """

    def __init__(self, xp, p: float, draw_mask):
        super().__init__(xp)
        self.p, self.draw_mask = p, draw_mask

    def forward(self, x):
        self.mask = self.draw_mask(x, 1 - self.p) / (1 - self.p)
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class BatchNorm(Layer):
    """Batch normalisation in training mode: normalise by the batch's mean and biased variance, then
    gamma * x_hat + beta; running statistics (unbiased variance) are updated in place like nn.BatchNorm1d.
    """

    def __init__(self, xp, weight, bias, running_mean, running_var, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__(xp)
        self.params = {"weight": weight, "bias": bias}
        self.grads = {}
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum, self.eps = momentum, eps

    def forward(self, x):  # (B, C) -> (B, C)
        xp, n = self.xp, x.shape[0]
        mean = xp.mean(x, axis=0)
        centred = x - mean
        var = xp.mean(centred * centred, axis=0)
        self.inv_std = 1 / xp.sqrt(var + self.eps)
        self.x_hat = centred * self.inv_std
        if self.running_mean is not None:
            m = self.momentum
            self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            self.running_var[...] = (1 - m) * self.running_var + m * var * (n / max(n - 1, 1))
        return self.params["weight"] * self.x_hat + self.params["bias"]

    def backward(self, dy):
        xp, n = self.xp, dy.shape[0]
        self.grads = {"weight": xp.sum(dy * self.x_hat, axis=0), "bias": xp.sum(dy, axis=0)}
        d_hat = dy * self.params["weight"]
        # dx = (1/N) inv_std (N d_hat - sum(d_hat) - x_hat sum(d_hat x_hat))
        centred = n * d_hat - xp.sum(d_hat, axis=0) - self.x_hat * xp.sum(d_hat * self.x_hat, axis=0)
        return (self.inv_std / n) * centred
