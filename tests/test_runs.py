import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch
from sklearn.linear_model import LinearRegression

import redes
from redes.errors import RedesError
from tests.conftest import fast_config



def test_default_config_reaches_the_target_accuracy(tmp_path):
    run = redes.train(out=tmp_path / "run", verbose=False)
    assert run.summary["test"]["accuracy"] >= 0.95
    assert run.summary["epochs"] == 30 and len(run.history) == 30


def test_run_directory_holds_every_documented_file(digits_run):
    files = {p.relative_to(digits_run.path).as_posix() for p in digits_run.path.rglob("*") if p.is_file()}
    assert {"config.yaml", "metrics.csv", "timing.csv", "checkpoint.safetensors", "summary.json",
            "model.safetensors", "report.txt",
            "plots/learning_curves.png", "plots/confusion_matrix.png"} <= files
    summary = json.loads((digits_run.path / "summary.json").read_text())
    assert summary == json.loads(json.dumps(digits_run.summary))
    for key in ("run_dir", "epochs", "seconds", "seconds_per_epoch"):
        assert key in summary
    for split in ("train", "val", "test"):
        assert set(summary[split]) == {"loss", "accuracy"}
    assert (digits_run.path / "plots/learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_metrics_csv_has_one_row_per_epoch_with_the_history(digits_run):
    with open(digits_run.path / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["val_accuracy"]) == digits_run.history[-1]["val_accuracy"]
    assert {"train_loss", "train_penalty", "train_accuracy", "val_loss"} <= set(rows[0])
    assert "seconds" not in rows[0]  # wall-clock time lives in timing.csv, so metrics.csv repeats bit for bit
    with open(digits_run.path / "timing.csv") as handle:
        timing = list(csv.DictReader(handle))
    assert [float(r["seconds"]) for r in timing] == [row["seconds"] for row in digits_run.history]


def test_report_has_per_class_scores_and_matches_sklearn(digits_run):
    from sklearn.metrics import accuracy_score, f1_score

    evaluation = digits_run.evaluate("test")
    truth, predicted = evaluation.target.numpy(), evaluation.predicted.numpy()
    assert evaluation.accuracy == pytest.approx(accuracy_score(truth, predicted))
    report = (digits_run.path / "report.txt").read_text()
    assert "precision" in report and "recall" in report and "true \\ predicted" in report
    f1 = f1_score(truth, predicted, average=None)
    assert f"{f1[0]:.4f}" in report


def test_reloaded_run_predicts_identically_and_reproduces_the_summary(digits_run):
    again = redes.load_run(digits_run.path)
    x = np.random.default_rng(0).integers(0, 17, size=(50, 64)).astype(np.float32)
    assert np.array_equal(again.predict(x), digits_run.predict(x))
    assert np.array_equal(again.predict_proba(x), digits_run.predict_proba(x))
    for split in ("train", "val", "test"):
        assert again.evaluate(split).metrics() == digits_run.summary[split]
    assert again.history == digits_run.history
    assert again.classes == [str(i) for i in range(10)]


def test_predict_takes_raw_inputs_and_applies_the_saved_scaling(digits_run):
    split = digits_run.data.test  # already scaled to [0, 1]
    raw = (split.x * 16).cpu().numpy()
    expected = digits_run.evaluate("test").predicted.numpy()
    assert np.array_equal(digits_run.predict(raw), expected)


def test_same_config_and_seed_give_the_same_numbers_bit_for_bit(tmp_path):
    config = fast_config(model={"dropout": 0.2, "batchnorm": True})
    a = redes.train(config, out=tmp_path / "a", verbose=False)
    b = redes.train(config, out=tmp_path / "b", verbose=False)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in a.history]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in b.history]
    for name in ("model.safetensors", "metrics.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    c = redes.train(fast_config(train={"seed": 1}), out=tmp_path / "c", verbose=False)
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]


def test_training_leaves_the_global_rng_alone(tmp_path):
    state = torch.random.get_rng_state()
    redes.train(fast_config(model={"dropout": 0.5}), out=tmp_path / "r", verbose=False)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_linear_preset_matches_sklearn_linear_regression(tmp_path):
    run = redes.train("notebook003", out=tmp_path / "lin", verbose=False)
    train = run.data.train
    oracle = LinearRegression().fit(train.x.numpy(), train.y.numpy())
    assert run.model[0].bias.item() == pytest.approx(oracle.intercept_[0], abs=1e-3)
    assert run.model[0].weight.item() == pytest.approx(oracle.coef_[0, 0], abs=1e-3)
    assert run.summary["val"] is None and set(run.summary["test"]) == {"loss", "r2"}


def test_penalty_is_recorded_apart_from_the_data_loss(tmp_path):
    run = redes.train(fast_config(regularization={"l1": 1e-4, "l2": 1e-3}), out=tmp_path / "p", verbose=False)
    row = run.history[-1]
    assert row["train_penalty"] > 0
    evaluation = run.evaluate("train")  # evaluation reports the data loss alone
    assert evaluation.loss < row["train_loss"] + row["train_penalty"]


@pytest.mark.parametrize("optimizer", [{"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
                                       {"name": "adamw", "lr": 0.01, "weight_decay": 0.01}])
def test_optimizers_learn_digits(tmp_path, optimizer):
    run = redes.train(fast_config(optimizer=optimizer, train={"epochs": 5}), out=tmp_path / "o", verbose=False)
    assert run.summary["test"]["accuracy"] > 0.85


def test_binary_bce_run_on_bernoulli_data(tmp_path):
    config = {"data": {"name": "bernoulli", "n_samples": 400, "n_features": 20},
              "model": {"hidden": [16], "activation": "tanh"}, "train": {"epochs": 2}}
    run = redes.train(config, out=tmp_path / "b", verbose=False)
    assert run.loss == "bce" and run.model[-1].out_features == 1
    assert run.predict_proba(np.zeros((3, 20))).shape == (3, 2)


def test_an_existing_run_directory_is_never_overwritten(digits_run):
    before = (digits_run.path / "model.safetensors").read_bytes()
    with pytest.raises(RedesError, match="already exists and is not empty"):
        redes.train(fast_config(), out=digits_run.path, verbose=False)
    assert (digits_run.path / "model.safetensors").read_bytes() == before


def test_default_run_directories_are_numbered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = redes.train(fast_config(train={"epochs": 1}), verbose=False)
    second = redes.train(fast_config(train={"epochs": 1}), verbose=False)
    assert first.path.as_posix() == "runs/digits-001" and second.path.as_posix() == "runs/digits-002"


def test_load_run_errors(tmp_path, digits_run):
    with pytest.raises(RedesError, match="does not exist"):
        redes.load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RedesError, match="has no model.safetensors"):
        redes.load_run(tmp_path / "empty")


def test_saved_config_finds_a_relative_data_file_from_anywhere(tmp_path, monkeypatch):
    from sklearn.datasets import load_iris

    iris = load_iris()
    monkeypatch.chdir(tmp_path)
    np.savez("iris.npz", x=iris.data, y=iris.target)
    run = redes.train({"data": {"name": "file", "path": "iris.npz", "scale": "standard"},
                       "train": {"epochs": 2}}, out="run", verbose=False)
    monkeypatch.chdir(tmp_path.parent)
    again = redes.load_run(tmp_path / "run")
    assert again.config.data.path == str(tmp_path / "iris.npz")
    assert again.evaluate("test").metrics() == run.summary["test"]


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=60),
       names=st.lists(st.text("abcxyz_ ", min_size=1, max_size=14), min_size=6, max_size=6, unique=True))
def test_the_classification_report_is_scikit_learns(pairs, names):
    from sklearn.metrics import classification_report as sklearn_report

    from redes.loop.metrics import classification_report

    target, predicted = (np.array(column) for column in zip(*pairs))
    expected = sklearn_report(target, predicted, labels=list(range(6)), target_names=names, digits=4, zero_division=0)
    # scikit-learn writes the supports as floats (1.0) when no prediction is right; they are counts
    expected = "\n".join(line[:-10] + f" {int(float(line[-9:])):>9}" if line.endswith(".0") else line
                          for line in expected.split("\n"))
    assert classification_report(torch.from_numpy(predicted), torch.from_numpy(target), names) == expected


@pytest.mark.parametrize("threads, hidden, expected", [(0, [32], 1), (0, [2048], None), (3, [32], 3)])
def test_a_small_step_trains_on_one_thread_and_the_count_is_given_back(tmp_path, threads, hidden, expected):
    from redes.loop.callbacks import Callback

    seen = []

    class Threads(Callback):
        def on_epoch_end(self, state, logs):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    redes.train(fast_config(model={"hidden": hidden}, train={"epochs": 1, "threads": threads, "batch_size": 512}),
                out=tmp_path / "r", verbose=False, callbacks=[Threads()])
    assert seen == [expected or before] and torch.get_num_threads() == before
