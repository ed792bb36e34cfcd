"""Mini-batches cut by index from device-resident tensors: no per-sample Python, no DataLoader workers."""

from __future__ import annotations

from typing import Iterator, Sequence, Union

import numpy as np
import torch

Batchable = Union[torch.Tensor, np.ndarray]
GATHER_BYTES = 4 * 2**20  # per chunk of batches: large enough to amortise the gather, small next to the data


def steps_per_epoch(n: int, batch_size: int, sampler: str) -> int:
    """Batches in one epoch: a partial last batch is kept, except by `replacement` and `repeat` (notebook 000:
    N // b)."""
    if sampler in ("replacement", "repeat"):
        return max(1, n // batch_size)
    return -(-n // batch_size)


def epoch_order(n: int, batch_size: int, sampler: str, generator: torch.Generator) -> torch.Tensor | None:
    """Sample indices for one epoch (on the CPU), or None for `contiguous`, which slices in data order.

    `shuffle` is a fresh permutation per epoch; `replacement` draws every sample of every batch
    independently and uniformly (notebook 000's `elige_batch`, vectorized); `repeat` draws one sample per
    batch and copies it b times (`elige_batch` with its commented-out line swapped in).
    """
    if sampler == "contiguous":
        return None
    if sampler == "shuffle":
        return torch.randperm(n, generator=generator)
    if sampler == "replacement":
        return torch.randint(n, (steps_per_epoch(n, batch_size, sampler) * batch_size,), generator=generator)
    if sampler == "repeat":
        once = torch.randint(n, (steps_per_epoch(n, batch_size, sampler),), generator=generator)
        return once.repeat_interleave(batch_size)
    raise ValueError(f"unknown sampler {sampler!r}")


def batches(x: Batchable, y: Batchable, batch_size: int, sampler: str,
            generator: torch.Generator) -> Iterator[tuple[Batchable, Batchable]]:
    """Yield (x, y) mini-batches for one epoch; the indices move to the data's device once per epoch.

    Samples are gathered a chunk of batches at a time (about GATHER_BYTES of x), and the batches are
    views of the chunk: one index operation per chunk instead of two per batch, which matters at tiny
    batches, where a step is short. NumPy arrays (the manual engine on NumPy) are cut by NumPy into NumPy
    batches, in the same order, so that engine's epoch makes no torch call (a torch call between NumPy
    steps is slow: docs/benchmarks.md, section 3).
    """
    order = epoch_order(len(x), batch_size, sampler, generator)
    if order is None:
        yield from zip(_split(x, batch_size), _split(y, batch_size))
        return
    batch_bytes = batch_size * (x[:1].nbytes + y[:1].nbytes)
    rows = max(1, GATHER_BYTES // max(1, batch_bytes)) * batch_size
    order = order.to(x.device, non_blocking=True) if isinstance(x, torch.Tensor) else order.numpy()
    for index in _split(order, rows):
        yield from zip(_split(_gather(x, index), batch_size), _split(_gather(y, index), batch_size))


def _split(a: Batchable, size: int) -> Sequence[Batchable]:
    """a's rows in consecutive pieces of `size` (the last may be shorter), as views."""
    return a.split(size) if isinstance(a, torch.Tensor) else [a[i:i + size] for i in range(0, len(a), size)]


def _gather(a: Batchable, index: Batchable) -> Batchable:
    """The rows of `a` at `index`; index_select for a tensor, which is faster than advanced indexing a[index]
    on the CPU (docs/benchmarks.md, the speed options)."""
    return a.index_select(0, index) if isinstance(a, torch.Tensor) else a[index]


def index_chunks(n: int, batch_size: int, sampler: str, generator: torch.Generator, device: torch.device,
                 batches_per_chunk: int, skip: int = 0) -> tuple[torch.Tensor, ...]:
    """One epoch's sample indices on `device` after its first `skip` batches, `batches_per_chunk` batches at a
    time: the same batches, in the same order, as `batches` cuts, for an engine that gathers them itself (a
    CUDA graph of several steps, which reads its batches out of the resident data by these indices)."""
    order = epoch_order(n, batch_size, sampler, generator)
    left = (torch.arange(n) if order is None else order)[skip * batch_size:]
    if len(left) == 0:  # resumed after the epoch's last step (split would give one empty chunk)
        return ()
    return left.to(device, non_blocking=True).split(batches_per_chunk * batch_size)
