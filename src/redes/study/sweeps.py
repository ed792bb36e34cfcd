"""`redes sweep`: a grid of runs over config axes and seeds, each an ordinary run directory, with a results table.

A sweep directory holds `sweep.yaml` (the resolved base config, axes and seeds), one run directory per
point, `results.csv` (one row per point, read back from the run directories) and `plots/`. Run again,
a sweep finishes only the points that are missing: a finished point is never run twice, a killed one is
resumed from its checkpoint.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any, Optional, Union

import yaml
from pydantic import Field

from redes.config import Config, load_config
from redes.config.strict_yaml import read_yaml
from redes.errors import RedesError
from redes.runs.layout import RunFiles
from redes.runs.writer import writing
from redes.study.study_file import StudyFile, base_config, read_study_file

SWEEP_FILE, RESULTS_FILE, FAILED_FILE = "sweep.yaml", "results.csv", "failed.txt"
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")
COLUMNS = ("epochs", "seconds_per_epoch", "parameters") + METRICS


class SweepFile(StudyFile):
    """What a sweep file holds: `base:` and `set:` (see StudyFile), then these."""

    axes: dict[str, list[Any]] = Field(description="dotted config key -> the values it takes, e.g. "
                                       "train.batch_size: [2, 32, 1000]")
    seeds: list[int] = Field(default=[0], description="train.seed of each repeat")


@dataclass(frozen=True)
class Point:
    """One run of the grid: its directory name, the values it sets (seed included) and its config."""

    name: str
    values: dict[str, Any]
    config: Config


@dataclass
class Sweep:
    """A resolved sweep: its base config, axes, seeds and the points they expand to."""

    base: dict
    axes: dict[str, list[Any]]
    seeds: list[int]

    @property
    def points(self) -> list[Point]:
        """The grid in order: every combination of the axes' values, each repeated per seed."""
        points = []
        for combination in itertools.product(*self.axes.values()):
            for seed in self.seeds:
                values = dict(zip(self.axes, combination)) | {"train.seed": seed}
                points.append(Point(point_name(values), values, _point_config(self.base, values)))
        return points

    def to_dict(self) -> dict:
        return {"base": self.base, "axes": self.axes, "seeds": self.seeds}


def load_sweep(path: Union[str, Path]) -> Sweep:
    """Read and validate a sweep file; every point's config is validated before anything runs."""
    plan = read_study_file(path, SweepFile, "sweep")
    sweep = Sweep(base_config(plan.base, plan.set, path, "sweep"), plan.axes, plan.seeds)
    _check_axes(sweep, Path(path))
    return sweep


def _check_axes(sweep: Sweep, path: Path) -> None:
    if "train.seed" in sweep.axes:
        raise RedesError(f"sweep file {path}: set the seeds with 'seeds:', not as the axis train.seed")
    for key, values in sweep.axes.items():
        if not values:
            raise RedesError(f"sweep file {path}: axis {key} has no values")
    if not sweep.seeds or len(set(sweep.seeds)) != len(sweep.seeds):
        raise RedesError(f"sweep file {path}: seeds must be a non-empty list of distinct integers")
    names = [point.name for point in sweep.points]  # validates every point's config
    if len(set(names)) != len(names):
        raise RedesError(f"sweep file {path}: two points would share a directory name; make the values distinct")


def _point_config(base: dict, values: dict[str, Any]) -> Config:
    try:
        return load_config(base=base, settings=values)
    except RedesError as exc:
        raise RedesError(f"sweep point {point_name(values)}: {exc}") from None


def point_name(values: dict[str, Any]) -> str:
    """A readable directory name from the point's values: `batch_size-32_seed-0`."""
    def text(value: Any) -> str:
        value = "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        return re.sub(r"[^A-Za-z0-9.+-]", "", value.replace(" ", ""))
    return "_".join(f"{key.rsplit('.', 1)[-1]}-{text(value)}" for key, value in values.items())


def run_sweep(sweep_file: Union[str, Path], out: Union[str, Path, None] = None, workers: int = 1,
              stream: Optional[IO[str]] = None, pictures_later: bool = False) -> tuple[Path, list[dict]]:
    """Run the points a sweep directory does not hold yet, then write results.csv and the plots
    (`pictures_later`: by a process of their own, as `redes.train` says), holding the directory's lock.

    Returns the sweep directory and the results rows.
    """
    sweep = load_sweep(sweep_file)
    sweep_dir = Path(out) if out is not None else Path("sweeps") / Path(sweep_file).stem
    _claim(sweep_dir, sweep)
    with writing(sweep_dir):
        todo = [point for point in sweep.points if not _finished(sweep_dir / point.name)]
        _run_points(todo, sweep_dir, workers, len(sweep.points), stream)
        rows = results(sweep_dir, sweep)
        write_results(sweep_dir, sweep, rows, pictures_later)
    return sweep_dir, rows


def redraw(sweep_dir: Union[str, Path]) -> list[Path]:
    """Write a sweep directory's results.csv and plots again from its run directories (`redes plot SWEEP_DIR`)."""
    sweep_dir = Path(sweep_dir)
    kept = sweep_dir / SWEEP_FILE
    try:
        plan = read_yaml(kept.read_text(encoding="utf-8"), str(kept))
        sweep = Sweep(**plan)
        _check_axes(sweep, kept)
    except (OSError, UnicodeDecodeError, TypeError, KeyError, AttributeError) as exc:
        raise RedesError(f"{kept}: not the sweep.yaml that redes sweep writes ({type(exc).__name__})") from None
    with writing(sweep_dir):
        return write_results(sweep_dir, sweep, results(sweep_dir, sweep))


def _claim(sweep_dir: Path, sweep: Sweep) -> None:
    """Create the sweep directory, or check that the one there holds this same sweep."""
    kept = sweep_dir / SWEEP_FILE
    if kept.is_file():
        if read_yaml(kept.read_text(), str(kept)) != json.loads(json.dumps(sweep.to_dict())):
            raise RedesError(f"{sweep_dir} holds a different sweep ({kept}); choose another --out")
        return
    if sweep_dir.exists() and (not sweep_dir.is_dir() or any(sweep_dir.iterdir())):
        raise RedesError(f"{sweep_dir} exists and is not a sweep directory; choose another --out")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    kept.write_text(yaml.safe_dump(sweep.to_dict(), sort_keys=False))


def _finished(run_dir: Path) -> bool:
    return RunFiles(run_dir).summary.is_file() or (run_dir / FAILED_FILE).is_file()


def _run_points(points: list[Point], sweep_dir: Path, workers: int, total: int, stream: Optional[IO[str]]) -> None:
    """Run each point in this process, or in `workers` processes sharing the cores between them."""
    from redes.progress import progress_bar

    bar = progress_bar(stream, total=total, initial=total - len(points), desc="sweep", unit="run")
    jobs = [(point.config.to_dict(), str(sweep_dir / point.name)) for point in points]

    finished = [total - len(points)]

    def done(run_dir: str) -> None:
        """The bar in a terminal or a notebook; one line per point elsewhere (a log, a pipe)."""
        bar.update()
        finished[0] += 1
        if bar.disable:
            status = "failed" if (Path(run_dir) / FAILED_FILE).is_file() else "done"
            print(f"sweep: {finished[0]}/{total} {Path(run_dir).name} {status}", file=stream or sys.stderr,
                  flush=True)

    try:
        if workers <= 1:
            for job in jobs:
                run_point(*job)
                done(job[1])
            return
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_point, *job, threads): job[1] for job in jobs}
            for future in as_completed(futures):
                future.result()
                done(futures[future])
    finally:
        bar.close()


def run_point(config: dict, run_dir: str, threads: int = 0) -> None:
    """Train one point into its run directory; resume it if a checkpoint is there; record a failure."""
    from redes.runs.train import resume, train

    if threads:
        import torch

        torch.set_num_threads(threads)
    path = Path(run_dir)
    undrawn = config | {"log": config.get("log", {}) | {"plots": False}}  # the sweep draws its own pictures
    try:
        if RunFiles(path).checkpoint.is_file():
            resume(path, verbose=False)
        else:
            shutil.rmtree(path, ignore_errors=True)  # killed before its first checkpoint: nothing to keep
            train(undrawn, out=path, verbose=False)
    except RedesError as exc:  # a diverged point is a result of the sweep, not the end of it
        path.mkdir(parents=True, exist_ok=True)
        (path / FAILED_FILE).write_text(f"{exc}\n")


def results(sweep_dir: Path, sweep: Sweep) -> list[dict]:
    """One row per point, read from its run directory: the swept values, seed and final metrics."""
    rows = []
    for point in sweep.points:
        run_dir = sweep_dir / point.name
        row = {"point": point.name} | {key: _cell(point.values[key]) for key in sweep.axes}
        row["seed"] = point.values["train.seed"]
        summary = RunFiles(run_dir).read_summary()
        row["status"] = "done" if summary else "failed" if (run_dir / FAILED_FILE).is_file() else "missing"
        for column in COLUMNS:
            split, _, metric = column.partition("_")
            value = (summary.get(split) or {}).get(metric) if metric in ("loss", "accuracy") else summary.get(column)
            row[column] = value
        rows.append(row)
    return rows


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_results(sweep_dir: Path, sweep: Sweep, rows: list[dict], pictures_later: bool = False) -> list[Path]:
    """results.csv and the sweep's plots: each metric against each axis, time against accuracy, loss curves
    (`pictures_later`: see run_sweep)."""
    from redes.runs import plots
    from redes.runs.run import read_history

    with open(sweep_dir / RESULTS_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    done = [row for row in rows if row["status"] == "done"]
    if not done:
        return []
    groups = summarize(done, list(sweep.axes))
    histories = {row["point"]: read_history(sweep_dir / row["point"]) for row in done}
    orders = plots.sweep_pictures(groups, list(sweep.axes), histories, sweep_dir / "plots")
    return plots.draw_later(orders, sweep_dir) if pictures_later else plots.draw(orders, sweep_dir)


def summarize(rows: list[dict], axes: list[str]) -> list[dict]:
    """The rows grouped by their axis values: mean and standard deviation of each metric over the seeds."""
    import numpy as np

    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in axes), []).append(row)
    summary = []
    for values, members in groups.items():
        group = dict(zip(axes, values)) | {"runs": len(members), "points": [m["point"] for m in members]}
        for column in COLUMNS:
            numbers = [m[column] for m in members if m[column] is not None]
            if numbers:
                group[column] = float(np.mean(numbers))
                group[f"{column}_std"] = float(np.std(numbers))
        summary.append(group)
    return summary
