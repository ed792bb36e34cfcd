"""Which device to train on (`auto` takes cuda, then mps, then the CPU), host memory kept for the next step,
the CPU threads a step uses, and the memory a run used at its peak."""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys
from contextlib import contextmanager
from typing import Iterator

import torch

from redes.errors import RedesError


def resolve_device(name: str, backend: str = "torch") -> torch.device:
    """The torch.device for `train.device`; asking for an accelerator that is absent is an error. NumPy
    (`train.backend=numpy`) computes on the CPU, so there `auto` is the CPU."""
    if name == "auto" and backend == "numpy":
        return torch.device("cpu")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RedesError(f"train.device={name} but no CUDA device is available; use train.device=auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise RedesError(f"train.device={name} but only {torch.cuda.device_count()} CUDA device(s) exist")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RedesError(f"train.device={name} but MPS is not available; use train.device=auto or cpu")
    return device


def memory_of(device: torch.device) -> int:
    """The bytes of memory `device` has: the GPU's own, else the machine's."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def wait_for(device: torch.device) -> None:
    """Block until the work queued on `device` is done (CUDA, MPS; the CPU's is done already): a clock read
    after it times the device's work, not just the host's launching of it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def peak_memory(device: torch.device) -> dict:
    """Peak memory in MB: the process's resident set on the host (None where the OS does not say) and,
    on CUDA, the most that torch allocated on `device` (None elsewhere)."""
    try:
        import resource
    except ImportError:  # Windows
        host = None
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
        host = round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)
    on_cuda = device.type == "cuda" and torch.cuda.is_initialized()
    device_mb = round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if on_cuda else None
    return {"host_mb": host, "device_mb": device_mb}


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers, from glibc's malloc.h


@functools.cache
def keep_freed_host_memory() -> bool:
    """Have glibc's malloc keep freed memory for the next allocation rather than give it back to the OS
    (arrays up to 32 MB from its heap, which it trims above 1 GB free), once per process; False where the C
    library is not glibc.

    A training step frees and allocates again the same arrays every step (activations, gradients: 0.25-6 MB
    each for the notebook-001 MLP). Given back to the OS, each returns as fresh pages, one page fault per
    4 KB (what that costs: docs/benchmarks.md, the speed options, train.fast). The process's resident memory
    then stays near its peak, as it does on a GPU under PyTorch's caching allocator.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))


@contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to `count` for the block (0: left as it is), then given back."""
    before = torch.get_num_threads()
    if count and count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count and count != before:
            torch.set_num_threads(before)
