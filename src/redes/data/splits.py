"""load_data(cfg) -> Splits: one source read (through the table in sources.py), split (stratified, seeded), scaled
and held as tensors."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
import torch

from redes.config import DataConfig
from redes.data.raw import RawData, Task
from redes.data.sources import SOURCES
from redes.devices import memory_of
from redes.errors import RedesError

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    """Inputs and targets of one split, as tensors on one device."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Scaler:
    """The input transform (x - shift) / scale fitted on the training data; saved with the model."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __call__(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if isinstance(x, np.ndarray) else x.float()
        return (x - self.shift.to(x.device)) / self.scale.to(x.device)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"shift": self.shift, "scale": self.scale}


@dataclass
class Splits:
    """Train, val and test splits of one data set, with what a model needs to know about them."""

    train: Split
    val: Optional[Split]
    test: Optional[Split]
    task: Task
    classes: Optional[list[str]]
    scaler: Scaler
    n_targets: int = field(default=1)

    @property
    def n_features(self) -> int:
        return self.train.x.shape[1]

    def get(self, name: str) -> Split:
        """The split called `name`; a clear error when this data set has none."""
        if name not in SPLIT_NAMES:
            raise RedesError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
        split = getattr(self, name)
        if split is None:
            raise RedesError(f"this data set has no {name} split (set data.{name}_fraction above 0)")
        return split

    def to(self, device: torch.device, dtype: torch.dtype = torch.float32) -> "Splits":
        """The splits on `device`, inputs (and regression targets) in floating-point `dtype`."""
        def move(y: torch.Tensor) -> torch.Tensor:
            return y.to(device, dtype) if y.is_floating_point() else y.to(device)

        moved = {name: None if s is None else Split(s.x.to(device, dtype), move(s.y))
                 for name, s in ((n, getattr(self, n)) for n in SPLIT_NAMES)}
        return replace(self, **moved)


def load_data(cfg: DataConfig, seed: int = 0) -> Splits:
    """Read `cfg.name`, hold out val (and test, unless the source has one), scale, return tensors on the CPU."""
    _check_the_data_fits(cfg)
    raw = SOURCES[cfg.name].load(cfg, np.random.default_rng([seed, 0]))
    if cfg.max_samples is not None and cfg.max_samples < len(raw.x):
        keep = np.sort(np.random.default_rng([seed, 1]).permutation(len(raw.x))[:cfg.max_samples])
        raw = replace(raw, x=raw.x[keep], y=raw.y[keep])
    x, y = raw.x, raw.y
    if raw.x_test is None:
        x, x_test, y, y_test = _hold_out(x, y, cfg.test_fraction, raw.task, seed)
    else:
        x_test, y_test = raw.x_test, raw.y_test
    val_share = cfg.val_fraction / (1 - (cfg.test_fraction if raw.x_test is None else 0))
    x, x_val, y, y_val = _hold_out(x, y, val_share, raw.task, seed)
    scaler = _fit_scaler(cfg.scale, raw, x)
    pairs = [(x, y), (x_val, y_val), (x_test, y_test)]
    train, val, test = (None if px is None else Split(scaler(px), _targets(py, raw.task)) for px, py in pairs)
    return Splits(train=train, val=val, test=test, task=raw.task, classes=raw.classes, scaler=scaler,
                  n_targets=1 if raw.task != "regression" else raw.y.shape[1])


def _check_the_data_fits(cfg: DataConfig) -> None:
    """Refuse, with the numbers, a generated data set too large for the host's memory, before it is drawn."""
    keys = SOURCES[cfg.name].keys
    if "n_samples" not in keys:
        return
    rows = cfg.n_samples or 5000  # unset: the source's own size, 5,000 at most
    width = max([getattr(cfg, key) for key in ("n_features", "seq_len") if key in keys], default=1) + 1
    needed, available = 4 * 8 * rows * width, memory_of(torch.device("cpu"))  # float64, and its copies
    if needed > available:
        sizes = " x ".join(f"data.{key}={getattr(cfg, key) or rows:,}" for key in ("n_samples", "n_features",
                                                                                    "seq_len") if key in keys)
        raise RedesError(f"{sizes} would take about {needed / 2**30:,.1f} GiB while drawn, split and scaled, more "
                         f"than the {available / 2**30:,.1f} GiB of memory here; make them smaller")


def _hold_out(x: np.ndarray, y: np.ndarray, share: float, task: str, seed: int):
    """Split off `share` of the rows (stratified by class where every class can be), or None when share is 0."""
    if share <= 0:
        return x, None, y, None
    n_out = int(round(share * len(x)))
    if n_out < 1 or n_out >= len(x):
        raise RedesError(f"cannot hold out {share:.0%} of {len(x)} samples; change data.val_fraction "
                         "or data.test_fraction")
    counts = np.bincount(y) if task != "regression" else None
    stratifiable = counts is not None and counts[counts > 0].min() >= 2 and min(n_out, len(x) - n_out) >= len(counts)
    kept, held = held_out_rows(y if stratifiable else None, len(x), n_out, seed)
    return x[kept], x[held], y[kept], y[held]


def held_out_rows(labels: Optional[np.ndarray], n: int, n_out: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The kept and held-out row numbers exactly as scikit-learn's `train_test_split(test_size=n_out,
    random_state=seed, stratify=labels)` draws them (tests/test_data.py compares the two), without importing
    scikit-learn and SciPy, which would cost a training more start-up time than its split takes."""
    rng = np.random.RandomState(seed)
    if labels is None:
        order = rng.permutation(n)
        return order[n_out:], order[:n_out]
    _, codes, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    rows_of_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(class_counts)[:-1])
    kept_counts = _approximate_mode(class_counts, n - n_out, rng)
    held_counts = _approximate_mode(class_counts - kept_counts, n_out, rng)
    kept: list = []
    held: list = []
    for rows, count, keep, hold in zip(rows_of_class, class_counts, kept_counts, held_counts):
        shuffled = rows.take(rng.permutation(count), mode="clip")
        kept.extend(shuffled[:keep])
        held.extend(shuffled[keep:keep + hold])
    return rng.permutation(kept), rng.permutation(held)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `n_draws` rows each class gives: its share rounded down, then one more for the largest
    remainders, ties drawn at random (scikit-learn's `_approximate_mode`, draw for draw)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add = min(len(tied), need)
            floored[rng.choice(tied, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)


def _fit_scaler(kind: str, raw: RawData, x_train: np.ndarray) -> Scaler:
    width = x_train.shape[1]
    if kind == "standard":
        mean = x_train.mean(axis=0, dtype=np.float64)
        std = x_train.std(axis=0, dtype=np.float64)
        shift, scale = mean, np.where(std > 0, std, 1.0)
    elif kind == "auto":
        shift, scale = np.full(width, raw.shift), np.full(width, raw.scale)
    else:
        shift, scale = np.zeros(width), np.ones(width)
    return Scaler(torch.tensor(shift, dtype=torch.float32), torch.tensor(scale, dtype=torch.float32))


def _targets(y: np.ndarray, task: str) -> torch.Tensor:
    return torch.as_tensor(y, dtype=torch.float32 if task == "regression" else torch.int64)
