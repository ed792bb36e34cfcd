"""Model files: tensors in safetensors, everything else as JSON in its metadata; atomic writes, no pickle."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from redes.errors import RedesError

FORMAT = 1


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers see old or new, never half."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Tensors (moved to the CPU, made contiguous) plus JSON-able `meta`, in one safetensors file."""
    plain = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    header = {"redes": json.dumps({"format": FORMAT, **meta})}
    write_atomic(path, save_safetensors(plain, metadata=header))


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and meta from a file written by `save_tensors`; a broken or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise RedesError(f"{path} not found")
    try:
        with safe_open(str(path), framework="pt") as reader:
            header = reader.metadata() or {}
            tensors = {name: reader.get_tensor(name) for name in reader.keys()}
    except (SafetensorError, ValueError, OSError) as exc:
        raise RedesError(f"{path}: not a valid safetensors file (truncated or tampered?): {exc}") from None
    try:
        meta = json.loads(header["redes"])
    except (KeyError, json.JSONDecodeError):
        raise RedesError(f"{path}: safetensors file without redes metadata; was it written by redes?") from None
    return tensors, meta


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Copy `tensors` into `module`, naming the first tensor that is missing, extra or of the wrong shape."""
    expected = module.state_dict()
    for name, tensor in expected.items():
        if name not in tensors:
            raise RedesError(f"{path}: tensor {name!r} is missing; the file holds another architecture")
        if tuple(tensors[name].shape) != tuple(tensor.shape):
            raise RedesError(f"{path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                             f"the model expects {tuple(tensor.shape)}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise RedesError(f"{path}: unexpected tensor {extra[0]!r}; the file holds another architecture")
    module.load_state_dict(tensors)
