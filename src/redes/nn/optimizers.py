"""THE optimizer table: each optimizer is one class here, and everything else derives from it.

A class holds the optimizer's name and help (the config's choices), its torch.optim class and the
config's settings as that class's keywords (the module engine), the update `redes explain` prints, and the
same update written by hand with torch.optim's formulas (the autograd and manual engines; an instance
updates its parameters in place, so they may be views of an nn.Module's tensors). Nothing here imports
torch: the config reads this table before torch is loaded.
"""

from __future__ import annotations

import math
from typing import Any

Array = Any  # a NumPy array or a torch tensor


class Optimizer:
    """A hand-written optimizer over a list of parameters. `weight_decay`: one value for every parameter, or a
    list with one per parameter; a parameter's value may be an array of its shape, one decay per entry."""

    name: str
    help: str
    torch_name: str  # the class in torch.optim
    decay_in_gradient: bool = True  # weight decay added to the gradient, as an L2 penalty's gradient would be

    def __init__(self, xp, params: list[Array], cfg, weight_decay: float | list | None = None):
        self.xp, self.params, self.lr = xp, params, cfg.lr
        decays = cfg.weight_decay if weight_decay is None else weight_decay
        decays = list(decays) if isinstance(decays, (list, tuple)) else [decays] * len(params)
        self.decays = [None if isinstance(d, (int, float)) and d == 0 else d for d in decays]

    @classmethod
    def torch_options(cls, cfg) -> dict:
        """The config's settings of this optimizer as keywords of its torch.optim class (lr and decay aside)."""
        return {}

    @classmethod
    def torch_state(cls, cfg) -> set[str]:
        """The buffers its torch.optim class keeps for each parameter once it has stepped."""
        return set()

    @classmethod
    def equations(cls, cfg) -> list[str]:
        """The update of every parameter θ from its gradient, as `explain` prints it."""
        raise NotImplementedError

    def step(self, grads: list[Array]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError


def _head(cfg) -> str:
    """The first line of an update: the optimizer, its rate and its weight decay."""
    return f"Update ({cfg.name}, lr = {cfg.lr:g}" + (f", wd = {cfg.weight_decay:g}" if cfg.weight_decay else "")


class SGD(Optimizer):
    """g += wd p; buf = momentum buf + g (buf = g at the first step); p -= lr (g + momentum buf | buf)."""

    name, help, torch_name = "sgd", "stochastic gradient descent, with momentum and Nesterov", "SGD"

    def __init__(self, xp, params, cfg, weight_decay=None):
        super().__init__(xp, params, cfg, weight_decay)
        self.momentum, self.nesterov = cfg.momentum, cfg.nesterov
        self.buffers: list = [None] * len(params)

    @classmethod
    def torch_options(cls, cfg):
        return {"momentum": cfg.momentum, "nesterov": cfg.nesterov}

    @classmethod
    def torch_state(cls, cfg):
        return {"momentum_buffer"} if cfg.momentum else set()

    @classmethod
    def equations(cls, cfg):
        head, lines = _head(cfg), ["  g = dL/dθ" + (" + wd·θ" if cfg.weight_decay else "")]
        if cfg.momentum:
            head += f", momentum μ = {cfg.momentum:g}" + (", nesterov" if cfg.nesterov else "")
            step = "θ ← θ - lr·(g + μ·b)" if cfg.nesterov else "θ ← θ - lr·b"
            lines += ["  b ← μ·b + g    (b = g at the first step)", f"  {step}"]
        else:
            lines.append("  θ ← θ - lr·g")
        return [head + ") for every parameter θ", *lines]

    def step(self, grads):
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

    def state_dict(self):
        return {"momentum_buffers": list(self.buffers)}

    def load_state_dict(self, state):
        self.buffers = list(state["momentum_buffers"])


class Adam(Optimizer):
    """Adam, with weight decay added to the gradient (L2)."""

    name, help, torch_name = "adam", "Adam, weight decay added to the gradient (L2)", "Adam"
    eps = 1e-8

    def __init__(self, xp, params, cfg, weight_decay=None):
        super().__init__(xp, params, cfg, weight_decay)
        self.betas, self.steps = tuple(cfg.betas), 0
        self.first = [xp.zeros_like(p) for p in params]
        self.second = [xp.zeros_like(p) for p in params]

    @classmethod
    def torch_options(cls, cfg):
        return {"betas": cfg.betas}

    @classmethod
    def torch_state(cls, cfg):
        return {"step", "exp_avg", "exp_avg_sq"}

    @classmethod
    def equations(cls, cfg):
        beta1, beta2 = cfg.betas
        head = _head(cfg) + f", β1 = {beta1:g}, β2 = {beta2:g}, ε = {cls.eps:g}, t = step count"
        wd = cfg.weight_decay and cls.decay_in_gradient
        decoupled = cfg.weight_decay and not cls.decay_in_gradient
        decay = ["  θ ← (1 - lr·wd)·θ    (decoupled weight decay)"] if decoupled else []
        return [head + ") for every parameter θ", *decay, "  g = dL/dθ" + (" + wd·θ" if wd else ""),
                "  m ← β1·m + (1 - β1)·g,   v ← β2·v + (1 - β2)·g²",
                "  θ ← θ - lr/(1 - β1ᵗ) · m / (√v / √(1 - β2ᵗ) + ε)"]

    def step(self, grads):
        self.steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** self.steps)
        root_correction = math.sqrt(1 - beta2 ** self.steps)
        for p, g, m, v, decay in zip(self.params, grads, self.first, self.second, self.decays):
            if decay is not None and not self.decay_in_gradient:
                p *= 1 - self.lr * decay
            elif decay is not None:
                g = g + decay * p
            m += (1 - beta1) * (g - m)  # torch's lerp: the same rounding as torch.optim
            v *= beta2
            v += (1 - beta2) * g * g
            p -= step_size * (m / (self.xp.sqrt(v) / root_correction + self.eps))

    def state_dict(self):
        return {"steps": self.steps, "first": list(self.first), "second": list(self.second)}

    def load_state_dict(self, state):
        self.steps, self.first, self.second = int(state["steps"]), list(state["first"]), list(state["second"])


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr wd before the step."""

    name, help, torch_name, decay_in_gradient = "adamw", "Adam with decoupled weight decay", "AdamW", False


OPTIMIZERS: dict[str, type[Optimizer]] = {kind.name: kind for kind in (SGD, Adam, AdamW)}
