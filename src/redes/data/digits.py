"""scikit-learn's bundled handwritten digits: 1,797 8x8 images, offline, the default data set."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from redes.config import DataConfig
from redes.data.raw import RawData
from redes.errors import RedesError


def load_digits(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """The 64 pixel intensities (0..16) and the digit 0..9; `auto` scaling maps pixels to [0, 1]. Fixed data:
    neither the config nor the generator changes it."""
    with gzip.open(digits_file(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",")
    return RawData(x=table[:, :-1].astype(np.float32), y=table[:, -1].astype(np.int64), task="classification",
                   classes=[str(c) for c in range(10)], shift=0.0, scale=16.0)


def digits_file() -> Path:
    """scikit-learn's copy of the UCI digits, read as its `load_digits` reads it (tests/test_data.py compares
    the two) but without importing scikit-learn, whose import would take longer than a small training."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is None or not path.is_file():
        raise RedesError("data.name=digits reads scikit-learn's bundled digits, and scikit-learn is not installed "
                         "(pip install scikit-learn)")
    return path
