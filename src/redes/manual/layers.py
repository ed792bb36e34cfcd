"""Layers with hand-derived backward passes, written once for any array API namespace (NumPy or torch).

Every layer has `forward(x) -> y` and `backward(dy) -> dx`; a layer with parameters also has
`params` and `grads` (dicts of arrays with the same keys, `grads` valid after `backward`), and
`sgd_backward(dy, sgd)` hands its gradients to an SGD step (`optim.SGDThroughProducts`) as it goes.
Parameters are updated in place, so they may be views of an nn.Module's tensors. No torch.autograd here.
"""

from __future__ import annotations

from redes.arrays import Array, affine, matmul_into, relu, relu_backward, sigmoid, sum_rows_into


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


class Sigmoid(Layer):
    """h = sigmoid(u); fast backward reuses h: h(1-h); naive recomputes sigmoid(u)."""

    def __init__(self, xp, fast: bool = True):
        super().__init__(xp)
        self.fast = fast

    def forward(self, u):
        self.h = sigmoid(u)
        if not self.fast:
            self.u = u
        return self.h

    def backward(self, dy):
        if self.fast:
            g = 1 - self.h  # h(1-h) dy, built in one new array
            g *= self.h
            g *= dy
            return g
        return dy * sigmoid(self.u) * (1 - sigmoid(self.u))


class Tanh(Layer):
    """h = tanh(u); fast backward reuses h: 1 - h^2; naive recomputes tanh(u)."""

    def __init__(self, xp, fast: bool = True):
        super().__init__(xp)
        self.fast = fast

    def forward(self, u):
        self.h = self.xp.tanh(u)
        if not self.fast:
            self.u = u
        return self.h

    def backward(self, dy):
        if self.fast:
            g = -self.h  # (1 - h²) dy, built in one new array
            g *= self.h
            g += 1
            g *= dy
            return g
        return dy * (1 - self.xp.tanh(self.u) ** 2)


class ReLU(Layer):
    """h = max(u, 0); the derivative is 1 where h > 0 and 0 elsewhere, read from h itself (no mask kept)."""

    def forward(self, u):
        self.h = relu(u)
        return self.h

    def backward(self, dy):
        return relu_backward(dy, self.h)


class LeakyReLU(Layer):
    """u where u > 0, else slope * u (nn.LeakyReLU's default slope 0.01)."""

    def __init__(self, xp, slope: float = 0.01):
        super().__init__(xp)
        self.slope = slope

    def forward(self, u):
        self.positive = u > 0
        return self.xp.where(self.positive, u, self.slope * u)

    def backward(self, dy):
        return self.xp.where(self.positive, dy, self.slope * dy)


class HardSigmoid(Layer):
    """clip(u + 3, 0, 6) / 6: slope 1/6 strictly inside (-3, 3), 0 outside (rounded as torch does)."""

    def forward(self, u):
        self.inside = (u > -3) & (u < 3)
        return self.xp.clip(u + 3, 0.0, 6.0) / 6

    def backward(self, dy):
        return self.xp.where(self.inside, dy * (1 / 6), 0.0)


class ELU(Layer):
    """u where u > 0, else alpha (e^u - 1) scaled by `scale` (SELU is ELU with its two constants)."""

    def __init__(self, xp, alpha: float = 1.0, scale: float = 1.0):
        super().__init__(xp)
        self.alpha, self.scale = alpha, scale

    def forward(self, u):
        self.positive = u > 0
        self.negative_part = self.alpha * (self.xp.exp(self.xp.minimum(u, 0.0)) - 1)  # alpha (e^u - 1)
        return self.scale * self.xp.where(self.positive, u, self.negative_part)

    def backward(self, dy):
        # d/du alpha (e^u - 1) = alpha e^u = negative_part + alpha: reuses the forward value
        return self.scale * self.xp.where(self.positive, dy, dy * (self.negative_part + self.alpha))


def SELU(xp) -> ELU:
    """SELU: ELU with the self-normalising constants of nn.SELU."""
    return ELU(xp, alpha=1.6732632423543772, scale=1.0507009873554805)


class Softplus(Layer):
    """log(1 + e^u), computed stably; its derivative is sigmoid(u)."""

    def forward(self, u):
        self.u = u
        return self.xp.maximum(u, 0.0) + self.xp.log1p(self.xp.exp(-self.xp.abs(u)))

    def backward(self, dy):
        return dy * sigmoid(self.u)


class SiLU(Layer):
    """u * sigmoid(u); derivative s + u s (1 - s) = s (1 + u (1 - s))."""

    def forward(self, u):
        self.u, self.s = u, sigmoid(u)
        return u * self.s

    def backward(self, dy):
        return dy * self.s * (1 + self.u * (1 - self.s))


class Identity(Layer):
    """y = x."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


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


ACTIVATION_LAYERS = {
    "relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "hardsigmoid": HardSigmoid, "leaky_relu": LeakyReLU,
    "elu": ELU, "selu": SELU, "silu": SiLU, "softplus": Softplus, "identity": Identity,
}
