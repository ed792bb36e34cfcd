"""Metrics as pure functions of tensors: accuracy, confusion matrix, per-class report."""

from __future__ import annotations

from typing import Optional

import torch


def accuracy(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """Share of predicted class indices equal to the targets."""
    return (predicted == target).double().mean().item()


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    pairs = target.long().cpu() * n_classes + predicted.long().cpu()
    return torch.bincount(pairs, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def classification_report(predicted: torch.Tensor, target: torch.Tensor, classes: list[str]) -> str:
    """Per-class precision, recall, F1 and support with the class names, then accuracy and the macro and
    weighted averages: scikit-learn's `classification_report(digits=4, zero_division=0)`, the same text
    (tests/test_runs.py compares them), computed here from the confusion matrix so that a training's report
    does not import scikit-learn and SciPy."""
    counts = confusion_matrix(predicted, target, len(classes)).double()
    hits, support, guessed = counts.diag(), counts.sum(1), counts.sum(0)
    precision = torch.where(guessed > 0, hits / guessed.clamp(min=1), 0.0)
    recall = torch.where(support > 0, hits / support.clamp(min=1), 0.0)
    both = support + guessed
    f1 = torch.where(both > 0, 2 * hits / both.clamp(min=1), 0.0)
    total = int(support.sum())
    width = max(max(map(len, classes)), len("weighted avg"))
    row = "{:>{w}s} " + " {:>9.4f}" * 3 + " {:>9}\n"
    lines = [" " * (width + 1) + "".join(f" {name:>9}" for name in ("precision", "recall", "f1-score", "support"))
             + "\n\n"]
    lines += [row.format(name, p, r, f, int(n), w=width)
              for name, p, r, f, n in zip(classes, precision.tolist(), recall.tolist(), f1.tolist(), support.tolist())]
    accuracy = float(hits.sum()) / max(total, 1)
    lines.append("\n" + "{:>{w}s} ".format("accuracy", w=width) + " {:>9}".format("") * 2
                 + " {:>9.4f} {:>9}\n".format(accuracy, total))
    for name, average in (("macro avg", lambda v: float(v.mean())),
                          ("weighted avg", lambda v: float((v * support).sum() / max(total, 1)))):
        lines.append(row.format(name, average(precision), average(recall), average(f1), total, w=width))
    return "".join(lines)


def format_confusion(matrix: torch.Tensor, classes: list[str]) -> str:
    """The confusion matrix as aligned text, true classes down, predicted across."""
    names = [name[:10] for name in classes]
    width = max(max(map(len, names)), len(str(int(matrix.max()))) if matrix.numel() else 1)
    lines = ["true \\ predicted", " " * width + " " + " ".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, matrix.tolist()):
        lines.append(f"{name:>{width}} " + " ".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def r2_score(predicted: torch.Tensor, target: torch.Tensor) -> Optional[float]:
    """Coefficient of determination over all targets; None when the targets are constant."""
    residual = (target - predicted).double().square().sum()
    total = (target - target.mean(dim=0)).double().square().sum()
    return None if total == 0 else (1 - residual / total).item()
