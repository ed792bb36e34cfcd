"""The `autograd` engine: the model's tensors as leaves, `loss.backward()`, a hand-written update (notebook 003)."""

from __future__ import annotations

import torch

from redes.arrays import namespace
from redes.config import OptimizerConfig
from redes.engines.base import HandWrittenOptimizer, StepResult, map_arrays
from redes.engines.module import ModuleEngine
from redes.nn.optimizers import OPTIMIZERS


class AutogradEngine(HandWrittenOptimizer, ModuleEngine):
    """Gradients from autograd, the update by hand (p -= lr * g) under no_grad, then the gradients zeroed."""

    def _build_optimizer(self, cfg: OptimizerConfig):
        self.params = list(self.model.parameters())
        return OPTIMIZERS[cfg.name](namespace("torch"), [p.detach() for p in self.params], cfg)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        for p in self.params:
            p.grad = None  # the zeroing notebook 004 forgets: without it gradients add up across steps
        result = self._forward_backward(x, y)
        with torch.no_grad():
            self.optimizer.step([p.grad for p in self.params])
        return result

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(map_arrays(state, lambda t: t.to(self.params[0].device)))
