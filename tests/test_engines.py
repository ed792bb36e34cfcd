import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redes.study.compare import check_engines, fit_linear_every_way, run_steps
from redes.config import load_config
from redes.errors import RedesError
from redes.nn.activations import HAND_WRITTEN
from redes.runs.setup import prepare, with_engine

# hardsigmoid is left out: torch's float64 hardsigmoid backward multiplies by float32(1/6), off by 3e-8
# relative (test_torch_hardsigmoid_gradient_is_single_precision), which Adam can amplify past 1e-10.
MANUAL_ACTIVATIONS = [name for name in HAND_WRITTEN if name != "hardsigmoid"]
DATA = {
    "classification": ["data.name=digits", "data.max_samples=300"],
    "binary": ["data.name=bernoulli", "data.n_samples=300", "data.n_features=12"],
    "regression": ["data.name=linear", "data.n_samples=120", "data.noise=0.3"],
}
OPTIMIZERS = {
    "sgd": ["optimizer.name=sgd", "optimizer.lr=0.05"],
    "momentum": ["optimizer.name=sgd", "optimizer.lr=0.05", "optimizer.momentum=0.9", "optimizer.weight_decay=0.01"],
    "nesterov": ["optimizer.name=sgd", "optimizer.lr=0.05", "optimizer.momentum=0.8", "optimizer.nesterov=true"],
    "adam": ["optimizer.name=adam", "optimizer.lr=0.01", "optimizer.weight_decay=0.001"],
    "adamw": ["optimizer.name=adamw", "optimizer.lr=0.01", "optimizer.weight_decay=0.05"],
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task=st.sampled_from(sorted(DATA)), optimizer=st.sampled_from(sorted(OPTIMIZERS)),
       hidden=st.lists(st.integers(1, 12), min_size=0, max_size=3),
       activations=st.lists(st.sampled_from(MANUAL_ACTIVATIONS), min_size=3, max_size=3),
       dropout=st.sampled_from([0.0, 0.3]), batch=st.sampled_from([1, 7, 32]),
       sampler=st.sampled_from(["shuffle", "replacement", "contiguous"]),
       l1=st.sampled_from([0.0, 1e-3]), l2=st.sampled_from([0.0, 1e-3]))
def test_random_networks_agree_across_engines_and_backends(task, optimizer, hidden, activations, dropout, batch,
                                                           sampler, l1, l2):
    overrides = DATA[task] + OPTIMIZERS[optimizer] + [
        f"model.hidden={hidden}", f"model.activation={activations[:len(hidden)] or 'relu'}",
        f"model.dropout={dropout}", f"train.batch_size={batch}", f"train.sampler={sampler}",
        f"regularization.l1={l1}", f"regularization.l2={l2}"]
    comparison = check_engines(load_config(overrides=overrides), steps=6)
    assert comparison.engines == ["module/torch", "autograd/torch", "manual/torch", "manual/numpy"]
    assert comparison.passed, comparison.table()


def test_torch_hardsigmoid_gradient_is_single_precision():
    from array_api_compat import torch as xp

    from redes.nn.activations import HardSigmoid

    x = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.hardsigmoid(x).backward()
    layer = HardSigmoid(xp)
    layer.forward(x.detach())
    assert layer.backward(torch.ones(1, dtype=torch.float64)).item() == 1 / 6  # exact
    assert x.grad.item() == torch.tensor(1 / 6, dtype=torch.float32).item() != 1 / 6  # torch's


def test_batchnorm_networks_agree_under_sgd():
    cfg = load_config(overrides=DATA["classification"] + OPTIMIZERS["momentum"] +
                      ["model.hidden=[10, 6]", "model.batchnorm=true", "model.activation=tanh"])
    comparison = check_engines(cfg, steps=8)
    assert comparison.passed, comparison.table()
    assert "1.running_var" in comparison.differences  # the running statistics are compared too


def test_a_wrong_gradient_is_caught(monkeypatch):
    from redes.nn import activations

    monkeypatch.setattr(activations.Tanh, "backward", lambda self, dy: dy * (1 - self.h))  # forgot the square
    comparison = check_engines(load_config(overrides=["model.hidden=[8]", "model.activation=tanh",
                                                      "data.max_samples=200"]), steps=3)
    assert not comparison.passed and "FAIL" in comparison.table()


def test_recomputing_backward_gives_the_reusing_backward_numbers():
    cfg = load_config("notebook000", ["data.n_samples=200", "train.dtype=float64"])
    reusing, recomputing = prepare(cfg), prepare(with_engine(cfg, "manual", "torch", backward="recompute"))
    assert run_steps(reusing, 10) == pytest.approx(run_steps(recomputing, 10), rel=1e-12)
    for p, q in zip(reusing.model.parameters(), recomputing.model.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-12)


def test_the_manual_engine_never_touches_autograd():
    setup = prepare(load_config(overrides=["train.engine=manual", "data.max_samples=100", "model.hidden=[8]"]))
    before = [p.detach().clone() for p in setup.model.parameters()]
    with torch.no_grad():  # would break any loss.backward()
        run_steps(setup, 3)
    assert all(p.grad is None for p in setup.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, setup.model.parameters()))  # trained in place


def test_the_autograd_engine_zeroes_gradients_before_each_backward(monkeypatch):
    from redes.engines.autograd import AutogradEngine
    from redes.engines.module import ModuleEngine

    cfg = load_config(overrides=["data.max_samples=100", "model.hidden=[8]", "optimizer.name=sgd"])
    assert check_engines(cfg, steps=4).passed
    # notebook 004's bug, gradients never zeroed, is what check engines would catch
    def accumulating_step(self, x, y):
        result = ModuleEngine._forward_backward(self, x, y)
        with torch.no_grad():
            self.optimizer.step([p.grad for p in self.params])
        return result

    monkeypatch.setattr(AutogradEngine, "step", accumulating_step)
    assert not check_engines(cfg, steps=4).passed


def test_linear_preset_matches_sklearn_with_every_engine():
    rows = {name: (a, b) for name, a, b, _ in fit_linear_every_way(load_config("notebook003"))}
    a_ref, b_ref = rows["sklearn LinearRegression"]
    assert rows["closed form"] == pytest.approx((a_ref, b_ref), abs=1e-9)
    for name in ("module/torch", "autograd/torch", "manual/torch", "manual/numpy"):
        assert rows[name] == pytest.approx((a_ref, b_ref), abs=1e-3), name


def test_engine_options_are_validated():
    with pytest.raises(RedesError, match="train.backend=numpy needs train.engine=manual"):
        load_config(overrides=["train.backend=numpy"])
    with pytest.raises(RedesError, match="train.backward=recompute needs train.engine=manual"):
        load_config(overrides=["train.backward=recompute"])
    with pytest.raises(RedesError, match="no hand-written backward for GELU"):
        prepare(load_config(overrides=["train.engine=manual", "model.activation=gelu", "data.max_samples=50"]))


def test_notebook000_preset_trains_by_hand(tmp_path):
    import redes

    run = redes.train(load_config("notebook000", ["data.n_samples=600", "train.epochs=3"]),
                      out=tmp_path / "nb0", verbose=False)
    assert run.config.train.engine == "manual" and run.model[1].__class__.__name__ == "Tanh"
    assert run.history[-1]["train_accuracy"] > run.history[0]["train_accuracy"]  # it memorises


@pytest.mark.parametrize("layout", ["c", "fortran", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_add_product_and_add_scaled_update_numpy_and_torch_arrays_in_place(layout, dtype):
    """c = beta c + alpha a @ b by one in-place GEMM, and c += alpha a, whatever the memory layout of c
    (BLAS in place, or a copy back)."""
    import numpy as np

    from redes.arrays import add_product_, add_scaled_

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    c = {"c": rng.standard_normal((5, 4)), "fortran": np.asfortranarray(rng.standard_normal((5, 4))),
         "strided": rng.standard_normal((5, 8))[:, ::2]}[layout].astype(dtype, copy=False)
    expected, c_torch = 0.3 * c + 0.5 * (a @ b), torch.from_numpy(c.copy())
    add_product_(c, a.T.T, b, 0.5, beta=0.3)
    add_product_(c_torch, torch.from_numpy(a), torch.from_numpy(b), 0.5, beta=0.3)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_torch.numpy(), expected, rtol=1e-5, atol=1e-6)
    d = rng.standard_normal((5, 4)).astype(dtype)
    expected = expected - 0.7 * d
    add_scaled_(c, d, -0.7)
    add_scaled_(c_torch, torch.from_numpy(d), -0.7)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_torch.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_hand_written_sgd_follows_torch_optim(backend, momentum, nesterov, weight_decay):
    from redes.config import OptimizerConfig
    from redes.arrays import namespace
    from redes.nn.optimizers import SGD

    generator = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (4,), (2, 4)]
    reference = [torch.randn(shape, dtype=torch.float64, generator=generator) for shape in shapes]
    grads = [[torch.randn(shape, dtype=torch.float64, generator=generator) for shape in shapes] for _ in range(4)]
    ours = [p.clone() for p in reference]
    convert = (lambda t: t.numpy()) if backend == "numpy" else (lambda t: t)
    cfg = OptimizerConfig(name="sgd", lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    hand = SGD(namespace(backend), [convert(p) for p in ours], cfg)
    torch_sgd = torch.optim.SGD([p.requires_grad_() for p in reference], lr=0.1, momentum=momentum,
                                nesterov=nesterov, weight_decay=weight_decay)
    for step in grads:
        for p, g in zip(reference, step):
            p.grad = g.clone()
        torch_sgd.step()
        given = [convert(g.clone()) for g in step]
        hand.step(given)
        assert all((convert(g) == h).all() for g, h in zip(step, given))  # the gradients are left as they were
    for p, q in zip(reference, ours):
        torch.testing.assert_close(q, p.detach(), rtol=1e-12, atol=1e-12)


def test_the_numpy_namespace_shortcuts_give_numpys_own_results():
    """namespace("numpy") calls sum, max and reshape by shorter paths; every NumPy signature still gives NumPy's
    answer."""
    import numpy as np

    from redes.arrays import namespace

    xp, a = namespace("numpy"), np.arange(12, dtype=np.float32).reshape(3, 4)
    cases = [("sum", (a,), {}), ("sum", (a, 0), {}), ("sum", (a,), {"axis": 1, "keepdims": True}), ("sum", (3.0,), {}),
             ("sum", ([1, 2],), {}), ("sum", (a,), {"initial": 5}), ("sum", (np.array([True, True]),), {}),
             ("sum", (np.arange(3, dtype=np.int32),), {}), ("max", (a, 1), {}), ("max", (a,), {}),
             ("max", (a,), {"axis": 0, "keepdims": True}), ("reshape", (a, (-1,)), {}),
             ("reshape", (a, (4, 3)), {"order": "F"}), ("reshape", ([1, 2, 3, 4], (2, 2)), {}),
             ("reshape", (a,), {"shape": (2, 6)})]
    for name, args, kwargs in cases:
        got, want = getattr(xp, name)(*args, **kwargs), getattr(np, name)(*args, **kwargs)
        assert np.array_equal(got, want) and np.asarray(got).dtype == np.asarray(want).dtype, (name, args, kwargs)
    assert xp.exp is np.exp and xp.float32 is np.float32


@pytest.mark.parametrize("engine, backend", [("module", "torch"), ("autograd", "torch"), ("manual", "torch"),
                                             ("manual", "numpy")])
def test_every_engine_is_an_engine_whose_rate_is_read_and_set(engine, backend):
    from redes.engines import Engine

    cfg = load_config(overrides=["optimizer.name=sgd", "optimizer.lr=0.05", "model.hidden=[8]",
                                 "data.max_samples=100", f"train.engine={engine}", f"train.backend={backend}"])
    setup = prepare(cfg)
    assert isinstance(setup.engine, Engine) and setup.engine.lr == 0.05
    setup.engine.lr = 0.0
    before = [p.detach().clone() for p in setup.model.parameters()]
    run_steps(setup, 3)
    assert setup.engine.lr == 0.0
    assert all(torch.equal(p, q) for p, q in zip(setup.model.parameters(), before))  # a rate of 0 moves nothing
    setup.engine.lr = 0.05
    run_steps(setup, 1)
    assert not all(torch.equal(p, q) for p, q in zip(setup.model.parameters(), before))


def test_settings_that_do_not_fit_the_device_fail_before_the_data_is_read(tmp_path):
    missing = tmp_path / "missing.csv"
    for setting, message in (("train.precision=tf32", "train.precision=tf32 needs a CUDA device"),
                             ("train.cuda_graph=true", "train.cuda_graph=true needs train.engine=module on a CUDA")):
        with pytest.raises(RedesError, match=message):  # not the missing file
            prepare(load_config(overrides=["data.name=file", f"data.path={missing}", "train.device=cpu", setting]))


def test_the_optimizer_table_names_torch_optim_classes_and_the_configs_choices():
    from redes.config import OptimizerConfig, describe_keys
    from redes.nn.optimizers import OPTIMIZERS

    for name, kind in OPTIMIZERS.items():
        assert OptimizerConfig(name=name).name == name and f"{name}: {kind.help}" in describe_keys()
        assert issubclass(getattr(torch.optim, kind.torch_name), torch.optim.Optimizer)
    with pytest.raises(ValueError, match="sgd"):
        OptimizerConfig(name="rmsprop")
