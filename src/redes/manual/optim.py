"""SGD (momentum, Nesterov, weight decay), Adam and AdamW written by hand, with torch.optim's formulas.

They update parameters in place, so the parameters may be views of an nn.Module's tensors.
"""

from __future__ import annotations

import math

from redes.manual.backends import Array, add_product_, add_scaled_


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
        """True when each parameter's step can be taken as soon as its gradient is known (`ParameterSGD`):
        all but Nesterov momentum, whose step also needs the gradient after the buffer has taken it."""
        return not self.nesterov

    def state_dict(self) -> dict:
        return {"momentum_buffers": list(self.buffers)}

    def load_state_dict(self, state: dict) -> None:
        self.buffers = list(state["momentum_buffers"])


class ParameterSGD:
    """One parameter's step of an `SGD` (not Nesterov), taken by its layer during the backward pass as soon
    as the layer has used the parameter, from its gradient or from the product a @ b that is its gradient.

    The product is added by one GEMM into the momentum buffer, buf = momentum buf + a @ b (with weight
    decay, + decay p), or, without momentum, into the parameter, p = (1 - lr decay) p - lr a @ b; so no
    gradient array is written out, and the buffer and the parameter are each read once less. `buffer`
    (None without momentum) starts at zeros: momentum * 0 + g is torch's first step, buf = g.
    """

    def __init__(self, sgd: SGD, param: Array, buffer: Array | None, decay: float | None):
        self.sgd, self.param, self.buffer, self.decay = sgd, param, buffer, decay

    def from_gradient(self, g: Array) -> None:
        if self.decay is not None:
            g = g + self.decay * self.param
        if self.buffer is not None:
            self.buffer *= self.sgd.momentum
            self.buffer += g
            g = self.buffer
        add_scaled_(self.param, g, -self.sgd.lr)

    def from_product(self, a: Array, b: Array) -> None:
        lr, decay = self.sgd.lr, self.decay or 0.0
        if self.buffer is None:
            add_product_(self.param, a, b, -lr, beta=1 - lr * decay)
            return
        add_product_(self.buffer, a, b, 1.0, beta=self.sgd.momentum)
        if decay:
            add_scaled_(self.buffer, self.param, decay)
        add_scaled_(self.param, self.buffer, -lr)


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
