"""Sweeps: grid expansion, the results table against the run directories, kill and resume, parallel workers."""

import csv
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from redes.errors import RedesError
from redes.runs.writer import writing
from redes.study.sweeps import load_sweep, run_sweep
from tests.test_cli import in_a_terminal

BASE = {"model": {"hidden": [16]}, "train": {"epochs": 2, "batch_size": 64}}


def _sweep_file(path: Path, axes: dict, seeds=(0,), base=None) -> Path:
    spec = {"base": BASE if base is None else base, "axes": axes, "seeds": list(seeds)}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _rows(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_grid_is_every_combination_of_the_axes_for_every_seed(tmp_path):
    path = _sweep_file(tmp_path / "s.yaml", {"train.batch_size": [8, 32, 128], "model.hidden": [[16], [32, 16]]},
                       seeds=[3, 4])
    points = load_sweep(path).points
    assert len(points) == 3 * 2 * 2
    assert points[0].name == "batch_size-8_hidden-16_seed-3"
    assert points[3].name == "batch_size-8_hidden-32x16_seed-4"
    combos = {(p.config.train.batch_size, tuple(p.config.model.hidden), p.config.train.seed) for p in points}
    assert len(combos) == 12
    assert all(p.config.train.epochs == 2 for p in points)  # the base is kept


def test_base_may_be_a_config_file_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump({"optimizer": {"lr": 0.123}}))
    path = tmp_path / "configs" / "s.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "axes": {"train.epochs": [1]}}))
    assert load_sweep(path).points[0].config.optimizer.lr == 0.123


def test_set_changes_the_base_file_and_a_bad_set_key_is_named(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"optimizer": {"lr": 0.123}, "train": {"epochs": 30}}))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "set": {"train.epochs": 3}, "axes": {"model.hidden": [[8]]}}))
    config = load_sweep(path).points[0].config
    assert (config.optimizer.lr, config.train.epochs, config.model.hidden) == (0.123, 3, [8])
    path.write_text(yaml.safe_dump({"base": "base.yaml", "set": {"train.epoch": 3}, "axes": {"model.hidden": [[8]]}}))
    with pytest.raises(RedesError, match=r"sweep file .*s.yaml: unknown config key 'train.epoch' \(did you mean"):
        load_sweep(path)


@pytest.mark.parametrize("spec, message", [
    ({"axes": {"train.batch_sise": [8]}}, "unknown config key 'train.batch_sise' (did you mean 'train.batch_size'?)"),
    ({"axes": {"train.batch_size": ["many"]}}, "sweep point batch_size-many_seed-0: config key train.batch_size"),
    ({"axes": {"train.seed": [1, 2]}}, "set the seeds with 'seeds:'"),
    ({"axes": {"train.epochs": []}}, "axis train.epochs has no values"),
    ({"axis": {"train.epochs": [1]}}, "unknown key 'axis' (did you mean 'axes'?)"),
    ({"axes": {"train.epochs": [1]}, "seeds": [1, 1]}, "seeds must be a non-empty list of distinct integers"),
])
def test_a_bad_sweep_file_names_what_is_wrong(tmp_path, spec, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(RedesError, match=re.escape(message)):
        load_sweep(path)


def test_results_table_agrees_with_the_run_directories(tmp_path, cli):
    path = _sweep_file(tmp_path / "s.yaml", {"train.batch_size": [32, 128], "model.activation": ["relu", "tanh"]},
                       seeds=[0, 1])
    result = cli("sweep", path, "--out", tmp_path / "sweep", "--json")
    assert result.status == 0, result.err
    progress = [line for line in result.err.splitlines() if line.startswith("sweep: ")]  # not a terminal: lines
    assert [line.split()[1] for line in progress] == [f"{n}/8" for n in range(1, 9)]
    reported = json.loads(result.out.splitlines()[-1])
    rows = _rows(tmp_path / "sweep")
    assert len(rows) == len(reported["results"]) == 8
    for row in rows:
        run_dir = tmp_path / "sweep" / row["point"]
        summary = json.loads((run_dir / "summary.json").read_text())
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert row["status"] == "done"
        assert not (run_dir / "plots").exists()  # a point's pictures are drawn when asked: redes plot POINT
        assert int(row["train.batch_size"]) == config["train"]["batch_size"]
        assert row["model.activation"] == config["model"]["activation"]
        assert int(row["seed"]) == config["train"]["seed"]
        assert float(row["test_accuracy"]) == summary["test"]["accuracy"]
        assert float(row["val_loss"]) == summary["val"]["loss"]
        assert float(row["seconds_per_epoch"]) == summary["seconds_per_epoch"]
        assert int(row["parameters"]) == summary["parameters"]
    plots = sorted(p.name for p in (tmp_path / "sweep" / "plots").iterdir())
    assert plots == ["activation.png", "batch_size.png", "learning_curves.png", "time_vs_accuracy.png"]
    table = (tmp_path / "sweep" / "results.csv").read_bytes()
    for path in (tmp_path / "sweep" / "plots").iterdir():
        path.unlink()
    (tmp_path / "sweep" / "results.csv").unlink()
    redrawn = cli("plot", tmp_path / "sweep")
    assert redrawn.status == 0 and "learning_curves.png" in redrawn.out
    assert sorted(p.name for p in (tmp_path / "sweep" / "plots").iterdir()) == plots
    assert (tmp_path / "sweep" / "results.csv").read_bytes() == table


def test_at_a_terminal_a_sweeps_pictures_are_drawn_after_it_ends_while_it_holds_the_lock(tmp_path):
    path = _sweep_file(tmp_path / "s.yaml", {"train.batch_size": [32, 64]})
    code = (f"import sys; from redes.cli.main import main; main(['sweep', {str(path)!r}, '--out', 'sweep']); "
            "print('matplotlib' in sys.modules, file=sys.stderr)")
    assert in_a_terminal(code, tmp_path).splitlines()[-1] == "False"
    with writing(tmp_path / "sweep"):  # waits for the drawing process
        pictures = sorted(p.name for p in (tmp_path / "sweep/plots").iterdir())
    assert pictures == ["batch_size.png", "learning_curves.png", "time_vs_accuracy.png"]
    with writing(tmp_path / "sweep"):
        with pytest.raises(RedesError, match="sweep is being written by process"):
            run_sweep(path, tmp_path / "sweep")


def test_running_again_runs_nothing_and_a_different_sweep_is_refused(tmp_path):
    path = _sweep_file(tmp_path / "s.yaml", {"train.batch_size": [64]})
    sweep_dir, _ = run_sweep(path, tmp_path / "sweep")
    config = sweep_dir / "batch_size-64_seed-0" / "config.yaml"
    before = config.stat().st_mtime_ns
    run_sweep(path, sweep_dir)
    assert config.stat().st_mtime_ns == before
    _sweep_file(path, {"train.batch_size": [32]})
    with pytest.raises(RedesError, match="holds a different sweep"):
        run_sweep(path, sweep_dir)


def test_a_diverging_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    base = {"data": {"name": "linear", "n_samples": 200}, "model": {"hidden": [8], "init_scale": 3.0},
            "train": {"epochs": 2, "batch_size": 10}}
    path = _sweep_file(tmp_path / "s.yaml", {"optimizer.lr": [0.01, 50.0]}, base=base | {"optimizer": {"name": "sgd"}})
    _, rows = run_sweep(path, tmp_path / "sweep")
    assert [row["status"] for row in rows] == ["done", "failed"]
    assert "non-finite" in (tmp_path / "sweep" / rows[1]["point"] / "failed.txt").read_text()


def test_parallel_workers_give_the_results_of_one_process(tmp_path):
    path = _sweep_file(tmp_path / "s.yaml", {"train.batch_size": [64, 128]}, seeds=[0, 1])
    _, serial = run_sweep(path, tmp_path / "serial")
    _, parallel = run_sweep(path, tmp_path / "parallel", workers=2)
    for one, other in zip(serial, parallel):
        assert one["point"] == other["point"] and other["status"] == "done"
        for key in ("train_loss", "val_accuracy", "test_loss"):
            assert other[key] == pytest.approx(one[key], rel=1e-5)


def test_a_sweep_killed_half_way_finishes_the_missing_points_only(tmp_path):
    base = {**BASE, "train": {"epochs": 5}}
    path = _sweep_file(tmp_path / "s.yaml", {"train.batch_size": [32, 48, 64, 96, 128, 256]}, base=base)
    process = subprocess.Popen([sys.executable, "-m", "redes", "sweep", str(path), "--out", "sweep"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(finished := list((tmp_path / "sweep").glob("*/summary.json"))) < 2:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stamps = {p.parent.name: (p.parent / "config.yaml").stat().st_mtime_ns for p in finished}
    assert len(stamps) < 6
    sweep_dir, rows = run_sweep(path, tmp_path / "sweep")
    assert [row["status"] for row in rows] == ["done"] * 6
    for name, stamp in stamps.items():  # finished points were not run again
        assert (sweep_dir / name / "config.yaml").stat().st_mtime_ns == stamp
    for row in rows:  # every point trained each epoch once
        epochs = [r["epoch"] for r in csv.DictReader(open(sweep_dir / row["point"] / "metrics.csv"))]
        assert epochs == [str(e) for e in range(1, 6)]
