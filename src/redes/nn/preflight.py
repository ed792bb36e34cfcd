"""Pre-flight: one forward and backward on a few samples, catching the classic mistakes before training."""

from __future__ import annotations

import torch
from torch import nn

from redes.errors import RedesError
from redes.nn.losses import loss_of


def preflight(model: nn.Module, loss: str, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> None:
    """Raise a RedesError explaining, in one line, the first mistake that would spoil training.

    Targets are checked whole; the forward and backward pass use the first `batch` samples, in eval
    mode (no dropout draw, no batch-norm statistics updated), and leave no gradients behind, so
    training afterwards is exactly what it would have been.
    """
    kind = loss_of(loss)
    _check_inputs(model, x)
    if kind.classifies:
        _check_targets(loss, y)
    was_training = model.training
    model.eval()
    try:
        outputs = model(x[:batch])
        top_label = int(y.max()) if kind.classifies and len(y) else 0
        complaint = kind.check_outputs(outputs, y[:batch], top_label, _ends_in_softmax(model, outputs))
        if complaint:
            raise RedesError(complaint)
        kind.torch_function()(outputs, y[:batch]).backward()
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
    if y.is_floating_point():
        raise RedesError(f"float targets ({y.dtype}) for classification: {loss} needs integer class indices "
                         "(y.long()), or use loss mse for a regression")
    if y.ndim != 1:
        raise RedesError(f"targets of shape {tuple(y.shape)} for {loss}: it needs one class index per sample, "
                         f"shape ({y.shape[0]},); use y.squeeze(1)")
    if len(y) and int(y.min()) < 0:
        raise RedesError(f"class labels must be 0 or more, found {int(y.min())}")


def _ends_in_softmax(model: nn.Module, outputs: torch.Tensor) -> bool:
    last = list(model.modules())[-1]
    if isinstance(last, nn.Softmax):
        return True
    rows = outputs.detach()
    return bool(outputs.ndim == 2 and outputs.shape[1] > 1 and (rows >= 0).all()
                and torch.allclose(rows.sum(1), torch.ones_like(rows[:, 0])))
