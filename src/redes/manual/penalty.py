"""The L1/L2 weight penalty with its hand-derived gradient, for any array API namespace."""

from __future__ import annotations

from redes.arrays import Array


class WeightPenalty:
    """l1 * sum|W| + l2 * sum W^2 over weight matrices; gradient l1 sign(W) + 2 l2 W."""

    def __init__(self, xp, l1: float, l2: float):
        self.xp, self.l1, self.l2 = xp, l1, l2

    def forward(self, weights: list[Array]):
        xp, total = self.xp, 0.0
        for w in weights:
            if self.l1:
                total = total + self.l1 * xp.sum(xp.abs(w))
            if self.l2:
                flat = xp.reshape(w, (-1,))
                total = total + self.l2 * xp.vecdot(flat, flat)  # one pass, no w * w written out
        return total

    def backward(self, weights: list[Array]) -> list[Array]:
        grads = []
        for w in weights:
            grad = self.l1 * self.xp.sign(w) if self.l1 else 0.0
            grads.append(grad + 2 * self.l2 * w if self.l2 else grad)
        return grads

