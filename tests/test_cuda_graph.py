"""CUDA graphs (`train.cuda_graph`): when one is used, and that graphed steps give the eager steps' numbers.

The graphed tests run on a CUDA GPU where there is one (a lent GPU machine), and elsewhere on the CPU with a
stand-in for the captured graph (`_GraphOnCpu`): there they check the engine's bookkeeping and the training
loop's path for it, on a GPU the capture itself.
"""

import copy
import os
import signal
import warnings

import pytest
import torch
from sklearn.datasets import load_digits

import redes
from redes import engines
from redes.engines import graphed as cuda_graph
from redes.loop.callbacks import Callback
from redes.checkpoint import load_tree
from redes.config import load_config
from redes.engines.graphed import GraphedEngine, uses_cuda_graph
from redes.data import Split
from redes.data.batches import batches, index_chunks
from redes.engines import build_engine
from redes.engines.module import ModuleEngine
from redes.errors import RedesError, TrainingInterrupted
from redes.nn.models import build_model
from redes.loop.fit import fit
from tests.conftest import fast_config

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def test_a_graph_is_used_for_the_module_engine_on_cuda_only():
    assert load_config().train.cuda_graph == "auto"
    assert uses_cuda_graph("auto", "module", GPU) and not uses_cuda_graph(False, "module", GPU)
    assert not uses_cuda_graph("auto", "module", CPU) and not uses_cuda_graph("auto", "manual", GPU)
    for engine, device in (("module", CPU), ("autograd", GPU), ("manual", GPU)):
        with pytest.raises(RedesError, match="train.cuda_graph=true needs train.engine=module on a CUDA device"):
            uses_cuda_graph(True, engine, device)
    with pytest.raises(RedesError, match="train.cuda_graph"):
        load_config(settings={"train.cuda_graph": "sometimes"})


def test_asking_for_a_graph_on_the_cpu_is_refused_before_training(tmp_path):
    with pytest.raises(RedesError, match="train.cuda_graph=true needs .* on a CUDA device"):
        redes.train(fast_config(train={"cuda_graph": True, "device": "cpu"}), out=tmp_path / "run", verbose=False)
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()


@pytest.mark.parametrize("sampler", ["shuffle", "replacement", "repeat", "contiguous"])
def test_index_chunks_hold_the_batches_that_batches_cuts(sampler):
    x, y = torch.arange(50.0).unsqueeze(1), torch.arange(50)
    cut = [yb for _, yb in batches(x, y, 8, sampler, torch.Generator().manual_seed(3))]
    chunks = index_chunks(50, 8, sampler, torch.Generator().manual_seed(3), CPU, 3, skip=2)
    assert [len(chunk) for chunk in chunks][:-1] == [24] * (len(chunks) - 1)  # 3 batches a chunk, the last shorter
    gathered = [y[part] for chunk in chunks for part in chunk.split(8)]
    assert len(gathered) == len(cut) - 2
    for a, b in zip(gathered, cut[2:], strict=True):
        assert torch.equal(a, b)
    assert index_chunks(50, 8, sampler, torch.Generator(), CPU, 3, skip=len(cut)) == ()  # resumed at the end


@pytest.mark.parametrize("n", [3, 8, 13, 16])  # a partial batch alone, one full, full and partial, two full
def test_a_chunks_correct_counts_are_summed_per_batch(n):
    values = torch.arange(n)
    assert cuda_graph._sums_per_batch(values, 8).tolist() == [int(part.sum()) for part in values.split(8)]


class _GraphOnCpu:
    """A stand-in for a captured CUDA graph on the CPU: "capturing" runs the body (the steps the first replay
    takes), and each later replay runs it again and writes its statistics and gradients over the captured
    ones, as a replay writes the graph's memory. With it the graphed tests check the engine's bookkeeping and
    the training loop's path for it; run on a GPU, the same tests check the capture itself."""

    def __init__(self, body):
        self.body, self.fresh = body, True
        self.outputs = body()

    def replay(self):
        if self.fresh:  # the capture took these steps
            self.fresh = False
            return
        statistics, _, grads = self.body()
        self.outputs[0].copy_(statistics)
        for captured, grad in zip(self.outputs[2], grads, strict=True):
            captured.copy_(grad)


@pytest.fixture
def graphs_on_cpu(monkeypatch):
    """The module engine on the CPU built as a GraphedEngine, with `_GraphOnCpu` graphs and no side stream.
    Returns the list of the graphs made; with "fail" in it first, every capture fails instead."""
    made = []

    def record(stream, body):
        if made == ["fail"]:
            raise RuntimeError("operation not permitted when stream is capturing")
        made.append(_GraphOnCpu(body))
        return made[-1], made[-1].outputs
    monkeypatch.setattr(engines, "uses_cuda_graph", lambda setting, engine, device: setting and engine == "module")
    monkeypatch.setattr(torch.cuda, "Stream", lambda device: None)
    monkeypatch.setattr(GraphedEngine, "_on_stream", lambda self, run, *args: run(*args))
    monkeypatch.setattr(cuda_graph, "record", record)
    return made


@pytest.fixture
def graph_device(request) -> str:
    """Where the graphed tests run: a CUDA GPU where there is one, else the CPU with `_GraphOnCpu` graphs."""
    if torch.cuda.is_available():
        return "cuda"
    request.getfixturevalue("graphs_on_cpu")
    return "cpu"


def _train(tmp_path, name, graph, device, verbose=False, **sections):
    sections["train"] = {"device": device, "cuda_graph": graph, **sections.get("train", {})}
    return redes.train(fast_config(**sections), out=tmp_path / name, verbose=verbose)


def _assert_same_run(graphed, eager):
    """The same numbers up to rounding: on a GPU, replayed kernels need not round as their eager launches did."""
    for a, b in zip(graphed.history, eager.history, strict=True):
        for key in a.keys() - {"seconds"}:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    for p, q in zip(graphed.model.parameters(), eager.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


class _PressCtrlC(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_batch_end(self, state, loss):
        if state.epoch == 2 and state.step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def _stop_and_resume(tmp_path, monkeypatch, device, press_at: int, **sections):
    """A graphed run stopped by Ctrl-C at epoch 2's step `press_at`, then resumed: (where it stopped, the run)."""
    import redes.runs.train as trainer

    monkeypatch.setattr(trainer, "ProgressBar", lambda file: _PressCtrlC(press_at))
    with pytest.raises(TrainingInterrupted):
        _train(tmp_path, "stopped", "auto", device, verbose=True, **sections)  # the bar presses Ctrl-C
    stopped = load_tree(tmp_path / "stopped" / "checkpoint.safetensors", "checkpoint")["loop"]
    monkeypatch.setattr(trainer, "ProgressBar", lambda file: Callback())
    return (stopped["epoch"], stopped["step"]), redes.resume(tmp_path / "stopped", verbose=False)


@pytest.mark.parametrize("sections", [
    {},  # digits: 19 full batches of 64 and a partial one, in chunks of 4: the last chunk 3 and a partial
    {"model": {"hidden": [32], "dropout": 0.2, "batchnorm": True}, "regularization": {"l1": 1e-4, "l2": 1e-3},
     "optimizer": {"name": "adam", "lr": 0.01}},
    {"data": {"name": "linear", "n_samples": 300}, "train": {"sampler": "replacement", "batch_size": 16}},
    {"data": {"name": "bernoulli", "n_samples": 500, "n_features": 20}, "train": {"sampler": "contiguous",
                                                                                 "batch_size": 16}},
])
def test_graphed_training_through_ctrl_c_and_resume_is_eager_training(tmp_path, monkeypatch, graph_device, sections):
    """`redes train` with the graphed engine, 4 steps a chunk, against the same run one eager step at a time,
    also through Ctrl-C (which ends the chunk under way) and resume: on the CPU stand-in bit for bit."""
    monkeypatch.setattr(GraphedEngine, "steps_per_call", 4)
    chunked = _train(tmp_path, "chunked", "auto", graph_device, **sections)
    stopped_at, resumed = _stop_and_resume(tmp_path, monkeypatch, graph_device, 5, **sections)
    assert stopped_at == (2, 8)  # the chunk that step 5 is in ends at step 8
    eager = _train(tmp_path, "eager", False, graph_device, **sections)
    for run in (chunked, resumed):
        if graph_device == "cpu":
            assert [{k: v for k, v in row.items() if k != "seconds"} for row in run.history] == \
                [{k: v for k, v in row.items() if k != "seconds"} for row in eager.history]
            assert (run.path / "model.safetensors").read_bytes() == (eager.path / "model.safetensors").read_bytes()
        else:
            _assert_same_run(run, eager)


def test_ctrl_c_in_an_epochs_last_chunk_resumes_to_the_same_run(tmp_path, monkeypatch, graph_device):
    """Stopped after the epoch's last step, before its end: the resumed epoch has no step left to take."""
    monkeypatch.setattr(GraphedEngine, "steps_per_call", 4)
    stopped_at, resumed = _stop_and_resume(tmp_path, monkeypatch, graph_device, 18)
    assert stopped_at == (2, 20)  # digits: 20 steps an epoch, the last chunk 17-20
    _assert_same_run(resumed, _train(tmp_path, "eager", False, graph_device))


def _digits_pair(**settings):
    """A graphed engine (on the CPU stand-in) and an eager one from the same weights, and digits."""
    cfg = load_config(settings={"model.hidden": [32], **settings})
    x, y = load_digits(return_X_y=True)
    split = Split(torch.tensor(x / 16, dtype=torch.float32), torch.tensor(y))
    model = build_model(cfg.model, 64, 10, torch.Generator().manual_seed(0))
    eager = ModuleEngine(copy.deepcopy(model), "cross_entropy", cfg.optimizer, cfg.regularization, cfg.train.fast)
    return build_engine(cfg.train, model, "cross_entropy", cfg.optimizer, cfg.regularization), eager, split


def _fit_both(graphed, eager, split, epochs):
    """Train both engines alike (1797 samples in batches of 64: a chunk of 16 steps, then 12 and a partial one)."""
    runs = [fit(engine, split, None, "cross_entropy", epochs=epochs, batch_size=64, sampler="shuffle",
                generator=torch.Generator().manual_seed(1)) for engine in (graphed, eager)]
    assert [row | {"seconds": 0} for row in runs[0].history] == [row | {"seconds": 0} for row in runs[1].history]
    for p, q in zip(graphed.model.parameters(), eager.model.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("settings", [{"optimizer.name": "sgd", "optimizer.momentum": 0.9, "regularization.l1": 1e-4},
                                      {"optimizer.name": "adam", "regularization.l2": 1e-3}])
def test_the_graphed_engine_captures_each_chunk_shape_after_one_eager_run_and_keeps_the_numbers(graphs_on_cpu,
                                                                                                settings):
    graphed, eager, split = _digits_pair(**settings)
    _fit_both(graphed, eager, split, epochs=3)
    # the first 3 chunks ran eagerly (the warm-up), then each chunk shape was captured when seen again
    assert sorted(len(c.index) for c in graphed.graphs.values()) == [1797 - 16 * 64, 16 * 64]
    assert graphed.last_replayed is min(graphed.graphs.values(), key=lambda c: len(c.index))  # the epoch's last
    for g, h in zip(graphed.gradients(), eager.gradients(), strict=True):
        assert torch.equal(g, h)
    captured = dict(graphed.graphs)
    graphed.lr, eager.lr = graphed.lr / 2, eager.lr / 2  # read from the device by the captured steps
    _fit_both(graphed, eager, split, epochs=1)
    assert graphed.graphs == captured and graphed.lr == eager.lr  # replayed at the new rate, not captured again
    graphed.load_state_dict(graphed.state_dict())  # new state tensors: the graphs must go
    assert graphed.graphs == {} and graphed.last_replayed is None and graphed.lr == eager.lr


def test_a_rate_baked_into_the_graphs_captures_again(graphs_on_cpu):
    """Without the fused kernel (train.fast=false), SGD reads its rate as a number: a new rate, new graphs."""
    graphed, eager, split = _digits_pair(**{"optimizer.name": "sgd", "optimizer.momentum": 0.9, "train.fast": False})
    _fit_both(graphed, eager, split, epochs=3)
    graphed.lr, eager.lr = graphed.lr / 2, eager.lr / 2
    _fit_both(graphed, eager, split, epochs=1)
    assert graphed.graphs == {}  # this epoch ran each shape eagerly once at the new rate
    _fit_both(graphed, eager, split, epochs=1)
    assert [source[-1] for source, _, _ in graphed.graphs] == [(graphed.lr,), (graphed.lr,)]


def test_a_step_that_cannot_be_captured_warns_once_and_trains_on_eagerly(graphs_on_cpu):
    graphs_on_cpu.append("fail")
    graphed, eager, split = _digits_pair(**{"optimizer.momentum": 0.9})
    with pytest.warns(RuntimeWarning, match="train.cuda_graph: the step could not be captured") as caught:
        _fit_both(graphed, eager, split, epochs=3)
    assert len(caught) == 1 and graphed.failed and graphed.graphs == {}


@pytest.mark.parametrize("optimizer, regularization", [
    ({"name": "sgd", "lr": 0.05, "momentum": 0.9}, {}),
    ({"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}, {"l1": 1e-4, "l2": 1e-3}),
    ({"name": "adam", "lr": 0.01, "weight_decay": 0.001}, {"l2": 1e-3}),
    ({"name": "adamw", "lr": 0.01, "weight_decay": 0.05}, {"l1": 1e-4}),
])
def test_graphed_training_gives_the_eager_numbers(tmp_path, graph_device, optimizer, regularization):
    # digits: 19 full batches of 64 and a partial one per epoch: a chunk of 16 steps, then 3 and a partial
    sections = {"optimizer": optimizer, "regularization": regularization}
    _assert_same_run(_train(tmp_path, "graphed", True, graph_device, **sections),
                     _train(tmp_path, "eager", False, graph_device, **sections))


@pytest.mark.parametrize("precision", ["bf16", "tf32"])
def test_graphed_bf16_and_tf32_training_gives_the_eager_numbers(tmp_path, graph_device, precision):
    if precision == "tf32" and graph_device == "cpu":
        pytest.skip("tf32 needs CUDA (its refusal on the CPU: tests/test_fast.py)")
    _assert_same_run(_train(tmp_path, "graphed", True, graph_device, train={"precision": precision}),
                     _train(tmp_path, "eager", False, graph_device, train={"precision": precision}))
    assert torch.get_float32_matmul_precision() == "highest"  # tf32 only while a step runs


def test_graphed_compiled_training_gives_the_eager_numbers(tmp_path, graph_device, compiled_calls):
    """train.compile under the graph: each chunk shape's eager run compiles it, the capture records the compiled
    kernels, and no capture fails (a failing one warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        graphed = _train(tmp_path, "graphed", True, graph_device, train={"compile": True})
    assert compiled_calls
    _assert_same_run(graphed, _train(tmp_path, "eager", False, graph_device))


def test_dropout_and_batchnorm_train_under_a_graph(tmp_path, graph_device):
    run = _train(tmp_path, "run", True, graph_device, model={"hidden": [64, 32], "dropout": 0.2, "batchnorm": True},
                 train={"epochs": 5})
    losses = [row["train_loss"] for row in run.history]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < 0.5 * losses[0]
    assert run.summary["test"]["accuracy"] > 0.9


def test_the_engine_replays_chunks_of_steps_after_its_warmup_and_reports_the_graphs_gradients(graph_device):
    device = torch.device(graph_device)
    cfg = load_config(settings={"optimizer.name": "sgd", "optimizer.momentum": 0.9, "train.device": graph_device})
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 8, generator=generator).to(device), torch.randn(300, 2, generator=generator).to(device)
    model = build_model(cfg.model, 8, 2, torch.Generator().manual_seed(0)).to(device)
    graphed = build_engine(cfg.train, model, "mse", cfg.optimizer, cfg.regularization)  # regression
    eager = ModuleEngine(copy.deepcopy(model), "mse", cfg.optimizer, cfg.regularization)
    assert isinstance(graphed, GraphedEngine) and graphed.steps_per_call > 1
    losses = [[row["train_loss"] for row in fit(engine, Split(x, y), None, "mse", epochs=3, batch_size=16,
                                                 sampler="shuffle", generator=torch.Generator().manual_seed(1)).history]
              for engine in (graphed, eager)]
    # 19 batches of 16 an epoch: a chunk of 16 steps and one of 2 and a partial, both captured by the third
    assert sorted(len(c.index) for c in graphed.graphs.values()) == [44, 256]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    index = torch.arange(64, device=device)
    for _ in range(2):  # a new chunk shape: eager once, then captured and replayed
        graphed.steps(x, y, index, 32)
        for part in index.split(32):
            eager.step(x[part], y[part])
    assert graphed.last_replayed is not None
    for g, h in zip(graphed.gradients(), eager.gradients(), strict=True):
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6)
