"""`Engine`: all the training loop and the callbacks know of an engine, and `StepResult`, what a step leaves."""

from __future__ import annotations

import contextlib
import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn

from redes.arrays import Array
from redes.data import Split
from redes.data.batches import batches


@dataclass
class StepResult:
    """What one step leaves behind, in the engine's arrays (`backend`), with no host sync: torch tensors still on
    the device, or NumPy arrays (the manual engine on NumPy; the loss a 0-d array)."""

    loss: Array
    penalty: Optional[Array]
    outputs: Optional[Array]
    correct: Optional[Array] = None  # set by engines that count correct predictions themselves


class Engine(ABC):
    """One way of computing a training step over `model`, whose weights it trains in place.

    The loop asks it for the arrays it computes on (`arrays`), for an epoch of steps (`epoch`), and holds
    `running()` while it steps; a schedule reads and sets `lr`; a checkpoint saves `state_dict()` (the
    optimizer's state: the weights are the model's own state_dict).
    """

    model: nn.Module
    backend: str = "torch"  # the arrays its steps take and return: torch or numpy
    fast: bool = True  # train.fast: the host memory a step frees is kept for the next

    @abstractmethod
    def step(self, x: Array, y: Array) -> StepResult:
        """Forward, loss, backward and update on one batch."""

    def epoch(self, x: Array, y: Array, batch_size: int, sampler: str, generator: torch.Generator,
              skip: int = 0) -> Iterator[list[tuple[StepResult, Array]]]:
        """One epoch's steps after its first `skip`, as lists of (result, the batch's targets) taken at once
        (one step a list here; an engine that runs several steps a call yields them together)."""
        for xb, yb in itertools.islice(batches(x, y, batch_size, sampler, generator), skip, None):
            yield [(self.step(xb, yb), yb)]

    def arrays(self, split: Split) -> tuple[Array, Array]:
        """The split's inputs and targets as the arrays the steps take."""
        return split.x, split.y

    @property
    @abstractmethod
    def lr(self) -> float:
        """The learning rate of the next step."""

    @lr.setter
    @abstractmethod
    def lr(self, value: float) -> None: ...

    @abstractmethod
    def state_dict(self) -> dict:
        """The optimizer's state (momentum buffers, Adam moments, step counts) as nested torch tensors."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...

    @abstractmethod
    def check_state_dict(self, state) -> None:
        """Raise ValueError unless `state` (read back from a file) is laid out as this engine's `state_dict()`,
        with buffers of their parameter's shape and dtype: a transposed buffer would train silently wrong."""

    @abstractmethod
    def gradients(self) -> list:
        """The gradients the last step used, in `model.parameters()` order."""

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are, and with them the steps' work."""
        return next(self.model.parameters()).device

    def running(self) -> contextlib.AbstractContextManager:
        """The context the training loop holds while it steps (nothing to set up here)."""
        return contextlib.nullcontext()


class HandWrittenOptimizer:
    """For an engine whose optimizer is a hand-written one (nn/optimizers.py): `lr`, the optimizer's own, read
    at each step, and the check of its state's layout."""

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def check_state_dict(self, state) -> None:
        """The hand-written optimizers' layout: a list of per-parameter buffers for each name, or a number."""
        reference, params = self.state_dict(), list(self.model.parameters())
        check_entries(state, reference)
        for name, value in state.items():
            if isinstance(reference[name], list):
                if not isinstance(value, list) or len(value) != len(params):
                    raise ValueError(f"optimizer state {name} must hold one entry per parameter ({len(params)})")
                for number, (buffer, param) in enumerate(zip(value, params)):
                    if buffer is not None:
                        check_buffer(buffer, param, f"optimizer state {name}[{number}]")
            elif type(value) is not type(reference[name]) or (isinstance(value, int) and value < 0):
                raise ValueError(f"optimizer state {name} must be a {type(reference[name]).__name__} like "
                                 f"{reference[name]!r}, got {value!r}")


def check_entries(state, reference: dict) -> None:
    """`state` is a dict with the entries of `reference`."""
    if not isinstance(state, dict) or set(state) != set(reference):
        raise ValueError(f"optimizer state must have the entries {sorted(reference)}")


def check_buffer(value, param: torch.Tensor, what: str) -> None:
    """A per-parameter buffer: the parameter's shape and dtype, or a scalar (a step count)."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{what} must be a tensor, got {type(value).__name__}")
    if value.dim() == 0:
        if not torch.isfinite(value.double()):
            raise ValueError(f"{what} must be finite, got {value.item()}")
        return
    if value.shape != param.shape or value.dtype != param.dtype:
        raise ValueError(f"{what} has shape {tuple(value.shape)} and dtype {value.dtype}, the parameter "
                         f"{tuple(param.shape)} and {param.dtype}")


def map_arrays(state, convert):
    """`state` with every array (tensor or ndarray) in its nested dicts and lists passed through `convert`."""
    if isinstance(state, dict):
        return {k: map_arrays(v, convert) for k, v in state.items()}
    if isinstance(state, list):
        return [map_arrays(v, convert) for v in state]
    return convert(state) if isinstance(state, (torch.Tensor, np.ndarray)) else state
