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
    classify = classifies(loss)
    return Evaluation(loss=(total / len(split)).item(),
                      accuracy=accuracy(predicted_all, target) if classify else None,
                      r2=None if classify else r2_score(predicted_all, target),
                      predicted=predicted_all, target=target)
