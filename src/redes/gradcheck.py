"""Check hand-written gradients against torch.autograd and central finite differences, in float64.

The one shared helper of the tests and of `redes gradcheck`: it checks the built-in layers, losses and
penalties of `redes.manual`, or a student's layer loaded from FILE.py:CLASS (a class constructible with
no arguments, with `forward(x) -> y`, `backward(dy) -> dx` and, if it has parameters, `params` and
`grads` dicts with the same keys), on seeded random inputs so that every result is reproducible.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from redes.errors import RedesError
from redes.manual import layers as L
from redes.manual import losses

# A check passes when every entry satisfies |actual - expected| <= ATOL + RTOL * |expected|.
AUTOGRAD_RTOL, AUTOGRAD_ATOL = 1e-7, 1e-9  # two float64 formulas; torch's hardsigmoid slope is float32 (3e-8)
FD_RTOL, FD_ATOL = 1e-5, 1e-7  # central differences: step² truncation plus round-off / step
FD_STEP = 1e-6  # the perturbation of one entry
FD_ENTRIES = 20  # at most this many entries of each input or parameter are perturbed, to stay fast
KINK_GAP = 1e-3  # built-in inputs are redrawn this close to a kink (ReLU at 0, HardSigmoid at ±3, clamp edges)
DEFAULT_SHAPE, DEFAULT_SEED = (4, 5), 0
_NO_ARGUMENTS = "; a layer to check must be constructible with no arguments"

_ACTIVATIONS = (  # (name, class in redes.manual.layers, its keyword arguments, torch reference, kinks)
    ("Sigmoid", "Sigmoid", {}, torch.sigmoid, ()),
    ("Sigmoid(naive)", "Sigmoid", {"fast": False}, torch.sigmoid, ()),
    ("Tanh", "Tanh", {}, torch.tanh, ()),
    ("Tanh(naive)", "Tanh", {"fast": False}, torch.tanh, ()),
    ("ReLU", "ReLU", {}, torch.relu, (0.0,)),
    ("LeakyReLU", "LeakyReLU", {}, F.leaky_relu, (0.0,)),  # both default to slope 0.01
    ("HardSigmoid", "HardSigmoid", {}, F.hardsigmoid, (-3.0, 3.0)),
    ("ELU", "ELU", {}, F.elu, (0.0,)),
    ("SELU", "SELU", {}, F.selu, (0.0,)),
    ("SiLU", "SiLU", {}, F.silu, ()),
    ("Softplus", "Softplus", {}, F.softplus, ()),
    ("Identity", "Identity", {}, lambda u: u, ()),
)


@dataclass
class CheckResult:
    """One comparison: the largest errors of one gradient (or of the forward output) of one layer, and the verdict."""

    name: str  # "Linear", "Sigmoid(naive)", "my_layer.py:Square"
    check: str  # "forward", "dx", "grad[weight]"
    method: str  # "autograd" or "finite differences"
    max_abs_error: float | None  # None when nothing could be compared (see note)
    max_rel_error: float | None  # max |actual - expected| / (|expected| + atol)
    passed: bool
    note: str = ""  # why it failed when it is not a matter of numbers: a wrong shape, not an array, NaN

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Case:
    """A function of named float64 arrays with a hand-written gradient: what both methods check."""

    name: str
    inputs: dict[str, Any]  # check label ("dx", "grad[weight]") -> the live array, perturbed in place
    forward: Callable[[], Any]
    backward: Callable[[Any], list]  # dy -> the gradients, in `inputs` order
    reference: Callable[..., torch.Tensor] | None = None  # the same function in torch, of the inputs in order


def gradcheck(target: str | None = None, shape: tuple[int, int] = DEFAULT_SHAPE,
              seed: int = DEFAULT_SEED) -> list[CheckResult]:
    """`redes gradcheck [FILE.py:CLASS]`: the user's layer, or every built-in one when `target` is None."""
    if target is None:
        return check_builtins(shape, seed)
    factory, name = load_user_layer(target)
    return check_layer(factory, name, shape, seed)


def check_builtins(shape: tuple[int, int] = DEFAULT_SHAPE, seed: int = DEFAULT_SEED,
                   backend: str = "numpy") -> list[CheckResult]:
    """Check every built-in layer, loss and penalty on `backend` arrays against autograd and finite differences."""
    shape = _check_shape(shape)
    if backend not in ("numpy", "torch"):
        raise RedesError(f"backend must be numpy or torch, got {backend!r}")
    if backend == "torch":
        import array_api_compat.torch as xp
    else:
        import array_api_compat.numpy as xp
    wrap = torch.from_numpy if backend == "torch" else np.asarray  # torch shares the memory of the draws
    rng = np.random.default_rng(seed)
    cases = [*_layer_cases(xp, shape, rng, wrap), *_loss_cases(xp, shape, rng, wrap),
             *_penalty_cases(xp, shape, rng, wrap)]
    return [result for case in cases for result in _check_case(case, rng)]


def check_layer(layer_factory: Callable[[], Any], name: str, shape: tuple[int, int] = DEFAULT_SHAPE,
                seed: int = DEFAULT_SEED) -> list[CheckResult]:
    """Check one NumPy layer by finite differences (no torch reference exists for it), its parameters randomised."""
    shape = _check_shape(shape)
    layer = _user_call(layer_factory, f"{name}: constructing it", _NO_ARGUMENTS)()
    _validate_layer(layer, name)
    rng = np.random.default_rng(seed)
    for value in getattr(layer, "params", {}).values():
        value[...] = rng.standard_normal(value.shape)  # in place: forward may read it under another name
    case = _layer_case(name, layer, rng.standard_normal(shape))
    hint = f" on an input of shape {shape}; if the layer expects another shape, pass --shape B,N"
    case.forward = _user_call(case.forward, f"{name}: forward", hint, returns_array=True)
    case.backward = _user_call(case.backward, f"{name}: backward")
    return _check_case(case, rng)


def load_user_layer(spec: str) -> tuple[Callable[[], Any], str]:
    """Import FILE.py of `spec` = "FILE.py:CLASS"; return the class and the name "file.py:CLASS" for the table."""
    path_text, _, class_name = spec.rpartition(":")
    if not path_text or not class_name:
        raise RedesError(f"expected FILE.py:CLASS (e.g. my_layer.py:Square), got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise RedesError(f"{path}: no such file")
    if path.suffix != ".py":
        raise RedesError(f"{path} is not a Python file (.py); expected FILE.py:CLASS")
    module, name = _import(path), f"{path.name}:{class_name}"
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        classes = [k for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__]
        raise RedesError(f"{path} defines no class {class_name!r}; classes defined there: {', '.join(classes) or 'none'}")
    _validate_layer(_user_call(found, f"{name}: constructing it", _NO_ARGUMENTS)(), name)
    return found, name


def parse_shape(text: str) -> tuple[int, int]:
    """'B,N' such as '4,5' as (batch, width), for --shape."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise RedesError(f"--shape must be B,N: two positive integers such as 4,5 (batch, width), got {text!r}")
    return shape


def format_table(results: list[CheckResult]) -> str:
    """The results as an aligned table, then one line saying how many checks failed and which."""
    header = ("layer", "check", "method", "max abs err", "max rel err", "result")
    rows = [(r.name, r.check, r.method, _number(r.max_abs_error), _number(r.max_rel_error),
             ("PASS" if r.passed else "FAIL") + (f"  {r.note}" if r.note else "")) for r in results]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(5)]
    lines = [f"float64; PASS when every |error| <= atol + rtol*|expected|: autograd rtol {AUTOGRAD_RTOL:g} "
             f"atol {AUTOGRAD_ATOL:g}, finite differences (step {FD_STEP:g}) rtol {FD_RTOL:g} atol {FD_ATOL:g}"]
    for row in (header, *rows):
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join([*cells, row[5]]))
    failed = [r for r in results if not r.passed]
    lines.append(f"{len(failed)} of {len(results)} checks FAILED: " + ", ".join(
        f"{r.name} {r.check} ({r.method})" for r in failed) if failed else f"all {len(results)} checks passed")
    return "\n".join(lines)


def report_dict(results: list[CheckResult]) -> dict:
    """The results as one JSON-ready object for --json."""
    return {"passed": all(r.passed for r in results), "failed": sum(not r.passed for r in results),
            "tolerances": {"autograd": {"rtol": AUTOGRAD_RTOL, "atol": AUTOGRAD_ATOL},
                           "finite_differences": {"rtol": FD_RTOL, "atol": FD_ATOL, "step": FD_STEP}},
            "checks": [r.to_dict() for r in results]}


def _check_case(case: _Case, rng: np.random.Generator) -> list[CheckResult]:
    """Forward and backward once with a random dy = r, then compare with autograd (if any) and finite differences."""
    y = _numpy(case.forward())
    r = rng.standard_normal(y.shape)
    torch_inputs = isinstance(next(iter(case.inputs.values())), torch.Tensor)
    grads = case.backward(torch.from_numpy(r.copy()) if torch_inputs else r.copy())
    results = [] if case.reference is None else _autograd(case, y, r, grads)
    for (label, array), grad in zip(case.inputs.items(), grads):
        size = int(np.prod(tuple(array.shape)))
        picks = np.sort(rng.choice(size, size=min(size, FD_ENTRIES), replace=False))
        fd = _central_differences(case, array, picks, r)
        results.append(_compare(case.name, label, "finite differences", grad, fd, picks))
    return results


def _autograd(case: _Case, y: np.ndarray, r: np.ndarray, grads: list) -> list[CheckResult]:
    """The forward output and the gradients of sum(output * r) compared with the torch reference's."""
    tensors = [torch.tensor(_numpy(a), requires_grad=True) for a in case.inputs.values()]
    out = case.reference(*tensors)
    out.backward(torch.from_numpy(r))
    results = [_compare(case.name, "forward", "autograd", y, out.detach())]
    for label, grad, t in zip(case.inputs, grads, tensors):
        expected = torch.zeros_like(t) if t.grad is None else t.grad
        results.append(_compare(case.name, label, "autograd", grad, expected))
    return results


def _central_differences(case: _Case, array, picks: np.ndarray, r: np.ndarray) -> np.ndarray:
    """d sum(forward() * r) / d array at the flat indices `picks` (zero elsewhere), restoring `array` after."""
    fd = np.zeros(tuple(array.shape))
    for flat in picks:
        index = tuple(int(i) for i in np.unravel_index(flat, fd.shape))
        old, values = float(array[index]), []
        for step in (FD_STEP, -FD_STEP):
            array[index] = old + step
            values.append(float(np.sum(_numpy(case.forward()) * r)))
        array[index] = old
        fd[index] = (values[0] - values[1]) / (2 * FD_STEP)
    return fd


def _compare(name: str, check: str, method: str, actual, expected, picks=None) -> CheckResult:
    """`actual` (the layer's) against `expected`, entrywise, at `picks` if given."""
    expected = _numpy(expected)
    if not isinstance(actual, (np.ndarray, np.generic, torch.Tensor)):
        return CheckResult(name, check, method, None, None, False, f"not an array but {type(actual).__name__}")
    if tuple(actual.shape) != expected.shape:
        return CheckResult(name, check, method, None, None, False,
                           f"shape {tuple(actual.shape)}, expected {expected.shape}")
    a, e = _numpy(actual).reshape(-1), expected.reshape(-1)
    if picks is not None:
        a, e = a[picks], e[picks]
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return CheckResult(name, check, method, None, None, False, "NaN or inf")
    rtol, atol = (AUTOGRAD_RTOL, AUTOGRAD_ATOL) if method == "autograd" else (FD_RTOL, FD_ATOL)
    error = np.abs(a - e)
    passed = bool(np.all(error <= atol + rtol * np.abs(e)))
    return CheckResult(name, check, method, float(error.max(initial=0.0)),
                       float((error / (np.abs(e) + atol)).max(initial=0.0)), passed)


def _layer_case(name: str, layer, x, reference=None) -> _Case:
    """A layer as a case: the gradients of its input and of each of its parameters."""
    keys = list(getattr(layer, "params", {}))
    inputs = {"dx": x, **{f"grad[{k}]": layer.params[k] for k in keys}}
    return _Case(name, inputs, lambda: layer.forward(x),
                 lambda dy: [layer.backward(dy), *(layer.grads.get(k) for k in keys)], reference)


def _layer_cases(xp, shape: tuple[int, int], rng: np.random.Generator, wrap) -> list[_Case]:
    """Linear, every activation, BatchNorm and Dropout with a fixed mask, each with its torch reference."""
    n = shape[1]
    linear = L.Linear(xp, wrap(rng.standard_normal((n + 1, n))), wrap(rng.standard_normal(n + 1)))
    cases = [_layer_case("Linear", linear, wrap(_draw(rng, shape)), lambda x, w, b: x @ w.T + b)]
    for name, kind, kwargs, reference, kinks in _ACTIVATIONS:
        layer = getattr(L, kind)(xp, **kwargs)
        cases.append(_layer_case(name, layer, wrap(_draw(rng, shape, kinks)), reference))
    norm = L.BatchNorm(xp, wrap(rng.uniform(0.5, 2.0, n)), wrap(rng.standard_normal(n)), wrap(np.zeros(n)),
                       wrap(np.ones(n)))
    # torch.batch_norm is F.batch_norm's kernel without its refusal of a batch of one in training mode
    cases.append(_layer_case("BatchNorm", norm, wrap(_draw(rng, shape)), lambda x, w, b: torch.batch_norm(
        x, w, b, None, None, True, norm.momentum, norm.eps, False)))
    p, mask = 0.3, (rng.random(shape) >= 0.3).astype(np.float64)
    dropout = L.Dropout(xp, p, lambda x, keep: wrap(mask))
    cases.append(_layer_case("Dropout", dropout, wrap(_draw(rng, shape)),
                             lambda x: x * torch.from_numpy(mask) / (1 - p)))
    return cases


def _loss_cases(xp, shape: tuple[int, int], rng: np.random.Generator, wrap) -> list[_Case]:
    """BCE (clamped, on probabilities), SigmoidBCE fast and naive, SoftmaxCrossEntropy and MSE."""
    (b, n), bce = shape, losses.BCE(xp)
    bits = rng.integers(0, 2, b).astype(np.float64)
    bits_t = torch.from_numpy(bits).reshape(-1, 1)
    probabilities = np.clip(_draw(rng, (b, 1), (bce.eps, 1 - bce.eps), -0.05, 1.05), 0.0, 1.0)  # some clamped

    def clamped_bce(p):
        c = p.clamp(bce.eps, 1 - bce.eps)
        return -(bits_t * c.log() + (1 - bits_t) * (1 - c).log()).mean()

    cases = [_loss_case("BCE", bce, wrap(probabilities), wrap(bits), clamped_bce)]
    for name, fast in (("SigmoidBCE", True), ("SigmoidBCE(naive)", False)):  # logits in [-4, 4]: no clamping
        cases.append(_loss_case(name, losses.SigmoidBCE(xp, fast), wrap(_draw(rng, (b, 1))), wrap(bits),
                                lambda u: F.binary_cross_entropy_with_logits(u, bits_t)))
    classes, target = rng.integers(0, n, b), rng.standard_normal(shape)
    cases.append(_loss_case("SoftmaxCrossEntropy", losses.SoftmaxCrossEntropy(xp), wrap(_draw(rng, shape)),
                            wrap(classes), lambda u: F.cross_entropy(u, torch.from_numpy(classes))))
    cases.append(_loss_case("MSE", losses.MSE(xp), wrap(_draw(rng, shape)), wrap(target),
                            lambda u: F.mse_loss(u, torch.from_numpy(target))))
    return cases


def _loss_case(name: str, loss, u, y, reference) -> _Case:
    """A loss as a case: its gradient with respect to its input `u`, for fixed targets `y`."""
    return _Case(name, {"dx": u}, lambda: loss.forward(u, y), lambda dy: [dy * loss.backward()], reference)


def _penalty_cases(xp, shape: tuple[int, int], rng: np.random.Generator, wrap) -> list[_Case]:
    """WeightPenalty as L1, L2 and elastic net over two weight matrices of different shapes."""
    cases = []
    for name, l1, l2 in (("WeightPenalty(l1)", 0.3, 0.0), ("WeightPenalty(l2)", 0.0, 0.2),
                         ("WeightPenalty(l1+l2)", 0.3, 0.2)):
        weights = [wrap(_draw(rng, shape, (0.0,))), wrap(_draw(rng, (shape[1], 2), (0.0,)))]  # |W| kinks at 0
        cases.append(_penalty_case(name, losses.WeightPenalty(xp, l1, l2), weights))
    return cases


def _penalty_case(name: str, penalty, weights: list) -> _Case:
    """A penalty as a case: its gradient with respect to each weight matrix."""
    l1, l2 = penalty.l1, penalty.l2
    return _Case(name, {f"grad[weights[{i}]]": w for i, w in enumerate(weights)}, lambda: penalty.forward(weights),
                 lambda dy: [dy * g for g in penalty.backward(weights)],
                 lambda *ws: sum(l1 * w.abs().sum() + l2 * (w * w).sum() for w in ws))


def _draw(rng: np.random.Generator, shape, kinks=(), low: float = -4.0, high: float = 4.0) -> np.ndarray:
    """Uniform values in [low, high), each redrawn while it lies within KINK_GAP of a kink."""
    x = rng.uniform(low, high, shape)
    while True:
        near = np.zeros(x.shape, dtype=bool)
        for kink in kinks:
            near |= np.abs(x - kink) < KINK_GAP
        if not near.any():
            return x
        x[near] = rng.uniform(low, high, int(near.sum()))


def _numpy(a) -> np.ndarray:
    """A float64 NumPy copy of an array, a tensor or a scalar."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.array(a, dtype=np.float64)


def _check_shape(shape) -> tuple[int, int]:
    if len(shape) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in shape):
        raise RedesError(f"shape must be (batch, width), two positive integers, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _import(path: Path):
    """The module of a user's file, imported by path (registered in sys.modules, as dataclasses need)."""
    module_name = f"_redes_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise RedesError(f"{path}: importing it raised {type(exc).__name__}: {exc}") from exc
    return module


def _validate_layer(layer, name: str) -> None:
    """Refuse, naming what is missing, a layer without forward/backward, or with params but no usable grads."""
    for method in ("forward", "backward"):
        if not callable(getattr(layer, method, None)):
            raise RedesError(f"{name} has no {method} method; a layer needs forward(x) -> y and backward(dy) -> dx")
    if not hasattr(layer, "params"):
        return
    if not hasattr(layer, "grads"):
        raise RedesError(f"{name} has params but no grads; backward must fill grads, a dict with the keys of params")
    if not isinstance(layer.params, dict):
        raise RedesError(f"{name}.params must be a dict of NumPy arrays, not {type(layer.params).__name__}")
    for key, value in layer.params.items():
        if not (isinstance(value, np.ndarray) and value.dtype == np.float64):
            raise RedesError(f"{name}.params[{key!r}] must be a float64 NumPy array (it is perturbed in place), "
                             f"not {_kind(value)}")


def _user_call(function: Callable, what: str, hint: str = "", returns_array: bool = False) -> Callable:
    """`function` with its exceptions, and if asked a result other than a float64 NumPy array, as RedesError."""
    def call(*args):
        try:
            result = function(*args)
        except Exception as exc:
            raise RedesError(f"{what} raised {type(exc).__name__}: {exc}{hint}") from exc
        if returns_array and not (isinstance(result, (np.ndarray, np.floating)) and result.dtype == np.float64):
            raise RedesError(f"{what} returned {_kind(result)}, not a float64 NumPy array{hint}")
        return result

    return call


def _kind(value) -> str:
    return type(value).__name__ + (f" of {value.dtype}" if hasattr(value, "dtype") else "")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"
