"""Pictures as PNG files; the only module that imports matplotlib (and only when a plot is drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from redes.metrics import confusion_matrix as confusion_counts
from redes.training import Evaluation


def _figure(width: float, height: float):
    """A figure drawn without pyplot: no GUI backend, no global figure state, safe in any process."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def learning_curves(history: list[dict], path: Path) -> Path:
    """Loss (and accuracy, for classifiers) per epoch, train and val side by side."""
    metrics = ["loss"] + (["accuracy"] if any("train_accuracy" in row for row in history) else [])
    fig = _figure(5.5 * len(metrics), 4)
    axes = fig.subplots(1, len(metrics), squeeze=False)
    epochs = [row["epoch"] for row in history]
    for ax, metric in zip(axes[0], metrics):
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            if any(key in row for row in history):
                ax.plot(epochs, [row.get(key) for row in history], marker="o", markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def confusion_matrix(evaluation: Evaluation, classes: list[str], path: Path, title: str = "") -> Path:
    """A heat map of true against predicted classes, with the counts written in the cells."""
    counts = confusion_counts(evaluation.predicted, evaluation.target, len(classes)).numpy()
    size = max(4.0, 0.5 * len(classes) + 2)
    fig = _figure(size, size)
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({title}, accuracy {evaluation.accuracy:.2%})")
    threshold = counts.max() / 2 if counts.size else 0
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black",
                fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
