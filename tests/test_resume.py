"""Nothing lost: kills, Ctrl-C, divergence, damaged checkpoints."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import redes
from redes.checkpoint import load_tree
from redes.errors import RedesError, TrainingInterrupted
from tests.test_cli import assert_one_line_error

# about half a second per epoch on 2 cores: long enough to be killed at many different moments
SLOW = {"data": {"name": "bernoulli", "n_samples": 3000, "n_features": 64},
        "model": {"hidden": [256, 256], "dropout": 0.2, "activation": "tanh"},
        "optimizer": {"name": "adam", "lr": 0.001}, "train": {"epochs": 12, "batch_size": 8}}


def _write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def _start(args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "redes", *map(str, args)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_new_checkpoint(path: Path, process: subprocess.Popen, timeout: float = 180) -> None:
    """Until the process (re)writes `path`: training is under way, past its imports and data loading."""
    before = path.stat().st_mtime_ns if path.exists() else None
    deadline = time.monotonic() + timeout
    while not path.exists() or path.stat().st_mtime_ns == before:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The run that was never interrupted."""
    base = tmp_path_factory.mktemp("reference")
    return redes.train(SLOW, out=base / "run", verbose=False).path


def _same_run(path: Path, reference: Path) -> None:
    for name in ("model.safetensors", "metrics.csv"):
        assert (path / name).read_bytes() == (reference / name).read_bytes(), name
    assert (path / "summary.json").is_file()


def test_killed_at_random_moments_and_resumed_is_the_same_run(tmp_path, reference):
    config = _write_config(tmp_path / "slow.yaml", SLOW)
    rng = random.Random(7)
    process, kills = _start(["train", config, "--out", "run"], tmp_path), 0
    for _ in range(3):
        _wait_for_new_checkpoint(tmp_path / "run" / "checkpoint.safetensors", process)
        time.sleep(rng.uniform(0.05, 0.5))
        if process.poll() is not None:  # it finished first: nothing left to kill
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        process = _start(["resume", "run"], tmp_path)
    assert process.wait(timeout=120) == 0, process.stderr.read()
    assert kills >= 2
    _same_run(tmp_path / "run", reference)


def test_ctrl_c_checkpoints_mid_epoch_and_resume_finishes_the_same_run(tmp_path, reference):
    config = _write_config(tmp_path / "slow.yaml", SLOW)
    process = _start(["train", config, "--out", "run"], tmp_path)
    _wait_for_new_checkpoint(tmp_path / "run" / "checkpoint.safetensors", process)
    time.sleep(0.25)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    message = process.stderr.read()
    assert "redes: interrupted at epoch" in message and "redes resume run" in message
    checkpoint = load_tree(tmp_path / "run" / "checkpoint.safetensors", "checkpoint")
    # stopped after a whole step: inside an epoch, or at an epoch's end when SIGINT lands during validation
    # (the in-process test below stops at a fixed step inside an epoch)
    assert (checkpoint["loop"]["epoch"], checkpoint["loop"]["step"]) > (1, 0)
    assert checkpoint["config"]["model"]["hidden"] == [256, 256]
    assert not (tmp_path / "run" / "summary.json").exists()
    resumed = _start(["resume", "run"], tmp_path)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    _same_run(tmp_path / "run", reference)


@pytest.mark.parametrize("engine", [{}, {"engine": "autograd"}, {"engine": "manual", "backend": "numpy"}],
                         ids=["module", "autograd", "manual-numpy"])
def test_interrupt_in_process_raises_after_the_checkpoint(tmp_path, monkeypatch, engine):
    """On every engine's optimizer state; also on NumPy, whose epoch sums are NumPy arrays until the checkpoint
    takes them."""
    from redes.loop.callbacks import Callback

    class PressCtrlC(Callback):
        def on_batch_end(self, state, loss):
            if state.epoch == 2 and state.step == 5:
                os.kill(os.getpid(), signal.SIGINT)

    import redes.runs.train as trainer

    monkeypatch.setattr(trainer, "ProgressBar", lambda file: PressCtrlC())
    config = {"train": {"epochs": 3, "batch_size": 64, **engine}, "model": {"hidden": [16]},
              "regularization": {"l2": 1e-3}}
    with pytest.raises(TrainingInterrupted) as stop:
        redes.train(config, out=tmp_path / "r")
    assert (stop.value.epoch, stop.value.step) == (2, 5)
    monkeypatch.undo()
    finished = redes.resume(tmp_path / "r", verbose=False)
    straight = redes.train(config, out=tmp_path / "s", verbose=False)
    assert (tmp_path / "r/metrics.csv").read_bytes() == (tmp_path / "s/metrics.csv").read_bytes()
    assert all(torch.equal(p, q) for p, q in zip(finished.model.parameters(), straight.model.parameters()))


@pytest.mark.parametrize("engine", [{}, {"engine": "manual", "backend": "numpy"}])
def test_divergence_stops_with_the_cause_and_keeps_the_last_good_weights(tmp_path, engine):
    config = {"data": {"name": "linear", "n_samples": 200}, "model": {"hidden": [8], "init_scale": 3.0},
              "optimizer": {"name": "sgd", "lr": 50.0}, "train": {"epochs": 5, "batch_size": 10, **engine}}
    with pytest.raises(RedesError, match=r"non-finite at epoch 1, step \d+.*optimizer.lr=50.*init_scale=3") as err:
        redes.train(config, out=tmp_path / "d", verbose=False)
    assert "checkpoint.safetensors" in str(err.value)
    run = redes.load_run(tmp_path / "d")
    initial = redes.train({**config, "train": {**config["train"], "epochs": 1}, "optimizer": {"lr": 1e-12}},
                          out=tmp_path / "tiny", verbose=False)  # same seed, same initial weights, barely moved
    assert all(torch.isfinite(p).all() for p in run.model.parameters())
    assert torch.allclose(run.model[0].weight, initial.model[0].weight, atol=1e-6)
    assert not (tmp_path / "d/summary.json").exists()


@pytest.mark.parametrize("optimizer", [{"name": "sgd", "lr": 50.0}, {"name": "adam", "lr": 1e6}])
def test_a_loss_that_explodes_without_nan_stops_as_diverged(cli, tmp_path, optimizer):
    settings = [f"optimizer.{key}={value}" for key, value in optimizer.items()] + ["train.epochs=3"]
    result = cli("train", *(f"--set={s}" for s in settings), "--out", "d")
    assert_one_line_error(result, "the training loss of epoch 1", "rose above", "train.divergence_factor=1000 times "
                          "2.302", f"optimizer.lr={optimizer['lr']:g}")
    assert "data.scale" not in result.err and "init_scale" not in result.err  # digits are scaled; no init_scale
    assert not (tmp_path / "d/summary.json").exists()
    assert all(torch.isfinite(p).all() for p in redes.load_run(tmp_path / "d").model.parameters())
    assert cli("train", *(f"--set={s}" for s in settings), "--set=train.divergence_factor=0", "--out", "off").status == 0


def test_the_diagnosis_names_unscaled_inputs_and_targets_only_when_they_are_large(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) * [1.0, 1.0, 5000.0]
    np.savez(tmp_path / "wide.npz", x=x, y=x @ [1.0, 2.0, 3.0])
    config = {"data": {"name": "file", "path": str(tmp_path / "wide.npz"), "scale": "none"},
              "optimizer": {"name": "sgd", "lr": 0.1}, "train": {"epochs": 2, "batch_size": 20}}
    with pytest.raises(RedesError, match=r"inputs as large as 1\.\d+e\+04 \(data.scale=none; data.scale=standard "
                                         r"scales them\), targets as large as") as err:
        redes.train(config, out=tmp_path / "d", verbose=False)
    assert "init_scale" not in str(err.value)


def test_resume_refuses_what_it_cannot_continue(tmp_path, digits_run):
    with pytest.raises(RedesError, match="already finished"):
        redes.resume(digits_run.path)
    with pytest.raises(RedesError, match="not a run directory"):
        redes.resume(tmp_path)


def _interrupted_run(tmp_path) -> Path:
    config = {"train": {"epochs": 2, "batch_size": 128}, "model": {"hidden": [16]}}
    run = redes.train(config, out=tmp_path / "r", verbose=False).path
    (run / "summary.json").unlink()  # as if killed before the end
    return run


def test_a_checkpoint_of_another_architecture_names_the_tensor(tmp_path):
    run = _interrupted_run(tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"]["hidden"] = [32]
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(RedesError, match=r"tensor '0.weight' has shape \(16, 64\), the model expects \(32, 64\)"):
        redes.resume(run, verbose=False)


def test_truncated_tampered_and_pickled_checkpoints_are_refused(tmp_path):
    run = _interrupted_run(tmp_path)
    path = run / "checkpoint.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RedesError, match="not a valid safetensors file"):
        redes.resume(run, verbose=False)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    torch.save({"model": Evil()}, path)  # a pickle where a checkpoint should be
    with pytest.raises(RedesError, match="not a valid safetensors file"):
        redes.resume(run, verbose=False)
    assert not marker.exists()


def test_checkpoints_are_paced_to_a_share_of_the_time_and_at_most_seconds_apart(monkeypatch):
    from redes.loop.callbacks import Checkpoint

    saves = []
    checkpoint = Checkpoint(Path("unused"), every=1)
    monkeypatch.setattr(checkpoint, "save", lambda state: saves.append(state.epoch))
    state = type("State", (), {"epoch": 1, "epochs": 5})()
    checkpoint.written, checkpoint.cost = time.perf_counter(), 1.0  # a write took 1 s: the next after 20 s
    checkpoint.on_epoch_end(state, {"epoch": 1})
    assert saves == []
    checkpoint.at_most = 0.0  # ... or after at_most seconds, whatever a write costs
    checkpoint.on_epoch_end(state, {"epoch": 2})
    assert saves == [1]
    checkpoint.at_most = 30.0
    checkpoint.on_epoch_end(state, {"epoch": 5})  # the last epoch is always written
    assert saves == [1, 1]
