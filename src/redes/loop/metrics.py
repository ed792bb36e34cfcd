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
    """scikit-learn's per-class precision, recall, F1 and support, with the class names."""
    from sklearn.metrics import classification_report as sklearn_report

    return sklearn_report(target.cpu().numpy(), predicted.cpu().numpy(), labels=list(range(len(classes))),
                          target_names=classes, digits=4, zero_division=0)


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
