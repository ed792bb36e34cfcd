"""What the estimators' parameters may be, checked when they fit as scikit-learn checks them: a bad value is
one ValueError naming the parameter, what it must be and, for a misspelt choice, the nearest valid one."""

from __future__ import annotations

import re
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Callable, Iterator, Optional

import numpy as np
from pydantic import ValidationError

from redes.config import first_error
from redes.errors import RedesError, did_you_mean
from redes.nn.activations import ACTIVATIONS, HAND_WRITTEN


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, (bool, np.bool_))


def hidden_widths(value) -> Optional[list[int]]:
    """hidden_layer_sizes as a list of ints > 0 (an int is one layer), or None when it is not one."""
    if isinstance(value, str):
        return None
    widths = list(value) if hasattr(value, "__iter__") else [value]
    return [int(w) for w in widths] if all(_is_int(w) and w > 0 for w in widths) else None


def _one_of(*choices: str):
    return (lambda v: isinstance(v, str) and v in choices), "one of " + ", ".join(choices), choices


def _rule(test: Callable, what: str):
    return test, what, ()


_AT_LEAST_0 = _rule(lambda v: _is_real(v) and v >= 0, "a number >= 0")
_POSITIVE_INT = _rule(lambda v: _is_int(v) and v > 0, "an int > 0")
_IN_0_1 = _rule(lambda v: _is_real(v) and 0 <= v < 1, "a number in [0, 1)")
_FLAG = _rule(lambda v: isinstance(v, (bool, np.bool_)), "True or False")
_RULES = {  # parameter: (test, what it must be, choices for a "did you mean")
    "hidden_layer_sizes": _rule(lambda v: hidden_widths(v) is not None, "an int or a tuple of ints > 0, like (100,)"),
    "activation": _one_of(*ACTIVATIONS, "logistic"), "solver": _one_of("adam", "sgd", "adamw"),
    "alpha": _AT_LEAST_0, "l1": _AT_LEAST_0, "tol": _AT_LEAST_0, "max_iter": _POSITIVE_INT,
    "n_iter_no_change": _POSITIVE_INT, "beta_1": _IN_0_1, "beta_2": _IN_0_1,
    "batch_size": _rule(lambda v: v == "auto" or (_is_int(v) and v > 0), "'auto' or an int > 0"),
    "learning_rate_init": _rule(lambda v: _is_real(v) and v > 0, "a number > 0"),
    "momentum": _rule(lambda v: _is_real(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "validation_fraction": _rule(lambda v: _is_real(v) and 0 < v < 1, "a number in (0, 1)"),
    "engine": _one_of("auto", "module", "autograd", "manual"), "backend": _one_of("auto", "torch", "numpy"),
    "dtype": _one_of("float32", "float64"), "init": _one_of("sklearn", "torch", "glorot"),
    "device": _rule(lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None,
                    "auto, cpu, cuda, cuda:N or mps"),
    **dict.fromkeys(("shuffle", "early_stopping", "nesterovs_momentum", "warm_start", "batchnorm"), _FLAG),
}


@contextmanager
def as_value_errors(owner: str) -> Iterator[None]:
    """Bad values caught deeper in redes (typed configs, engines, devices) as scikit-learn's ValueError."""
    try:
        yield
    except ValidationError as exc:
        where, message, got = first_error(exc)
        raise ValueError(f"{owner}: {where + '=' + repr(got) + ': ' if where else ''}{message}") from None
    except RedesError as exc:  # its train.* config keys are this estimator's parameters
        raise ValueError(f"{owner}: {str(exc).replace('train.', '')}") from None


def check_params(estimator, activation: str) -> None:
    """Raise ValueError for the first parameter of `estimator` that is not valid, or for a combination that is
    not; `activation` is the estimator's activation by redes' name (scikit-learn's "logistic" is "sigmoid")."""
    for name, (test, what, choices) in _RULES.items():
        value = getattr(estimator, name)
        if not test(value):
            hint = did_you_mean(value, choices) if isinstance(value, str) else ""
            raise ValueError(f"{type(estimator).__name__}: {name}={value!r} is not valid; "
                             f"expected {what}{hint}")
    if (estimator.engine == "manual" or estimator.backend == "numpy") and activation not in HAND_WRITTEN:
        raise ValueError(f"{type(estimator).__name__}: engine='manual' (which backend='numpy' needs) has no "
                         "hand-written backward for "
                         f"activation={estimator.activation!r}; use engine='module' or one of "
                         f"{', '.join(HAND_WRITTEN)}")
    if estimator.backend == "numpy" and estimator.engine not in ("manual", "auto"):
        raise ValueError(f"{type(estimator).__name__}: backend='numpy' needs engine='manual', got {estimator.engine!r}")
