"""What differs between the manual engine's backends: the array namespace, an in-place GEMM, BLAS threads.

The layers, losses and optimizers are one implementation over an array API namespace; only this
module knows NumPy from torch.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

Array = Any  # a NumPy array or a torch tensor


def namespace(backend: str):
    """The array API namespace of `backend`: NumPy's own (NumPy >= 2.1 implements the standard, and
    calling it directly skips the array-api-compat wrappers' per-call Python), or array-api-compat's torch."""
    if backend == "numpy":
        return _NUMPY
    import array_api_compat.torch as xp

    return xp


class _NumPyNamespace:
    """NumPy, with `sum`, `max` and `reshape` called as the ufunc reductions and array method they wrap,
    skipping np.sum's, np.max's and np.reshape's Python layer, which a small network's step calls a dozen
    times and notices. Same signatures as NumPy's; anything but an array with at least one dimension, or an
    argument the shortcut does not take, goes to NumPy's own function."""

    def __getattr__(self, name: str):
        value = getattr(np, name)
        setattr(self, name, value)  # found by plain attribute lookup from now on
        return value

    @staticmethod
    def sum(x, axis=None, dtype=None, out=None, keepdims=False, **more):
        if more or not (isinstance(x, np.ndarray) and x.ndim):
            return np.sum(x, axis, dtype, out, keepdims=keepdims, **more)
        return np.add.reduce(x, axis, dtype, out, keepdims=keepdims)

    @staticmethod
    def max(x, axis=None, out=None, keepdims=False, **more):
        if more or not (isinstance(x, np.ndarray) and x.ndim):
            return np.max(x, axis, out, keepdims=keepdims, **more)
        return np.maximum.reduce(x, axis, out=out, keepdims=keepdims)

    @staticmethod
    def reshape(x, shape=None, order="C", *, copy=None):
        if not isinstance(x, np.ndarray) or order != "C":
            return np.reshape(x, shape, order, copy=copy)
        return x.reshape(shape, copy=copy)


_NUMPY = _NumPyNamespace()


def affine(x: Array, w: Array, b: Array) -> Array:
    """x wᵀ + b, the bias added by the GEMM itself (torch's addmm) or in place: one array written, not two."""
    if isinstance(x, torch.Tensor):
        return b.addmm(x, w.T)
    y = x @ w.T
    y += b
    return y


def sigmoid(u: Array) -> Array:
    """1 / (1 + e^-u) in one overflow-free pass: torch.sigmoid, or SciPy's expit (the array API has none)."""
    return u.sigmoid() if isinstance(u, torch.Tensor) else _expit()(u)


def relu(u: Array) -> Array:
    """max(u, 0) in one pass (torch.relu, or NumPy's maximum)."""
    return u.relu() if isinstance(u, torch.Tensor) else np.maximum(u, 0)


def relu_backward(dy: Array, h: Array) -> Array:
    """dy where the ReLU's output h is positive, 0 elsewhere: torch's own one-pass kernel (autograd's), or
    NumPy's product with the 0/1 mask."""
    if isinstance(dy, torch.Tensor):
        return torch.ops.aten.threshold_backward(dy, h, 0)
    return dy * (h > 0)


def add_product_(c: Array, a: Array, b: Array, alpha: float, beta: float = 1.0) -> None:
    """c = beta * c + alpha * (a @ b), written into c by one GEMM: no product matrix is allocated and read back.

    For the SGD update W -= lr dyᵀx, that is one pass over W where `g = dyᵀx; W -= lr * g` makes three;
    for a momentum buffer, buf = momentum * buf + dyᵀx is one GEMM with beta = momentum.
    """
    if isinstance(c, torch.Tensor):
        c.addmm_(a, b, beta=beta, alpha=alpha)
        return
    # BLAS works on column-major arrays: cᵀ (a view of a C-ordered c) is column-major, and
    # cᵀ = beta cᵀ + alpha bᵀaᵀ updates c itself (f2py writes in place when c's layout and dtype already fit).
    (first, trans_first), (second, trans_second) = _column_major(b.T), _column_major(a.T)
    result = _blas("gemm", c.dtype)(alpha, first, second, beta=beta, c=c.T, trans_a=trans_first,
                                    trans_b=trans_second, overwrite_c=True)
    if not np.shares_memory(result, c):
        c[...] = result.T  # a c that BLAS could not update in place (not contiguous, not float32/64)


def add_scaled_(c: Array, a: Array, alpha: float) -> None:
    """c += alpha * a in one pass (torch's add_, BLAS axpy): no alpha * a array is written out."""
    if isinstance(c, torch.Tensor):
        c.add_(a, alpha=alpha)
    elif c.flags.c_contiguous and a.flags.c_contiguous and c.dtype == a.dtype and c.dtype in _BLAS_TYPES:
        _blas("axpy", c.dtype)(a.reshape(-1), c.reshape(-1), a=alpha)  # y, a view of c, is updated in place
    else:
        c += alpha * a


def matmul_into(out: Array, a: Array, b: Array) -> None:
    """out[...] = a @ b, the product written straight into `out`."""
    if isinstance(out, torch.Tensor):
        torch.mm(a, b, out=out)
    else:
        np.matmul(a, b, out=out)


def sum_rows_into(out: Array, a: Array) -> None:
    """out[...] = the sum of a's rows (axis 0), written straight into `out`."""
    if isinstance(out, torch.Tensor):
        torch.sum(a, 0, out=out)
    else:
        np.add.reduce(a, axis=0, out=out)


def _column_major(m: np.ndarray) -> tuple[np.ndarray, bool]:
    """(array, transpose) with op(array) == m, the array column-major where m's memory allows (no copy)."""
    return (m.T, True) if m.flags.c_contiguous and not m.flags.f_contiguous else (m, False)


@functools.cache
def _expit():
    """SciPy's expit, imported on first use (not at import time) and once (not on every call of a step)."""
    from scipy.special import expit

    return expit


_BLAS_TYPES = (np.float32, np.float64)


@functools.cache
def _blas(name: str, dtype):
    """SciPy's BLAS routine `name` ("gemm", "axpy") for `dtype`, looked up once."""
    from scipy.linalg import blas

    return blas.get_blas_funcs(name, dtype=dtype)


def one_blas_thread():
    """A context in which NumPy's and SciPy's BLAS run on one thread (threadpoolctl), restored on exit.

    Inside the training loop their BLAS threads and torch's thread pool would compete for the same cores,
    each spinning while the other works (docs/benchmarks.md, section 4).
    """
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller():
    """threadpoolctl's controller, made once, after SciPy's BLAS is loaded so that its limits reach it."""
    from scipy.linalg import blas  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
