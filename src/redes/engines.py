"""Engines compute one training step behind one interface; `module` is nn.Module + torch.optim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from redes.config import OptimizerConfig, RegularizationConfig
from redes.losses import LossFn, weight_penalty


def build_optimizer(cfg: OptimizerConfig, model: nn.Module) -> torch.optim.Optimizer:
    """torch.optim's SGD, Adam or AdamW over all the model's parameters, with the config's settings."""
    params = model.parameters()
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    kind = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    return kind(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


@dataclass
class StepResult:
    """What one step leaves behind, all detached and still on the device (no host sync)."""

    loss: torch.Tensor
    penalty: Optional[torch.Tensor]
    outputs: torch.Tensor


class ModuleEngine:
    """forward → loss (+ penalty) → backward → optimizer step, with gradients zeroed before each step."""

    name = "module"

    def __init__(self, model: nn.Module, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
                 regularization: RegularizationConfig):
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.l1, self.l2 = regularization.l1, regularization.l2

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        self.optimizer.zero_grad(set_to_none=True)
        outputs = self.model(x)  # (B, n_in) -> (B, n_out)
        loss = self.loss_fn(outputs, y)
        penalty = weight_penalty(self.model, self.l1, self.l2)
        (loss if penalty is None else loss + penalty).backward()
        self.optimizer.step()
        return StepResult(loss.detach(), None if penalty is None else penalty.detach(), outputs.detach())
