"""redes' torch.optim optimizers (engines/eager.py): torch's updates, state and hooks, without torch._dynamo."""

from __future__ import annotations

import inspect
import sys
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from redes.config import OptimizerConfig
from redes.engines.eager import DYNAMO, eager
from redes.engines.module import build_optimizer

SETTINGS = [{"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}, {"name": "sgd"},
            {"name": "adam", "weight_decay": 1e-3}, {"name": "adamw", "weight_decay": 0.1}]


@contextmanager
def torch_dynamo_unloaded():
    """As if torch._dynamo had never been imported in this process; nothing in the block may import it."""
    loaded = sys.modules.pop(DYNAMO, None)
    try:
        yield
        assert DYNAMO not in sys.modules, "the block imported torch._dynamo"
    finally:
        sys.modules.pop(DYNAMO, None)
        if loaded is not None:
            sys.modules[DYNAMO] = loaded


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _steps(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 4) -> None:
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        x, y = torch.randn(16, 5, generator=generator), torch.randint(0, 3, (16,), generator=generator)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("fast", [True, False], ids=["fused", "loop"])
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_updates_and_state_are_torch_optims_own(settings, fast):
    ours, theirs = _model(), _model()
    with torch_dynamo_unloaded():
        optimizer = build_optimizer(OptimizerConfig(**settings), ours, fast)
        _steps(ours, optimizer)
        state = optimizer.state_dict()
        restored = build_optimizer(OptimizerConfig(**settings), _model(), fast)
        restored.load_state_dict(state)
        assert all(p.grad is not None for p in ours.parameters())
        optimizer.zero_grad()
        assert all(p.grad is None for p in ours.parameters())
    torch_class = type(optimizer).__mro__[1]
    options = inspect.signature(torch_class).parameters
    reference = torch_class(theirs.parameters(), **{k: v for k, v in optimizer.defaults.items() if k in options})
    _steps(theirs, reference)
    for mine, expected in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(mine, expected)
    expected_state = reference.state_dict()
    assert state["param_groups"] == expected_state["param_groups"]
    for index, buffers in expected_state["state"].items():
        for name, value in buffers.items():
            assert torch.equal(torch.as_tensor(state["state"][index][name]), torch.as_tensor(value)), name
    assert restored.state_dict()["param_groups"] == state["param_groups"]


def test_an_eager_optimizer_is_its_torch_class_with_torchs_hooks():
    model = _model()
    with torch_dynamo_unloaded():
        optimizer = eager(torch.optim.Adam)(model.parameters(), lr=0.01)
        calls = []
        optimizer.register_step_pre_hook(lambda *_: calls.append("pre"))
        optimizer.register_step_post_hook(lambda *_: calls.append("post"))
        _steps(model, optimizer, steps=2)
    assert calls == ["pre", "post"] * 2
    assert isinstance(optimizer, torch.optim.Adam) and type(optimizer).__name__ == "Adam"
    assert repr(optimizer).startswith("Adam (") and eager(torch.optim.Adam) is type(optimizer)


def test_with_torch_dynamo_loaded_torchs_decorated_step_runs(monkeypatch):
    import torch._dynamo  # loaded, as torch.compile loads it

    breaks = []
    monkeypatch.setattr(torch._dynamo, "graph_break", lambda: breaks.append(1))  # torch's step decorator calls it
    model = _model()
    _steps(model, eager(torch.optim.SGD)(model.parameters(), lr=0.1), steps=3)
    assert len(breaks) == 6
    with torch_dynamo_unloaded():
        _steps(model, eager(torch.optim.SGD)(model.parameters(), lr=0.1), steps=3)
    assert len(breaks) == 6
