"""Which device to train on (`auto` takes cuda, then mps, then the CPU), and the memory a run used at its peak."""

from __future__ import annotations

import sys

import torch

from redes.errors import RedesError


def resolve_device(name: str) -> torch.device:
    """The torch.device for `train.device`; asking for an accelerator that is absent is an error."""
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
