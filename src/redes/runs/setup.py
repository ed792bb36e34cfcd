"""From a config to everything a training needs (data, model, engine) and the training itself, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from redes.config import Config
from redes.data import Splits, load_data
from redes.devices import memory_of, resolve_device
from redes.engines import Engine, build_engine, check_options
from redes.engines.sharded import World, join, world_from_environment
from redes.errors import RedesError
from redes.loop.callbacks import Callback
from redes.loop.fit import fit
from redes.loop.state import FitState
from redes.nn.losses import output_width, resolve_loss
from redes.nn.models import build_model, parameter_count
from redes.nn.preflight import preflight


@dataclass
class Setup:
    """One config made concrete: its device, seeded generator, data, loss, model and engine."""

    config: Config
    device: torch.device
    generator: torch.Generator
    splits: Splits
    loss: str
    model: nn.Sequential
    engine: Engine
    world: Optional[World] = None  # set under torchrun

    def fit(self, callbacks: Sequence[Callback] = (), resume: Optional[dict] = None) -> FitState:
        """Train for the configured epochs (or continue from a snapshot); the state holds the history."""
        t = self.config.train
        return fit(self.engine, self.splits.train, self.splits.val, self.loss, epochs=t.epochs,
                   batch_size=t.batch_size, sampler=t.sampler, generator=self.generator,
                   eval_batch_size=t.eval_batch_size, callbacks=callbacks, resume=resume,
                   divergence_factor=t.divergence_factor, threads=t.threads)


def prepare(cfg: Config) -> Setup:
    """Load the data, build the model from the seed, and the engine `train.engine` names, on one device."""
    world = world_from_environment()
    device = resolve_device(cfg.train.device, cfg.train.backend)
    if world is not None and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    check_options(cfg.train, device, world)  # before any data is read
    if world is not None:
        join(world, device)
    dtype = getattr(torch, cfg.train.dtype)
    generator = torch.Generator().manual_seed(cfg.train.seed)
    splits = load_data(cfg.data, cfg.train.seed).to(device, dtype)
    n_classes = len(splits.classes or [])
    loss = resolve_loss(cfg.loss.name, splits.task, n_classes)
    n_out = output_width(loss, n_classes, splits.n_targets)
    _check_the_model_fits(cfg, splits.n_features, n_out, device, dtype)
    model = build_model(cfg.model, splits.n_features, n_out, generator).to(device, dtype)
    preflight(model, loss, splits.train.x, splits.train.y)
    engine = build_engine(cfg.train, model, loss, cfg.optimizer, cfg.regularization, world)
    return Setup(cfg, device, generator, splits, loss, model, engine, world)


def _check_the_model_fits(cfg: Config, n_in: int, n_out: int, device: torch.device, dtype: torch.dtype) -> None:
    """Refuse, with the numbers, a model whose weights, gradients and optimizer state would not fit the device."""
    count = parameter_count(cfg.model, n_in, n_out)
    needed, available = 4 * count * dtype.itemsize, memory_of(device)  # weights, gradients, two optimizer states
    if needed > available:
        raise RedesError(f"model.hidden={cfg.model.hidden} on {n_in} inputs makes {count:,} parameters: with their "
                         f"gradients and optimizer state about {needed / 2**30:,.1f} GiB, more than the "
                         f"{available / 2**30:,.1f} GiB of {device}; make model.hidden narrower")


def with_engine(cfg: Config, engine: str, backend: str = "torch", **train) -> Config:
    """A copy of `cfg` that trains with another engine and backend (and any other train.* values)."""
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"engine": engine, "backend": backend,
                                                                           **train})})
