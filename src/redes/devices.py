"""Which device to train on: `auto` takes cuda, then mps, then the CPU."""

from __future__ import annotations

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
