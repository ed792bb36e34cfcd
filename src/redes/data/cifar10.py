"""CIFAR-10 from the official binary or python archive (or its extracted folder), found, checked or downloaded."""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redes.config import DataConfig
from redes.data.downloads import data_root, download, md5
from redes.data.raw import RawData
from redes.errors import RedesError

PIXELS = 3 * 32 * 32
N_CLASSES = 10
BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
# extracted folders first (no checksum, no decompression), then the archives
CANDIDATES = ("cifar-10-batches-bin", "cifar-10-batches-py", "cifar-10-binary.tar.gz", "cifar-10-python.tar.gz")


@dataclass(frozen=True)
class Archive:
    """One official CIFAR-10 archive: where it comes from, its published md5, and the files it holds."""

    version: str
    filename: str
    members: tuple[str, ...]  # data_batch_1..5, test_batch, class names; the first tells the versions apart
    url: str
    md5: str


ARCHIVES = {
    "binary": Archive("binary", "cifar-10-binary.tar.gz",
                      tuple(f"{name}.bin" for name in BATCHES) + ("batches.meta.txt",),
                      "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),
    "python": Archive("python", "cifar-10-python.tar.gz", BATCHES + ("batches.meta",),
                      "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
}


def load_cifar10(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """The 50000 training and 10000 test images as (N, 3072) uint8 rows (R, G, B planes); shift/scale map to [-1, 1].
    The official split, so the generator is not used."""
    source = next((path for path in cifar10_locations(cfg) if path.exists()), None)
    if cfg.path is not None and source is None:
        raise RedesError(f"data.path {cfg.path}: no such file or folder; expected a CIFAR-10 archive "
                         f"({CANDIDATES[2]} or {CANDIDATES[3]}) or its extracted folder")
    if source is not None and source.is_dir():
        source = _batches_folder(source)
    if source is None:
        if not cfg.download:
            looked = ", ".join(str(path) for path in cifar10_locations(cfg))
            raise RedesError(f"CIFAR-10 not found; looked in: {looked}; set data.download=true to download it "
                             f"from {ARCHIVES['binary'].url}, or data.path to its archive or folder")
        source = _download(data_root(cfg.root), ARCHIVES["binary"])
    version, files = _read_folder(source) if source.is_dir() else _read_archive(source)
    read_batch, read_classes = (_records, _binary_classes) if version == "binary" else (_python_batch, _python_classes)
    batches = [read_batch(*file) for file in files[:6]]
    return RawData(x=np.concatenate([x for x, _ in batches[:5]]), y=np.concatenate([y for _, y in batches[:5]]),
                   task="classification", classes=read_classes(*files[6]), x_test=np.array(batches[5][0]),
                   y_test=batches[5][1], shift=127.5, scale=127.5)  # (x - 127.5) / 127.5 is in [-1, 1]


def cifar10_locations(cfg: DataConfig) -> list[Path]:
    """The paths looked at, in order: data.path alone if set, else the folders and archives under root and ./data."""
    if cfg.path is not None:
        return [Path(cfg.path).expanduser()]
    bases = [data_root(cfg.root)]
    if Path("data").absolute() != bases[0].absolute():
        bases.append(Path("data").absolute())
    return [base / name for base in bases for name in CANDIDATES]


def _batches_folder(folder: Path) -> Path:
    """The folder itself when it holds the batches, else the first CIFAR-10 folder or archive inside it."""
    if any((folder / a.members[0]).is_file() for a in ARCHIVES.values()):
        return folder
    inside = next((folder / name for name in CANDIDATES if (folder / name).exists()), None)
    if inside is None:
        raise RedesError(f"{folder}: no CIFAR-10 data here; expected data_batch_1..5 and test_batch (.bin), "
                         f"a {CANDIDATES[0]} or {CANDIDATES[1]} folder, or an archive")
    return inside


def _detect(where: Path, names) -> Archive:
    """The binary or python archive that these file names come from, by the first batch's name."""
    for archive in ARCHIVES.values():
        if archive.members[0] in names:
            return archive
    raise RedesError(f"{where}: no data_batch_1.bin or data_batch_1 found; expected the CIFAR-10 "
                     "binary or python version")


def _read_folder(folder: Path) -> tuple[str, list[tuple[str, bytes]]]:
    """The version and each needed file's (name for messages, bytes), in member order, from an extracted folder."""
    archive = _detect(folder, {p.name for p in folder.iterdir()})
    try:
        return archive.version, [(str(folder / name), (folder / name).read_bytes()) for name in archive.members]
    except OSError as exc:
        raise RedesError(f"{exc.filename}: cannot read ({exc.strerror or exc}); expected the extracted CIFAR-10 "
                         f"{archive.version} version with {', '.join(archive.members)}") from None


def _read_archive(path: Path) -> tuple[str, list[tuple[str, bytes]]]:
    """The version and each needed member's bytes, read in one pass through the .tar.gz, after an md5 check."""
    found = tar_members(path, {name for archive in ARCHIVES.values() for name in archive.members}, "CIFAR-10")
    archive, got = _detect(path, found), md5(path)
    if got != archive.md5:
        raise RedesError(f"{path}: md5 {got} does not match the official CIFAR-10 {archive.version} archive "
                         f"({archive.md5}); delete it and download again")
    missing = [name for name in archive.members if name not in found]
    if missing:
        raise RedesError(f"{path}: missing {', '.join(missing)}; expected the complete CIFAR-10 "
                         f"{archive.version} archive")
    return archive.version, [found[name] for name in archive.members]


def tar_members(path: Path, wanted: set[str], title: str) -> dict[str, tuple[str, bytes]]:
    """The members of a .tar.gz whose file names are `wanted`, each as (its name for messages, its bytes)."""
    found: dict[str, tuple[str, bytes]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in wanted and name not in found:
                    found[name] = (f"{path} (member {member.name})", tar.extractfile(member).read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise RedesError(f"{path}: not a readable .tar.gz archive ({exc}); expected the official {title} "
                         "archive; delete it and download again") from None
    return found


def _download(root: Path, archive: Archive) -> Path:
    """The official archive, downloaded into root and checked (data/downloads.py)."""
    hint = f"put {CANDIDATES[2]} or {CANDIDATES[3]} (or its extracted folder) in {root}, or set data.path"
    return download([archive.url], root / archive.filename, archive.md5, f"CIFAR-10 ({archive.version})", hint)


def _binary_classes(where: str, raw: bytes) -> list[str]:
    """The class names in batches.meta.txt, one per line (blank lines ignored)."""
    return _ten(where, [line.strip() for line in raw.decode("latin-1").splitlines() if line.strip()])


def _ten(where: str, names: list[str]) -> list[str]:
    """Refuse a meta file that does not name exactly the ten classes."""
    if len(names) != N_CLASSES:
        raise RedesError(f"{where}: expected the {N_CLASSES} CIFAR-10 class names, found {len(names)}")
    return names


def _records(where: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (n, 3072) uint8 and labels (n,) int64 from one binary batch, without a per-record loop."""
    if not raw or len(raw) % (PIXELS + 1):
        raise RedesError(f"{where}: {len(raw)} bytes is not a whole number of {PIXELS + 1}-byte records "
                         "(1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 binary batch")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, PIXELS + 1)
    return rows[:, 1:], _labels(where, rows[:, 0])


def _labels(where: str, labels) -> np.ndarray:
    """Labels as int64, refusing any that is not a class index."""
    y = np.asarray(labels).astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise RedesError(f"{where}: labels must be in 0..{N_CLASSES - 1}, found {y.min()}..{y.max()}")
    return y


def _python_classes(where: str, raw: bytes) -> list[str]:
    """The b'label_names' of batches.meta, decoded."""
    meta = unpickle(where, raw)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise RedesError(f"{where}: expected a dict with b'label_names' (a list of class names)")
    return _ten(where, [n.decode("latin-1") if isinstance(n, bytes) else n for n in names])


def _python_batch(where: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """b'data' (n, 3072) uint8 and b'labels' (n ints) from one pickled batch, checked."""
    batch = unpickle(where, raw)
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == PIXELS
            and isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(label, int) for label in labels)):
        raise RedesError(f"{where}: expected a dict with b'data' (uint8 array of shape (n, {PIXELS})) and "
                         "b'labels' (a list of n ints), as in the CIFAR-10 python version")
    return data, _labels(where, labels)


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """What Python 3's protocol-2 pickles call to rebuild bytes; only the latin-1 codec they use is allowed."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing codec {encoding!r}")
    return text.encode("latin-1")


# numpy 1 pickles name numpy.core, numpy 2 numpy._core: both map to numpy's own array rebuilder
_ALLOWED = {
    **{(module, "_reconstruct"): np.zeros(0).__reduce__()[0] for module in ("numpy.core.multiarray",
                                                                           "numpy._core.multiarray")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, lists, dicts and bytes, and refuses every other global."""

    def __init__(self, file, where: str, title: str):
        super().__init__(file, encoding="bytes")
        self.where, self.title = where, title

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise RedesError(f"{self.where}: refused to unpickle the global {module}.{name}; a {self.title} python "
                             "batch holds only numpy arrays, lists and bytes (is this the official archive?)")
        return _ALLOWED[module, name]


def unpickle(where: str, raw: bytes, title: str = "CIFAR-10"):
    """One pickled file of the CIFAR-10 or CIFAR-100 (`title`) python version, loaded without running anything
    it names."""
    try:
        return _CifarUnpickler(io.BytesIO(raw), where, title).load()
    except RedesError:
        raise
    except Exception as exc:  # any failure inside pickle or numpy means a corrupt or foreign file
        raise RedesError(f"{where}: not a readable {title} python batch ({type(exc).__name__}: {exc}); "
                         f"the file is truncated or not from the {title} python version") from None
