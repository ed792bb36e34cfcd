"""Check hand-written gradients against torch.autograd and central finite differences, in float64.

The one shared helper of the tests and of `redes gradcheck`: it checks the built-in layers, losses and
penalties of `redes.manual`, or a student's layer loaded from FILE.py:CLASS (a class constructible with
no arguments, with `forward(x) -> y`, `backward(dy) -> dx` and, if it has parameters, `params` and
`grads` dicts with the same keys), on seeded random inputs so that every result is reproducible.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from redes.arrays import namespace
from redes.errors import RedesError
from redes.study.gradcheck_cases import Case, layer_case, layer_cases, loss_cases, penalty_cases, to_numpy

# A check passes when every entry satisfies |actual - expected| <= ATOL + RTOL * |expected|.
AUTOGRAD_RTOL, AUTOGRAD_ATOL = 1e-7, 1e-9  # two float64 formulas; torch's hardsigmoid slope is float32 (3e-8)
FD_RTOL, FD_ATOL = 1e-5, 1e-7  # central differences: step² truncation plus round-off / step
FD_STEP = 1e-6  # the perturbation of one entry
FD_ENTRIES = 20  # at most this many entries of each input or parameter are perturbed, to stay fast
DEFAULT_SHAPE, DEFAULT_SEED = (4, 5), 0
# The largest array a --shape may ask for: the input (B x N), or for the built-ins Linear's (N+1) x N weight,
# 8 MB in float64. Several copies of each live at once, and the forward pass runs 2 * FD_ENTRIES times per input.
MAX_ELEMENTS = 1_000_000
MAX_BUILTIN_WIDTH = (math.isqrt(4 * MAX_ELEMENTS + 1) - 1) // 2  # the largest N with (N+1) * N <= MAX_ELEMENTS
_NO_ARGUMENTS = "; a layer to check must be constructible with no arguments"

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
    shape = _check_shape(shape, builtins=True)
    if backend not in ("numpy", "torch"):
        raise RedesError(f"backend must be numpy or torch, got {backend!r}")
    xp = namespace(backend)
    wrap = torch.from_numpy if backend == "torch" else np.asarray  # torch shares the memory of the draws
    rng = np.random.default_rng(seed)
    cases = [*layer_cases(xp, shape, rng, wrap), *loss_cases(xp, shape, rng, wrap),
             *penalty_cases(xp, shape, rng, wrap)]
    return [result for case in cases for result in _check_case(case, rng)]


def check_layer(layer_factory: Callable[[], Any], name: str, shape: tuple[int, int] = DEFAULT_SHAPE,
                seed: int = DEFAULT_SEED) -> list[CheckResult]:
    """Check one NumPy layer by finite differences (no torch reference exists for it), its parameters randomised."""
    shape = _check_shape(shape, builtins=False)
    layer = _user_call(layer_factory, f"{name}: constructing it", _NO_ARGUMENTS)()
    _validate_layer(layer, name)
    rng = np.random.default_rng(seed)
    for value in getattr(layer, "params", {}).values():
        value[...] = rng.standard_normal(value.shape)  # in place: forward may read it under another name
    x = rng.standard_normal(shape)
    case = layer_case(name, layer, x)
    hint = f" on an input of shape {shape}; if the layer expects another shape, pass --shape B,N"
    # forward gets a copy of x: a layer that edits its input in place cannot spoil the finite differences
    case.forward = _user_call(lambda: layer.forward(x.copy()), f"{name}: forward", hint, returns_array=True)
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
    module, name = _import(path, class_name), f"{path.name}:{class_name}"
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        classes = [k for k, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__]
        raise RedesError(f"{path} defines no class {class_name!r}; "
                         f"classes defined there: {', '.join(classes) or 'none'}")
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
    autograd = (f"autograd rtol {AUTOGRAD_RTOL:g} atol {AUTOGRAD_ATOL:g}"
                if any(r.method == "autograd" for r in results) else "autograd n/a (no torch reference for this layer)")
    lines = [f"float64; PASS when every |error| <= atol + rtol*|expected|: finite differences (step {FD_STEP:g}) "
             f"rtol {FD_RTOL:g} atol {FD_ATOL:g}; {autograd}"]
    for row in (header, *rows):
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join([*cells, row[5]]))
    failed, checks = [r for r in results if not r.passed], f"{len(results)} check{'s' * (len(results) != 1)}"
    lines.append(f"{len(failed)} of {checks} FAILED: " + ", ".join(f"{r.name} {r.check} ({r.method})" for r in failed)
                 if failed else f"all {checks} passed")
    return "\n".join(lines)


def report_dict(results: list[CheckResult]) -> dict:
    """The results as one JSON-ready object for --json."""
    return {"passed": all(r.passed for r in results), "failed": sum(not r.passed for r in results),
            "tolerances": {"autograd": {"rtol": AUTOGRAD_RTOL, "atol": AUTOGRAD_ATOL},
                           "finite_differences": {"rtol": FD_RTOL, "atol": FD_ATOL, "step": FD_STEP}},
            "checks": [r.to_dict() for r in results]}


def _check_case(case: Case, rng: np.random.Generator) -> list[CheckResult]:
    """Forward and backward once with a random dy = r, then compare with autograd (if any) and finite differences."""
    y = to_numpy(case.forward())
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


def _autograd(case: Case, y: np.ndarray, r: np.ndarray, grads: list) -> list[CheckResult]:
    """The forward output and the gradients of sum(output * r) compared with the torch reference's."""
    tensors = [torch.tensor(to_numpy(a), requires_grad=True) for a in case.inputs.values()]
    out = case.reference(*tensors)
    out.backward(torch.from_numpy(r))
    results = [_compare(case.name, "forward", "autograd", y, out.detach())]
    for label, grad, t in zip(case.inputs, grads, tensors):
        expected = torch.zeros_like(t) if t.grad is None else t.grad
        results.append(_compare(case.name, label, "autograd", grad, expected))
    return results


def _central_differences(case: Case, array, picks: np.ndarray, r: np.ndarray) -> np.ndarray:
    """d sum(forward() * r) / d array at the flat indices `picks` (zero elsewhere), restoring `array` after."""
    fd = np.zeros(tuple(array.shape))
    for flat in picks:
        index = tuple(int(i) for i in np.unravel_index(flat, fd.shape))
        old, values = float(array[index]), []
        for step in (FD_STEP, -FD_STEP):
            array[index] = old + step
            values.append(float(np.sum(to_numpy(case.forward()) * r)))
        array[index] = old
        fd[index] = (values[0] - values[1]) / (2 * FD_STEP)
    return fd


def _compare(name: str, check: str, method: str, actual, expected, picks=None) -> CheckResult:
    """`actual` (the layer's) against `expected`, entrywise, at `picks` if given."""
    expected = to_numpy(expected)
    if not isinstance(actual, (np.ndarray, np.generic, torch.Tensor)):
        return CheckResult(name, check, method, None, None, False, f"not an array but {type(actual).__name__}")
    if tuple(actual.shape) != expected.shape:
        return CheckResult(name, check, method, None, None, False,
                           f"shape {tuple(actual.shape)}, expected {expected.shape}")
    a, e = to_numpy(actual).reshape(-1), expected.reshape(-1)
    if picks is not None:
        a, e = a[picks], e[picks]
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return CheckResult(name, check, method, None, None, False, "NaN or inf")
    rtol, atol = (AUTOGRAD_RTOL, AUTOGRAD_ATOL) if method == "autograd" else (FD_RTOL, FD_ATOL)
    error = np.abs(a - e)
    passed = bool(np.all(error <= atol + rtol * np.abs(e)))
    return CheckResult(name, check, method, float(error.max(initial=0.0)),
                       float((error / (np.abs(e) + atol)).max(initial=0.0)), passed)


def _check_shape(shape, builtins: bool) -> tuple[int, int]:
    """(batch, width) as ints; refused before anything is drawn when an array of it would be too large."""
    if len(shape) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in shape):
        raise RedesError(f"shape must be (batch, width), two positive integers, got {shape!r}")
    batch, width = int(shape[0]), int(shape[1])
    what, elements, width_hint = "the input", batch * width, ""
    if builtins and (width + 1) * width > elements:
        what, elements = f"the built-in Linear's weight ({width + 1}x{width})", (width + 1) * width
        width_hint = f", a width of at most {MAX_BUILTIN_WIDTH}"
    if elements > MAX_ELEMENTS:
        raise RedesError(f"--shape {batch},{width}: {what} would have {elements:,} elements ({elements * 8 / 1e9:.3g} "
                         f"GB in float64); gradcheck draws every array whole and runs the forward pass "
                         f"{2 * FD_ENTRIES} times per input, use at most {MAX_ELEMENTS:,} elements{width_hint}")
    return batch, width


def _import(path: Path, class_name: str):
    """The module of a user's file, imported by path (registered in sys.modules, as dataclasses need).

    Whatever ends the import (an exception, sys.exit) is one RedesError; Ctrl-C stays an interrupt."""
    module_name = f"_redes_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        if isinstance(exc, SystemExit):
            raise RedesError(f"{path}: the module {_ended_by(exc)} while being imported; gradcheck needs a module "
                             f"that defines {class_name}") from None
        raise RedesError(f"{path}: importing it {_ended_by(exc)}") from exc
    return module


def _ended_by(exc: BaseException) -> str:
    """What ended user code, as words after its subject: "exited (sys.exit(0))", "raised KeyError: 'w'"."""
    if isinstance(exc, SystemExit):
        return f"exited (sys.exit({'' if exc.code is None else repr(exc.code)}))"
    return f"raised {type(exc).__name__}: {str(exc).strip()}"


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
        except (Exception, SystemExit) as exc:
            raise RedesError(f"{what} {_ended_by(exc)}{hint}") from exc
        if returns_array and not (isinstance(result, (np.ndarray, np.floating)) and result.dtype == np.float64):
            raise RedesError(f"{what} returned {_kind(result)}, not a float64 NumPy array{hint}")
        return result

    return call


def _kind(value) -> str:
    return type(value).__name__ + (f" of {value.dtype}" if hasattr(value, "dtype") else "")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"
