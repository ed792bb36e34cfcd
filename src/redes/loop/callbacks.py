"""Callbacks: a base class with no-op hooks, the progress bar and the metrics.csv logger."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Optional

if TYPE_CHECKING:  # torch is imported where a callback first needs it: a search file is checked without it
    import torch

    from redes.loop.state import FitState


class Callback:
    """Override any hook; to stop training, set `state.stop = True`."""

    def on_train_begin(self, state: "FitState") -> None: ...
    def on_epoch_begin(self, state: "FitState") -> None: ...
    def on_batch_end(self, state: "FitState", loss: torch.Tensor) -> None: ...  # a 0-d NumPy array on NumPy
    def on_epoch_end(self, state: "FitState", logs: dict) -> None: ...
    def on_train_end(self, state: "FitState") -> None: ...


class ProgressBar(Callback):
    """A tqdm bar per epoch (stderr, at a terminal or in a notebook: redes/progress.py) with the running loss,
    then one line per epoch with its metrics on `file`.

    The running loss is read from the device at most `updates` times per epoch and once per redraw of the
    bar (tqdm's `mininterval`, 0.1 s), only while the bar is drawn (a terminal), and on CUDA without waiting
    for it (`LatestValue`): a fast epoch is not slowed by its bar, and the bar never stalls the GPU.
    """

    def __init__(self, file: Optional[IO[str]] = None, updates: int = 20):
        self.file = file or sys.stdout
        self.updates = updates

    def on_epoch_begin(self, state: "FitState") -> None:
        from redes.progress import progress_bar

        self.bar = progress_bar(total=state.steps, desc=f"epoch {state.epoch}/{state.epochs}", leave=False,
                                unit="step", dynamic_ncols=True)
        self.every = max(1, state.steps // self.updates)
        self.running: list[torch.Tensor] = []
        self.loss = LatestValue()
        self.next_read = 0.0  # time.monotonic() from which the bar may be drawn again

    def on_batch_end(self, state: "FitState", loss: torch.Tensor) -> None:  # or a 0-d NumPy array
        if self.bar.disable:  # nowhere to draw it: nothing is read
            return
        self.running.append(loss)  # no kernel on most steps: the mean is taken only when the bar is drawn
        now = time.monotonic()
        if state.step % self.every == 0 and now >= self.next_read:
            import torch

            self.next_read = now + self.bar.mininterval
            shown = self.loss.update(torch.stack([torch.as_tensor(v) for v in self.running]).mean())
            self.running = []
            if shown is not None:
                self.bar.set_postfix_str(f"loss {shown:.4f}", refresh=False)
            self.bar.update(state.step - self.bar.n)

    def on_epoch_end(self, state: "FitState", logs: dict) -> None:
        self.bar.close()
        print(format_epoch(logs, state.epochs), file=self.file, flush=True)


class LatestValue:
    """The latest value of a series of device scalars that is on the host, never waiting for the device: on
    the CPU each value at once; on CUDA each is copied to pinned host memory behind the queued work, and
    `update` returns the newest whose copy has finished (None before the first has)."""

    def __init__(self):
        self.value: Optional[float] = None
        self.pending: list[tuple[torch.Tensor, torch.cuda.Event]] = []

    def update(self, scalar: torch.Tensor) -> Optional[float]:
        if scalar.device.type != "cuda":
            self.value = scalar.item()
            return self.value
        import torch

        host = torch.empty((), dtype=scalar.dtype, pin_memory=True)
        host.copy_(scalar, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record()
        self.pending.append((host, copied))
        while self.pending and self.pending[0][1].query():
            self.value = self.pending.pop(0)[0].item()
        return self.value


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
    """Appends each epoch's row as soon as the epoch ends, so a killed run keeps its rows.

    `metrics` gets the numbers, identical bit for bit between identical runs; the wall-clock seconds go
    to `timing`, which never repeats itself.
    """

    def __init__(self, metrics: Path, timing: Path):
        self.metrics, self.timing = Path(metrics), Path(timing)

    def on_epoch_end(self, state: "FitState", logs: dict) -> None:
        self.write(logs)

    def write(self, logs: dict) -> None:
        _append_row(self.metrics, {k: v for k, v in logs.items() if k != "seconds"})
        _append_row(self.timing, {"epoch": logs["epoch"], "seconds": logs["seconds"]})

    def rewrite(self, history: list[dict]) -> None:
        """Start the files again from `history` (a resumed run drops rows written after its checkpoint)."""
        for path in (self.metrics, self.timing):
            path.unlink(missing_ok=True)
        for logs in history:
            self.write(logs)


def _append_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


class Checkpoint(Callback):
    """checkpoint.safetensors: weights, optimizer state, random states, position and history, replaced
    atomically at the start, at the end, when Ctrl-C stops the run, and every `every` epochs in between,
    paced so that writing it takes at most `share` of the training's time (an epoch far shorter than a
    write is not followed by one each time) while at most `at_most` seconds pass between two."""

    def __init__(self, path: Path, every: int = 1, config: Optional[dict] = None, share: float = 0.05,
                 at_most: float = 30.0):
        self.path, self.every, self.config, self.share, self.at_most = Path(path), every, config or {}, share, at_most
        self.written, self.cost = time.perf_counter(), 0.0  # when the last write ended, and what it took

    def on_train_begin(self, state: "FitState") -> None:
        if not self.path.exists():
            self.save(state)
        self.written = time.perf_counter()

    def on_epoch_end(self, state: "FitState", logs: dict) -> None:
        since = time.perf_counter() - self.written
        due = logs["epoch"] % self.every == 0 and since >= min(self.cost / self.share, self.at_most)
        if due or logs["epoch"] == state.epochs:
            self.save(state)

    def on_train_end(self, state: "FitState") -> None:
        if state.interrupted:
            self.save(state)

    def save(self, state: "FitState") -> None:
        from redes.checkpoint import save_tree

        start, engine = time.perf_counter(), state.engine
        save_tree(self.path, {"model": engine.model.state_dict(), "optimizer": engine.state_dict(),
                              "loop": state.snapshot(), "config": self.config}, kind="checkpoint")
        self.written = time.perf_counter()
        self.cost = self.written - start
