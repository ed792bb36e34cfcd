"""scikit-learn's bundled handwritten digits: 1,797 8x8 images, offline, the default data set."""

from __future__ import annotations

import numpy as np

from redes.config import DataConfig
from redes.data.raw import RawData


def load_digits(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """The 64 pixel intensities (0..16) and the digit 0..9; `auto` scaling maps pixels to [0, 1]. Fixed data:
    neither the config nor the generator changes it."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return RawData(x=bunch.data.astype(np.float32), y=bunch.target.astype(np.int64), task="classification",
                   classes=[str(c) for c in bunch.target_names], shift=0.0, scale=16.0)
