"""Every file of a run directory, by name: the one place they are spelled."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from redes.errors import RedesError


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run directory's files (which exist depends on how far the run got)."""

    root: Path

    @property
    def config(self) -> Path:
        """The fully resolved config, written before training starts."""
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        """One row per epoch: the numbers, identical between identical runs."""
        return self.root / "metrics.csv"

    @property
    def timing(self) -> Path:
        """One row per epoch: its wall-clock seconds."""
        return self.root / "timing.csv"

    @property
    def checkpoint(self) -> Path:
        """Weights, optimizer state, random states, position and history: what `redes resume` needs."""
        return self.root / "checkpoint.safetensors"

    @property
    def model(self) -> Path:
        """The trained weights and the input scaling, with the spec that rebuilds the model."""
        return self.root / "model.safetensors"

    @property
    def summary(self) -> Path:
        """What `redes train --json` prints; written last, so a run with one has finished."""
        return self.root / "summary.json"

    def read_summary(self) -> dict:
        """summary.json's object, or {} when the run has not finished; a damaged file is named."""
        if not self.summary.is_file():
            return {}
        try:
            summary = json.loads(self.summary.read_text())
        except (ValueError, RecursionError) as exc:
            raise RedesError(f"{self.summary}: not a summary written by redes ({type(exc).__name__})") from None
        if not isinstance(summary, dict):
            raise RedesError(f"{self.summary}: expected a JSON object, got {type(summary).__name__}")
        for split in ("train", "val", "test"):
            if not isinstance(summary.get(split), (dict, type(None))):
                raise RedesError(f"{self.summary}: {split!r} must be an object of metrics or null")
        return summary

    @property
    def lock(self) -> Path:
        """Locked by the process that writes the run (runs/writer.py); it holds that process's pid."""
        return self.root / ".lock"

    @property
    def report(self) -> Path:
        return self.root / "report.txt"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def pictures_not_drawn(self) -> Path:
        """Why the process that draws a run's pictures after `redes train` could not draw them."""
        return self.plots / "not_drawn.txt"

    def picture(self, name: str) -> Path:
        """plots/NAME.png: learning_curves, confusion_matrix, samples or fit."""
        return self.plots / f"{name}.png"
