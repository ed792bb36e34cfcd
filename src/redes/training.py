"""The training loop, written out in one function, and evaluation of a model on one split."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import torch
from torch import nn

from redes.callbacks import Callback
from redes.data import Split
from redes.data.batches import batches, steps_per_epoch
from redes.engines import ModuleEngine
from redes.losses import loss_function, predictions
from redes.metrics import accuracy, r2_score


@dataclass
class FitState:
    """What callbacks see of the loop; a callback stops training by setting `stop` (never by raising)."""

    epochs: int
    steps: int
    epoch: int = 0
    step: int = 0
    stop: bool = False
    history: list[dict] = field(default_factory=list)


@dataclass
class Evaluation:
    """Loss and metrics of a model on one split, with its predictions (on the CPU)."""

    loss: float
    accuracy: Optional[float]
    r2: Optional[float]
    predicted: torch.Tensor
    target: torch.Tensor

    def metrics(self) -> dict:
        """The numbers for summary.json: loss, and accuracy (classification) or r2 (regression)."""
        if self.accuracy is not None:
            return {"loss": self.loss, "accuracy": self.accuracy}
        return {"loss": self.loss, "r2": self.r2}


def fit(engine: ModuleEngine, train: Split, val: Optional[Split], loss: str, *, epochs: int, batch_size: int,
        sampler: str, generator: torch.Generator, eval_batch_size: int = 4096,
        callbacks: Sequence[Callback] = ()) -> list[dict]:
    """Train for `epochs` and return the history: one dict per epoch of train/val loss, accuracy, seconds."""
    state = FitState(epochs=epochs, steps=steps_per_epoch(len(train), batch_size, sampler))
    with global_rng_seeded_from(generator, train.x.device):
        _loop(engine, train, val, loss, state, batch_size, sampler, generator, eval_batch_size, callbacks)
    return state.history


@contextmanager
def global_rng_seeded_from(generator: torch.Generator, device: torch.device) -> Iterator[None]:
    """Dropout draws from torch's global RNG: seed it from `generator` and restore the caller's state after."""
    devices = [] if device.type == "cpu" else [device.index or 0]
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        yield


def _loop(engine: ModuleEngine, train: Split, val: Optional[Split], loss: str, state: FitState, batch_size: int,
          sampler: str, generator: torch.Generator, eval_batch_size: int, callbacks: Sequence[Callback]) -> None:
    classify = loss != "mse"
    for callback in callbacks:
        callback.on_train_begin(state)
    for state.epoch in range(1, state.epochs + 1):
        engine.model.train()
        for callback in callbacks:
            callback.on_epoch_begin(state)
        start = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float64, device=train.x.device)
        penalty_sum, correct, seen = torch.zeros_like(loss_sum), torch.zeros_like(loss_sum), 0
        for state.step, (x, y) in enumerate(batches(train.x, train.y, batch_size, sampler, generator), 1):
            result = engine.step(x, y)
            loss_sum += result.loss * len(x)
            if result.penalty is not None:
                penalty_sum += result.penalty * len(x)
            if classify:
                correct += (predictions(result.outputs, loss) == y).sum()
            seen += len(x)
            for callback in callbacks:
                callback.on_batch_end(state, result.loss)
        logs = {"epoch": state.epoch, "train_loss": (loss_sum / seen).item(),
                "train_penalty": (penalty_sum / seen).item()}
        if classify:
            logs["train_accuracy"] = (correct / seen).item()
        logs["seconds"] = time.perf_counter() - start
        if val is not None:
            evaluation = evaluate(engine.model, val, loss, eval_batch_size)
            logs.update({f"val_{key}": value for key, value in evaluation.metrics().items() if key != "r2"})
        state.history.append(logs)
        for callback in callbacks:
            callback.on_epoch_end(state, logs)
        if state.stop:
            break
    for callback in callbacks:
        callback.on_train_end(state)


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, loss: str, batch_size: int = 4096) -> Evaluation:
    """Mean loss and metrics of `model` in eval mode over `split`, in fixed-size batches (same numbers every time)."""
    was_training = model.training
    model.eval()
    loss_fn = loss_function(loss)
    total = torch.zeros((), dtype=torch.float64, device=split.x.device)
    predicted = []
    for x, y in zip(split.x.split(batch_size), split.y.split(batch_size)):
        outputs = model(x)
        total += loss_fn(outputs, y) * len(x)
        predicted.append(predictions(outputs, loss))
    model.train(was_training)
    predicted_all = torch.cat(predicted).cpu()
    target = split.y.cpu()
    classify = loss != "mse"
    return Evaluation(loss=(total / len(split)).item(),
                      accuracy=accuracy(predicted_all, target) if classify else None,
                      r2=None if classify else r2_score(predicted_all, target),
                      predicted=predicted_all, target=target)
