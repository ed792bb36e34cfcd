"""The fast path gives the plain path's numbers: fused optimizers, the loop's deferred sums, bf16 autocast,
train.compile; and the progress bar reads no loss it does not draw."""

import io
import math
import platform
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import redes
from redes.loop.callbacks import ProgressBar
from redes.config import load_config
from redes.data import Split
from redes.engines import build_engine
from redes.engines.module import tf32_matmuls
from redes.errors import RedesError
from redes.nn.models import build_model
from redes.loop.fit import fit
from tests.conftest import fast_config

OPTIMIZERS = {
    "momentum": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    "nesterov": {"name": "sgd", "lr": 0.05, "momentum": 0.8, "nesterov": True},
    "adam": {"name": "adam", "lr": 0.01, "weight_decay": 0.001},
    "adamw": {"name": "adamw", "lr": 0.01, "weight_decay": 0.05},
}


def _history(tmp_path, name, **sections):
    run = redes.train(fast_config(**sections), out=tmp_path / name, verbose=False)
    return [{k: v for k, v in row.items() if k != "seconds"} for row in run.history], run


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_fused_optimizers_give_the_plain_loops_numbers(tmp_path, optimizer):
    fast, _ = _history(tmp_path, "fast", optimizer=OPTIMIZERS[optimizer])
    plain, _ = _history(tmp_path, "plain", optimizer=OPTIMIZERS[optimizer], train={"fast": False})
    for a, b in zip(fast, plain):
        assert a.keys() == b.keys()
        for key in a:
            # on CUDA, fused and foreach AdamW drift apart by 2e-4 in three epochs, enough to flip one of the
            # 269 validation predictions (an H200, torch 2.11): accuracies may differ by a sample or two
            tolerance = {"abs": 0.008} if key.endswith("accuracy") else {"rel": 1e-3, "abs": 1e-6}
            assert a[key] == pytest.approx(b[key], **tolerance), key


def test_the_fast_path_is_on_by_default_and_fp32():
    cfg = load_config()
    assert cfg.train.fast and cfg.train.precision == "fp32"
    model = build_model(cfg.model, 64, 10)
    engine = build_engine(cfg.train, model, "cross_entropy", cfg.optimizer, cfg.regularization)
    assert engine.optimizer.defaults["fused"]


def _reference_epoch(engine, split, batch_size, generator):
    """The epoch's means (loss, penalty, accuracy) computed step by step, as the loop did before it deferred them."""
    from redes.data.batches import batches

    losses, penalties, sizes, correct = [], [], [], 0
    torch.randint(2**62, (1,), generator=generator)  # fit's first draw seeds dropout's global RNG
    for x, y in batches(split.x, split.y, batch_size, "shuffle", generator):
        result = engine.step(x, y)
        losses.append(float(result.loss) * len(x))
        penalties.append(0.0 if result.penalty is None else float(result.penalty) * len(x))
        sizes.append(len(x))
        correct += int((torch.as_tensor(result.outputs).argmax(1) == y).sum())
    return math.fsum(losses) / sum(sizes), math.fsum(penalties) / sum(sizes), correct / sum(sizes)


@pytest.mark.parametrize("train, regularization", [({}, {}), ({}, {"l1": 1e-3}),
                                                   ({"engine": "manual", "backend": "numpy"}, {}),
                                                   ({"engine": "manual", "backend": "numpy"}, {"l2": 1e-3})])
def test_the_loops_deferred_sums_are_the_per_step_sums(train, regularization):
    """On NumPy the loop cuts NumPy batches and keeps the epoch's sums in NumPy (no torch call a step): the same
    numbers as torch's."""
    cfg = load_config(base=fast_config(train=train, regularization=regularization))
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 8, generator=generator), torch.randint(0, 3, (300,), generator=generator)
    runs = []
    for _ in range(2):
        model = build_model(cfg.model, 8, 3, torch.Generator().manual_seed(0))
        runs.append(build_engine(cfg.train, model, "cross_entropy", cfg.optimizer, cfg.regularization))
    given, step = [], runs[0].step
    runs[0].step = lambda xb, yb: given.append(type(xb)) or step(xb, yb)
    state = fit(runs[0], Split(x, y), None, "cross_entropy", epochs=1, batch_size=64, sampler="shuffle",
                generator=torch.Generator().manual_seed(2))
    loss, penalty, accuracy = _reference_epoch(runs[1], Split(x, y), 64, torch.Generator().manual_seed(2))
    assert set(given) == {np.ndarray if train else torch.Tensor}
    assert state.history[0]["train_loss"] == pytest.approx(loss, rel=1e-12)
    assert state.history[0]["train_penalty"] == pytest.approx(penalty, rel=1e-12)
    assert (penalty > 0) == bool(regularization)
    assert state.history[0]["train_accuracy"] == accuracy


def test_bf16_trains_to_about_the_fp32_accuracy(tmp_path):
    sections = {"model": {"hidden": [64]}, "train": {"epochs": 8, "batch_size": 32}}
    _, fp32 = _history(tmp_path, "fp32", **sections)
    _, bf16 = _history(tmp_path, "bf16", model=sections["model"], train={**sections["train"], "precision": "bf16"})
    accuracy = fp32.summary["test"]["accuracy"]
    assert accuracy > 0.9
    assert bf16.summary["test"]["accuracy"] == pytest.approx(accuracy, abs=0.03)
    assert bf16.summary["train"]["loss"] != fp32.summary["train"]["loss"]  # it did run in bf16


def test_the_summary_reports_peak_memory(tmp_path):
    _, run = _history(tmp_path, "run")
    assert run.summary["peak_memory"]["host_mb"] > 10
    if run.device.type == "cuda":
        assert run.summary["peak_memory"]["device_mb"] > 0
    else:
        assert run.summary["peak_memory"]["device_mb"] is None  # the CPU's is the host's


STEPS_OF_ARRAYS = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from redes.devices import keep_freed_host_memory
    assert keep_freed_host_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for step in range(20):  # a step's arrays, alive together, freed at its end
    arrays = [np.ones(1 << 20, dtype=np.float32) for _ in range(5)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_host_memory_is_kept_for_the_next_step_not_faulted_in_again():
    """By default glibc gives a step's freed 20 MB back to the OS and faults it in again the next step."""
    faults = {mode: int(subprocess.run([sys.executable, "-c", STEPS_OF_ARRAYS, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "keep")}
    assert faults["keep"] < faults["default"] / 4, faults


@pytest.mark.parametrize("precision", ["bf16", "tf32"])
@pytest.mark.parametrize("setting", [["train.engine=manual"], ["train.dtype=float64"]])
def test_bf16_and_tf32_are_refused_where_they_cannot_be_honoured(precision, setting):
    with pytest.raises(RedesError, match=f"train.precision={precision} needs train.engine=module or autograd"):
        load_config(overrides=[f"train.precision={precision}", *setting])


def test_tf32_is_refused_off_cuda_before_training(tmp_path):
    with pytest.raises(RedesError, match="train.precision=tf32 needs a CUDA device .* not cpu"):
        redes.train(fast_config(train={"precision": "tf32", "device": "cpu"}), out=tmp_path / "run", verbose=False)
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


@pytest.mark.parametrize("engine", ["module", "autograd"])
def test_compiled_training_gives_the_eager_numbers_and_saves_the_same_model(tmp_path, engine, compiled_calls):
    """train.compile: torch.compile's forward and backward (inductor's C++ kernels on the CPU) round as eager does
    to float32's precision; the run saves and reloads the model itself, not torch.compile's wrapper."""
    on = {"engine": engine, "device": "cpu"}  # a GPU replays graphs: tests/test_cuda_graph.py
    compiled, run = _history(tmp_path, "compiled", train={**on, "compile": True})
    eager, _ = _history(tmp_path, "eager", train=on)
    for a, b in zip(compiled, eager, strict=True):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    steps = 3 * 20  # 3 epochs of 20 batches of 64, every one through the compiled forward, none of the evaluations
    assert len(compiled_calls) == steps and all(model is compiled_calls[0] for model in compiled_calls)
    x = run.data.test.x
    torch.testing.assert_close(redes.load_run(run.path).model(x), run.model(x))


def test_an_epochs_seconds_include_the_device_finishing_its_queued_steps(monkeypatch):
    """On a GPU the loop launches steps ahead of the device: the epoch's clock is read after the device is done
    (here a wait of 50 ms stands in for a GPU draining its queue)."""
    import time

    import redes.loop.fit as training

    waited = []
    monkeypatch.setattr(training, "wait_for", lambda device: waited.append(device) or time.sleep(0.05))
    cfg = load_config(base=fast_config())
    model = build_model(cfg.model, 8, 3, torch.Generator().manual_seed(0))
    engine = build_engine(cfg.train, model, "cross_entropy", cfg.optimizer, cfg.regularization)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    state = fit(engine, Split(x, y), None, "cross_entropy", epochs=3, batch_size=32, sampler="shuffle",
                generator=torch.Generator().manual_seed(0))
    assert waited == [x.device] * 3 and all(row["seconds"] >= 0.05 for row in state.history)


def test_a_step_torch_compile_cannot_compile_is_one_clear_error(tmp_path, monkeypatch):
    """What a machine without a C++ compiler raises at the first compiled step (inductor's message, then advice)."""
    from torch._dynamo.exc import TorchDynamoException

    def uncompilable(model, **options):
        def forward(x):
            raise TorchDynamoException("InvalidCxxCompiler: No working C++ compiler found in cpp.cxx: (None, 'g++')"
                                       "\n\nSet TORCHDYNAMO_VERBOSE=1 for the internal stack trace")
        return forward
    monkeypatch.setattr(torch, "compile", uncompilable)
    with pytest.raises(RedesError, match=r"^train.compile: torch.compile could not compile the training step "
                                         r"\(InvalidCxxCompiler: No working C\+\+ compiler found in cpp.cxx: "
                                         r"\(None, 'g\+\+'\)\); set train.compile=false$"):
        redes.train(fast_config(train={"compile": True}), out=tmp_path / "run", verbose=False)


def test_compile_is_refused_for_the_manual_engine():
    with pytest.raises(RedesError, match="train.compile needs train.engine=module or autograd"):
        load_config(overrides=["train.compile=true", "train.engine=manual"])


class _Bar:
    """tqdm as the progress bar uses it: records the loss text it is given and the steps it is moved by."""

    def __init__(self, disable: bool, mininterval: float = 0.0):
        self.disable, self.mininterval, self.n, self.shown = disable, mininterval, 0, []

    def set_postfix_str(self, text, refresh):
        self.shown.append(text)

    def update(self, n):
        self.n += n

    def close(self):
        pass


def _bar_through_an_epoch(monkeypatch, loss_at, terminal: bool = True, mininterval: float = 0.0) -> _Bar:
    """A ProgressBar (4 updates) through an epoch of 40 steps, step s handing it `loss_at(s)`: the bar it drew."""
    import redes.progress

    bars = []
    monkeypatch.setattr(redes.progress, "progress_bar",
                        lambda **options: bars.append(_Bar(not terminal, mininterval)) or bars[-1])
    state, bar = SimpleNamespace(epoch=1, epochs=1, steps=40), ProgressBar(io.StringIO(), updates=4)
    bar.on_epoch_begin(state)
    for state.step in range(1, 41):
        bar.on_batch_end(state, loss_at(state.step))
    return bars[0]


@pytest.mark.parametrize("terminal", [False, True])
def test_the_progress_bar_reads_the_running_loss_only_where_it_is_drawn(monkeypatch, terminal):
    """Hidden (not a terminal), the bar touches no loss; drawn, it shows the running means, on a GPU the newest
    whose copy to the host has finished (it never waits for one)."""
    losses = torch.arange(1.0, 41.0, device="cuda" if torch.cuda.is_available() else "cpu")
    hidden_loss = None  # what a hidden bar is handed: reading it would fail
    drawn = _bar_through_an_epoch(monkeypatch, lambda step: losses[step - 1] if terminal else hidden_loss, terminal)
    means = [f"loss {mean:.4f}" for mean in (5.5, 15.5, 25.5, 35.5)]  # of each 10 steps
    if not terminal:
        assert drawn.shown == [] and drawn.n == 0
    elif losses.device.type == "cpu":
        assert drawn.shown == means and drawn.n == 40
    else:
        assert set(drawn.shown) <= set(means) and drawn.shown == sorted(drawn.shown) and drawn.n == 40


def test_the_progress_bar_shows_the_numpy_engines_losses(monkeypatch):
    """The manual engine on NumPy hands the bar 0-d NumPy arrays: it shows their running means as torch's."""
    drawn = _bar_through_an_epoch(monkeypatch, lambda step: np.asarray(float(step), dtype=np.float32))
    assert drawn.shown == [f"loss {mean:.4f}" for mean in (5.5, 15.5, 25.5, 35.5)] and drawn.n == 40


def test_the_progress_bar_reads_the_loss_at_most_once_per_redraw(monkeypatch):
    """An epoch faster than tqdm's refresh interval has its loss read once, however many updates were asked."""
    drawn = _bar_through_an_epoch(monkeypatch, lambda step: torch.tensor(float(step)), mininterval=3600)
    assert drawn.shown == ["loss 5.5000"] and drawn.n == 10  # the first 10 steps' mean, then no read


def test_tf32_matmuls_are_on_only_while_held():
    assert torch.get_float32_matmul_precision() == "highest"
    with pytest.raises(ZeroDivisionError), tf32_matmuls():
        assert torch.get_float32_matmul_precision() == "high"  # cuBLAS may use TF32 tensor cores
        1 / 0
    assert torch.get_float32_matmul_precision() == "highest"


def test_redes_bench_quick_prints_its_rows_and_json(cli):
    import json

    table = cli("bench", "--quick")
    assert table.status == 0, table.err
    assert table.err.splitlines() == [f"bench: {n}/4 {part}" for n, part in  # progress, one line per comparison
                                      enumerate(["engines", "notebook001", "loop", "cpu_vs_gpu"], 1)]
    for row in ("engine manual/torch / module", "notebook DataLoader / redes", "redes / matmul alone",
                "redes manual / matmul alone", "redes loop / bare loop", "peak memory: host"):
        assert row in table.out
    assert "no GPU" in table.out or "cpu / gpu, batch" in table.out
    result = json.loads(cli("bench", "--quick", "--json").out.strip().splitlines()[-1])
    assert {"engines", "notebook001", "loop", "cpu_vs_gpu", "peak_memory", "ratios"} <= result.keys()
    assert result["peak_memory"]["host_mb"] > 0


def test_the_benchmarks_whole_set_holds_the_notebook_pipelines_samples():
    """redes is timed on the images the notebook's per-sample ToTensor + Normalize would give, held at once."""
    from redes.bench.baselines import NotebookDataset, cifar_shaped, flat_inputs

    images, labels = cifar_shaped(6)
    samples = NotebookDataset(images, labels)
    x = flat_inputs(images)
    assert x.shape == (6, 3072)
    for i in range(6):
        assert torch.equal(x[i], samples[i][0].reshape(-1))


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("optimizer, regularization", [
    ({"name": "sgd", "lr": 0.3}, {}), ({"name": "sgd", "lr": 0.1, "weight_decay": 0.02}, {}),
    ({"name": "sgd", "lr": 0.1, "momentum": 0.9}, {}),
    ({"name": "sgd", "lr": 0.1, "momentum": 0.8, "weight_decay": 0.01}, {"l2": 0.005})])
def test_the_manual_engines_sgd_steps_in_the_backward_pass_follow_torch_optim(backend, optimizer, regularization):
    """train.fast adds dyᵀx into each weight's momentum buffer (or -lr dyᵀx into the weight) by one GEMM during
    the backward pass; train.fast=false writes the gradients, then steps; nn.Module + torch.optim is the oracle."""
    cfg = load_config(base=fast_config(optimizer=optimizer, regularization=regularization),
                      overrides=["train.engine=manual", f"train.backend={backend}",
                                 "train.dtype=float64", "model.hidden=[16,12]", "model.activation=[tanh,sigmoid]"])
    generator = torch.Generator().manual_seed(3)
    x, y = torch.randn(40, 8, generator=generator, dtype=torch.float64), torch.randint(0, 3, (40,), generator=generator)
    engines = {}
    for name, engine, fast in (("fused", "manual", True), ("plain", "manual", False), ("torch", "module", False)):
        model = build_model(cfg.model, 8, 3, torch.Generator().manual_seed(0)).double()
        engines[name] = build_engine(cfg.train.model_copy(update={"fast": fast, "engine": engine}), model,
                                     "cross_entropy", cfg.optimizer, cfg.regularization)
    assert engines["fused"].fused and not engines["plain"].fused
    for start in range(0, 40, 8):
        results = {name: e.step(x[start:start + 8], y[start:start + 8]) for name, e in engines.items()}
        for name in ("plain", "torch"):
            assert results["fused"].loss.item() == pytest.approx(results[name].loss.item(), rel=1e-13)
            if regularization:  # the fused step's gradients leave out L2's, applied as weight decay
                assert results["fused"].penalty.item() == pytest.approx(results[name].penalty.item(), rel=1e-12)
                continue
            for fused, other in zip(engines["fused"].gradients(), engines[name].gradients()):
                torch.testing.assert_close(fused, other, rtol=1e-12, atol=1e-14)
    for name in ("plain", "torch"):
        for fused, other in zip(engines["fused"].model.parameters(), engines[name].model.parameters()):
            torch.testing.assert_close(fused, other, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("sections, fused", [
    ({}, True), ({"optimizer": {"name": "sgd", "momentum": 0.9}}, True),
    ({"optimizer": {"name": "sgd", "weight_decay": 0.01}}, True), ({"regularization": {"l2": 0.01}}, True),
    ({"regularization": {"l1": 0.01}}, False),
    ({"optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}}, False),
    ({"optimizer": {"name": "adam"}}, False), ({"train": {"fast": False}}, False)])
def test_the_manual_engine_steps_in_the_backward_pass_for_sgd_without_nesterov_or_l1(sections, fused):
    config = fast_config(optimizer={"name": "sgd"}, train={"engine": "manual"})
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    cfg = load_config(base=config)
    engine = build_engine(cfg.train, build_model(cfg.model, 8, 3), "cross_entropy", cfg.optimizer,
                          cfg.regularization)
    assert engine.fused is fused


@pytest.mark.parametrize("engine", ["module", "manual"])
@pytest.mark.parametrize("optimizer", ["momentum", "adam", "adamw"])
def test_an_l2_penalty_as_weight_decay_gives_the_penaltys_own_numbers(tmp_path, optimizer, engine):
    """train.fast: SGD and Adam apply l2 * sum W² as weight decay 2 l2 on the weights; the history is the same."""
    sections = {"optimizer": OPTIMIZERS[optimizer], "regularization": {"l1": 1e-4, "l2": 1e-3}}
    fast, run = _history(tmp_path, "fast", **sections, train={"engine": engine})
    plain, _ = _history(tmp_path, "plain", **sections, train={"engine": engine, "fast": False})
    assert fast[0]["train_penalty"] > 0
    for a, b in zip(fast, plain):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


def test_the_weight_decay_group_holds_the_penalized_weights_only():
    cfg = load_config(base=fast_config(optimizer={"name": "sgd", "weight_decay": 0.01}, regularization={"l2": 0.5}))
    model = build_model(cfg.model, 8, 3)
    engine = build_engine(cfg.train, model, "cross_entropy", cfg.optimizer, cfg.regularization)
    decays = {id(p): group["weight_decay"] for group in engine.optimizer.param_groups for p in group["params"]}
    for name, p in model.named_parameters():
        assert decays[id(p)] == pytest.approx(1.01 if name.endswith("weight") else 0.01), name


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("optimizer, regularization", [({"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
                                                         "weight_decay": 0.01}, {"l2": 1e-3}),
                                                        ({"name": "sgd", "lr": 0.1, "momentum": 0.9,
                                                          "weight_decay": 0.01}, {"l2": 1e-3}),
                                                        ({"name": "adam", "lr": 0.01}, {"l1": 1e-3, "l2": 1e-3})])
def test_the_manual_engines_one_buffer_gives_the_per_parameter_numbers_and_state(backend, optimizer, regularization):
    """train.fast moves the parameters into one buffer and updates it in two parts; train.fast=false updates each
    parameter: the same weights and (per-parameter) optimizer state, which either engine can load (up to the
    rounding of L2 applied as weight decay)."""
    cfg = load_config(base=fast_config(optimizer=optimizer, regularization=regularization),
                      overrides=["train.engine=manual", f"train.backend={backend}", "train.dtype=float64",
                                 "model.hidden=[16,12]", "model.batchnorm=true"])
    generator = torch.Generator().manual_seed(3)
    x, y = torch.randn(40, 8, generator=generator, dtype=torch.float64), torch.randint(0, 3, (40,), generator=generator)

    def engine(fast: bool):
        model = build_model(cfg.model, 8, 3, torch.Generator().manual_seed(0)).double()
        return build_engine(cfg.train.model_copy(update={"fast": fast}), model, "cross_entropy", cfg.optimizer,
                            cfg.regularization)
    engines = {fast: engine(fast) for fast in (True, False)}
    storages = {p.untyped_storage().data_ptr() for p in engines[True].model.parameters()}
    assert len(storages) == 1 and engines[True].update_grads is not None
    for start in range(0, 24, 8):
        for e in engines.values():
            e.step(x[start:start + 8], y[start:start + 8])
        for one, each in zip(engines[True].model.parameters(), engines[False].model.parameters()):
            torch.testing.assert_close(one, each, rtol=1e-9, atol=1e-12)
    states = {fast: e.state_dict() for fast, e in engines.items()}
    for key, value in states[False].items():
        if isinstance(value, list):
            assert [v.shape for v in states[True][key]] == [p.shape for p in engines[False].model.parameters()]
            for one, each in zip(states[True][key], value):
                torch.testing.assert_close(one, each, rtol=1e-9, atol=1e-12)
    resumed = engine(True)
    resumed.model.load_state_dict(engines[False].model.state_dict())
    resumed.load_state_dict(states[False])
    for e in (resumed, engines[False]):
        e.step(x[32:], y[32:])
    for one, each in zip(resumed.model.state_dict().values(), engines[False].model.state_dict().values()):
        torch.testing.assert_close(one, each, rtol=1e-9, atol=1e-12)


def test_parameters_in_one_buffer_are_saved_and_loaded_as_separate_tensors(tmp_path):
    from redes.checkpoint import load_tensors, save_tensors

    cfg = load_config(base=fast_config(optimizer={"name": "adam"}), overrides=["train.engine=manual"])
    model = build_model(cfg.model, 8, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    build_engine(cfg.train, model, "cross_entropy", cfg.optimizer, cfg.regularization)
    assert len({p.untyped_storage().data_ptr() for p in model.parameters()}) == 1
    save_tensors(tmp_path / "model.safetensors", model.state_dict(), {})
    loaded, _ = load_tensors(tmp_path / "model.safetensors")
    assert loaded.keys() == before.keys()
    for name, value in before.items():
        assert torch.equal(loaded[name], value), name


def test_interleaved_rounds_skip_the_warm_up_and_pair_ratios_by_round():
    from redes.bench.suite import best_of, interleaved, paired_ratio, timed_rounds

    def candidate(*seconds):  # the first call is the untimed warm-up
        times = iter((99.0, *seconds))
        return lambda: next(times)

    rounds = timed_rounds({"a": candidate(2.0, 4.0, 3.0), "b": candidate(1.0, 4.0, 1.0)}, repeats=3)
    assert rounds == {"a": [2.0, 4.0, 3.0], "b": [1.0, 4.0, 1.0]}
    assert best_of(rounds) == {"a": 2.0, "b": 1.0}
    assert paired_ratio(rounds, "a", "b") == 2.0  # the rounds' own ratios: 2, 1 and 3
    assert paired_ratio({"a": [2.0, 9.0, 3.0], "b": [1.0, 3.0, 1.0]}, "a", "b") == 3.0  # the bests' ratio is 2
    assert interleaved({"a": candidate(5.0, 4.0)}, repeats=2) == {"a": 4.0}
