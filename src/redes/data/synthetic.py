"""The notebooks' generated data sets: random bits (notebook 000) and a noisy line (notebook 003)."""

from __future__ import annotations

import numpy as np

from redes.config import DataConfig
from redes.data.source import RawData


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
