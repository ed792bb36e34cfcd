"""THE activation table: each activation is one class here, and everything else derives from it.

A class holds the activation's name and one line of help (the config's choices), its torch module and
functional form (`build_model`, gradcheck's reference), the equations `redes explain` prints, the points
where its derivative jumps (gradcheck draws its inputs away from them), and its forward and backward
written by hand for the manual engine, on any array API namespace (NumPy or torch). Adding an activation is
its class and its place in `ACTIVATIONS`. Nothing here imports torch until it is used: the config reads
this table before torch is loaded.
"""

from __future__ import annotations

from typing import Any, Optional

Array = Any  # a NumPy array or a torch tensor


class Activation:
    """h = f(a), element-wise. An instance is one layer of a hand-written network: `forward` keeps what
    `backward` needs. `reuse` (train.backward) says whether backward reuses forward values or recomputes them,
    for the activations that can do either (`recomputes`)."""

    name: str
    help: str
    torch_name: str  # the class in torch.nn
    functional: Optional[str]  # the same function in torch.nn.functional (None: the identity)
    equation: str  # f({a}) as `explain` writes it; {a} is the input, {h} the output
    derivative: str  # f'({a}) as the backward multiplies it ("" for the identity)
    note: str = ""  # said beside the equations; may name the options below, e.g. {alpha}
    recompute: Optional[tuple[str, str]] = None  # (derivative, note) of the recomputing backward
    kinks: tuple[float, ...] = ()  # where the derivative jumps
    options: dict[str, str] = {}  # keyword of __init__ -> attribute of the torch module it comes from
    hand_written: bool = True  # False: no hand-written backward; the autograd engines only

    params: dict = {}  # a manual layer's interface: no parameters, so no gradients
    grads: dict = {}

    def __init__(self, xp, reuse: bool = True, **options: float):
        from redes import arrays

        self.xp, self.reuse, self.ops = xp, reuse, arrays
        for key, value in options.items():
            setattr(self, key, value)

    @classmethod
    def module(cls):
        """The torch module that computes this activation in a model (nn.ReLU(), ...)."""
        from torch import nn

        return getattr(nn, cls.torch_name)()

    @classmethod
    def reference(cls, u):
        """The activation computed by torch's own function: what hand-written gradients are checked against."""
        from torch.nn import functional as F

        return u if cls.functional is None else getattr(F, cls.functional)(u)

    @classmethod
    def from_module(cls, xp, module, reuse: bool = True) -> "Activation":
        """A hand-written layer computing what the torch `module` computes, with its options (slope, alpha)."""
        return cls(xp, reuse, **{key: getattr(module, attribute) for key, attribute in cls.options.items()})

    def forward(self, u: Array) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array:
        raise NotImplementedError

    def sgd_backward(self, dy: Array, sgd) -> Array:
        return self.backward(dy)


class ReLU(Activation):
    name, help, torch_name, functional = "relu", "max(a, 0)", "ReLU", "relu"
    equation, derivative, kinks = "max({a}, 0)", "1[{a} > 0]", (0.0,)

    def forward(self, u):
        self.h = self.ops.relu(u)
        return self.h

    def backward(self, dy):  # 1 where h > 0, read from h itself: no mask kept
        return self.ops.relu_backward(dy, self.h)


class Tanh(Activation):
    name, help, torch_name, functional = "tanh", "hyperbolic tangent", "Tanh", "tanh"
    equation, derivative, note = "tanh({a})", "(1 - {h}²)", "reuses {h} from the forward pass"
    recompute = ("(1 - tanh({a})²)", "recomputes tanh({a})")

    def forward(self, u):
        self.h = self.xp.tanh(u)
        if not self.reuse:
            self.u = u
        return self.h

    def backward(self, dy):
        if not self.reuse:
            return dy * (1 - self.xp.tanh(self.u) ** 2)
        g = -self.h  # (1 - h²) dy, built in one new array
        g *= self.h
        g += 1
        g *= dy
        return g


class Sigmoid(Activation):
    name, help, torch_name, functional = "sigmoid", "the logistic 1 / (1 + e^-a)", "Sigmoid", "sigmoid"
    equation, derivative, note = "σ({a}) = 1 / (1 + e^(-{a}))", "{h} ⊙ (1 - {h})", "reuses {h} from the forward pass"
    recompute = ("σ({a}) ⊙ (1 - σ({a}))", "recomputes σ({a})")

    def forward(self, u):
        self.h = self.ops.sigmoid(u)
        if not self.reuse:
            self.u = u
        return self.h

    def backward(self, dy):
        if not self.reuse:
            s = self.ops.sigmoid(self.u)
            return dy * s * (1 - s)
        g = 1 - self.h  # h(1-h) dy, built in one new array
        g *= self.h
        g *= dy
        return g


class HardSigmoid(Activation):
    """Slope 1/6 strictly inside (-3, 3), 0 outside, rounded as torch does."""

    name, help, torch_name, functional = "hardsigmoid", "clip(a + 3, 0, 6) / 6", "Hardsigmoid", "hardsigmoid"
    equation, derivative, kinks = "clip({a} + 3, 0, 6) / 6", "1[-3 < {a} < 3] / 6", (-3.0, 3.0)

    def forward(self, u):
        self.inside = (u > -3) & (u < 3)
        return self.xp.clip(u + 3, 0.0, 6.0) / 6

    def backward(self, dy):
        return self.xp.where(self.inside, dy * (1 / 6), 0.0)


class HardTanh(Activation):
    """Slope 1 strictly inside (-1, 1), 0 outside (torch's hardtanh_backward)."""

    name, help, torch_name, functional = "hardtanh", "clip(a, -1, 1)", "Hardtanh", "hardtanh"
    equation, derivative, kinks = "clip({a}, -1, 1)", "1[-1 < {a} < 1]", (-1.0, 1.0)

    def forward(self, u):
        self.inside = (u > -1) & (u < 1)
        return self.xp.clip(u, -1.0, 1.0)

    def backward(self, dy):
        return self.xp.where(self.inside, dy, 0.0)


class LeakyReLU(Activation):
    name, help, torch_name, functional = "leaky_relu", "a where a > 0, else 0.01 a", "LeakyReLU", "leaky_relu"
    equation, derivative, note = "where({a} > 0, {a}, s·{a})", "where({a} > 0, 1, s)", "slope s = {slope:g}"
    kinks, options, slope = (0.0,), {"slope": "negative_slope"}, 0.01

    def forward(self, u):
        self.positive = u > 0
        return self.xp.where(self.positive, u, self.slope * u)

    def backward(self, dy):
        return self.xp.where(self.positive, dy, self.slope * dy)


class GELU(Activation):
    name, help, torch_name, functional = "gelu", "a Φ(a), Φ the normal cdf", "GELU", "gelu"
    equation, derivative = "{a} ⊙ Φ({a})", "(Φ({a}) + {a} ⊙ φ({a}))"
    note, hand_written = "Φ, φ: normal cdf, pdf; autograd engines only (train.engine=module or autograd)", False


class ELU(Activation):
    """u where u > 0, else alpha (e^u - 1), times `scale` (SELU is ELU with its two constants)."""

    name, help, torch_name, functional = "elu", "a where a > 0, else e^a - 1", "ELU", "elu"
    equation, derivative = "where({a} > 0, {a}, α(e^{a} - 1))", "where({a} > 0, 1, α·e^{a})"
    note, kinks, options, alpha, scale = "α = {alpha:g}", (0.0,), {"alpha": "alpha"}, 1.0, 1.0

    def forward(self, u):
        self.positive = u > 0
        self.negative_part = self.alpha * (self.xp.exp(self.xp.minimum(u, 0.0)) - 1)  # alpha (e^u - 1)
        return self.scale * self.xp.where(self.positive, u, self.negative_part)

    def backward(self, dy):
        # d/du alpha (e^u - 1) = alpha e^u = negative_part + alpha: reuses the forward value
        return self.scale * self.xp.where(self.positive, dy, dy * (self.negative_part + self.alpha))


class SELU(ELU):
    name, help, torch_name, functional = "selu", "self-normalising ELU, λ·elu(a, α)", "SELU", "selu"
    equation, derivative = "λ·where({a} > 0, {a}, α(e^{a} - 1))", "λ·where({a} > 0, 1, α·e^{a})"
    note, options, alpha, scale = "λ = 1.0507, α = 1.6733", {}, 1.6732632423543772, 1.0507009873554805


class SiLU(Activation):
    name, help, torch_name, functional = "silu", "a σ(a), also called swish", "SiLU", "silu"
    equation, derivative, note = "{a} ⊙ σ({a})", "s ⊙ (1 + {a} ⊙ (1 - s))", "s = σ({a}) kept from the forward pass"

    def forward(self, u):
        self.u, self.s = u, self.ops.sigmoid(u)
        return u * self.s

    def backward(self, dy):
        return dy * self.s * (1 + self.u * (1 - self.s))


class Softplus(Activation):
    name, help, torch_name, functional = "softplus", "log(1 + e^a)", "Softplus", "softplus"
    equation, derivative = "log(1 + e^{a})", "σ({a})"

    def forward(self, u):
        self.u = u  # log(1 + e^u) computed stably
        return self.xp.maximum(u, 0.0) + self.xp.log1p(self.xp.exp(-self.xp.abs(u)))

    def backward(self, dy):
        return dy * self.ops.sigmoid(self.u)


class Identity(Activation):
    name, help, torch_name, functional = "identity", "a itself: no activation", "Identity", None
    equation, derivative = "{a}", ""

    def forward(self, u):
        return u

    def backward(self, dy):
        return dy


ACTIVATIONS: dict[str, type[Activation]] = {kind.name: kind for kind in (
    ReLU, Tanh, Sigmoid, HardSigmoid, HardTanh, LeakyReLU, GELU, ELU, SELU, SiLU, Softplus, Identity)}
HAND_WRITTEN = tuple(name for name, kind in ACTIVATIONS.items() if kind.hand_written)


def activation_of(module) -> Optional[type[Activation]]:
    """The table's entry for a torch activation module (nn.ReLU() -> ReLU), or None for any other module."""
    return next((kind for kind in ACTIVATIONS.values() if type(module).__name__ == kind.torch_name
                 and type(module).__module__.startswith("torch.nn")), None)
