"""Three engines compute the same training step three ways, behind one interface, `Engine`.

- `module`: nn.Module + torch.optim (notebooks 001, 004), the default; on CUDA replayed as CUDA graphs
  (`graphed`), under torchrun sharded across processes (`sharded`);
- `autograd`: the model's tensors as leaves, `loss.backward()`, a hand-written update under no_grad with
  the gradients zeroed (notebook 003);
- `manual`: forward and backward by hand, no autograd, on NumPy arrays or torch tensors (notebook 000).
All start from the model they are given, so for one seed they share initial weights. `check_options` says
whether the train settings fit the device before any data is read; `build_engine` makes the one they name.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from redes.config import OptimizerConfig, RegularizationConfig, TrainConfig
from redes.engines.autograd import AutogradEngine
from redes.engines.base import Engine, StepResult
from redes.engines.graphed import GraphedEngine, uses_cuda_graph
from redes.engines.manual import ManualEngine
from redes.engines.module import ModuleEngine
from redes.engines.sharded import ShardedEngine, World, check_sharded
from redes.errors import RedesError

__all__ = ["Engine", "StepResult", "build_engine", "check_options"]


def check_options(cfg: TrainConfig, device: torch.device, world: Optional[World] = None) -> None:
    """The train settings that depend on the device or on torchrun, checked before any data is read (those that
    do not are checked with the config)."""
    if cfg.precision == "tf32" and device.type != "cuda":
        raise RedesError(f"train.precision=tf32 needs a CUDA device (TF32 is the tensor-core format of NVIDIA "
                         f"GPUs from Ampere on), not {device.type}; use fp32, or bf16 where the CPU has bfloat16 units")
    if cfg.backend == "numpy" and device.type != "cpu":
        raise RedesError(f"train.backend=numpy runs on the CPU, not {device}; set train.device=cpu")
    uses_cuda_graph(cfg.cuda_graph, cfg.engine, device)
    if world is not None:
        check_sharded(cfg.engine, cfg.precision, cfg.cuda_graph, cfg.compile)


def build_engine(cfg: TrainConfig, model: nn.Module, loss: str, optimizer: OptimizerConfig,
                 regularization: RegularizationConfig, world: Optional[World] = None) -> Engine:
    """The engine `train.engine` names, over `model` (whose weights it trains in place): under torchrun the
    sharded module engine; on CUDA, the module engine replays its steps as CUDA graphs unless
    `train.cuda_graph` is false."""
    device = next(model.parameters()).device
    check_options(cfg, device, world)
    if world is not None:
        return ShardedEngine(model, loss, optimizer, regularization, world, cfg.fast)
    if uses_cuda_graph(cfg.cuda_graph, cfg.engine, device):
        return GraphedEngine(model, loss, optimizer, regularization, cfg.fast, cfg.precision, cfg.compile)
    if cfg.engine == "manual":
        return ManualEngine(model, loss, optimizer, regularization, cfg.backend, cfg.backward, cfg.fast)
    kind = AutogradEngine if cfg.engine == "autograd" else ModuleEngine
    return kind(model, loss, optimizer, regularization, cfg.fast, cfg.precision, cfg.compile)
