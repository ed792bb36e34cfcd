"""Data-parallel training on PyTorch's own engine: under `torchrun`, each process takes its shard of every batch.

Every rank builds the same data, model and batch order from the seed; each step, rank r trains on its
slice of the global batch inside DistributedDataParallel (gloo on the CPU, nccl on CUDA), with the loss
weighted so that the averaged gradient is exactly the gradient of the whole batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.distributed as dist
from torch import nn

from redes.config import OptimizerConfig, RegularizationConfig
from redes.engines.base import StepResult
from redes.engines.module import ModuleEngine
from redes.errors import RedesError
from redes.nn.losses import classifies, predictions


@dataclass(frozen=True)
class World:
    """This process's place among the processes torchrun started."""

    rank: int
    size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_environment() -> Optional[World]:
    """The torchrun world (RANK, WORLD_SIZE, LOCAL_RANK), or None for a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def join(world: World, device: torch.device) -> None:
    """Join the process group once: nccl for CUDA devices, gloo otherwise."""
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=world.rank, world_size=world.size)


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class ShardedEngine(ModuleEngine):
    """The module engine over this rank's shard of each global batch, gradients averaged by DDP.

    The loss, penalty and correct count it returns are those of the whole batch (summed across ranks),
    so every rank records the history a single process would.
    """

    def __init__(self, model: nn.Module, loss: str, optimizer: OptimizerConfig,
                 regularization: RegularizationConfig, world: World, fast: bool = True):
        super().__init__(model, loss, optimizer, regularization, fast)
        self.world = world
        device = self.device
        self.ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                       else None)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        n = len(x)
        x, y = x.tensor_split(self.world.size)[self.world.rank], y.tensor_split(self.world.size)[self.world.rank]
        self.optimizer.zero_grad(set_to_none=True)
        outputs = self.ddp(x)
        loss = self.loss_fn(outputs, y) if len(x) else outputs.sum() * 0
        share = len(x) * self.world.size / n  # DDP averages over ranks: weight each shard by its size
        penalty = self._penalty()
        (loss * share if penalty is None else loss * share + penalty).backward()
        penalty = self._penalty_value(penalty)  # of the weights this step started from
        self.optimizer.step()
        correct = (predictions(outputs.detach(), self.loss_name) == y).sum() if classifies(self.loss_name) else 0
        totals = torch.stack([loss.detach().double() * len(x), torch.as_tensor(correct, dtype=torch.float64,
                                                                               device=loss.device)])
        dist.all_reduce(totals)
        return StepResult(totals[0] / n, penalty, None, totals[1])


def check_sharded(engine: str, precision: str = "fp32", cuda_graph: Union[str, bool] = "auto",
                 compiled: bool = False) -> None:
    if cuda_graph is True:
        raise RedesError("torchrun trains without a CUDA graph (its gradient all-reduce is not captured); "
                         "set train.cuda_graph=auto or false")
    if engine != "module":
        raise RedesError(f"torchrun trains with train.engine=module (DistributedDataParallel), not {engine}")
    if precision != "fp32":
        raise RedesError(f"torchrun trains in train.precision=fp32, not {precision}")
    if compiled:
        raise RedesError("torchrun trains without train.compile (not tried with DistributedDataParallel here); "
                         "set train.compile=false")
