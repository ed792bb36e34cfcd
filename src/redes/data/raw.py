"""What every data source returns: raw NumPy arrays plus what the rest of redes needs to know about them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

Task = Literal["classification", "binary", "regression"]


@dataclass
class RawData:
    """Unscaled arrays from one source; `x_test`/`y_test` only where the source ships its own test set.

    Classification and binary targets are class indices (int64, shape (N,)); regression targets are
    float arrays of shape (N, k). `shift`/`scale` are the source's natural input scaling
    (x - shift) / scale, used when `data.scale` is `auto`.
    """

    x: np.ndarray
    y: np.ndarray
    task: Task
    classes: Optional[list[str]] = None
    x_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    shift: float = 0.0
    scale: float = 1.0
