"""Run directories written by an earlier redes still load: eval, predict and resume give the numbers they gave."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import redes

FIXTURES = Path(__file__).parent / "fixtures"


def test_an_old_finished_run_evaluates_to_its_own_summary(cli):
    summary = json.loads((FIXTURES / "run-finished" / "summary.json").read_text())
    result = cli("eval", FIXTURES / "run-finished", "--split", "test", "--json")
    assert result.status == 0, result.err
    metrics = json.loads(result.out.strip().splitlines()[-1])
    assert {key: metrics[key] for key in summary["test"]} == summary["test"]


def test_an_old_finished_run_predicts_from_a_file_as_it_evaluates(cli, tmp_path):
    run = redes.load_run(FIXTURES / "run-finished")
    x = run.data.test.x.numpy() * run.scaler.scale.numpy() + run.scaler.shift.numpy()  # raw inputs again
    np.savez(tmp_path / "inputs.npz", x=x)
    result = cli("predict", FIXTURES / "run-finished", tmp_path / "inputs.npz")
    assert result.status == 0, result.err
    predicted = [line.split(",")[0] for line in result.out.strip().splitlines()[1:]]
    assert predicted == [run.classes[i] for i in run.evaluate("test").predicted.tolist()]


def test_an_old_stopped_run_resumes_to_the_run_that_never_stopped(tmp_path):
    stopped = shutil.copytree(FIXTURES / "run-stopped", tmp_path / "stopped")
    resumed = redes.resume(stopped, verbose=False)
    config = redes.load_config(stopped / "config.yaml")
    fresh = redes.train(config, out=tmp_path / "fresh", verbose=False)
    assert (stopped / "metrics.csv").read_text() == (fresh.path / "metrics.csv").read_text()
    assert resumed.summary["test"] == fresh.summary["test"]


def test_a_model_file_whose_widths_are_not_whole_numbers_is_refused(tmp_path, cli):
    from safetensors import safe_open
    from safetensors.torch import save_file

    run = shutil.copytree(FIXTURES / "run-finished", tmp_path / "run")
    with safe_open(run / "model.safetensors", "pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        meta = handle.metadata()
    for n_in in (False, 0, -5, 10**12, 64.5):
        header = json.loads(meta["redes"]) | {"n_in": n_in}
        save_file(tensors, run / "model.safetensors", metadata={"redes": json.dumps(header)})
        result = cli("eval", run)
        assert result.status == 2 and "n_in and n_out must be whole numbers" in result.err, (n_in, result.err)
