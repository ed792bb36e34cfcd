"""MNIST and Fashion-MNIST from their official IDX files (gzip): found on disk or downloaded from mirrors tried
in order, each file's md5 checked before it is used, its IDX header checked against its size."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redes.config import DataConfig
from redes.data.downloads import data_root, download, md5
from redes.data.raw import RawData
from redes.errors import RedesError

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")  # train images and labels, then the official test set's
SIDE = 28
IMAGES, LABELS = 2051, 2049  # the IDX magic numbers: unsigned bytes in 3 dimensions, in 1


@dataclass(frozen=True)
class IdxSet:
    """One data set in the four IDX files: where it comes from, each file's published md5, its classes."""

    title: str  # in messages
    folder: str  # the folder its files are kept in, under the data root
    mirrors: tuple[str, ...]  # base URLs, tried in order
    md5s: tuple[str, ...]  # of FILES, in that order
    classes: tuple[str, ...]


SETS = {
    "mnist": IdxSet("MNIST", "mnist",
                    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
                    ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                     "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
                    tuple(str(digit) for digit in range(10))),
    "fashion_mnist": IdxSet("Fashion-MNIST", "fashion-mnist",
                            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
                            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
                            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                             "Bag", "Ankle boot")),
}


def load_mnist(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """MNIST: 60,000 training and 10,000 test images as (N, 784) uint8 rows; scale maps them to [0, 1]."""
    return _load(SETS["mnist"], cfg)


def load_fashion_mnist(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """Fashion-MNIST, laid out as MNIST, its classes named by the clothes they show."""
    return _load(SETS["fashion_mnist"], cfg)


def mnist_locations(cfg: DataConfig) -> list[Path]:
    return _folders(SETS["mnist"], cfg)


def fashion_mnist_locations(cfg: DataConfig) -> list[Path]:
    return _folders(SETS["fashion_mnist"], cfg)


def _folders(data: IdxSet, cfg: DataConfig) -> list[Path]:
    """The folders looked in for the four files, in order: data.path alone if set, else ROOT/<folder> and
    ./data/<folder>."""
    if cfg.path is not None:
        return [Path(cfg.path).expanduser()]
    return list(dict.fromkeys([data_root(cfg.root) / data.folder, Path("data").absolute() / data.folder]))


def _load(data: IdxSet, cfg: DataConfig) -> RawData:
    """The official split, read from the four files (downloaded into ROOT/<folder> where missing)."""
    paths = [_find(data, cfg, name, expected) for name, expected in zip(FILES, data.md5s)]
    x, y, x_test, y_test = (_read(path) for path in paths)
    for images, labels, images_path, labels_path in ((x, y, paths[0], paths[1]), (x_test, y_test, *paths[2:])):
        if len(images) != len(labels):
            raise RedesError(f"{labels_path}: {len(labels)} labels for the {len(images)} images of {images_path}")
        if images.ndim != 3 or labels.ndim != 1:
            raise RedesError(f"{images_path if images.ndim != 3 else labels_path}: expected images (IDX magic "
                             f"{IMAGES}) and labels (IDX magic {LABELS}) in the {data.title} file order")
        if labels.size and labels.max() >= len(data.classes):
            raise RedesError(f"{labels_path}: labels must be in 0..{len(data.classes) - 1}, found {labels.max()}")
    return RawData(x=x.reshape(len(x), -1), y=y.astype(np.int64), task="classification", classes=list(data.classes),
                   x_test=x_test.reshape(len(x_test), -1), y_test=y_test.astype(np.int64), shift=0.0, scale=255.0)


def _find(data: IdxSet, cfg: DataConfig, name: str, expected: str) -> Path:
    """The file `name`: the first one found in the folders looked in, else downloaded; its md5 checked."""
    folders = _folders(data, cfg)
    path = next((folder / name for folder in folders if (folder / name).is_file()), None)
    if path is None:
        hint = f"put {name} in {folders[0]}, or set data.path to the folder that holds the four {data.title} files"
        if not cfg.download or cfg.path is not None:
            looked = ", ".join(str(folder / name) for folder in folders)
            raise RedesError(f"{data.title} file {name} not found; looked in: {looked}; " + (
                "set data.download=true to download it, or " if not cfg.download else "") + hint)
        return download([mirror + name for mirror in data.mirrors], data_root(cfg.root) / data.folder / name,
                        expected, data.title, hint)
    got = md5(path)
    if got != expected:
        raise RedesError(f"{path}: md5 {got} does not match the official {data.title} file ({expected}); "
                         "delete it and download again")
    return path


def _read(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip): its array, after checking the header against the data's size."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise RedesError(f"{path}: not a readable .gz file ({exc}); delete it and download again") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 8 or raw[3] not in (1, 3):
        raise RedesError(f"{path}: not an IDX file of unsigned bytes (magic number {raw[:4].hex() or 'missing'}; "
                         f"expected {IMAGES:08x} for images or {LABELS:08x} for labels)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RedesError(f"{path}: the IDX header is cut short ({len(raw)} bytes)")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if ndim == 3 and shape[1:] != (SIDE, SIDE):
        raise RedesError(f"{path}: images of {shape[1]}x{shape[2]} pixels; expected {SIDE}x{SIDE}")
    if len(raw) - header != int(np.prod(shape)):
        raise RedesError(f"{path}: the header says {' x '.join(map(str, shape))} = {int(np.prod(shape)):,} bytes "
                         f"of data, the file holds {len(raw) - header:,}; it is truncated or not this data set")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
