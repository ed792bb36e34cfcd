"""A whole network by hand: the manual layers of an nn.Sequential, sharing its parameter storage."""

from __future__ import annotations

from typing import Callable

from torch import nn

from redes.errors import RedesError
from redes.manual import layers as L
from redes.manual.losses import MSE, SigmoidBCE, SoftmaxCrossEntropy, WeightPenalty
from redes.models import ACTIVATION_MODULES

_ACTIVATION_NAMES = {kind: name for name, kind in ACTIVATION_MODULES.items()}


class Network:
    """forward, loss and backward of `model` by hand; `params` are views of the model's tensors, in
    `model.parameters()` order, so an optimizer updating them in place trains the model itself.

    `view(tensor)` turns a parameter or buffer into an array of the backend sharing its memory;
    `draw_mask(x, keep)` draws a dropout mask.
    """

    def __init__(self, model: nn.Sequential, loss: str, xp, view: Callable, *, fast: bool = True,
                 draw_mask: Callable = None, l1: float = 0.0, l2: float = 0.0, l2_by_optimizer: bool = False):
        self.layers = [_manual_layer(module, xp, view, fast, draw_mask) for module in model]
        if self.layers and isinstance(self.layers[0], L.Linear):
            self.layers[0].needs_input_grad = False  # nothing reads the gradient of the data
        self.params = [p for layer in self.layers for p in layer.params.values()]
        self.weights = [layer.params["weight"] for layer in self.layers if isinstance(layer, L.Linear)]
        self.loss = {"bce": lambda: SigmoidBCE(xp, fast), "cross_entropy": lambda: SoftmaxCrossEntropy(xp),
                     "mse": lambda: MSE(xp)}[loss]()
        self.penalty = WeightPenalty(xp, l1, l2) if (l1 or l2) else None
        # the penalty's gradient: without the L2 part when the optimizer adds it as weight decay
        self.penalty_gradient = WeightPenalty(xp, l1, 0.0 if l2_by_optimizer else l2) \
            if (l1 or (l2 and not l2_by_optimizer)) else None

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss_and_grads(self, x, y):
        """(data loss, penalty or None, outputs, gradients in `params` order) of one batch; the gradients
        leave out the L2 penalty's when the optimizer applies it (`l2_by_optimizer`)."""
        outputs = self.forward(x)
        loss = self.loss.forward(outputs, y)
        d = self.loss.backward()
        for layer in reversed(self.layers):
            d = layer.backward(d)
        grads = self.grads()
        if self.penalty_gradient is not None:
            extra = dict(zip(map(id, self.weights), self.penalty_gradient.backward(self.weights)))
            grads = [g + extra[id(p)] if id(p) in extra else g for p, g in zip(self.params, grads)]
        return loss, None if self.penalty is None else self.penalty.forward(self.weights), outputs, grads

    def sgd_step(self, x, y, lr: float):
        """(loss, outputs) of one batch, after the plain SGD update p -= lr * grad (no penalty).

        Each layer updates its parameters as soon as its backward has used them; a linear layer adds
        -lr dyᵀx into W in one product, so no weight gradient is written out (`grads()` still gives them).
        """
        outputs = self.forward(x)
        loss = self.loss.forward(outputs, y)
        d = self.loss.backward()
        for layer in reversed(self.layers):
            d = layer.sgd_backward(d, lr)
        return loss, outputs

    def grads(self) -> list:
        """The data loss's gradients of the last backward pass, in `params` order."""
        found = []
        for layer in self.layers:
            grads = layer.grads  # read once: a linear layer computes its gradients when they are read
            found += [grads[name] for name in layer.params]
        return found


def _manual_layer(module: nn.Module, xp, view: Callable, fast: bool, draw_mask: Callable) -> L.Layer:
    if isinstance(module, nn.Linear):
        return L.Linear(xp, view(module.weight), view(module.bias))
    if isinstance(module, nn.BatchNorm1d):
        return L.BatchNorm(xp, view(module.weight), view(module.bias), view(module.running_mean),
                           view(module.running_var), module.momentum, module.eps)
    if isinstance(module, nn.Dropout):
        return L.Dropout(xp, module.p, draw_mask)
    name = _ACTIVATION_NAMES.get(type(module))
    if name not in L.ACTIVATION_LAYERS:
        raise RedesError(f"the manual engine has no hand-written backward for {type(module).__name__}; "
                         f"use train.engine=module or an activation among {', '.join(L.ACTIVATION_LAYERS)}")
    kind = L.ACTIVATION_LAYERS[name]
    if name in ("sigmoid", "tanh"):
        return kind(xp, fast=fast)
    if name == "leaky_relu":
        return kind(xp, slope=module.negative_slope)
    if name == "elu":
        return kind(xp, alpha=module.alpha)
    return kind(xp)
