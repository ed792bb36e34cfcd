"""THE loss table: each loss is one class here, and everything else derives from it.

A class holds the loss's name and help (the config's choices), the task it is the default for and what it
needs of the data, its head's width, how raw outputs become predictions and probabilities, its torch
function, the equations `redes explain` prints, the pre-flight check of a model's outputs, and its forward
and backward written by hand for the manual engine (an instance keeps what its backward needs). Nothing
here imports torch until it is used: the config reads this table before torch is loaded. The L1/L2
weight penalty of a torch model is here too.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

from redes.errors import RedesError

Array = Any  # a NumPy array or a torch tensor
Row = tuple[str, str, str, str]  # a row of `explain`'s tables: (tensor, shape, "= formula", note)


class Loss:
    """The batch mean of a loss of raw outputs u (logits for classifiers), with dL/du written by hand."""

    name: str
    help: str
    task: str  # the task `loss.name: auto` picks it for
    classifies: bool = True
    recompute: bool = False  # whether its backward can recompute a forward value instead of reusing it
    functional: str  # the same loss in torch.nn.functional

    def __init__(self, xp, reuse: bool = True):
        from redes import arrays

        self.xp, self.reuse, self.ops = xp, reuse, arrays

    @classmethod
    def refusal(cls, task: str, n_classes: int) -> Optional[str]:
        """Why this loss cannot fit a data set of `task` with `n_classes` classes, or None when it can."""
        return None

    @classmethod
    def output_width(cls, n_classes: int, n_targets: int) -> int:
        raise NotImplementedError

    @classmethod
    def torch_function(cls) -> Callable:
        """torch's mean loss of a batch from raw outputs (softmax and sigmoid inside, in stable forms): looked up
        once by a caller that calls it every step."""
        from torch.nn import functional as F

        return getattr(F, cls.functional)

    @classmethod
    def predictions(cls, outputs: Array) -> Array:
        """Class indices for classifiers, the outputs themselves for regression (torch tensors or NumPy arrays)."""
        return outputs

    @classmethod
    def constant_loss(cls, y) -> float:
        """The loss of the best prediction that ignores the inputs (the targets' own spread, a torch tensor):
        the scale a training loss is judged against."""
        raise NotImplementedError

    @classmethod
    def probabilities(cls, outputs):
        raise RedesError("predict_proba needs a classifier; this run is a regression")

    @classmethod
    def equations(cls, u: str, shape: tuple[int, int], reuse: bool, name: str) -> tuple[list[Row], list[Row]]:
        """`explain`'s forward rows of the loss and its first backward row, dL/du, with real shapes."""
        raise NotImplementedError

    @classmethod
    def check_outputs(cls, outputs, y, top_label: int, ends_in_softmax: bool) -> Optional[str]:
        """The pre-flight's complaint about a model's outputs on a few samples, or None."""
        return None

    @classmethod
    def draw(cls, rng, shape: tuple[int, int]) -> tuple[Array, Array]:
        """Outputs and targets of `shape` (batch, width) for gradcheck, drawn from NumPy's `rng`, away from kinks."""
        raise NotImplementedError

    def forward(self, u: Array, y: Array) -> Array:
        raise NotImplementedError

    def backward(self) -> Array:
        raise NotImplementedError


class SoftmaxCrossEntropy(Loss):
    """Mean of logsumexp(u) - u[y] over the batch; dL/du = (softmax(u) - onehot(y)) / B, the one-hot matrix
    never built (the true classes' logits are picked by index)."""

    name, help, task = "cross_entropy", "softmax cross-entropy over one logit per class", "classification"
    functional = "cross_entropy"
    rows = None  # 0..B-1 for the current batch size

    @classmethod
    def refusal(cls, task, n_classes):
        return None if task != "regression" else "needs class labels, but this data set is a regression; use mse"

    @classmethod
    def output_width(cls, n_classes, n_targets):
        return n_classes

    @classmethod
    def predictions(cls, outputs):
        return outputs.argmax(1)

    @classmethod
    def constant_loss(cls, y):  # the entropy of the class frequencies
        frequencies = y.long().bincount().double() / len(y)
        frequencies = frequencies[frequencies > 0]
        return float(-(frequencies * frequencies.log()).sum())

    @classmethod
    def probabilities(cls, outputs):
        return outputs.softmax(1)

    @classmethod
    def equations(cls, u, shape, reuse, name):
        s, batch = str(tuple(shape)), str(tuple(shape[:1]))
        forward = [(name, "()", f"= Σ_batch (logsumexp({u}) - {u}[y]) / B", f"y {batch} class indices")]
        return forward, [(f"dL/d{u}", s, f"= (softmax({u}) - onehot(y)) / B", "softmax kept from the forward pass")]

    @classmethod
    def check_outputs(cls, outputs, y, top_label, ends_in_softmax):
        if ends_in_softmax:
            return ("the model ends in a softmax, but cross_entropy applies log-softmax itself: remove the final "
                    "Softmax and output raw scores (logits)")
        if top_label >= outputs.shape[1]:
            return (f"labels go up to {top_label} but the model outputs {outputs.shape[1]} classes "
                    f"(labels must be 0..{outputs.shape[1] - 1})")
        return None

    @classmethod
    def draw(cls, rng, shape):
        return rng.uniform(-4, 4, shape), rng.integers(0, shape[1], shape[0])

    def forward(self, u, y):  # u: (B, K) logits, y: (B,) class indices
        xp, n = self.xp, u.shape[0]
        shifted = u - xp.max(u, axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = xp.sum(exp, axis=1, keepdims=True)
        exp /= total
        if self.rows is None or self.rows.shape[0] != n:  # 0..B-1, made again when B changes
            from array_api_compat import device

            self.rows = xp.arange(n, device=device(u))
        self.softmax, self.picked = exp, (self.rows, y if y.dtype == xp.int64 else xp.astype(y, xp.int64))
        return (xp.sum(xp.log(total)) - xp.sum(shifted[self.picked])) / n

    def backward(self):
        n = self.softmax.shape[0]
        d = self.softmax / n
        d[self.picked] -= 1 / n
        return d


class SigmoidBCE(Loss):
    """Sigmoid output + clamped BCE (notebook 000) on one logit u, with the notebook's dL/du = (p - y) / B: the
    exact derivative of the unclamped loss (the clamp only keeps log finite). `reuse` takes p from the forward
    pass, else sigmoid(u) is recomputed."""

    name, help, task, recompute = "bce", "binary cross-entropy on one logit (two classes)", "binary", True
    functional = "binary_cross_entropy_with_logits"

    def __init__(self, xp, reuse: bool = True):
        super().__init__(xp, reuse)
        self.bce = ClampedBCE(xp)

    @classmethod
    def refusal(cls, task, n_classes):
        if task == "regression":
            return "needs class labels, but this data set is a regression; use mse"
        return None if n_classes == 2 else f"needs 2 classes, this data set has {n_classes}; use cross_entropy"

    @classmethod
    def output_width(cls, n_classes, n_targets):
        return 1

    @classmethod
    def torch_function(cls):  # one logit a sample against 0/1 labels
        bce = super().torch_function()
        return lambda outputs, y: bce(outputs.squeeze(1), y.to(outputs.dtype))

    @classmethod
    def constant_loss(cls, y):  # the entropy of the positive rate
        p = float(y.double().mean())
        return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))

    @classmethod
    def predictions(cls, outputs):
        positive = outputs[:, 0] > 0
        return positive.long() if hasattr(positive, "long") else positive.astype("int64")  # torch or NumPy

    @classmethod
    def probabilities(cls, outputs):
        import torch

        p = torch.sigmoid(outputs.squeeze(1))
        return torch.stack([1 - p, p], dim=1)

    @classmethod
    def equations(cls, u, shape, reuse, name):
        s, batch, du = str(tuple(shape)), str(tuple(shape[:1])), f"dL/d{u}"
        forward = [("p", s, f"= σ({u})", "sigmoid output"),
                   (name, "()", "= -Σ_batch (y log p̄ + (1 - y) log(1 - p̄)) / B",
                    f"y {batch} of 0/1, p̄ = clamp(p, 1e-5, 1 - 1e-5)")]
        if reuse:
            return forward, [(du, s, "= (p - y) / B", "reuses p")]
        return forward, [(du, s, f"= (σ({u}) - y) / B", f"recomputes σ({u})")]

    @classmethod
    def check_outputs(cls, outputs, y, top_label, ends_in_softmax):
        if outputs.ndim != 2 or outputs.shape[1] != 1:
            return f"bce needs one output unit (a logit), the model outputs shape {tuple(outputs.shape)}"
        return f"bce needs labels 0 and 1, found {top_label}" if top_label > 1 else None

    @classmethod
    def draw(cls, rng, shape):  # logits in [-4, 4]: no clamping
        return rng.uniform(-4, 4, (shape[0], 1)), rng.integers(0, 2, shape[0]).astype("float64")

    def forward(self, u, y):  # u: (B, 1) logits
        self.u = u
        return self.bce.forward(self.ops.sigmoid(u), y)

    def backward(self):
        p = self.bce.p if self.reuse else self.ops.sigmoid(self.u)
        return (p - self.bce.y) / self.u.shape[0]


class MSE(Loss):
    """Mean of (u - y)² over every element; dL/du = 2 (u - y) / (B * k)."""

    name, help, task, classifies = "mse", "mean squared error (regression)", "regression", False
    functional = "mse_loss"

    @classmethod
    def refusal(cls, task, n_classes):
        if task == "regression":
            return None
        return (f"needs numeric targets, but this data set is {task}; use cross_entropy (or data.task=regression "
                "for a file)")

    @classmethod
    def output_width(cls, n_classes, n_targets):
        return n_targets

    @classmethod
    def constant_loss(cls, y):  # each target's variance, averaged
        return float(y.double().reshape(len(y), -1).var(0, unbiased=False).mean())

    @classmethod
    def equations(cls, u, shape, reuse, name):
        s = str(tuple(shape))
        forward = [("ŷ", s, f"= {u}", "the head's output"),
                   (name, "()", "= Σ (ŷ - y)² / (B·k)", f"y {s}, k = {shape[1]}")]
        return forward, [(f"dL/d{u}", s, "= dL/dŷ = 2(ŷ - y) / (B·k)", "")]

    @classmethod
    def check_outputs(cls, outputs, y, top_label, ends_in_softmax):
        if outputs.shape == y.shape:
            return None
        return (f"outputs of shape {tuple(outputs.shape)} against targets of shape {tuple(y.shape)}: mse would "
                "broadcast them into a wrong loss; make them the same shape")

    @classmethod
    def draw(cls, rng, shape):
        return rng.uniform(-4, 4, shape), rng.standard_normal(shape)

    def forward(self, u, y):  # u, y: (B, k)
        self.diff = u - self.xp.reshape(y, u.shape)
        return self.xp.mean(self.diff * self.diff)

    def backward(self):
        return 2 * self.diff / (self.diff.shape[0] * self.diff.shape[1])


class ClampedBCE:
    """Notebook 000's binary cross-entropy on probabilities p, clamped to [eps, 1-eps] to keep log finite; its
    exact derivative is zero where the clamp bites (`SigmoidBCE` is what a network uses)."""

    def __init__(self, xp, eps: float = 1e-5):
        self.xp, self.eps = xp, eps

    def forward(self, p, y):  # p: (B, 1) probabilities, y: (B,) of 0/1
        xp = self.xp
        self.p, self.y = p, xp.reshape(xp.astype(y, p.dtype), (-1, 1))
        self.clamped = xp.clip(p, self.eps, 1 - self.eps)
        # the mean over B as a sum / B: NumPy's sum has the namespace's shortcut (redes.arrays), its mean none
        return -xp.sum(self.y * xp.log(self.clamped) + (1 - self.y) * xp.log(1 - self.clamped)) / p.shape[0]

    def backward(self):
        xp, n = self.xp, self.p.shape[0]
        inside = (self.p >= self.eps) & (self.p <= 1 - self.eps)
        dp = ((1 - self.y) / (1 - self.clamped) - self.y / self.clamped) / n
        return xp.where(inside, dp, 0.0)


LOSSES: dict[str, type[Loss]] = {kind.name: kind for kind in (SoftmaxCrossEntropy, SigmoidBCE, MSE)}


def loss_of(name: str) -> type[Loss]:
    """The table's entry for a loss name; an unknown name is an error that lists the known ones."""
    if name not in LOSSES:
        raise RedesError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    return LOSSES[name]


def resolve_loss(name: str, task: str, n_classes: int) -> str:
    """The loss for this task (`auto` picks it); a loss that cannot fit the targets is an error."""
    if name == "auto":
        return next(kind.name for kind in LOSSES.values() if kind.task == task)
    refusal = LOSSES[name].refusal(task, n_classes)
    if refusal:
        raise RedesError(f"loss.name={name} {refusal}")
    return name


def classifies(loss: str) -> bool:
    """Whether `loss` trains a classifier (its outputs are scores of classes)."""
    return LOSSES[loss].classifies


def output_width(loss: str, n_classes: int, n_targets: int) -> int:
    """Head width: one logit per class for cross-entropy, one for bce, one per target for mse."""
    return LOSSES[loss].output_width(n_classes, n_targets)


def loss_function(loss: str) -> Callable:
    """Mean loss of a batch, from raw outputs: softmax and sigmoid are inside, in their stable forms."""
    return LOSSES[loss].torch_function()


def predictions(outputs: Array, loss: str) -> Array:
    """Class indices for classifiers, the outputs themselves for regression (torch tensors or NumPy arrays)."""
    return LOSSES[loss].predictions(outputs)


def probabilities(outputs, loss: str):
    """Class probabilities (N, n_classes) from raw outputs of a classifier."""
    return LOSSES[loss].probabilities(outputs)


def penalized_weights(model) -> list:
    """The weight matrices the L1/L2 penalties reach: those of Linear and Embedding layers (no biases, no batchnorm)."""
    from torch import nn

    return [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Embedding))]


def weight_penalty(model, l1: float, l2: float):
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
