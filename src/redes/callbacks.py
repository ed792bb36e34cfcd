"""Callbacks: a base class with no-op hooks, the progress bar and the metrics.csv logger."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Optional

import torch

if TYPE_CHECKING:
    from redes.training import FitState


class Callback:
    """Override any hook; to stop training, set `state.stop = True`."""

    def on_train_begin(self, state: "FitState") -> None: ...
    def on_epoch_begin(self, state: "FitState") -> None: ...
    def on_batch_end(self, state: "FitState", loss: torch.Tensor) -> None: ...
    def on_epoch_end(self, state: "FitState", logs: dict) -> None: ...
    def on_train_end(self, state: "FitState") -> None: ...


class ProgressBar(Callback):
    """A tqdm bar per epoch (stderr, hidden when not a terminal) with the running loss, then one line
    per epoch with its metrics on `file`.

    The running loss is read from the device only `updates` times per epoch, so the bar costs no
    host synchronisation on most steps.
    """

    def __init__(self, file: Optional[IO[str]] = None, updates: int = 20):
        self.file = file or sys.stdout
        self.updates = updates

    def on_epoch_begin(self, state: "FitState") -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.steps, desc=f"epoch {state.epoch}/{state.epochs}", leave=False,
                        unit="step", dynamic_ncols=True, disable=None)
        self.every = max(1, state.steps // self.updates)
        self.running, self.count = None, 0

    def on_batch_end(self, state: "FitState", loss: torch.Tensor) -> None:
        self.running = loss if self.running is None else self.running + loss
        self.count += 1
        if state.step % self.every == 0 or state.step == state.steps:
            self.bar.set_postfix_str(f"loss {(self.running / self.count).item():.4f}", refresh=False)
            self.running, self.count = None, 0
            self.bar.update(state.step - self.bar.n)

    def on_epoch_end(self, state: "FitState", logs: dict) -> None:
        self.bar.close()
        print(format_epoch(logs, state.epochs), file=self.file, flush=True)


def format_epoch(logs: dict, epochs: int) -> str:
    """One line per epoch: `epoch  3/30  train loss 0.1234 acc 96.50%  val loss ... acc ...  0.21 s`."""
    width = len(str(epochs))
    parts = [f"epoch {logs['epoch']:>{width}}/{epochs}"]
    for split in ("train", "val"):
        if f"{split}_loss" in logs:
            text = f"{split} loss {logs[f'{split}_loss']:.4f}"
            if f"{split}_accuracy" in logs:
                text += f" acc {logs[f'{split}_accuracy']:.2%}"
            parts.append(text)
    if logs.get("train_penalty"):
        parts.append(f"penalty {logs['train_penalty']:.4g}")
    parts.append(f"{logs['seconds']:.2f} s")
    return "  ".join(parts)


class CSVLogger(Callback):
    """Appends one row per epoch to metrics.csv as soon as the epoch ends, so a killed run keeps its rows."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_epoch_end(self, state: "FitState", logs: dict) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(logs))
            if new:
                writer.writeheader()
            writer.writerow(logs)
