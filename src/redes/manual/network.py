"""A whole network by hand: the manual layers of an nn.Sequential, sharing its parameter storage."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from redes.errors import RedesError
from redes.manual import layers as L
from redes.manual.optim import SGDThroughProducts
from redes.manual.penalty import WeightPenalty
from redes.nn.activations import HAND_WRITTEN, activation_of
from redes.nn.losses import LOSSES


class Network:
    """forward, loss and backward of `model` by hand; `params` are views of the model's tensors, in
    `model.parameters()` order, so an optimizer updating them in place trains the model itself.

    `view(tensor)` turns a parameter or buffer into an array of the backend sharing its memory;
    `draw_mask(x, keep)` draws a dropout mask.

    `one_buffer`: the model's parameters are first moved into one buffer (`share_one_buffer`), the linear
    weights at its start, and the gradients are written into a second buffer of the same layout; then
    `flat_params[:n_weights]` and `flat_grads[:n_weights]` are all the weights and their gradients
    (`weights` is that one slice), and an optimizer or a penalty makes a few calls over one array
    instead of a few per parameter.
    """

    def __init__(self, model: nn.Sequential, loss: str, xp, view: Callable, *, reuse: bool = True,
                 draw_mask: Callable = None, l1: float = 0.0, l2: float = 0.0, l2_by_optimizer: bool = False,
                 one_buffer: bool = False):
        linear_weights = [module.weight for module in model if isinstance(module, nn.Linear)]
        buffer, offsets = share_one_buffer(model, first=linear_weights) if one_buffer else (None, None)
        self.xp, self.layers = xp, [_manual_layer(module, xp, view, reuse, draw_mask) for module in model]
        if self.layers and isinstance(self.layers[0], L.Linear):
            self.layers[0].needs_input_grad = False  # nothing reads the gradient of the data
        self.params = [p for layer in self.layers for p in layer.params.values()]
        self.weights = [layer.params["weight"] for layer in self.layers if isinstance(layer, L.Linear)]
        self.flat_params = self.flat_grads = self.grad_views = None
        self.n_weights = sum(w.numel() for w in linear_weights)
        if one_buffer:
            self.flat_params = view(buffer)
            self.flat_grads = xp.zeros_like(self.flat_params)
            self.spans = [(offsets[id(p)], p.numel(), tuple(p.shape)) for p in model.parameters()]
            self.grad_views = self.split(self.flat_grads, copy=False)
            views = iter(self.grad_views)
            for layer in self.layers:
                layer.grad_into = {name: next(views) for name in layer.params}
            self.weights = [self.flat_params[:self.n_weights]]
        self.loss = LOSSES[loss](xp, reuse)
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
            for g, extra in zip(self._weight_grads(grads), self.penalty_gradient.backward(self.weights)):
                g += extra  # the gradients are this pass's own arrays
        return loss, None if self.penalty is None else self.penalty.forward(self.weights), outputs, grads

    def _weight_grads(self, grads: list) -> list:
        """The gradients of `weights`, as arrays that adding into changes `grads`."""
        if self.flat_grads is not None:
            return [self.flat_grads[:self.n_weights]]
        positions = {id(w) for w in self.weights}
        return [g for p, g in zip(self.params, grads) if id(p) in positions]

    def sgd_step(self, x, y, sgd: SGDThroughProducts):
        """(loss, outputs) of one batch, after `sgd`'s step (no penalty gradient), whose weight gradients go
        from each linear layer's product straight into the momentum buffer (or the weights): no weight
        gradient is written out (`grads()` still gives them)."""
        sgd.begin()
        outputs = self.forward(x)
        loss = self.loss.forward(outputs, y)
        d = self.loss.backward()
        for layer in reversed(self.layers):
            d = layer.sgd_backward(d, sgd)
        sgd.finish()
        return loss, outputs

    def weight_views(self, flat) -> dict:
        """Views of `flat` (laid out like `flat_params`) at each linear weight, by id of the weight."""
        linear = self._linear_weights()
        return {id(p): view for p, view in zip(self.params, self.split(flat, copy=False)) if id(p) in linear}

    def decays(self, weights: float, rest: float) -> list:
        """One weight decay per parameter (`params` order): `weights` on the linear weights, `rest` elsewhere."""
        linear = self._linear_weights()
        return [weights if id(p) in linear else rest for p in self.params]

    def _linear_weights(self) -> set[int]:
        return {id(layer.params["weight"]) for layer in self.layers if isinstance(layer, L.Linear)}

    def split(self, flat, copy: bool = True) -> list:
        """An array laid out like `flat_params` as one array per parameter, in `params` order."""
        return [self.xp.asarray(self.xp.reshape(flat[start:start + size], shape), copy=copy)
                for start, size, shape in self.spans]

    def laid_out(self, weights: float, rest: float):
        """An array laid out like `flat_params`: `weights` over the linear weights, `rest` over the rest."""
        array = self.xp.zeros_like(self.flat_params)
        array[...] = rest
        array[:self.n_weights] = weights
        return array

    def join(self, arrays: list):
        """One array per parameter (`params` order) as one array laid out like `flat_params`."""
        flat = self.xp.zeros_like(self.flat_params)
        for (start, size, _), array in zip(self.spans, arrays):
            flat[start:start + size] = self.xp.reshape(array, (-1,))
        return flat

    def grads(self) -> list:
        """The data loss's gradients of the last backward pass, in `params` order (with `one_buffer`, views
        of `flat_grads`, overwritten by the next pass)."""
        found = []
        for layer in self.layers:
            grads = layer.grads  # read once: a linear layer computes its gradients when they are read
            found += [grads[name] for name in layer.params]
        if self.grad_views is None:
            return found
        for view, grad in zip(self.grad_views, found):
            if grad is not view:  # a layer that does not write into its views (batch norm)
                view[...] = grad
        return self.grad_views


def share_one_buffer(model: nn.Module, first: list[torch.Tensor]) -> tuple[torch.Tensor, dict[int, int]]:
    """Move the model's parameters (values kept) into one new buffer, `first` at its start, each parameter
    becoming a view of it; returns the buffer and each parameter's offset in it, by id(parameter).

    The parameter objects stay the same, so anything holding them (an optimizer, a state_dict load) still
    works; only their storage is one; safetensors saves such views, which do not overlap.
    """
    params = list({id(p): p for p in [*first, *model.parameters()]}.values())  # each once, `first` first
    buffer = torch.cat([p.detach().reshape(-1) for p in params])
    offsets, start = {}, 0
    for p in params:
        offsets[id(p)] = start
        p.data = buffer[start:start + p.numel()].view_as(p)
        start += p.numel()
    return buffer, offsets


def _manual_layer(module: nn.Module, xp, view: Callable, reuse: bool, draw_mask: Callable):
    if isinstance(module, nn.Linear):
        return L.Linear(xp, view(module.weight), view(module.bias))
    if isinstance(module, nn.BatchNorm1d):
        return L.BatchNorm(xp, view(module.weight), view(module.bias), view(module.running_mean),
                           view(module.running_var), module.momentum, module.eps)
    if isinstance(module, nn.Dropout):
        return L.Dropout(xp, module.p, draw_mask)
    kind = activation_of(module)
    if kind is None or not kind.hand_written:
        raise RedesError(f"the manual engine has no hand-written backward for {type(module).__name__}; "
                         f"use train.engine=module or an activation among {', '.join(HAND_WRITTEN)}")
    return kind.from_module(xp, module, reuse)
