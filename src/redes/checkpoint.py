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
        if not isinstance(meta, dict):
            raise TypeError
    except (KeyError, TypeError, ValueError, RecursionError):  # ValueError: bad JSON, or a 5,000-digit number
        raise RedesError(f"{path}: safetensors file without redes metadata; was it written by redes?") from None
    return tensors, meta


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Copy `tensors` into `module`, naming the first tensor that is missing, extra or of the wrong shape."""
    expected = module.state_dict()
    if not isinstance(tensors, dict):
        raise RedesError(f"{path}: the weights are not a mapping of named tensors; the file is damaged")
    for name, tensor in expected.items():
        if name not in tensors:
            raise RedesError(f"{path}: tensor {name!r} is missing; the file holds another architecture")
        if not isinstance(tensors[name], torch.Tensor):
            raise RedesError(f"{path}: {name!r} is not a tensor; the file is damaged")
        if tuple(tensors[name].shape) != tuple(tensor.shape):
            raise RedesError(f"{path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                             f"the model expects {tuple(tensor.shape)}")
        if not _same_kind(tensors[name].dtype, tensor.dtype):
            raise RedesError(f"{path}: tensor {name!r} is {tensors[name].dtype}, the model expects {tensor.dtype}; "
                             "the file is damaged")
        if tensor.is_floating_point() and not torch.isfinite(tensors[name]).all():
            raise RedesError(f"{path}: tensor {name!r} holds NaN or infinite values; the file is damaged")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise RedesError(f"{path}: unexpected tensor {extra[0]!r}; the file holds another architecture")
    module.load_state_dict(tensors)


def _same_kind(stored: torch.dtype, expected: torch.dtype) -> bool:
    """Floating weights may be stored in another float width (a float64 run); counts keep their exact dtype."""
    return stored.is_floating_point and expected.is_floating_point or stored == expected


def pack(tree, prefix: str = "") -> tuple[dict[str, torch.Tensor], object]:
    """Split nested dicts/lists into flat named tensors and a JSON skeleton that points at them."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(node, path: str):
        if isinstance(node, torch.Tensor):
            tensors[path] = node
            return {"__tensor__": path}
        if isinstance(node, dict):
            return {"__dict__": [[walk(k, f"{path}.k{i}"), walk(v, f"{path}.{i}")] for i, (k, v) in
                                 enumerate(node.items())]}
        if isinstance(node, (list, tuple)):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(node)]
        return node

    return tensors, walk(tree, prefix or "t")


def unpack(skeleton, tensors: dict[str, torch.Tensor]):
    """The nested structure `pack` split up, its dict keys keeping their types (ints stay ints)."""
    if isinstance(skeleton, dict) and "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if isinstance(skeleton, dict) and "__dict__" in skeleton:
        return {unpack(k, tensors): unpack(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [unpack(v, tensors) for v in skeleton]
    return skeleton


def save_tree(path: Path, tree: dict, kind: str) -> None:
    """Write nested state (tensors anywhere inside) to one safetensors file, atomically."""
    tensors, skeleton = pack(tree)
    save_tensors(path, tensors, {"kind": kind, "tree": skeleton})


def load_tree(path: Path, kind: str) -> dict:
    """Read back what `save_tree` wrote; a file of another kind or a broken skeleton is a clear error."""
    tensors, meta = load_tensors(path)
    if meta.get("kind") != kind or "tree" not in meta:
        raise RedesError(f"{path}: not a redes {kind} file")
    try:
        return unpack(meta["tree"], tensors)
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise RedesError(f"{path}: damaged {kind} metadata ({type(exc).__name__}: {exc})") from None
