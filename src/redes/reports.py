"""Text reports of an evaluation: the numbers, per-class precision/recall/F1, the confusion matrix."""

from __future__ import annotations

from typing import Optional

from redes.metrics import classification_report, confusion_matrix, format_confusion
from redes.training import Evaluation


def evaluation_report(split: str, evaluation: Evaluation, classes: Optional[list[str]]) -> str:
    """What `redes train` prints at the end and `redes eval` prints again, identical for the same run."""
    lines = [f"{split}: {len(evaluation.target)} samples, loss {evaluation.loss:.6f}"]
    if evaluation.accuracy is None:
        if evaluation.r2 is not None:
            lines[0] += f", r2 {evaluation.r2:.6f}"
        return "\n".join(lines)
    lines[0] += f", accuracy {evaluation.accuracy:.4f}"
    names = classes or [str(i) for i in range(int(evaluation.target.max()) + 1)]
    lines += ["", classification_report(evaluation.predicted, evaluation.target, names).rstrip(), "",
              format_confusion(confusion_matrix(evaluation.predicted, evaluation.target, len(names)), names)]
    return "\n".join(lines)
