"""CIFAR-100 from the official python archive (or its extracted folder): 100 fine classes grouped in 20 coarse
superclasses (data.labels), read with CIFAR-10's restricted unpickler, the archive's md5 checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from redes.config import DataConfig
from redes.data.cifar10 import PIXELS, Archive, tar_members, unpickle
from redes.data.downloads import data_root, download, md5
from redes.data.raw import RawData
from redes.errors import RedesError

TITLE = "CIFAR-100"
ARCHIVE = Archive("python", "cifar-100-python.tar.gz", ("train", "test", "meta"),
                  "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")
FOLDER = "cifar-100-python"
LABELS = {"fine": (b"fine_labels", b"fine_label_names", 100), "coarse": (b"coarse_labels", b"coarse_label_names", 20)}


def load_cifar100(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """The 50000 training and 10000 test images as (N, 3072) uint8 rows, with the fine or coarse labels
    (data.labels); shift/scale map them to [-1, 1], as CIFAR-10's. The official split: `rng` is not used."""
    source = next((path for path in cifar100_locations(cfg) if path.exists()), None)
    if source is None:
        if cfg.path is not None:
            raise RedesError(f"data.path {cfg.path}: no such file or folder; expected the {TITLE} archive "
                             f"({ARCHIVE.filename}) or its extracted folder ({FOLDER})")
        root = data_root(cfg.root)
        hint = f"put {ARCHIVE.filename} (or its extracted folder {FOLDER}) in {root}, or set data.path"
        if not cfg.download:
            looked = ", ".join(str(path) for path in cifar100_locations(cfg))
            raise RedesError(f"{TITLE} not found; looked in: {looked}; set data.download=true to download it, "
                             f"or {hint}")
        source = download([ARCHIVE.url], root / ARCHIVE.filename, ARCHIVE.md5, TITLE, hint)
    files = _read_folder(source) if source.is_dir() else _read_archive(source)
    labels, names, count = LABELS[cfg.labels]
    x, y = _batch(files["train"], labels, count)
    x_test, y_test = _batch(files["test"], labels, count)
    return RawData(x=x, y=y, task="classification", classes=_names(files["meta"], names, count), x_test=x_test,
                   y_test=y_test, shift=127.5, scale=127.5)


def cifar100_locations(cfg: DataConfig) -> list[Path]:
    """The paths looked at, in order: data.path alone if set, else the folder and archive under root and ./data."""
    if cfg.path is not None:
        return [Path(cfg.path).expanduser()]
    bases = list(dict.fromkeys([data_root(cfg.root), Path("data").absolute()]))
    return [base / name for base in bases for name in (FOLDER, ARCHIVE.filename)]


def _read_folder(folder: Path) -> dict[str, tuple[str, bytes]]:
    inner = folder / FOLDER if (folder / FOLDER).is_dir() else folder
    try:
        return {name: (str(inner / name), (inner / name).read_bytes()) for name in ARCHIVE.members}
    except OSError as exc:
        raise RedesError(f"{exc.filename}: cannot read ({exc.strerror or exc}); expected the extracted {TITLE} "
                         f"python version with {', '.join(ARCHIVE.members)}") from None


def _read_archive(path: Path) -> dict[str, tuple[str, bytes]]:
    found = tar_members(path, set(ARCHIVE.members), TITLE)
    got = md5(path)
    if got != ARCHIVE.md5:
        raise RedesError(f"{path}: md5 {got} does not match the official {TITLE} archive ({ARCHIVE.md5}); "
                         "delete it and download again")
    missing = [name for name in ARCHIVE.members if name not in found]
    if missing:
        raise RedesError(f"{path}: missing {', '.join(missing)}; expected the complete {TITLE} archive")
    return found


def _batch(file: tuple[str, bytes], key: bytes, count: int) -> tuple[np.ndarray, np.ndarray]:
    """b'data' (n, 3072) uint8 and the labels under `key` from the pickled train or test file, checked."""
    where, raw = file
    batch = unpickle(where, raw, TITLE)
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(key) if isinstance(batch, dict) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == PIXELS
            and isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(label, int) for label in labels)):
        raise RedesError(f"{where}: expected a dict with b'data' (uint8 array of shape (n, {PIXELS})) and "
                         f"{key!r} (a list of n ints), as in the {TITLE} python version")
    y = np.asarray(labels, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() >= count):
        raise RedesError(f"{where}: {key.decode()} must be in 0..{count - 1}, found {y.min()}..{y.max()}")
    return data, y


def _names(file: tuple[str, bytes], key: bytes, count: int) -> list[str]:
    """The class names under `key` in the meta file, decoded."""
    where, raw = file
    meta = unpickle(where, raw, TITLE)
    names = meta.get(key) if isinstance(meta, dict) else None
    if not (isinstance(names, list) and len(names) == count and all(isinstance(n, (bytes, str)) for n in names)):
        raise RedesError(f"{where}: expected a dict with {key!r}, a list of the {count} class names")
    return [n.decode("latin-1") if isinstance(n, bytes) else n for n in names]
