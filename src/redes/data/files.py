"""User data from a file: `.npz` (arrays x, y, optional x_test, y_test) or `.csv` (one target column)."""

from __future__ import annotations

import csv
import tokenize
import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np

from redes.config import DataConfig
from redes.data.raw import RawData, Task
from redes.errors import RedesError

Target = Union[int, str, None]


def load_file(cfg: DataConfig, rng: np.random.Generator) -> RawData:
    """The file data.path names, its target data.target, as data.task says; the generator is not used."""
    if not cfg.path:
        raise RedesError("data.name=file needs data.path (a .npz or .csv file)")
    return read_file(cfg.path, cfg.target, cfg.task)


def read_file(path: str, target: Target, task: str) -> RawData:
    """Read a training file; integer or text targets are classes unless `task` says otherwise."""
    file = _existing(path)
    if file.suffix.lower() == ".npz":
        arrays = read_npz(file)
        if "y" not in arrays:
            raise RedesError(f"{file}: no array 'y' (found: {', '.join(sorted(arrays))})")
        x, y = arrays["x"], arrays["y"]
        x_test, y_test = arrays.get("x_test"), arrays.get("y_test")
        if (x_test is None) != (y_test is None):
            raise RedesError(f"{file}: x_test and y_test come together; found only one of them")
    else:
        x, y = read_csv(file, target)
        x_test = y_test = None
    _check_pair(file, "x", x, "y", y)
    if x_test is not None:
        _check_test(file, x, y, x_test, y_test)
    labels = y.ravel() if y_test is None else np.concatenate([y.ravel(), y_test.ravel()])
    kind = _infer_task(file, y, labels, task)
    if kind == "regression":
        y, y_test = _as_regression(file, y), None if y_test is None else _as_regression(file, y_test)
        return RawData(x=x, y=y, task=kind, x_test=x_test, y_test=y_test)
    classes = np.unique(labels)
    if kind == "binary" and len(classes) != 2:
        raise RedesError(f"{file}: data.task=binary needs exactly 2 distinct labels, found {len(classes)}")
    index = {label: i for i, label in enumerate(classes.tolist())}
    encode = np.vectorize(index.__getitem__, otypes=[np.int64])
    return RawData(x=x, y=encode(y.ravel()), task=kind, classes=[_name(c) for c in classes],
                   x_test=x_test, y_test=None if y_test is None else encode(y_test.ravel()))


TARGET_NAMES = ("target", "label", "labels", "class", "y")  # a prediction csv's header may name its target so


def read_features(path: str, n_features: int, target: Target = None, target_by_position: bool = True) -> np.ndarray:
    """Inputs for prediction: an npz's `x`, or a csv of exactly the features; a csv with one more column drops
    it only when it is known to be the target: named so in the header (`target` or one of TARGET_NAMES), or,
    for a model trained on a file (`target_by_position`), where `target` put it in training (default: last).
    Every value must be finite: a NaN would come out as a prediction."""
    file = _existing(path)
    if file.suffix.lower() == ".npz":
        x, first_line = read_npz(file)["x"], None
    else:
        rows, header = _read_rows(file)
        if not rows:
            raise RedesError(f"{file}: no data rows")
        columns = list(range(len(rows[0])))
        if len(columns) == n_features + 1:
            dropped = _known_target(file, header, len(columns), target, target_by_position)
            columns = columns if dropped is None else [i for i in columns if i != dropped]
        x, first_line = _numeric_columns(file, rows, header, columns), 2 if header else 1
    if x.shape[1] != n_features:
        hint = (f"; if one is the target, name it in a header row ({', '.join(TARGET_NAMES)}) or remove it"
                if first_line and x.shape[1] == n_features + 1 else "")
        raise RedesError(f"{file}: {x.shape[1]} columns, but the model expects {n_features} features{hint}")
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        row, column = bad[0].tolist()
        where = f"x[{row}, {column}]" if first_line is None else f"line {row + first_line}, column {column + 1}"
        raise RedesError(f"{file}: {where} is {x[row, column]} (NaN, infinite, or beyond float32's range); "
                         "a model can only predict from finite numbers")
    return x


def _known_target(file: Path, header: Optional[list[str]], width: int, target: Target, by_position: bool):
    """The column of a prediction csv known to hold the target, or None."""
    names = [target] if isinstance(target, str) else list(TARGET_NAMES)
    named = [i for i, name in enumerate(header or []) if name in names]
    if named:
        return named[0]
    return _target_column(file, header, width, target) if by_position and not isinstance(target, str) else None


def read_npz(file: Path) -> dict[str, np.ndarray]:
    """Numeric arrays from an npz, never unpickling objects; `x` is required and made 2-D."""
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a lone .npy array: no names to find x, y by
            raise RedesError(f"{file}: a single .npy array, expected a .npz archive of named arrays (np.savez)")
        _check_declared_sizes(file)
        with loaded as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, SyntaxError, tokenize.TokenError) as exc:
        raise RedesError(f"{file}: not a readable .npz of numeric arrays ({type(exc).__name__}: {exc})") from None
    if "x" not in arrays:
        raise RedesError(f"{file}: no array 'x' (found: {', '.join(sorted(arrays)) or 'none'})")
    for name, array in arrays.items():
        if name.startswith("y") and array.ndim == 0:
            raise RedesError(f"{file}: array {name!r} is a single number, expected one label per sample")
        if array.dtype.kind not in "biuf" and not (name.startswith("y") and array.dtype.kind == "U"):
            raise RedesError(f"{file}: array {name!r} has dtype {array.dtype}, expected numbers")
    for name in ("x", "x_test"):
        if name in arrays:
            arrays[name] = _as_matrix(file, name, arrays[name])
    return arrays


def _check_declared_sizes(file: Path) -> None:
    """Each array's header (shape, dtype) must describe the bytes the archive holds for it, before NumPy
    allocates what the header declares (a header may claim 10^12 rows in a file of a few bytes)."""
    with zipfile.ZipFile(file) as archive:
        for member in archive.infolist():
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(stream)
                name = member.filename.removesuffix(".npy")
                declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if dtype.hasobject:
                    raise RedesError(f"{file}: not a readable .npz of numeric arrays (array {name!r} holds Python "
                                     "objects, which redes never unpickles)")
                if declared != member.file_size - stream.tell():
                    raise RedesError(f"{file}: array {name!r} declares shape {shape} of {dtype}, "
                                     f"{declared:,} bytes, but holds {member.file_size - stream.tell():,}")


def read_csv(file: Path, target: Target) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix and target column; a first row with text in it is the header."""
    rows, header = _read_rows(file)
    if not rows:
        raise RedesError(f"{file}: no data rows")
    width = len(rows[0])
    if width < 2:
        raise RedesError(f"{file}: expected feature columns and a target column, found {width} column")
    column = _target_column(file, header, width, target)
    features = [i for i in range(width) if i != column]
    y = np.array([row[column] for row in rows])
    try:
        y = y.astype(np.float64)
    except ValueError:
        pass  # text labels: class names
    return _numeric_columns(file, rows, header, features), y


def _read_rows(file: Path) -> tuple[list[list[str]], Optional[list[str]]]:
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's byte-order mark
            rows = [[cell.strip() for cell in row] for row in csv.reader(handle) if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RedesError(f"{file}: not a readable csv ({exc})") from None
    for number, row in enumerate(rows, start=1):  # the header too: its names must line up with the columns
        if len(row) != len(rows[0]):
            raise RedesError(f"{file}: line {number} has {len(row)} columns, expected {len(rows[0])}")
    header = rows.pop(0) if rows and not all(map(_is_number, rows[0])) and not _looks_like_data(rows) else None
    return rows, header


def _looks_like_data(rows: list[list[str]]) -> bool:
    """A text first row is data, not a header, when the rows below have text in the same columns."""
    if len(rows) < 2:
        return False
    text_columns = [i for i, cell in enumerate(rows[0]) if not _is_number(cell)]
    return all(not _is_number(rows[1][i]) for i in text_columns if i < len(rows[1]))


def _numeric_columns(file: Path, rows: list[list[str]], header: Optional[list[str]], columns) -> np.ndarray:
    columns = list(columns)
    try:
        return np.array([[float(row[i]) for i in columns] for row in rows], dtype=np.float32).reshape(-1, len(columns))
    except ValueError:
        for number, row in enumerate(rows, start=2 if header else 1):
            for i in columns:
                if not _is_number(row[i]):
                    name = f"{header[i]!r} ({i})" if header else str(i)
                    raise RedesError(f"{file}: column {name}, line {number}: {row[i]!r} is not a number") from None
        raise


def _target_column(file: Path, header: Optional[list[str]], width: int, target: Target) -> int:
    if target is None:
        named = [name for name in header or [] if name in TARGET_NAMES]
        if named and header[-1] != named[0]:  # the last column is the target, but another is named so
            raise RedesError(f"{file}: the target is the last column ({header[-1]!r}) unless data.target says "
                             f"otherwise, but column {named[0]!r} is named like a target; set "
                             f"data.target={named[0]} (or data.target=-1 to keep the last)")
        return width - 1
    if isinstance(target, int):
        if not -width <= target < width:
            raise RedesError(f"{file}: data.target={target} but the file has {width} columns")
        return target % width
    if header is None or target not in header:
        found = ", ".join(header) if header else "no header row"
        raise RedesError(f"{file}: no column named {target!r} for data.target (found: {found})")
    return header.index(target)


def _infer_task(file: Path, y: np.ndarray, labels: np.ndarray, task: str) -> Task:
    """The task `task` names, or for `auto` the one y suggests; `labels` are y's and y_test's, counted together."""
    text, columns = y.dtype.kind == "U", y.size // len(y)
    if columns != 1 and (text or task in ("classification", "binary")):
        raise RedesError(f"{file}: y has shape {y.shape}; class labels need one label per sample")
    if task != "auto":
        if task == "regression" and text:
            raise RedesError(f"{file}: data.task=regression needs numeric targets, found text labels")
        return task  # type: ignore[return-value]
    if columns != 1:
        return "regression"
    if y.dtype.kind in "biu" or text or (y.ndim == 1 and np.all(labels == np.round(labels))):
        return "binary" if len(np.unique(labels)) == 2 else "classification"
    return "regression"


def _as_regression(file: Path, y: np.ndarray) -> np.ndarray:
    """Targets as float32, which every value must fit (1e300 would become inf)."""
    with np.errstate(over="ignore"):
        targets = y.astype(np.float32).reshape(len(y), -1)
    if not np.isfinite(targets).all():
        raise RedesError(f"{file}: a target beyond float32's range (about 3.4e38); scale the targets down")
    return targets


def _check_pair(file: Path, x_name: str, x: np.ndarray, y_name: str, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise RedesError(f"{file}: {x_name} has {len(x)} rows but {y_name} has {len(y)} labels")
    for name, array in ((x_name, x), (y_name, y)):
        if array.size == 0:
            raise RedesError(f"{file}: {name} is empty (shape {array.shape})")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise RedesError(f"{file}: {name} holds NaN or infinite values")


def _check_test(file: Path, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> None:
    """The npz's own test set must look like its training set: same columns, same kind of labels."""
    _check_pair(file, "x_test", x_test, "y_test", y_test)
    if x_test.shape[1] != x.shape[1]:
        raise RedesError(f"{file}: x_test has {x_test.shape[1]} columns, x has {x.shape[1]}")
    if y_test.size // len(y_test) != y.size // len(y) or (y_test.dtype.kind == "U") != (y.dtype.kind == "U"):
        raise RedesError(f"{file}: y_test ({y_test.dtype}, shape {y_test.shape}) does not match "
                         f"y ({y.dtype}, shape {y.shape})")


def _as_matrix(file: Path, name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 0:
        raise RedesError(f"{file}: array {name!r} is a single number, expected one row per sample")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        array = array.reshape(len(array), int(np.prod(array.shape[1:])))
    return array.astype(np.float32)


def _existing(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise RedesError(f"data file {file} not found")
    if file.suffix.lower() not in (".npz", ".csv"):
        raise RedesError(f"{file}: expected a .npz or .csv file")
    return file


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _name(label) -> str:
    return str(int(label)) if isinstance(label, float) and label.is_integer() else str(label)
