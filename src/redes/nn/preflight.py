"""Pre-flight: one forward and backward on a few samples, catching the classic mistakes before training."""

from __future__ import annotations

import torch
from torch import nn

from redes.errors import RedesError
from redes.nn.losses import loss_function

CLASSIFIERS = ("cross_entropy", "bce")


def preflight(model: nn.Module, loss: str, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> None:
    """Raise a RedesError explaining, in one line, the first mistake that would spoil training.

    Targets are checked whole; the forward and backward pass use the first `batch` samples, in eval
    mode (no dropout draw, no batch-norm statistics updated), and leave no gradients behind, so
    training afterwards is exactly what it would have been.
    """
    _check_inputs(model, x)
    _check_targets(loss, y)
    was_training = model.training
    model.eval()
    try:
        outputs = model(x[:batch])
        _check_outputs(model, loss, outputs, y[:batch], int(y.max()) if loss in CLASSIFIERS and len(y) else 0)
        loss_function(loss)(outputs, y[:batch]).backward()
        unreached = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if unreached:
        raise RedesError(f"gradients never reach {', '.join(unreached)}: the forward pass does not use them "
                         "(or detaches them), so training would never change them")


def _check_inputs(model: nn.Module, x: torch.Tensor) -> None:
    first = next((m for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding))), None)
    if x.ndim != 2:
        raise RedesError(f"inputs must be a matrix (samples, features), got shape {tuple(x.shape)}")
    if isinstance(first, nn.Embedding):
        _check_token_ids(x, first.num_embeddings)
        return
    if first is not None and x.shape[1] != first.in_features:
        raise RedesError(f"the data has {x.shape[1]} input features but the model's first layer expects "
                         f"{first.in_features}")


def _check_token_ids(x: torch.Tensor, vocab: int) -> None:
    """model.embedding looks rows up by id: the inputs must be whole numbers 0..vocab-1, not scaled features."""
    if len(x) and (x != x.round()).any():
        raise RedesError("model.embedding needs integer token ids as inputs, found fractions (set data.scale=none "
                         "if the ids were scaled)")
    if len(x) and (int(x.min()) < 0 or int(x.max()) >= vocab):
        raise RedesError(f"token ids go from {int(x.min())} to {int(x.max())} but model.embedding.vocab={vocab} "
                         f"allows 0..{vocab - 1}; raise model.embedding.vocab")


def _check_targets(loss: str, y: torch.Tensor) -> None:
    if loss not in CLASSIFIERS:
        return
    if y.is_floating_point():
        raise RedesError(f"float targets ({y.dtype}) for classification: {loss} needs integer class indices "
                         "(y.long()), or use loss mse for a regression")
    if y.ndim != 1:
        raise RedesError(f"targets of shape {tuple(y.shape)} for {loss}: it needs one class index per sample, "
                         f"shape ({y.shape[0]},); use y.squeeze(1)")
    if len(y) and int(y.min()) < 0:
        raise RedesError(f"class labels must be 0 or more, found {int(y.min())}")


def _check_outputs(model: nn.Module, loss: str, outputs: torch.Tensor, y: torch.Tensor, top_label: int) -> None:
    if loss == "cross_entropy":
        if _ends_in_softmax(model, outputs):
            raise RedesError("the model ends in a softmax, but cross_entropy applies log-softmax itself: remove "
                             "the final Softmax and output raw scores (logits)")
        if top_label >= outputs.shape[1]:
            raise RedesError(f"labels go up to {top_label} but the model outputs {outputs.shape[1]} classes "
                             f"(labels must be 0..{outputs.shape[1] - 1})")
    elif loss == "bce" and (outputs.ndim != 2 or outputs.shape[1] != 1):
        raise RedesError(f"bce needs one output unit (a logit), the model outputs shape {tuple(outputs.shape)}")
    elif loss == "bce" and top_label > 1:
        raise RedesError(f"bce needs labels 0 and 1, found {top_label}")
    elif loss == "mse" and outputs.shape != y.shape:
        raise RedesError(f"outputs of shape {tuple(outputs.shape)} against targets of shape {tuple(y.shape)}: "
                         "mse would broadcast them into a wrong loss; make them the same shape")


def _ends_in_softmax(model: nn.Module, outputs: torch.Tensor) -> bool:
    last = list(model.modules())[-1]
    if isinstance(last, nn.Softmax):
        return True
    rows = outputs.detach()
    return bool(outputs.shape[1] > 1 and (rows >= 0).all() and torch.allclose(rows.sum(1), torch.ones_like(rows[:, 0])))
