"""What the loop knows while it trains: the epoch in progress (`EpochTotals`) and `FitState`, which callbacks see
and a checkpoint snapshots."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from redes.arrays import Array
from redes.engines.base import Engine
from redes.nn.losses import predictions

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
        makes no torch call (a torch call between NumPy steps is slow: docs/benchmarks.md, section 3)."""
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

    `interrupted` is set by Ctrl-C (the loop finishes the step it is in); `diverged` says where and how the
    training loss diverged: a non-finite step, or an epoch's mean above `divergence_factor` x `constant_loss`.
    """

    epochs: int
    steps: int
    engine: Engine
    generator: torch.Generator
    epoch: int = 1
    step: int = 0
    stop: bool = False
    interrupted: bool = False
    diverged: Optional[str] = None
    divergence_factor: float = 0.0  # diverged above this many times `constant_loss` (0: only at NaN or inf)
    constant_loss: float = 0.0  # the loss of a prediction that ignores the inputs
    history: list[dict] = field(default_factory=list)
    epoch_start_rng: Optional[torch.Tensor] = None  # the generator's state when this epoch began
    totals: Optional[EpochTotals] = None

    def restore(self, snapshot: dict) -> None:
        """Continue from a `snapshot()` (checked by `check_snapshot`): its position, history and batch-order
        generator."""
        self.epoch, self.step, self.history = snapshot["epoch"], snapshot["step"], list(snapshot["history"])
        self.generator.set_state(snapshot["generator"])

    def begin_epoch(self, device: torch.device, loss: str, resume: Optional[dict]) -> None:
        """The running sums of the epoch about to run: from zero, or from the snapshot of a mid-epoch resume
        (whose first `step` steps are done)."""
        self.epoch_start_rng = self.generator.get_state()
        if resume is None or resume["totals"] is None:
            self.step, self.totals = 0, EpochTotals(self.steps, device, loss)
            return
        t = resume["totals"]
        base = {k: t[k].to(device) for k in ("losses", "penalties", "sizes", "correct")}
        self.step = resume["step"]
        self.totals = EpochTotals(self.steps, device, loss, self.step, base, float(t["seconds"]))

    def end_epoch(self, classify: bool) -> Optional[dict]:
        """The epoch's history row from its sums (three host reads, after its last step), or None with `diverged`
        set when a step's loss was not finite or the epoch's mean is above its limit."""
        rows, correct = self.totals.rows()
        sizes = rows[2]
        (loss_sum, penalty_sum), seen = (rows[:2] * sizes).sum(1).tolist(), float(sizes.sum())
        if not math.isfinite(loss_sum):  # sizes > 0: the sum is finite exactly when every step's loss is
            step = next(step for step, value in enumerate(rows[0].tolist(), 1) if not math.isfinite(value))
            self.diverged = f"the loss became non-finite at epoch {self.epoch}, step {step}"
            return None
        limit = self.divergence_factor * self.constant_loss  # 0: no factor, or every target the same
        if limit and loss_sum / seen > limit:
            self.diverged = (f"the training loss of epoch {self.epoch}, {loss_sum / seen:.4g}, rose above {limit:.4g} "
                             f"(train.divergence_factor={self.divergence_factor:g} times {self.constant_loss:.4g}, "
                             "the loss of a prediction that ignores the inputs)")
            return None
        logs = {"epoch": self.epoch, "train_loss": loss_sum / seen, "train_penalty": penalty_sum / seen}
        if classify:
            logs["train_accuracy"] = float(correct) / seen
        return logs | {"seconds": self.totals.seconds}

    def snapshot(self) -> dict:
        """Everything needed to continue from here, bit for bit: position, random states, sums, history."""
        totals = None if self.totals is None or self.step == 0 else \
            self.totals.fold() | {"seconds": self.totals.seconds}
        return {"epoch": self.epoch, "step": self.step, "history": self.history, "totals": totals,
                "generator": self.epoch_start_rng if self.step else self.generator.get_state(),
                "global_rng": global_rng_states()}


def check_snapshot(snapshot: dict, epochs: int, steps: int) -> None:
    """A snapshot read back from a file is one this loop can continue: a position within `epochs` of `steps`
    steps, one history row per epoch done, sums of the right shape, random states of the right size. Raises
    ValueError naming the first entry that is not."""
    def fail(what: str):
        raise ValueError(f"loop.{what}")

    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def rng_state(value, like: torch.Tensor) -> bool:
        return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.shape == like.shape

    if not isinstance(snapshot, dict):
        fail("position is missing")
    epoch, step, history, totals = (snapshot.get(key) for key in ("epoch", "step", "history", "totals"))
    if not (whole(epoch) and 1 <= epoch <= epochs + 1):
        fail(f"epoch must be a whole number from 1 to {epochs + 1} (train.epochs + 1), got {epoch!r}")
    if not (whole(step) and 0 <= step <= steps and (step == 0 or epoch <= epochs)):
        fail(f"step must be a whole number from 0 to {steps} (the steps of an epoch), got {step!r}")
    if not (isinstance(history, list) and len(history) == epoch - 1):
        fail(f"history must hold one row per epoch done ({epoch - 1}), got {_length(history)}")
    for number, row in enumerate(history, 1):
        if not (isinstance(row, dict) and row.get("epoch") == number
                and all(isinstance(k, str) and isinstance(v, (int, float)) for k, v in row.items())):
            fail(f"history[{number - 1}] must be the metrics of epoch {number}, as numbers")
    if (totals is None) != (step == 0) or (totals is not None and not _sums_fit(totals, steps)):
        fail(f"totals must be None at an epoch's start, else the sums of {steps} steps")
    if not rng_state(snapshot.get("generator"), torch.Generator().get_state()):
        fail("generator is not the state of a torch.Generator")
    rngs = snapshot.get("global_rng")
    if not (isinstance(rngs, list) and rngs and rng_state(rngs[0], torch.get_rng_state())
            and all(isinstance(r, torch.Tensor) and r.dtype == torch.uint8 for r in rngs)):
        fail("global_rng is not the state of torch's random number generators")


def _sums_fit(totals, steps: int) -> bool:
    """An epoch's sums as `EpochTotals.fold` wrote them: float64 rows of `steps` values, a count, its seconds."""
    if not isinstance(totals, dict):
        return False
    rows = [totals.get(name) for name in ROWS]
    return (all(isinstance(r, torch.Tensor) and r.dtype == torch.float64 and r.shape == (steps,) for r in rows)
            and isinstance(totals.get("correct"), torch.Tensor) and totals["correct"].shape == ()
            and totals["correct"].dtype == torch.float64
            and isinstance(totals.get("seconds"), (int, float)) and math.isfinite(totals["seconds"]))


def _length(value) -> str:
    return f"{len(value)} rows" if isinstance(value, list) else type(value).__name__


def global_rng_states() -> list[torch.Tensor]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return [torch.get_rng_state()] + list(cuda)


def set_global_rng_states(states: list[torch.Tensor]) -> None:
    torch.set_rng_state(states[0])
    if len(states) > 1:
        torch.cuda.set_rng_state_all(states[1:])
