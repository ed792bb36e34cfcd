"""The built-in cases of `redes gradcheck`: every manual layer, loss and penalty with its torch reference.

A case is a function of named float64 arrays with a hand-written gradient; `redes.study.gradcheck`
compares that gradient with torch.autograd (through the reference) and with finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from redes.manual import layers as L
from redes.manual.penalty import WeightPenalty
from redes.nn.activations import ACTIVATIONS
from redes.nn.losses import LOSSES, ClampedBCE

KINK_GAP = 1e-3  # built-in inputs are redrawn this close to a kink (ReLU at 0, HardSigmoid at ±3, clamp edges)

@dataclass
class Case:
    """A function of named float64 arrays with a hand-written gradient: what both methods check."""

    name: str
    inputs: dict[str, Any]  # check label ("dx", "grad[weight]") -> the live array, perturbed in place
    forward: Callable[[], Any]
    backward: Callable[[Any], list]  # dy -> the gradients, in `inputs` order
    reference: Callable[..., torch.Tensor] | None = None  # the same function in torch, of the inputs in order


def layer_case(name: str, layer, x, reference=None) -> Case:
    """A layer as a case: the gradients of its input and of each of its parameters."""
    keys = list(getattr(layer, "params", {}))
    inputs = {"dx": x, **{f"grad[{k}]": layer.params[k] for k in keys}}
    return Case(name, inputs, lambda: layer.forward(x),
                 lambda dy: [layer.backward(dy), *(layer.grads.get(k) for k in keys)], reference)


def layer_cases(xp, shape: tuple[int, int], rng: np.random.Generator, wrap) -> list[Case]:
    """Linear, every activation with a hand-written backward (both backwards where it has two), BatchNorm and
    Dropout with a fixed mask, each with its torch reference."""
    n = shape[1]
    linear = L.Linear(xp, wrap(rng.standard_normal((n + 1, n))), wrap(rng.standard_normal(n + 1)))
    cases = [layer_case("Linear", linear, wrap(_draw(rng, shape)), lambda x, w, b: x @ w.T + b)]
    for kind in (kind for kind in ACTIVATIONS.values() if kind.hand_written):
        for reuse in (True, False) if kind.recompute else (True,):
            name = kind.__name__ + ("" if reuse else "(recompute)")
            cases.append(layer_case(name, kind(xp, reuse), wrap(_draw(rng, shape, kind.kinks)), kind.reference))
    norm = L.BatchNorm(xp, wrap(rng.uniform(0.5, 2.0, n)), wrap(rng.standard_normal(n)), wrap(np.zeros(n)),
                       wrap(np.ones(n)))
    # torch.batch_norm is F.batch_norm's kernel without its refusal of a batch of one in training mode
    cases.append(layer_case("BatchNorm", norm, wrap(_draw(rng, shape)), lambda x, w, b: torch.batch_norm(
        x, w, b, None, None, True, norm.momentum, norm.eps, False)))
    p, mask = 0.3, (rng.random(shape) >= 0.3).astype(np.float64)
    dropout = L.Dropout(xp, p, lambda x, keep: wrap(mask))
    cases.append(layer_case("Dropout", dropout, wrap(_draw(rng, shape)),
                             lambda x: x * torch.from_numpy(mask) / (1 - p)))
    return cases


def loss_cases(xp, shape: tuple[int, int], rng: np.random.Generator, wrap) -> list[Case]:
    """Notebook 000's clamped BCE on probabilities, then every loss of the table (both backwards where it has
    two), each against its torch function."""
    b, bce = shape[0], ClampedBCE(xp)
    bits = rng.integers(0, 2, b).astype(np.float64)
    bits_t = torch.from_numpy(bits).reshape(-1, 1)
    probabilities = np.clip(_draw(rng, (b, 1), (bce.eps, 1 - bce.eps), -0.25, 1.25), 0, 1)  # a third clamped

    def clamped_bce(p):
        c = p.clamp(bce.eps, 1 - bce.eps)
        return -(bits_t * c.log() + (1 - bits_t) * (1 - c).log()).mean()

    cases = [_loss_case("BCE", bce, wrap(probabilities), wrap(bits), clamped_bce)]
    for kind in LOSSES.values():
        for reuse in (True, False) if kind.recompute else (True,):
            u, y = kind.draw(rng, shape)
            cases.append(_loss_case(kind.__name__ + ("" if reuse else "(recompute)"), kind(xp, reuse), wrap(u),
                                    wrap(y), lambda u, loss=kind.torch_function(), y=torch.from_numpy(y): loss(u, y)))
    return cases


def _loss_case(name: str, loss, u, y, reference) -> Case:
    """A loss as a case: its gradient with respect to its input `u`, for fixed targets `y`."""
    return Case(name, {"dx": u}, lambda: loss.forward(u, y), lambda dy: [dy * loss.backward()], reference)


def penalty_cases(xp, shape: tuple[int, int], rng: np.random.Generator, wrap) -> list[Case]:
    """WeightPenalty as L1, L2 and elastic net over two weight matrices of different shapes."""
    cases = []
    for name, l1, l2 in (("WeightPenalty(l1)", 0.3, 0.0), ("WeightPenalty(l2)", 0.0, 0.2),
                         ("WeightPenalty(l1+l2)", 0.3, 0.2)):
        weights = [wrap(_draw(rng, shape, (0.0,))), wrap(_draw(rng, (shape[1], 2), (0.0,)))]  # |W| kinks at 0
        cases.append(_penalty_case(name, WeightPenalty(xp, l1, l2), weights))
    return cases


def _penalty_case(name: str, penalty, weights: list) -> Case:
    """A penalty as a case: its gradient with respect to each weight matrix."""
    l1, l2 = penalty.l1, penalty.l2
    return Case(name, {f"grad[weights[{i}]]": w for i, w in enumerate(weights)}, lambda: penalty.forward(weights),
                 lambda dy: [dy * g for g in penalty.backward(weights)],
                 lambda *ws: sum(l1 * w.abs().sum() + l2 * (w * w).sum() for w in ws))


def _draw(rng: np.random.Generator, shape, kinks=(), low: float = -4.0, high: float = 4.0) -> np.ndarray:
    """Uniform values in [low, high), each redrawn while it lies within KINK_GAP of a kink."""
    x = rng.uniform(low, high, shape)
    while True:
        near = np.zeros(x.shape, dtype=bool)
        for kink in kinks:
            near |= np.abs(x - kink) < KINK_GAP
        if not near.any():
            return x
        x[near] = rng.uniform(low, high, int(near.sum()))


def to_numpy(a) -> np.ndarray:
    """A float64 NumPy copy of an array, a tensor or a scalar."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.array(a, dtype=np.float64)
