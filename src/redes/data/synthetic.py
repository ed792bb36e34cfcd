"""The notebooks' generated data sets: random bits (000), a noisy line (003) and token sequences (004)."""

from __future__ import annotations

import numpy as np

from redes.config import DataConfig
from redes.data.raw import RawData


def load_bernoulli(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """0/1 features and 0/1 labels, each a fair coin: nothing to learn but memorisation (notebook 000)."""
    n = cfg.n_samples or 5000
    x = (rng.random((n, cfg.n_features)) < 0.5).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.int64)
    return RawData(x=x, y=y, task="binary", classes=["0", "1"])


def load_linear(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """y = a + b*x + noise with x ~ U(0, 1) (notebook 003: a=1, b=2, noise 0.1, 100 points)."""
    n = cfg.n_samples or 100
    x = rng.random((n, 1))
    y = cfg.intercept + cfg.slope * x + cfg.noise * rng.standard_normal((n, 1))
    return RawData(x=x.astype(np.float32), y=y.astype(np.float32), task="regression")


TOPICS = ["sports", "music", "science", "cooking"]


def load_tokens(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """Sequences of token ids whose class is which tokens appear (notebook 004's Embedding input).

    Each topic owns `k = max(1, vocab // 10)` keyword ids (topic c: ids c*k .. c*k+k-1); the other ids are
    filler. A sequence is `seq_len` filler ids drawn uniformly, then 1 to 3 of its topic's keywords put
    at random positions. Order carries no information, so a bag (mean) of embeddings can learn it; the
    ids are stored as floats (exact below 2**24) and the embedding layer turns them back into integers.
    """
    n, length, k = cfg.n_samples or 2000, cfg.seq_len, max(1, cfg.vocab // 10)
    y = rng.integers(len(TOPICS), size=n)
    x = rng.integers(len(TOPICS) * k, cfg.vocab, size=(n, length))
    for row, topic in enumerate(y):
        places = rng.permutation(length)[:rng.integers(1, min(3, length) + 1)]
        x[row, places] = topic * k + rng.integers(k, size=len(places))
    return RawData(x=x.astype(np.float32), y=y.astype(np.int64), task="classification", classes=list(TOPICS))
