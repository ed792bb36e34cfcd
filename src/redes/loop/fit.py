"""The training loop, written out in one function, and evaluation of a model on one split."""

from __future__ import annotations

import functools
import itertools
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from redes.loop.callbacks import Callback
from redes.data import Split
from redes.data.batches import batches, index_chunks, steps_per_epoch
from redes.devices import keep_freed_host_memory, wait_for
from redes.nn.losses import loss_function, predictions
from redes.arrays import Array
from redes.loop.metrics import accuracy, r2_score

ROWS = ("losses", "penalties", "sizes")  # the per-step rows of an epoch's totals


@dataclass
class EpochTotals:
    """The epoch in progress, as its steps left it: a step only appends its loss (in the engine's arrays: a
    device tensor, or a NumPy array on NumPy), its size and its predictions, with no extra kernel or host
    sync; `rows` gathers them when the epoch ends, `fold` when a snapshot is taken. `base` holds the sums of
    the first `first` steps, from a mid-epoch resume."""

    steps: int
    device: torch.device
    loss: str  # the loss name: how outputs become predictions
    first: int = 0
    base: Optional[dict] = None  # losses, penalties, sizes (steps,) and correct () float64
    seconds: float = 0.0
    losses: list = field(default_factory=list)
    penalties: list = field(default_factory=list)
    sizes: list = field(default_factory=list)
    predicted: list = field(default_factory=list)  # per step: the outputs, or the engine's correct count
    targets: list = field(default_factory=list)  # per step: y, or None where the engine counted

    def add(self, result, y: torch.Tensor, classify: bool) -> None:
        self.losses.append(result.loss)
        self.penalties.append(result.penalty)
        self.sizes.append(y.shape[0])  # not len(y): torch's __len__ is a Python method
        if classify:
            counted = result.correct is not None
            self.predicted.append(result.correct if counted else result.outputs)  # classified in `fold`
            self.targets.append(None if counted else y)

    def fold(self) -> dict[str, torch.Tensor]:
        """losses, penalties, sizes (steps,) and correct () as float64 tensors, over the steps done so far."""
        rows, correct = self.rows()
        as_tensor = functools.partial(torch.as_tensor, dtype=torch.float64, device=self.device)
        return {name: as_tensor(row) for name, row in zip(ROWS, rows)} | {"correct": as_tensor(correct)}

    def rows(self) -> tuple[Array, Array]:
        """The steps' losses, penalties and sizes as one (3, steps) float64 array (zero where not done), and
        the correct predictions (), in the steps' arrays: NumPy's for an engine on NumPy, whose epoch's end then
        makes no torch call (each would cost it about a tenth of a step: docs/benchmarks.md §3)."""
        numpy = bool(self.losses) and isinstance(self.losses[0], np.ndarray)
        xp, on = (np, {}) if numpy else (torch, {"device": self.device})
        if self.base:
            rows = xp.stack([xp.asarray(self.base[k]) for k in ROWS])
            correct = xp.asarray(self.base["correct"]) + 0  # a copy
        else:
            rows = xp.zeros((len(ROWS), self.steps), dtype=xp.float64, **on)
            correct = xp.zeros((), dtype=xp.float64, **on)
        done = slice(self.first, self.first + len(self.losses))
        if self.losses:
            penalized = self.penalties[0] is not None
            values = xp.stack(self.losses + self.penalties if penalized else self.losses)
            rows[:1 + penalized, done] = values.reshape(1 + penalized, -1)
            rows[2, done] = xp.asarray(self.sizes, dtype=xp.float64, **on)
        pairs = [(p, y) for p, y in zip(self.predicted, self.targets) if y is not None]
        if pairs:
            outputs, targets = xp.concat([p for p, _ in pairs]), xp.concat([y for _, y in pairs])
            correct += (predictions(outputs, self.loss) == targets).sum()
        counts = [p for p, y in zip(self.predicted, self.targets) if y is None]
        if counts:
            correct += xp.stack(counts).sum()
        return rows, correct


@dataclass
class FitState:
    """What callbacks see of the loop; a callback stops training by setting `stop` (never by raising).

    `interrupted` is set by Ctrl-C (the loop finishes the step it is in), `diverged` holds the
    (epoch, step) of the first non-finite loss.
    """

    epochs: int
    steps: int
    engine: object
    generator: torch.Generator
    epoch: int = 1
    step: int = 0
    stop: bool = False
    interrupted: bool = False
    diverged: Optional[tuple[int, int]] = None
    history: list[dict] = field(default_factory=list)
    epoch_start_rng: Optional[torch.Tensor] = None  # the generator's state when this epoch began
    totals: Optional[EpochTotals] = None

    def snapshot(self) -> dict:
        """Everything needed to continue from here, bit for bit: position, random states, sums, history."""
        totals = None if self.totals is None or self.step == 0 else \
            self.totals.fold() | {"seconds": self.totals.seconds}
        return {"epoch": self.epoch, "step": self.step, "history": self.history, "totals": totals,
                "generator": self.epoch_start_rng if self.step else self.generator.get_state(),
                "global_rng": _global_rng_states()}


@dataclass
class Evaluation:
    """Loss and metrics of a model on one split, with its predictions (on the CPU)."""

    loss: float
    accuracy: Optional[float]
    r2: Optional[float]
    predicted: torch.Tensor
    target: torch.Tensor

    def metrics(self) -> dict:
        """The numbers for summary.json: loss, and accuracy (classification) or r2 (regression)."""
        if self.accuracy is not None:
            return {"loss": self.loss, "accuracy": self.accuracy}
        return {"loss": self.loss, "r2": self.r2}


def fit(engine, train: Split, val: Optional[Split], loss: str, *, epochs: int, batch_size: int,
        sampler: str, generator: torch.Generator, eval_batch_size: int = 4096,
        callbacks: Sequence[Callback] = (), resume: Optional[dict] = None) -> FitState:
    """Train for `epochs` (or continue from a `FitState.snapshot()`); the returned state holds the history.

    With a fast engine (train.fast), the host memory a step frees is kept for the next (`keep_freed_host_memory`).
    """
    state = FitState(epochs, steps_per_epoch(len(train), batch_size, sampler), engine, generator)
    if engine.fast:
        keep_freed_host_memory()
    with global_rng_seeded_from(generator, train.x.device, resume), _ctrl_c_sets(state), engine.running():
        if resume is not None:
            state.epoch, state.step, state.history = resume["epoch"], resume["step"], list(resume["history"])
            generator.set_state(resume["generator"])
        _loop(state, train, val, loss, batch_size, sampler, eval_batch_size, callbacks, resume)
    return state


@contextmanager
def global_rng_seeded_from(generator: torch.Generator, device: torch.device,
                           resume: Optional[dict] = None) -> Iterator[None]:
    """Dropout draws from torch's global RNG: seed it from `generator` (or restore a snapshot's state),
    and give the caller's state back afterwards."""
    devices = [] if device.type == "cpu" else [device.index or 0]
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        if resume is None:
            seed = int(torch.randint(2**62, (1,), generator=generator))
            # on the CPU, only the CPU's generator: torch.manual_seed also queues a seed for every other
            # device type, with a stack trace each (about 1 ms a fit), and leaves them reseeded
            if devices:
                torch.manual_seed(seed)
            else:
                torch.default_generator.manual_seed(seed)
        else:
            _set_global_rng_states(resume["global_rng"])
        yield


def _global_rng_states() -> list[torch.Tensor]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return [torch.get_rng_state()] + list(cuda)


def _set_global_rng_states(states: list[torch.Tensor]) -> None:
    torch.set_rng_state(states[0])
    if len(states) > 1:
        torch.cuda.set_rng_state_all(states[1:])


@contextmanager
def _ctrl_c_sets(state: FitState) -> Iterator[None]:
    """While training, Ctrl-C (SIGINT) only sets `state.interrupted`; the loop stops after the current step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        state.interrupted = True

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _loop(state: FitState, train: Split, val: Optional[Split], loss: str, batch_size: int, sampler: str,
          eval_batch_size: int, callbacks: Sequence[Callback], resume: Optional[dict]) -> None:
    engine, classify, device = state.engine, loss != "mse", train.x.device
    x, y = (train.x.numpy(), train.y.numpy()) if engine.backend == "numpy" else (train.x, train.y)
    for callback in callbacks:
        callback.on_train_begin(state)
    while state.epoch <= state.epochs and not state.interrupted:
        if not engine.model.training:  # Module.train() walks every module: about 80 µs an epoch for nothing
            engine.model.train()
        state.epoch_start_rng = state.generator.get_state()
        skip, state.totals = _epoch_start(state, resume, device, loss)
        resume = None
        for callback in callbacks:
            callback.on_epoch_begin(state)
        start = time.perf_counter() - state.totals.seconds
        state.step = skip
        for taken in _steps_taken(engine, x, y, batch_size, sampler, state.generator, skip):
            for result, targets in taken:
                state.step += 1
                state.totals.add(result, targets, classify)
                for callback in callbacks:
                    callback.on_batch_end(state, result.loss)
            if state.interrupted:
                wait_for(device)
                state.totals.seconds = time.perf_counter() - start
                break
        else:
            wait_for(device)  # on a GPU the epoch's last steps may still be queued: its seconds include them
            _end_epoch(state, time.perf_counter() - start, val, loss, eval_batch_size, classify, callbacks)
            if state.stop or state.diverged:
                break
    for callback in callbacks:
        callback.on_train_end(state)


def _steps_taken(engine, x: Array, y: Array, batch_size: int, sampler: str, generator: torch.Generator,
                 skip: int) -> Iterator[list]:
    """One epoch's training steps after its first `skip`, as lists of (result, targets) taken at once: one
    step per batch of x, y (the training data in the engine's arrays), or `engine.steps_per_call` steps in one
    call of `engine.steps` (a CUDA graph's chunk; its targets are the batches' indices, of which only the
    length is read: the engine counted correct predictions)."""
    per_call = getattr(engine, "steps_per_call", 1)
    if per_call == 1:
        for xb, yb in itertools.islice(batches(x, y, batch_size, sampler, generator), skip, None):
            yield [(engine.step(xb, yb), yb)]
        return
    for index in index_chunks(len(x), batch_size, sampler, generator, x.device, per_call, skip):
        yield list(zip(engine.steps(x, y, index, batch_size), index.split(batch_size)))


def _epoch_start(state: FitState, resume: Optional[dict], device: torch.device,
                 loss: str) -> tuple[int, EpochTotals]:
    """Steps to skip and the running sums: from the snapshot when resuming mid-epoch, else from zero."""
    if resume is None or resume["totals"] is None:
        return 0, EpochTotals(state.steps, device, loss)
    t = resume["totals"]
    base = {k: t[k].to(device) for k in ("losses", "penalties", "sizes", "correct")}
    return resume["step"], EpochTotals(state.steps, device, loss, resume["step"], base, float(t["seconds"]))


def _end_epoch(state: FitState, seconds: float, val: Optional[Split], loss: str, eval_batch_size: int,
               classify: bool, callbacks: Sequence[Callback]) -> None:
    """Read the epoch's sums (three host reads, after its last step), evaluate on val, record the history row,
    let the callbacks see it."""
    rows, correct = state.totals.rows()
    sizes = rows[2]
    (loss_sum, penalty_sum), seen = (rows[:2] * sizes).sum(1).tolist(), float(sizes.sum())
    if not math.isfinite(loss_sum):  # sizes > 0: the sum is finite exactly when every step's loss is
        state.diverged = (state.epoch, next(step for step, value in enumerate(rows[0].tolist(), 1)
                                            if not math.isfinite(value)))
        return
    logs = {"epoch": state.epoch, "train_loss": loss_sum / seen, "train_penalty": penalty_sum / seen}
    if classify:
        logs["train_accuracy"] = float(correct) / seen
    logs["seconds"] = seconds
    if val is not None:
        evaluation = evaluate(state.engine.model, val, loss, eval_batch_size)
        logs.update({f"val_{key}": value for key, value in evaluation.metrics().items() if key != "r2"})
    state.history.append(logs)
    state.epoch, state.step, state.totals = state.epoch + 1, 0, None  # a snapshot now starts the next epoch
    for callback in callbacks:
        callback.on_epoch_end(state, logs)


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, loss: str, batch_size: int = 4096) -> Evaluation:
    """Mean loss and metrics of `model` in eval mode over `split`, in fixed-size batches (same numbers every time)."""
    was_training = model.training
    model.eval()
    loss_fn = loss_function(loss)
    total = torch.zeros((), dtype=torch.float64, device=split.x.device)
    predicted = []
    for x, y in zip(split.x.split(batch_size), split.y.split(batch_size)):
        outputs = model(x)
        total += loss_fn(outputs, y) * len(x)
        predicted.append(predictions(outputs, loss))
    model.train(was_training)
    predicted_all = torch.cat(predicted).cpu()
    target = split.y.cpu()
    classify = loss != "mse"
    return Evaluation(loss=(total / len(split)).item(),
                      accuracy=accuracy(predicted_all, target) if classify else None,
                      r2=None if classify else r2_score(predicted_all, target),
                      predicted=predicted_all, target=target)
