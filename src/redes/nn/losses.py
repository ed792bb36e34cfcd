"""Losses, the L1/L2 weight penalty, and what a model's raw outputs mean under each loss."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from redes.errors import RedesError
from redes.arrays import Array

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_DEFAULT_LOSS = {"classification": "cross_entropy", "binary": "bce", "regression": "mse"}


def resolve_loss(name: str, task: str, n_classes: int) -> str:
    """The loss for this task (`auto` picks it); a loss that cannot fit the targets is an error."""
    if name == "auto":
        return _DEFAULT_LOSS[task]
    if name == "mse" and task != "regression":
        raise RedesError(f"loss.name=mse needs numeric targets, but this data set is {task}; "
                         "use cross_entropy (or data.task=regression for a file)")
    if name in ("cross_entropy", "bce") and task == "regression":
        raise RedesError(f"loss.name={name} needs class labels, but this data set is a regression; use mse")
    if name == "bce" and n_classes != 2:
        raise RedesError(f"loss.name=bce needs 2 classes, this data set has {n_classes}; use cross_entropy")
    return name


def output_width(loss: str, n_classes: int, n_targets: int) -> int:
    """Head width: one logit per class for cross-entropy, one for bce, one per target for mse."""
    return {"cross_entropy": n_classes, "bce": 1, "mse": n_targets}[loss]


def loss_function(loss: str) -> LossFn:
    """Mean loss of a batch, from raw outputs: softmax and sigmoid are inside, in their stable forms."""
    if loss == "cross_entropy":
        return F.cross_entropy
    if loss == "bce":
        return lambda out, y: F.binary_cross_entropy_with_logits(out.squeeze(1), y.to(out.dtype))
    return F.mse_loss


def penalized_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices the L1/L2 penalties reach: those of Linear and Embedding layers (no biases, no batchnorm)."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding))]


def weight_penalty(model: nn.Module, l1: float, l2: float) -> Optional[torch.Tensor]:
    """l1 * sum|W| + l2 * sum W^2 over weight matrices only (no biases, no batchnorm); None when both are 0."""
    if l1 == 0 and l2 == 0:
        return None
    weights = penalized_weights(model)
    penalty = weights[0].new_zeros(())
    for w in weights:
        if l1:
            penalty = penalty + l1 * w.abs().sum()
        if l2:
            penalty = penalty + l2 * w.square().sum()
    return penalty


def probabilities(outputs: torch.Tensor, loss: str) -> torch.Tensor:
    """Class probabilities (N, n_classes) from raw outputs of a classifier."""
    if loss == "bce":
        p = torch.sigmoid(outputs.squeeze(1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(outputs, dim=1)


def predictions(outputs: Array, loss: str) -> Array:
    """Class indices for classifiers, the outputs themselves for regression (torch tensors or NumPy arrays)."""
    if loss == "bce":
        positive = outputs[:, 0] > 0
        return positive.long() if isinstance(positive, torch.Tensor) else positive.astype(np.int64)
    if loss == "cross_entropy":
        return outputs.argmax(1)
    return outputs
