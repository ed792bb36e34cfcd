"""Text reports of an evaluation: the numbers, per-class precision/recall/F1, the confusion matrix."""

from __future__ import annotations

from typing import Optional

from redes.loop.evaluate import Evaluation
from redes.loop.metrics import classification_report, confusion_matrix, format_confusion


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


def compare_runs(runs: list) -> str:
    """Runs side by side: the config keys whose values differ, then each run's final metrics."""
    configs = [_flatten(run.config.to_dict()) for run in runs]
    differing = [key for key in configs[0] if len({repr(c.get(key)) for c in configs}) > 1]
    names = [str(run.path) for run in runs]
    rows = [("run", names)] + [(key, [_text(c.get(key)) for c in configs]) for key in differing]
    for split in ("train", "val", "test"):
        for metric in ("loss", "accuracy", "r2"):
            values = [(run.summary.get(split) or {}).get(metric) for run in runs]
            if any(v is not None for v in values):
                rows.append((f"{split} {metric}", [_text(v) for v in values]))
    for key in ("epochs", "seconds_per_epoch", "parameters"):
        rows.append((key, [_text(run.summary.get(key)) for run in runs]))
    first = max(len(key) for key, _ in rows)
    widths = [max(len(values[i]) for _, values in rows) for i in range(len(runs))]
    lines = [f"{key:<{first}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(values, widths)) for key, values in rows]
    if not differing:
        lines.insert(1, "(the configs are identical)")
    return "\n".join(lines)


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _text(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def sweep_table(groups: list[dict], axes: list[str]) -> str:
    """A sweep's results, one line per combination of the axes: each metric's mean ± std over the seeds."""
    columns = [c for c in ("seconds_per_epoch", "parameters", "train_loss", "train_accuracy", "val_loss",
                           "val_accuracy", "test_loss", "test_accuracy") if any(c in g for g in groups)]
    header = [axis.rsplit(".", 1)[-1] for axis in axes] + ["runs"] + columns
    body = [[_text(g[axis]) for axis in axes] + [str(g["runs"])] + [_spread(g, c) for c in columns] for g in groups]
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    return "\n".join("  ".join(f"{cell:>{w}}" for cell, w in zip(row, widths)) for row in [header] + body)


def _spread(group: dict, column: str) -> str:
    if column not in group:
        return "-"
    mean, std = group[column], group.get(f"{column}_std", 0.0)
    if column == "parameters":
        return f"{mean:.0f}"
    digits = 4 if abs(mean) < 10 else 1
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if group["runs"] > 1 else "")
