"""SGD (momentum, Nesterov, weight decay), Adam and AdamW written by hand, with torch.optim's formulas.

They update parameters in place, so the parameters may be views of an nn.Module's tensors.
"""

from __future__ import annotations

import math

from redes.arrays import Array, add_product_, add_scaled_


def _per_parameter(weight_decay, params: list) -> list:
    """One weight decay per parameter (a number, or an array with one per entry), None where there is none."""
    decays = list(weight_decay) if isinstance(weight_decay, (list, tuple)) else [weight_decay] * len(params)
    return [None if isinstance(d, (int, float)) and d == 0 else d for d in decays]


class SGD:
    """g += wd p; buf = momentum buf + g (buf = g at the first step); p -= lr (g + momentum buf | buf).

    `weight_decay`: one value for every parameter, or a list with one per parameter; a parameter's value
    may be an array of its shape, one decay per entry.
    """

    def __init__(self, xp, params: list[Array], lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float | list = 0.0):
        self.xp, self.params = xp, params
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.decays = _per_parameter(weight_decay, params)
        self.buffers: list = [None] * len(params)

    def step(self, grads: list[Array]) -> None:
        for i, (p, g, decay) in enumerate(zip(self.params, grads, self.decays)):
            if decay is not None:
                g = g + decay * p
            if self.momentum:
                buf = self.buffers[i]
                if buf is None:
                    buf = self.buffers[i] = self.xp.asarray(g, copy=True)
                else:
                    buf *= self.momentum
                    buf += g
                g = g + self.momentum * buf if self.nesterov else buf
            p -= self.lr * g

    @property
    def applies_in_backward(self) -> bool:
        """True when the weight gradients can go straight into the momentum buffer (`SGDThroughProducts`):
        all but Nesterov momentum, whose step also needs the gradient after the buffer has taken it."""
        return not self.nesterov

    def state_dict(self) -> dict:
        return {"momentum_buffers": list(self.buffers)}

    def load_state_dict(self, state: dict) -> None:
        self.buffers = list(state["momentum_buffers"])


class SGDThroughProducts:
    """An `SGD` step (not Nesterov) over a `Network`'s one buffer that never writes a weight gradient out.

    During the backward pass each linear layer hands over its weight gradient as the product a @ b = dyᵀx,
    which one GEMM adds into the weight's momentum buffer (buf = momentum buf + dyᵀx, beta = momentum) or,
    without momentum, into the weight itself (W = (1 - lr decay) W - lr dyᵀx). The other parameters
    (biases, batch norm) write their gradients into the network's gradient buffer, and `finish` completes
    the step in a few passes over the whole buffer: the weights' decay into their buffer, the rest's
    momentum and decay, then p -= lr buf. Weights first in the buffer make the weights one slice.
    """

    def __init__(self, sgd: SGD, network, weight_decay: float, rest_decay: float):
        self.sgd, self.network = sgd, network
        self.weight_decay, self.rest_decay = weight_decay, rest_decay
        self.weight_buffers: dict = {}  # each linear weight's view of the momentum buffer, by id of the weight
        self._viewed = None  # the momentum buffer those views are of

    def begin(self) -> None:
        """Before a step: the momentum buffer made at the first step (zeros: momentum * 0 + g is torch's
        first step, buf = g), and the weights' views made again when it is a new array (a loaded state)."""
        sgd, net = self.sgd, self.network
        if sgd.momentum and sgd.buffers[0] is None:
            sgd.buffers[0] = net.xp.zeros_like(net.flat_params)
        if sgd.momentum and sgd.buffers[0] is not self._viewed:
            self.weight_buffers, self._viewed = net.weight_views(sgd.buffers[0]), sgd.buffers[0]

    def add_weight_gradient(self, weight: Array, a: Array, b: Array) -> None:
        """Take in the gradient a @ b of `weight`, after the layer has used the weight for its own dx."""
        sgd = self.sgd
        if sgd.momentum:
            add_product_(self.weight_buffers[id(weight)], a, b, 1.0, beta=sgd.momentum)
        else:
            add_product_(weight, a, b, -sgd.lr, beta=1 - sgd.lr * self.weight_decay)

    def finish(self) -> None:
        """The rest of the step, once every layer's backward has run."""
        sgd, net, n = self.sgd, self.network, self.network.n_weights
        params, rest_grads = net.flat_params, net.flat_grads[n:]
        if not sgd.momentum:
            if self.rest_decay:
                params[n:] *= 1 - sgd.lr * self.rest_decay
            add_scaled_(params[n:], rest_grads, -sgd.lr)
            return
        buffer = sgd.buffers[0]
        if self.weight_decay:
            add_scaled_(buffer[:n], params[:n], self.weight_decay)
        rest = buffer[n:]
        rest *= sgd.momentum
        rest += rest_grads
        if self.rest_decay:
            add_scaled_(rest, params[n:], self.rest_decay)
        add_scaled_(params, buffer, -sgd.lr)


class Adam:
    """Adam (L2 added to the gradient) or, with `decoupled`, AdamW (p *= 1 - lr wd before the step).

    `weight_decay`: one value for every parameter, or a list with one per parameter; a parameter's value
    may be an array of its shape, one decay per entry.
    """

    def __init__(self, xp, params: list[Array], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float | list = 0.0, decoupled: bool = False):
        self.xp, self.params = xp, params
        self.lr, self.betas, self.eps = lr, betas, eps
        self.decays, self.decoupled = _per_parameter(weight_decay, params), decoupled
        self.steps = 0
        self.first = [xp.zeros_like(p) for p in params]
        self.second = [xp.zeros_like(p) for p in params]

    def step(self, grads: list[Array]) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.steps)
        root_correction = math.sqrt(1 - beta2 ** self.steps)
        for p, g, m, v, decay in zip(self.params, grads, self.first, self.second, self.decays):
            if decay is not None and self.decoupled:
                p *= 1 - self.lr * decay
            elif decay is not None:
                g = g + decay * p
            m += (1 - beta1) * (g - m)  # torch's lerp: the same rounding as torch.optim
            v *= beta2
            v += (1 - beta2) * g * g
            p -= step_size * (m / (self.xp.sqrt(v) / root_correction + self.eps))

    def state_dict(self) -> dict:
        return {"steps": self.steps, "first": list(self.first), "second": list(self.second)}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.first, self.second = int(state["steps"]), list(state["first"]), list(state["second"])


def build(xp, params: list[Array], cfg, weight_decay: float | list | None = None) -> SGD | Adam:
    """The hand-written optimizer for an OptimizerConfig; `weight_decay` (one per parameter) replaces the config's."""
    decay = cfg.weight_decay if weight_decay is None else weight_decay
    if cfg.name == "sgd":
        return SGD(xp, params, cfg.lr, cfg.momentum, cfg.nesterov, decay)
    return Adam(xp, params, cfg.lr, tuple(cfg.betas), weight_decay=decay, decoupled=cfg.name == "adamw")
