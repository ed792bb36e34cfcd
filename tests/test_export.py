"""redes export: the files other tools load give redes predict's answers on raw inputs of the test split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import redes
from tests.conftest import fast_config
from tests.test_cli import assert_one_line_error

RUNS = {  # a classifier (softmax), a regression, a binary classifier (sigmoid)
    "digits": fast_config(),
    "linear": {"data": {"name": "linear", "n_samples": 200}, "model": {"hidden": [8]},
               "train": {"epochs": 3, "batch_size": 32}},
    "binary": {"data": {"name": "bernoulli", "n_samples": 300, "n_features": 20}, "model": {"hidden": [8]},
               "train": {"epochs": 2, "batch_size": 32}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    return {name: redes.train(config, out=base / name, verbose=False) for name, config in RUNS.items()}


def _raw_test_inputs(run) -> np.ndarray:
    test = run.data.test
    return (test.x.cpu().float() * run.scaler.scale + run.scaler.shift).numpy()


def _expected(run, x: np.ndarray) -> np.ndarray:
    return run.predict_proba(x) if run.classes else run.predict(x)


def _check(run, x: np.ndarray, got: np.ndarray) -> None:
    expected = _expected(run, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if run.classes:
        assert (got.argmax(1) == run.predict(x)).all()


@pytest.mark.parametrize("name", RUNS)
def test_onnx_in_onnxruntime_predicts_as_redes(cli, runs, name, tmp_path):
    import onnxruntime

    run = runs[name]
    result = cli("export", run.path, "--out", tmp_path / "m.onnx")
    assert result.status == 0 and result.out.strip() == str(tmp_path / "m.onnx"), result.err
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    x = _raw_test_inputs(run)
    _check(run, x, session.run(None, {"x": x})[0])
    _check(run, x[:1], session.run(None, {"x": x[:1]})[0])  # any number of rows


@pytest.mark.parametrize("name", RUNS)
def test_pt2_and_torchscript_reload_and_predict_as_redes(cli, runs, name, tmp_path):
    run = runs[name]
    assert cli("export", run.path, "--format", "pt2", "--out", tmp_path / "m.pt2").status == 0
    assert cli("export", run.path, "--format", "torchscript", "--out", tmp_path / "m.pt").status == 0
    x = _raw_test_inputs(run)
    with torch.no_grad():
        _check(run, x, torch.export.load(str(tmp_path / "m.pt2")).module()(torch.from_numpy(x)).numpy())
        _check(run, x, torch.jit.load(str(tmp_path / "m.pt"))(torch.from_numpy(x)).numpy())


def test_the_default_file_is_in_the_run_and_never_overwritten(cli, runs):
    run = runs["digits"]
    assert cli("export", run.path, "--format", "torchscript").out.strip() == str(run.path / "model.torchscript.pt")
    assert_one_line_error(cli("export", run.path, "--format", "torchscript"), "model.torchscript.pt already exists")
    assert not list(run.path.glob(".*.part*"))
