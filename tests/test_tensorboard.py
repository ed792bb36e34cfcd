"""TensorBoardLogger through the real training loop, read back with TensorBoard's own event reader."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, SCALARS, EventAccumulator

from redes.loop.callbacks import Callback
from redes.config import load_config
from redes.errors import RedesError
from redes.runs.setup import prepare
from redes.runs.tensorboard import TensorBoardLogger, require_tensorboard

SMALL = ["model.hidden=[8]", "model.batchnorm=true", "data.max_samples=200", "train.epochs=3",
         "train.batch_size=64", "train.device=cpu", "optimizer.lr=0.01", "regularization.l2=0.001"]


def fit(log_dir, *overrides, callbacks=(), resume=None, setup=None):
    """Train a tiny digits MLP with a TensorBoardLogger on `log_dir`; the setup, state and what was logged."""
    setup = setup or prepare(load_config(overrides=SMALL + list(overrides)))
    state = setup.fit(callbacks=[TensorBoardLogger(log_dir), *callbacks], resume=resume)
    events = EventAccumulator(str(log_dir), size_guidance={SCALARS: 0, HISTOGRAMS: 0})
    events.Reload()
    return setup, state, events


def scalars(events, tag):
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.mark.parametrize("engine", ["module", "autograd", "manual"])
def test_scalars_are_the_history_and_the_learning_rate(tmp_path, engine):
    setup, state, events = fit(tmp_path / "tb", f"train.engine={engine}")
    epochs = [1, 2, 3]
    for tag, key in [("loss/train", "train_loss"), ("loss/val", "val_loss"), ("penalty/train", "train_penalty"),
                     ("accuracy/train", "train_accuracy"), ("accuracy/val", "val_accuracy"),
                     ("seconds_per_epoch", "seconds")]:
        assert scalars(events, tag) == [(e, pytest.approx(row[key], rel=1e-6)) for e, row in zip(epochs, state.history)]
    assert scalars(events, "learning_rate") == [(e, pytest.approx(0.01, rel=1e-6)) for e in epochs]


@pytest.mark.parametrize("engine", ["module", "autograd", "manual"])
def test_every_parameter_has_weight_and_gradient_histograms_each_epoch(tmp_path, engine):
    setup, _, events = fit(tmp_path / "tb", f"train.engine={engine}")
    names = [name for name, _ in setup.model.named_parameters()]
    assert sorted(events.Tags()["histograms"]) == sorted([f"weights/{n}" for n in names] +
                                                         [f"gradients/{n}" for n in names])
    for name, p in setup.model.named_parameters():
        for kind in ("weights", "gradients"):
            assert [e.step for e in events.Histograms(f"{kind}/{name}")] == [1, 2, 3]
            assert all(e.histogram_value.num == p.numel() for e in events.Histograms(f"{kind}/{name}"))
        final = events.Histograms(f"weights/{name}")[-1].histogram_value
        assert (final.min, final.max) == (p.min().item(), p.max().item())


def test_gradients_are_the_last_steps_and_agree_across_engines(tmp_path):
    """module keeps the last step's gradient in p.grad after fit; autograd and manual log the same numbers.

    train.fast=false: the fast path applies the L2 penalty as the optimizer's weight decay, outside p.grad."""
    logged = {}
    for engine in ("module", "autograd", "manual"):
        setup, _, events = fit(tmp_path / engine, f"train.engine={engine}", "train.dtype=float64", "train.fast=false")
        logged[engine] = {name: events.Histograms(f"gradients/{name}")[-1].histogram_value
                          for name, _ in setup.model.named_parameters()}
        if engine == "module":
            for name, p in setup.model.named_parameters():
                h = logged[engine][name]
                assert (h.min, h.max) == (p.grad.min().item(), p.grad.max().item())
                assert h.sum == pytest.approx(p.grad.sum().item(), rel=1e-12, abs=1e-15)
    for engine in ("autograd", "manual"):
        for name, h in logged[engine].items():
            m = logged["module"][name]
            assert [h.min, h.max, h.sum] == pytest.approx([m.min, m.max, m.sum], rel=1e-8, abs=1e-12), (engine, name)


@pytest.mark.parametrize("engine", ["module", "manual"])
def test_one_step_epochs_log_gradients_too(tmp_path, engine):
    setup, state, events = fit(tmp_path / "tb", f"train.engine={engine}", "train.batch_size=1000")
    assert state.steps == 1
    assert [e.step for e in events.Histograms("gradients/0.weight")] == [1, 2, 3]


class KeepSnapshot(Callback):
    """The loop's snapshot at the end of epoch 1, as a checkpoint would hold it."""

    def on_epoch_end(self, state, logs):
        if logs["epoch"] == 1:
            self.snapshot = {**state.snapshot(), "history": list(state.history)}


def test_a_resumed_run_replaces_what_the_first_attempt_logged_after_its_checkpoint(tmp_path):
    keep = KeepSnapshot()
    setup, first, _ = fit(tmp_path / "tb", callbacks=[keep])
    for path in (tmp_path / "tb").iterdir():  # the first attempt ran earlier: its file sorts first
        path.rename(path.with_name("events.out.tfevents.0000000001.earlier"))
    _, second, events = fit(tmp_path / "tb", resume=keep.snapshot, setup=setup)  # weights not restored: new numbers
    assert second.history[1]["train_loss"] != first.history[1]["train_loss"]
    assert scalars(events, "loss/train") == [(e, pytest.approx(row["train_loss"], rel=1e-6))
                                             for e, row in zip([1, 2, 3], second.history)]


def test_missing_tensorboard_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    message = r"^log.tensorboard needs TensorBoard: pip install 'redes\[tensorboard\]'$"
    with pytest.raises(RedesError, match=message):
        require_tensorboard()
    with pytest.raises(RedesError, match=message):
        TensorBoardLogger(tmp_path / "tb")
    assert not (tmp_path / "tb").exists()


def test_importing_redes_does_not_import_tensorboard():
    import subprocess

    code = "import sys, redes, redes.runs.tensorboard; print('tensorboard' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
