"""Pictures as PNG files; the only module that imports matplotlib (and only when a plot is drawn).

Each picture is drawn from plain data (lists and NumPy arrays, no torch), so that `draw_later` can hand a
run's pictures to a process of their own: `redes train` ends as soon as its results are printed, and that
process, started with `python -m redes.runs.plots`, draws them while holding the run directory's lock.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

Orders = list[tuple[str, dict]]  # the pictures to draw: (a name in PICTURES, its keyword arguments) each


def _figure(width: float, height: float):
    """A figure drawn without pyplot: no GUI backend, no global figure state, safe in any process."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def picture_formats() -> list[str]:
    """The file extensions matplotlib can save a figure as (png, svg, pdf, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


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
    return _save(fig, path)


def confusion_matrix(counts: np.ndarray, classes: list[str], path: Path, title: str = "") -> Path:
    """A heat map of true (rows) against predicted (columns) classes, with the counts written in the cells."""
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    size = max(4.0, 0.5 * len(classes) + 2)
    fig = _figure(size, size)
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({title}, accuracy {accuracy:.2%})")
    threshold = counts.max() / 2 if counts.size else 0
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > threshold else "black",
                fontsize=8)
    return _save(fig, path)


def activations(curves: dict[str, tuple], path: Path) -> Path:
    """One panel per activation: the function (solid) and its derivative (dashed), as notebook 001 lists them."""
    columns = 4
    rows = -(-len(curves) // columns)
    fig = _figure(3.2 * columns, 2.6 * rows)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (name, (x, y, slope)) in zip(axes, curves.items()):
        ax.plot(x, y, label="f(x)")
        ax.plot(x, slope, "--", label="f'(x)")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    for ax in axes[len(curves):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def sample_grid(images: np.ndarray, true: list[str], predicted: list[str], path: Path) -> Path:
    """Images (N, H, W) or (N, H, W, 3) in [0, 1], each titled with its true and predicted class names
    (green when they agree, red when not) — notebook 001's imshow, with the model's answers.

    One Axes holds every image, each in its own tile: with an Axes per image, matplotlib's layout and drawing
    of each would be most of what `redes train` spends on its pictures."""
    columns = min(8, len(images))
    rows = -(-len(images) // columns)
    height, width = images.shape[1:3]
    tile_width = 1.25 * max(height, width)
    tile_height = tile_width * 2.1 / 1.5  # the tile's shape in inches: the image, two lines of title above
    fig = _figure(1.5 * columns, 2.1 * rows + 0.3)
    ax = fig.add_axes((0, 0, 1, 2.1 * rows / (2.1 * rows + 0.3)))
    for i, (image, want, got) in enumerate(zip(images, true, predicted)):
        left = (i % columns) * tile_width + (tile_width - width) / 2
        top = (i // columns + 1) * tile_height - height - 0.05 * tile_height
        ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None, vmin=0, vmax=1,
                  extent=(left, left + width, top + height, top))
        ax.text(left + width / 2, top - 0.04 * tile_height, f"{want}\n→ {got}", ha="center", va="bottom",
                fontsize=8, color="green" if want == got else "red")
    ax.set_xlim(0, columns * tile_width)
    ax.set_ylim(rows * tile_height, 0)
    ax.set_axis_off()
    fig.suptitle("true → predicted", fontsize=9)
    return _save(fig, path, layout=False)


def regression_fit(points: dict[str, tuple], line: tuple, path: Path) -> Path:
    """The data (one colour per split) and the model's fitted curve, notebook 003's scatter plot and line."""
    fig = _figure(6, 4.5)
    ax = fig.subplots()
    for name, (x, y) in points.items():
        ax.scatter(x, y, s=12, alpha=0.7, label=name)
    ax.plot(*line, color="black", label="model")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _save(fig, path: Path, layout: bool = True) -> Path:
    if layout:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def sweep_pictures(groups: list[dict], axes: list[str], histories: dict[str, list[dict]], plot_dir: Path) -> Orders:
    """A sweep's pictures, for `draw`: the metrics against each axis (mean and spread over seeds), time against
    accuracy, and the loss curves of every point."""
    common = {"groups": groups, "axes": axes}
    return [*(("against_axis", {**common, "axis": axis, "path": plot_dir / f"{axis.rsplit('.', 1)[-1]}.png"})
              for axis in axes),
            ("time_against_quality", {**common, "path": plot_dir / "time_vs_accuracy.png"}),
            ("sweep_curves", {**common, "histories": histories, "path": plot_dir / "learning_curves.png"})]


def _label(group: dict, axes: list[str]) -> str:
    return ", ".join(f"{axis.rsplit('.', 1)[-1]}={group[axis]}" for axis in axes) or "all"


def _positions(values: list) -> tuple[list, bool]:
    """Numbers stay numbers (log scale for a wide positive range); anything else becomes evenly spaced."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not numeric:
        return list(range(len(values))), False
    return values, min(values) > 0 and max(values) / min(values) >= 50


def against_axis(groups: list[dict], axes: list[str], axis: str, path: Path) -> Path:
    """One panel per metric (accuracy, loss, seconds per epoch, parameters) against `axis`; a line per
    combination of the other axes and, for accuracy and loss, per split; error bars: std over seeds."""
    others = [a for a in axes if a != axis]
    values = list(dict.fromkeys(g[axis] for g in groups))
    x, log = _positions(values)
    panels = [m for m in ("accuracy", "loss") if any(f"{s}_{m}" in g for g in groups for s in ("train", "val", "test"))]
    panels += ["seconds_per_epoch"] + (["parameters"] if len({g.get("parameters") for g in groups}) > 1 else [])
    fig = _figure(4.5 * len(panels), 3.8)
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        columns = [f"{s}_{panel}" for s in ("train", "val", "test")] if panel in ("accuracy", "loss") else [panel]
        for index, combination in enumerate(dict.fromkeys(tuple(g[a] for a in others) for g in groups)):
            line = [next((g for g in groups if g[axis] == v and tuple(g[a] for a in others) == combination), {})
                    for v in values]
            for column, style in zip(columns, ("-", "--", ":")):
                if any(column in g for g in line):
                    name = ", ".join([f"{a.rsplit('.', 1)[-1]}={c}" for a, c in zip(others, combination)]
                                     + ([column.split("_")[0]] if len(columns) > 1 else []))
                    ax.errorbar(x, [g.get(column, np.nan) for g in line], [g.get(f"{column}_std", 0) for g in line],
                                linestyle=style, color=f"C{index % 10}", marker="o", markersize=3, capsize=3,
                                label=name or None)
        if log:
            ax.set_xscale("log")
        else:
            ticks = [str(v).strip("[]").replace(", ", "x") for v in values]  # widths "[300, 400]" -> 300x400
            ax.set_xticks(x, ticks, rotation=30 if max(map(len, ticks)) > 6 else 0)
        ax.set_xlabel(axis)
        ax.set_ylabel(panel.replace("_", " "))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _save(fig, path)


def time_against_quality(groups: list[dict], axes: list[str], path: Path) -> Path:
    """Seconds per epoch against the best-known quality metric (test, else val, else train accuracy or loss)."""
    column = next(c for c in [f"{s}_{m}" for m in ("accuracy", "loss") for s in ("test", "val", "train")]
                  + ["seconds_per_epoch"] if all(c in g for g in groups))
    fig = _figure(6, 4.5)
    ax = fig.subplots()
    for group in groups:
        ax.errorbar(group["seconds_per_epoch"], group[column], group.get(f"{column}_std", 0),
                    group.get("seconds_per_epoch_std", 0), marker="o", capsize=3)
        ax.annotate(_label(group, axes), (group["seconds_per_epoch"], group[column]), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("seconds per epoch")
    ax.set_ylabel(column.replace("_", " "))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def sweep_curves(groups: list[dict], axes: list[str], histories: dict[str, list[dict]], path: Path) -> Path:
    """Train (solid) and validation (dashed) loss per epoch of each group, averaged over its seeds."""
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for index, group in enumerate(groups):
        runs = [histories[name] for name in group["points"] if histories.get(name)]
        length = min(map(len, runs), default=0)
        color = f"C{index % 10}"
        for key, style in (("train_loss", "-"), ("val_loss", "--")):
            if length and all(key in run[0] for run in runs):
                mean = np.mean([[row[key] for row in run[:length]] for run in runs], axis=0)
                ax.plot(range(1, length + 1), mean, style, color=color,
                        label=_label(group, axes) if key == "train_loss" else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (solid: train, dashed: val)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


PICTURES = {"learning_curves": learning_curves, "confusion_matrix": confusion_matrix, "sample_grid": sample_grid,
            "regression_fit": regression_fit, "against_axis": against_axis,
            "time_against_quality": time_against_quality, "sweep_curves": sweep_curves}  # what `draw` draws, by name


def draw(orders: Orders, directory: Path) -> list[Path]:
    """Draw each picture now, into `directory` (a run's or a sweep's) plots/, whose note of pictures that could
    not be drawn before is then removed; the paths written."""
    from redes.runs.layout import RunFiles

    RunFiles(directory).plots.mkdir(exist_ok=True)
    written = [PICTURES[name](**arguments) for name, arguments in orders]
    RunFiles(directory).pictures_not_drawn.unlink(missing_ok=True)
    return written


def draw_later(orders: Orders, run_dir: Path) -> list[Path]:
    """Draw the pictures in a new process that goes on after this one ends, holding the lock of `run_dir` (a
    run's or a sweep's directory), which this process holds and hands down, until they are written; where a
    lock cannot be handed down (Windows), draw them now. A picture that cannot be drawn is named in
    plots/not_drawn.txt, and `redes plot DIR` draws them again. The paths the pictures will have."""
    from redes.runs.layout import RunFiles
    from redes.runs.writer import DRAWING, held_lock, name_holder

    lock = held_lock(run_dir)
    if lock is None:
        return draw(orders, run_dir)
    RunFiles(run_dir).plots.mkdir(exist_ok=True)  # for plots/not_drawn.txt, should the drawing fail
    package_root = str(Path(__file__).resolve().parents[2])  # where this redes is imported from
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen([sys.executable, "-m", "redes.runs.plots", str(run_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(lock,),
                               start_new_session=True, env={**os.environ, "PYTHONPATH": path})
    name_holder(run_dir, f"process {process.pid} {DRAWING}")
    with process.stdin:
        pickle.dump(orders, process.stdin)
    return [arguments["path"] for _, arguments in orders]


def _draw_handed_down(run_dir: Path) -> None:
    """The drawing process: read its orders, draw them (the lock it inherited is released as it ends)."""
    from redes.runs.layout import RunFiles

    orders = pickle.load(sys.stdin.buffer)  # written by draw_later in the process that trained the run
    try:
        draw(orders, run_dir)
    except Exception as exc:  # noqa: BLE001 - anything matplotlib raises; the run itself is complete
        RunFiles(run_dir).pictures_not_drawn.write_text(
            f"{type(exc).__name__}: {exc}\n`redes plot {run_dir}` draws the pictures again\n")


if __name__ == "__main__":
    _draw_handed_down(Path(sys.argv[1]))
