"""Losses and weight penalties with hand-derived gradients, for any array API namespace.

A loss has `forward(outputs, y) -> scalar` (the batch mean) and `backward() -> d outputs`.
"""

from __future__ import annotations

from array_api_compat import device

from redes.arrays import Array, sigmoid


class BCE:
    """Notebook 000's binary cross-entropy on probabilities p, clamped to [eps, 1-eps] to keep log finite.

    Its exact derivative is zero where the clamp bites; `SigmoidBCE` below is what a network uses.
    """

    def __init__(self, xp, eps: float = 1e-5):
        self.xp, self.eps = xp, eps

    def forward(self, p, y):  # p: (B, 1) probabilities, y: (B,) of 0/1
        xp = self.xp
        self.p, self.y = p, xp.reshape(xp.astype(y, p.dtype), (-1, 1))
        self.clamped = xp.clip(p, self.eps, 1 - self.eps)
        # a sum over B (not xp.mean, which costs NumPy several microseconds more on a tiny batch)
        return -xp.sum(self.y * xp.log(self.clamped) + (1 - self.y) * xp.log(1 - self.clamped)) / p.shape[0]

    def backward(self):
        xp, n = self.xp, self.p.shape[0]
        inside = (self.p >= self.eps) & (self.p <= 1 - self.eps)
        dp = ((1 - self.y) / (1 - self.clamped) - self.y / self.clamped) / n
        return xp.where(inside, dp, 0.0)


class SigmoidBCE:
    """Sigmoid output + clamped BCE (notebook 000) on logits u, with the notebook's dL/du = (p - y) / B.

    That is the exact derivative of the unclamped loss (the clamp only keeps log finite); `reuse` takes p
    from the forward pass, else sigmoid(u) is recomputed.
    """

    def __init__(self, xp, reuse: bool = True, eps: float = 1e-5):
        self.xp, self.reuse, self.bce = xp, reuse, BCE(xp, eps)

    def forward(self, u, y):  # u: (B, 1) logits
        self.u = u
        return self.bce.forward(sigmoid(u), y)

    def backward(self):
        p = self.bce.p if self.reuse else sigmoid(self.u)
        return (p - self.bce.y) / self.u.shape[0]


class SoftmaxCrossEntropy:
    """Mean of logsumexp(u) - u[y] over the batch; dL/du = (softmax(u) - onehot(y)) / B.

    The one-hot matrix is never built: the logits of the true classes are picked by index.
    """

    def __init__(self, xp):
        self.xp, self.rows = xp, None

    def forward(self, u, y):  # u: (B, K) logits, y: (B,) class indices
        xp, n = self.xp, u.shape[0]
        shifted = u - xp.max(u, axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = xp.sum(exp, axis=1, keepdims=True)
        exp /= total
        if self.rows is None or self.rows.shape[0] != n:  # 0..B-1, made again only when B changes
            self.rows = xp.arange(n, device=device(u))
        self.softmax, self.picked = exp, (self.rows, y if y.dtype == xp.int64 else xp.astype(y, xp.int64))
        return (xp.sum(xp.log(total)) - xp.sum(shifted[self.picked])) / n

    def backward(self):
        n = self.softmax.shape[0]
        d = self.softmax / n
        d[self.picked] -= 1 / n
        return d


class MSE:
    """Mean of (u - y)^2 over every element; dL/du = 2 (u - y) / (B * k)."""

    def __init__(self, xp):
        self.xp = xp

    def forward(self, u, y):  # u, y: (B, k)
        self.diff = u - self.xp.reshape(y, u.shape)
        return self.xp.mean(self.diff * self.diff)

    def backward(self):
        return 2 * self.diff / (self.diff.shape[0] * self.diff.shape[1])


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

