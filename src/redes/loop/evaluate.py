"""`evaluate`: the loss and metrics of a model on one split, in eval mode, the same numbers every time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from redes.data import Split
from redes.loop.metrics import accuracy, r2_score
from redes.nn.losses import classifies, loss_function, predictions


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


@torch.inference_mode()
def model_outputs(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """`model`'s raw outputs for `x` in eval mode (no dropout, batch norm's running statistics), in fixed-size
    batches so that the numbers never depend on how many rows are asked for at once; its mode is given back."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(part) for part in x.split(batch_size)])
    finally:
        model.train(was_training)


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, loss: str, batch_size: int = 4096) -> Evaluation:
    """Mean loss and metrics of `model` in eval mode over `split`, in fixed-size batches (same numbers every time)."""
    loss_fn = loss_function(loss)
    outputs = model_outputs(model, split.x, batch_size)
    total = torch.zeros((), dtype=torch.float64, device=split.x.device)
    for part, y in zip(outputs.split(batch_size), split.y.split(batch_size)):
        total += loss_fn(part, y) * len(y)
    predicted_all = predictions(outputs, loss).cpu()
    target = split.y.cpu()
    classify = classifies(loss)
    return Evaluation(loss=(total / len(split)).item(),
                      accuracy=accuracy(predicted_all, target) if classify else None,
                      r2=None if classify else r2_score(predicted_all, target),
                      predicted=predicted_all, target=target)
