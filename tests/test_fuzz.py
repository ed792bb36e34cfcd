"""Hypothesis fuzz suite: any input gives a result or one RedesError, never anything else.

The contract (docs/reliability.md, src/redes/cli/main.py): for any input the `redes` command exits 0, or exits 2
with exactly one stderr line starting `redes: error: ` and no traceback; in the library every failure is a
`redes.errors.RedesError` with a one-line message. Each group below fuzzes one kind of input in-process, with its
own settings constant (examples per test, tests in the group):

    CONFIGS    400 x 3   --set overrides and settings, config files, `redes config`
    DATA       500 x 2   csv and npz files read for data.name=file
    PREDICT    250 x 2   the inputs of `redes predict`, in the library and at the command line
    RUN_FILES  300 x 3   model.safetensors, checkpoint.safetensors (as resume checks it), a run's text files
    RESUME      16 x 1   `redes resume` of a tampered checkpoint: it trains, so only a few examples
    STUDIES    400 x 3   sweep and search files (loaded and validated, nothing trained), a sweep directory

4,816 examples, with HYPOTHESIS_PROFILE=ci (CI's fixed draw): `pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import copy
import io
import json
import math
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import redes
from redes.checkpoint import load_tree
from redes.cli.main import main
from redes.config import Config, config_keys, load_config
from redes.config.schema import SIZE
from redes.data import load_data
from redes.data.files import read_features
from redes.errors import RedesError, TrainingInterrupted
from redes.loop.callbacks import Callback
from redes.runs.setup import prepare
from redes.runs.train import _restore
from redes.study.search import load_search
from redes.study.sweeps import load_sweep


def _profile(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


CONFIGS, DATA, PREDICT, RUN_FILES, RESUME, STUDIES = (_profile(n) for n in (400, 500, 250, 300, 16, 400))


# --- shared: the two contracts, hostile values ----------------------------------------------------------------


def _outcome(call):
    """call()'s result, or the RedesError it raised (whose message must be one line); anything else fails."""
    try:
        result = call()
    except RedesError as error:
        assert str(error) and "\n" not in str(error), repr(str(error))
        event("RedesError")
        return error
    event("result")
    return result


def _cli(capsys, *argv) -> int:
    """`redes ARGV` in-process, held to the command's contract: exit 0, or 2 with one `redes: error:` line."""
    status = main([str(arg) for arg in argv])
    err = capsys.readouterr().err
    event(f"exit {status}")
    assert "Traceback" not in err
    assert status in (0, 2), (status, err)
    if status == 2:
        lines = [line for line in err.split("\n") if line and not line.startswith("redes: warning: ")]
        assert len(lines) == 1 and lines[0].startswith("redes: error: "), err
    return status


def _rarely(common, rare, one_in: int = 8):
    """`common`, and about once in `one_in` draws `rare` (last: Hypothesis draws the first choice more often)."""
    return st.sampled_from([False] * (one_in - 1) + [True]).flatmap(lambda pick: rare if pick else common)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


KEYS = [key for key, *_ in config_keys()]
DEFAULTS = {key: _plain(default) for key, _, default, _ in config_keys()}
SECTIONS = sorted({key.split(".")[0] for key in KEYS})
FIELDS = sorted({key.rsplit(".", 1)[-1] for key in KEYS})
DOTTED = st.one_of(st.sampled_from(KEYS), st.sampled_from(SECTIONS), st.text(max_size=12), st.sampled_from(
    ["", ".", "train..epochs", "train.epochs.x", "model.embedding", "Train.Epochs", " data.path", "__class__",
     "train.__dict__", "train.seed", "a\nb"]))
BIG_INTS = [SIZE, SIZE + 1, 2**32, 2**63, -2**63 - 1, 10**30]  # at and past every bound a key has
# SAFE_INTS never ask for a moderately large size (10**5 .. 10**9) that is valid and slow to honour (data generated,
# a model built): a size is either small or past what memory holds, where redes must refuse it at once.
SAFE_INTS = st.one_of(st.integers(-3, 100), st.sampled_from(BIG_INTS))
ANY_INTS = st.one_of(SAFE_INTS, st.integers())
FLOATS = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324, 0.5, 1e-3]))
LONG = "x" * 5000
TEXTS = st.one_of(st.text(max_size=10), st.sampled_from(
    ["", " ", "auto", "none", "relu", "file", "digits", "bernoulli", "tokens", "cpu", "cuda", "cuda:9", "mps",
     "float64", "a\nb", "1e999", "nan", "~", "[1]", "{a: 1}", "!!binary", LONG]))


def _values(ints=SAFE_INTS, extra=st.nothing()):
    """Nested plain data (what YAML or JSON can hold) with hostile leaves."""
    leaves = st.one_of(st.none(), st.booleans(), ints, FLOATS, TEXTS, extra)
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(TEXTS, inner, max_size=3)), max_leaves=8)


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


VALUES = _rarely(_values(), st.sampled_from([31, 33, 200]).map(_nested), one_in=25)
# a schema key with its default (so that many documents are valid but for one thing) or with a hostile value
KEYED = st.sampled_from(KEYS).flatmap(lambda key: st.tuples(st.just(key), st.one_of(st.just(DEFAULTS[key]), VALUES)))


def _flow(value) -> str:
    """A value as YAML flow text, as one would type it after `--set KEY=`."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).strip().removesuffix("...").strip()


# --- configs ----------------------------------------------------------------------------------------------------
"""Configs: the first thing every command reads. Keys from the schema (and near misses) set to hostile YAML: huge
and negative numbers, NaN and inf, wrong types, deep nesting, duplicate keys, tags that build more than plain data
(!!binary, !!set, !!python/object), aliases, very long strings and files; the reader must refuse each in one line."""

YAML_FRAGMENTS = st.sampled_from([
    "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [{a: 1}]", "!!pairs [{a: 1}]", "!!timestamp 2001-12-14",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "!!python/object:os.system {}",
    "!!python/object/apply:os.system [echo hi]", "!!python/name:os.system", "!!python/tuple [1, 2]", "!!str 5",
    "!!int '7'", "!!float 1e3", "!!bool yes", "!!null ''", "!custom x", "!<tag:example.com,2000:x> 1",
    "&a [1, *a]", "*nowhere", "&x 5", ".nan", ".inf", "-.inf", "0x1F", "0o17", "0b101", "1_000", "+12", "1e999",
    "-1e999", "9" * 4300, "9" * 4301, "1." + "0" * 5000, "yes", "no", "on", "off", "~", "''", '""', "|\n  block",
    ">\n  folded", "[1, 2", "{a: 1", "'open", "\t", "%YAML 1.1", "---", "...", "? [1, 2]\n  : 3", "{[1]: 2}",
    "{{a: 1}: 2}", "{a: 1, a: 2}", "[{a: 1, b: 2, a: 3}]", "@reserved", "`tick", "- a\n  - b", "\x00", "\ufeff",
    "\x85", "\u2028", "\ud7ff", "[" + LONG + "]"])


def _deep(depth: int, bracket: str) -> str:
    return ("[" * depth + "1" + "]" * depth) if bracket == "[" else ("{a: " * depth + "1" + "}" * depth)


def _aliases(levels: int) -> str:
    """A flow sequence of anchors, each aliasing the one before 8 times: 8**levels nodes when expanded."""
    items = ["&a0 [" + ", ".join(["x"] * 8) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 8) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def _yaml_values(ints) -> st.SearchStrategy[str]:
    """Text after `key: ` in a YAML file: plain data with hostile leaves, or a hostile fragment."""
    return _rarely(st.one_of(_values(ints).map(_flow), YAML_FRAGMENTS), st.one_of(
        # 520 levels: past Python's recursion limit in PyYAML (a RecursionError); deeper takes seconds to refuse
        st.builds(_deep, st.sampled_from([31, 32, 33, 100, 520]), st.sampled_from("[{")),
        # aliases: a few hundred characters that expand to 8**9 values (the reader once walked them all)
        st.integers(1, 9).map(_aliases)), one_in=5)


YAML_VALUES = _yaml_values(ANY_INTS)


def _key_text(key: str) -> str:
    return key if key.isidentifier() else json.dumps(key)


@st.composite
def config_texts(draw, values=YAML_VALUES) -> str:
    """A YAML config: sections (the schema's, some twice, some unknown) of keys (likewise) set to hostile YAML."""
    names = _rarely(st.sampled_from(SECTIONS), st.text(max_size=6), one_in=4)
    lines = []
    for section in draw(st.lists(names, max_size=4)):
        lines.append(f"{_key_text(section)}:")
        for key in draw(st.lists(_rarely(st.sampled_from(FIELDS), st.text(max_size=6), one_in=4), max_size=4)):
            lines.append(f"  {_key_text(key)}: {draw(values)}")
    return "\n".join(lines)


def _nest(pairs) -> dict:
    """Dotted keys and values as the nested mapping a config file holds."""
    tree: dict = {}
    for key, value in pairs:
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else node
        node[leaf] = value
    return tree


HUGE_FILE = "# " + "x" * 1_000_001
CONFIG_TEXTS = st.one_of(
    config_texts(), st.lists(KEYED, max_size=5).map(_nest).map(yaml.safe_dump),
    _rarely(st.one_of(YAML_VALUES, st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))),
            st.just(HUGE_FILE), one_in=20))
OVERRIDES = st.lists(st.one_of(st.tuples(DOTTED, st.one_of(YAML_VALUES, st.text(max_size=20))),
                               KEYED.map(lambda pair: (pair[0], _flow(pair[1])))), max_size=5)


@CONFIGS
@given(overrides=OVERRIDES, settings_=st.one_of(st.dictionaries(DOTTED, VALUES, max_size=3),
                                                st.lists(KEYED, max_size=4).map(dict)))
def test_config_overrides(overrides, settings_):
    """`--set KEY=TEXT` (the text read as YAML) and dotted settings (as sweeps and searches set them)."""
    texts = [f"{key}={text}" for key, text in overrides]
    assert isinstance(_outcome(lambda: load_config(overrides=texts)), (Config, RedesError))
    assert isinstance(_outcome(lambda: load_config(settings=settings_)), (Config, RedesError))


@CONFIGS
@given(text=CONFIG_TEXTS, encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
def test_config_files(tmp_path, text, encoding):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode(encoding, errors="surrogateescape" if encoding == "utf-8" else "replace"))
    assert isinstance(_outcome(lambda: load_config(path)), (Config, RedesError))


@CONFIGS
@given(text=CONFIG_TEXTS, overrides=OVERRIDES, where=st.sampled_from(["file", "file", "file", "missing", "folder"]))
def test_cli_config(tmp_path, capsys, text, overrides, where):
    """`redes config FILE --set ...` prints the resolved config, or one error line."""
    path = tmp_path / f"{where}.yaml"
    if where == "file":
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
    elif where == "folder":
        path.mkdir(exist_ok=True)
    _cli(capsys, "config", path, *(f"--set={key}={value}" for key, value in overrides))


# --- data files ---------------------------------------------------------------------------------------------------
"""Data files for data.name=file, read through the config and load_data as `redes train` reads them: csv with wrong
column counts, ragged rows, text, NaN, inf and numbers past float32, empty or header-only files, a data.target that
names no column; npz with wrong or missing array names, object arrays (the tripwire fails the test if a pickle is
ever loaded), members that are not .npy, headers that lie about dtype, order or shape (10**12 rows in a few bytes)."""

NUMBER_CELLS = {"int": st.integers(0, 2).map(str), "float": st.floats(-1e3, 1e3, allow_nan=False).map(repr),
                "label": st.sampled_from(["setosa", "virginica", "a"])}
HOSTILE_CELLS = st.one_of(st.text(max_size=4), st.floats().map(str), st.sampled_from(
    ["", "nan", "NaN", "inf", "-inf", "1e999", "1e300", "-1e39", "0x10", "1_0", " 3 ", '"1,2"', '"', "\x00", "٣",
     "１", "\ufeff1", "True", "None", "a b", "#", "\\", "\r", "x" * 200_000]))


@st.composite
def csv_texts(draw) -> str:
    """A csv: columns of a kind (int, float or label), a header or not, then some hostile cells, a ragged row."""
    features = _rarely(st.sampled_from(["int", "float"]), st.just("label"), one_in=10)
    kinds = draw(st.lists(features, min_size=1, max_size=4)) + [draw(st.sampled_from(list(NUMBER_CELLS)))]
    height = draw(_rarely(st.integers(6, 30), st.integers(0, 5), one_in=6))
    rows = [[draw(NUMBER_CELLS[kind]) for kind in kinds] for _ in range(height)]
    header = draw(st.sampled_from([None, None, "names", "target", "short", "duplicate"]))
    names = {None: None, "names": [f"c{i}" for i in range(len(kinds))], "short": ["a"] * (len(kinds) - 1),
             "target": [f"c{i}" for i in range(len(kinds) - 1)] + ["y"], "duplicate": ["y"] * len(kinds)}[header]
    rows = ([names] if names is not None else []) + rows
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 3])) if rows else 0):
        row = draw(st.sampled_from(rows))
        if row:
            row[draw(st.integers(0, len(row) - 1))] = draw(HOSTILE_CELLS)
    if rows and draw(st.sampled_from([False] * 7 + [True])):  # a ragged row
        row = draw(st.sampled_from(rows))
        row.append("1") if draw(st.booleans()) or not row else row.pop()
    end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    return draw(st.sampled_from(["", "", "\ufeff"])) + end.join(",".join(row) for row in rows) + draw(
        st.sampled_from(["", end, end * 3]))


CSV_FILES = _rarely(st.tuples(csv_texts(), _rarely(st.just("utf-8"), st.sampled_from(["latin-1", "utf-16"]))),
                    st.one_of(st.tuples(st.text(max_size=60), st.just("utf-8")),
                              st.tuples(st.binary(max_size=100).map(lambda b: b.decode("latin-1")), st.just("latin-1"))),
                    one_in=5)


class _Tripwire:
    """Unpickling it sets `unpickled`: an object array in an npz must never be unpickled."""

    unpickled = False

    def __reduce__(self):
        return _trip, ()


def _trip():
    _Tripwire.unpickled = True


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npy_header(header: str, body: bytes, version: bytes = b"\x01\x00") -> bytes:
    """An .npy file whose header text is `header`, whatever it claims, followed by `body`."""
    text = header.encode("latin-1", errors="replace")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(text)) + text + body


DESCRS = ["<f4", "<f8", ">f8", "<f2", "<i8", "|u1", "|b1", "<c8", "<U3", "|S3", "|O", "|V8", "<M8[s]", "<U0",
          "|S0", [("a", "<f4")], "garbage"]
SMALL_DIMS, HUGE_DIMS = [0, 1, 2, 3, 5, 64], [10**12, 2**40, 2**62]


@st.composite
def lying_shapes(draw) -> tuple:
    """Small dimensions and at most one huge one (or -1): never a claim that would fit in memory yet be large, should
    NumPy ever allocate what a header claims."""
    dims = draw(st.lists(st.sampled_from(SMALL_DIMS), max_size=3))
    if draw(st.booleans()):
        dims.insert(draw(st.integers(0, len(dims))), draw(st.sampled_from(HUGE_DIMS + [-1])))
    return tuple(dims)


ARRAYS = st.sampled_from([np.int64, np.int8, np.uint8, np.float64, np.float32, np.float16, np.bool_, "<U2", ">f8",
                          np.complex64]).flatmap(
    lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))
CLEAN = st.integers(8, 30).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float32, st.tuples(st.just(n), st.integers(1, 4)), elements=st.floats(-10, 10, width=32)),
    hnp.arrays(np.int64, n, elements=st.integers(0, 2))))
MEMBER_NAMES = st.sampled_from(["x.npy", "y.npy", "x_test.npy", "y_test.npy", "z.npy", "x", "y", "X.npy",
                                "x.npy.npy", "dir/x.npy", "../y.npy"])
MEMBERS = st.one_of(
    ARRAYS.map(_npy_bytes),
    st.just(np.array([_Tripwire(), 1], dtype=object)).map(_npy_bytes),
    st.builds(lambda descr, order, shape, body: _npy_header(
        f"{{'descr': {descr!r}, 'fortran_order': {order!r}, 'shape': {shape!r}, }}", body),
        st.sampled_from(DESCRS), st.sampled_from([False, True, 1, "no"]),
        st.one_of(lying_shapes(), st.sampled_from(["x", [3], (3.5,), None, (True,)])), st.binary(max_size=64)),
    st.builds(_npy_header, st.text(max_size=40), st.binary(max_size=16),
              st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x09"])),
    st.binary(max_size=40))


@st.composite
def npz_files(draw) -> bytes:
    """An npz archive: clean x and y, some members added or replaced by hostile ones; or not an archive at all."""
    kind = draw(st.sampled_from(["archive"] * 5 + ["npy", "pickle", "bytes"]))
    if kind == "npy":
        return draw(ARRAYS.map(_npy_bytes))
    if kind == "pickle":
        return pickle.dumps(np.array([_Tripwire()], dtype=object))
    if kind == "bytes":
        return draw(st.sampled_from([b"", b"PK\x05\x06" + bytes(18), b"PK\x03\x04"])) + draw(st.binary(max_size=80))
    members = {}
    if draw(st.sampled_from([True, True, True, False])):
        x, y = draw(CLEAN)
        members = {"x.npy": _npy_bytes(x), "y.npy": _npy_bytes(y)}
    members.update(draw(st.dictionaries(MEMBER_NAMES, MEMBERS, max_size=3)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


TARGETS = st.one_of(st.none(), st.none(), st.integers(-4, 4), st.sampled_from([SIZE, -SIZE, "y", "c0", "missing",
                                                                              "", "0"]))
DATA_KEYS = st.fixed_dictionaries({
    "data.target": TARGETS, "data.task": st.sampled_from(["auto", "auto", "classification", "binary", "regression"]),
    "data.scale": st.sampled_from(["auto", "standard", "none"]),
    "data.val_fraction": st.sampled_from([0.0, 0.15, 0.15, 0.5]),
    "data.test_fraction": _rarely(st.sampled_from([0.0, 0.15, 0.3]), st.just(0.99), one_in=10),
    "data.max_samples": st.sampled_from([None, None, None, 1, 3, SIZE])})


def _load_file_data(path: Path, keys: dict, seed: int):
    """load_data for data.name=file, as `redes train` reads it; the splits are checked for what training needs."""
    splits = _outcome(lambda: load_data(load_config(settings={"data.name": "file", "data.path": str(path),
                                                              **keys}).data, seed))
    assert not _Tripwire.unpickled, "an npz's pickle was loaded"
    if isinstance(splits, RedesError):
        return splits
    assert len(splits.train) > 0 and splits.n_features > 0
    for split in (splits.train, splits.val, splits.test):
        if split is not None:
            assert split.x.dtype == torch.float32 and split.x.shape[1] == splits.n_features
            if splits.task == "regression":  # a target past float32 (1e300) must be refused, not become inf
                assert bool(torch.isfinite(split.y).all())
            else:
                assert split.y.dtype == torch.int64 and 0 <= int(split.y.min()) <= int(split.y.max()) < len(
                    splits.classes)
    return splits


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numbers past float32 overflow when cast, and are refused
@DATA
@given(file=CSV_FILES, keys=DATA_KEYS, seed=st.sampled_from([0, 1, 2**32 - 1]))
def test_csv_files(tmp_path, file, keys, seed):
    text, encoding = file
    path = tmp_path / "fuzz.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    _load_file_data(path, keys, seed)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:Duplicate name:UserWarning")
@DATA
@given(content=npz_files(), keys=DATA_KEYS)
def test_npz_files(tmp_path, content, keys):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(content)
    _load_file_data(path, keys, 0)


# --- the inputs of redes predict -------------------------------------------------------------------------------
"""`redes predict RUN INPUT`: a features file (csv with or without its target column, or npz `x`) read for a model
of a given width, by the library and by the command on a real run; the same hostile files as above, and files
that are nearly right for a 64-input model (63, 64 or 65 columns, images 8x8, no rows)."""


@st.composite
def feature_files(draw) -> tuple[str, bytes]:
    """(suffix, content): a csv or npz for a 64-input model, nearly right or hostile."""
    if draw(st.booleans()):
        width, rows = draw(st.sampled_from([63, 64, 64, 65])), draw(st.integers(0, 3))
        cells = [[draw(st.sampled_from(["0", "1.5", "16"])) for _ in range(width)] for _ in range(rows)]
        if cells and draw(st.booleans()):
            cells[draw(st.integers(0, rows - 1))][draw(st.integers(0, width - 1))] = draw(HOSTILE_CELLS)
        header = [[f"p{i}" for i in range(width)]] if draw(st.booleans()) else []
        return ".csv", "\n".join(",".join(row) for row in header + cells).encode()
    shape = draw(st.sampled_from([(2, 64), (0, 64), (2, 8, 8), (3, 63), (64,), (1, 65), ()]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.bool_, "<U2"]))
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros(shape, dtype=dtype), **draw(st.sampled_from([{}, {"y": np.zeros(2)}])))
    return ".npz", buffer.getvalue()


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:Duplicate name:UserWarning")
@PREDICT
@given(file=st.one_of(CSV_FILES.map(lambda f: (".csv", f[0].encode(f[1], errors="replace"))),
                      npz_files().map(lambda content: (".npz", content))),
       width=st.sampled_from([1, 2, 3, 5]), target=TARGETS)
def test_features(tmp_path, file, width, target):
    suffix, content = file
    path = tmp_path / f"features{suffix}"
    path.write_bytes(content)
    x = _outcome(lambda: read_features(str(path), width, target))
    assert not _Tripwire.unpickled, "an npz's pickle was loaded"
    assert isinstance(x, RedesError) or (x.ndim == 2 and x.shape[1] == width)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished digits run (64 inputs, 10 classes), its checkpoint and model file as bytes."""
    run = redes.train({"train": {"epochs": 1, "batch_size": 256}, "model": {"hidden": [8]}},
                      out=tmp_path_factory.mktemp("fuzz") / "run", verbose=False)
    return run.path, (run.path / "checkpoint.safetensors").read_bytes(), (run.path / "model.safetensors").read_bytes()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@PREDICT
@given(file=feature_files(), out=st.booleans())
def test_cli_predict(tmp_path, capsys, trained, file, out):
    suffix, content = file
    path = tmp_path / f"input{suffix}"
    path.write_bytes(content)
    written = tmp_path / "predictions.csv"
    written.unlink(missing_ok=True)
    _cli(capsys, "predict", trained[0], path, *(["--out", written] if out else []))


# --- run directories ------------------------------------------------------------------------------------------
"""A run directory edited or damaged by hand: model.safetensors and checkpoint.safetensors cut short, with bytes
overwritten, or with their JSON edited at any place: the tensors' dtypes, shapes and offsets, and redes' metadata
(the model spec, sizes, loss, task and classes; the checkpoint's tree of optimizer settings and buffers, position,
history and random states); config.yaml, metrics.csv, timing.csv and summary.json replaced. Read by load_run,
_restore (what `redes resume` checks a checkpoint with, on one prepared setup), `redes eval`, `compare`, `resume`."""

DELETE, DIGITS = "<<delete>>", "<<digits>>"  # edit markers: remove the entry; a 5000-digit integer
JSON_VALUES = st.one_of(
    _values(SAFE_INTS, st.sampled_from([DIGITS, "__tensor__", "__dict__", "F16", "I32", "U8", "BOOL"])),
    st.sampled_from(["t.0.0", "t.0.1", "t.1.0.0.0", "t.2.4", "t.2.5.0", "model.0.weight", "scaler.scale",
                     "missing"]).map(lambda name: {"__tensor__": name}),
    st.sampled_from([[], [0, 0], [8, 64], [64, 8], [10**12], [2**64], [-1]]),
    st.sampled_from([{"__dict__": 5}, {"__dict__": [[1]]}, {"__dict__": [[[], 1]]}]))
JSON_EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.one_of(JSON_VALUES, st.just(DELETE))), min_size=1,
                      max_size=3)
# torch.optim's Adam settings in a checkpoint, and tensors' dtypes of the same width (the file stays readable)
GROUP_SETTINGS = st.tuples(
    st.sampled_from(["lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable",
                     "differentiable", "fused", "decoupled_weight_decay", "params"]),
    st.sampled_from([True, False, None, 0, -1.0, 1e30, 0.5, [2, 3], [0.5, 0.5], [0, 1, 2], "x"]))
DTYPES = st.tuples(st.sampled_from(["t.0.0", "t.1.0.0.0", "t.1.0.0.1", "t.2.4", "model.0.weight", "scaler.scale"]),
                   st.sampled_from(["I32", "U32", "F32", "I8", "BOOL"]))


def _mutations():
    """Bytes cut or overwritten; the tensors' header or redes' metadata edited at any place; an optimizer setting
    or a tensor's dtype changed."""
    flips = st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=6)
    return st.one_of(st.tuples(st.just("flip"), flips), st.tuples(st.just("cut"), st.integers(0, 10**9)),
                     st.tuples(st.just("header"), JSON_EDITS), st.tuples(st.just("meta"), JSON_EDITS),
                     st.tuples(st.just("meta"), JSON_EDITS), st.tuples(st.just("group"), GROUP_SETTINGS),
                     st.tuples(st.just("dtype"), DTYPES))


def _positions(node, at=()):
    """Every place in a JSON tree, as the keys and indices that lead to it, the root first."""
    yield at
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _positions(child, (*at, key))


def _edit(node, at: tuple, value):
    """A copy of `node` with the entry at `at` replaced by `value` (or removed, for DELETE)."""
    if not at:
        return None if value == DELETE else value
    node = copy.copy(node)
    if len(at) > 1:
        node[at[0]] = _edit(node[at[0]], at[1:], value)
    elif value == DELETE:
        del node[at[0]]
    else:
        node[at[0]] = value
    return node


def _edited(tree, edits):
    for index, value in edits:
        places = list(_positions(tree))
        tree = _edit(tree, places[index % len(places)], value)
    return tree


def _entry(skeleton: dict, key: str):
    """The value of `key` in a dict as `redes.checkpoint.pack` writes it: {"__dict__": [[key, value], ...]}."""
    return next(value for name, value in skeleton["__dict__"] if name == key)


def _set_group(meta: dict, key: str, value) -> dict:
    meta = copy.deepcopy(meta)
    if meta.get("kind") == "checkpoint":
        group = _entry(_entry(meta["tree"], "optimizer"), "param_groups")[0]
        group["__dict__"] = [[name, value if name == key else old] for name, old in group["__dict__"]]
    return meta


def _mutate(data: bytes, how) -> bytes:
    """The file `how` (a draw of `_mutations()`) makes of the safetensors file `data`."""
    kind, arg = how
    if kind == "cut":
        return data[: arg % (len(data) + 1)]
    if kind == "flip":
        out = bytearray(data)
        for position, value in arg:
            out[position % len(out)] = value
        return bytes(out)
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    meta = json.loads(header.pop("__metadata__")["redes"])
    if kind == "header":
        header = _edited(header, arg)
    elif kind == "meta":
        meta = _edited(meta, arg)
    elif kind == "group":
        meta = _set_group(meta, *arg)
    elif arg[0] in header:
        header[arg[0]] = {**header[arg[0]], "dtype": arg[1]}
    if isinstance(header, dict):
        header["__metadata__"] = {"redes": json.dumps(meta)}
    packed = json.dumps(header).replace(f'\\"{DIGITS}\\"', "9" * 5000).replace(f'"{DIGITS}"', "9" * 5000)
    return struct.pack("<Q", len(packed)) + packed.encode() + data[8 + size:]


@RUN_FILES
@given(how=_mutations())
def test_model_files(tmp_path, trained, how):
    run_dir, _, model = trained
    data = _mutate(model, how)
    copy_ = tmp_path / "run"
    copy_.mkdir(exist_ok=True)
    (copy_ / "config.yaml").write_bytes((run_dir / "config.yaml").read_bytes())
    (copy_ / "model.safetensors").write_bytes(data)
    run = _outcome(lambda: redes.load_run(copy_))
    if not isinstance(run, RedesError):
        run.predict(np.zeros((2, run.model[0].in_features), dtype=np.float32))


class _StopMidEpoch(Callback):
    """Stop (as Ctrl-C does) after the second step of the second epoch: the checkpoint holds an epoch's sums."""

    def on_batch_end(self, state, loss):
        if state.epoch == 2 and state.step >= 2:
            state.interrupted = True


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A digits run stopped mid-epoch, and one prepared setup to restore its (tampered) checkpoints into."""
    path = tmp_path_factory.mktemp("fuzz") / "stopped"
    with pytest.raises(TrainingInterrupted):
        redes.train({"train": {"epochs": 3, "batch_size": 256}, "model": {"hidden": [8]}}, out=path, verbose=False,
                    callbacks=[_StopMidEpoch()])
    setup = prepare(load_config(path / "config.yaml"))
    fresh = copy.deepcopy(setup.model.state_dict()), copy.deepcopy(setup.engine.state_dict())
    return path, setup, fresh


@RUN_FILES
@given(how=_mutations())
def test_checkpoint_files(tmp_path, stopped, how):
    run_dir, setup, (weights, optimizer) = stopped
    data = _mutate((run_dir / "checkpoint.safetensors").read_bytes(), how)
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(data)
    setup.model.load_state_dict(weights)  # as a fresh `prepare` leaves them, without paying for one per example
    setup.engine.load_state_dict(copy.deepcopy(optimizer))
    _outcome(lambda: _restore(setup, load_tree(path, "checkpoint"), path))


@RESUME
@given(how=st.one_of(st.tuples(st.just("group"), GROUP_SETTINGS), _mutations()))
def test_resume(tmp_path, capsys, stopped, how):
    """`redes resume` of a tampered checkpoint refuses it in one line, or trains to the end."""
    run_dir = tmp_path / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(stopped[0], run_dir)
    data = _mutate((run_dir / "checkpoint.safetensors").read_bytes(), how)
    (run_dir / "checkpoint.safetensors").write_bytes(data)
    _cli(capsys, "resume", run_dir)


def _with_settings(config: dict, pairs) -> str:
    """A run's config.yaml with dotted keys set to hostile values."""
    config = copy.deepcopy(config)
    for key, value in pairs:
        section, _, field = key.partition(".")
        config.setdefault(section, {})[field] = value
    return yaml.safe_dump(config)


@st.composite
def metrics_texts(draw, columns: list[str]) -> str:
    """A metrics.csv or timing.csv as redes writes it (a header, a row per epoch), then with a column dropped or
    added, hostile cells (epochs such as 0, -1, 1e5), a ragged row."""
    header = list(columns)
    if draw(st.sampled_from([False] * 7 + [True])):
        header.pop(draw(st.integers(0, len(header) - 1))) if draw(st.booleans()) else header.append(draw(TEXTS))
    rows = [[str(epoch)] + [repr(draw(st.floats(0, 10))) for _ in header[1:]] for epoch in
            range(1, draw(st.integers(0, 4)) + 1)]
    for _ in range(draw(st.sampled_from([0, 1, 1, 2])) if rows else 0):
        row = draw(st.sampled_from(rows))
        row[draw(st.integers(0, len(row) - 1))] = draw(st.one_of(HOSTILE_CELLS, st.sampled_from(
            ["0", "-1", "1e5", "1.0", "2", "99999999999999999999"])))
    if rows and draw(st.sampled_from([False] * 7 + [True])):  # a ragged row
        draw(st.sampled_from(rows)).append("1")
    return "\n".join(",".join(row) for row in [header] + rows) + "\n"


METRICS = ["epoch", "train_loss", "train_penalty", "train_accuracy", "val_loss", "val_accuracy"]
RUN_TEXTS = {
    # SAFE_INTS: `redes eval` generates a synthetic source's data again, and 10**6 samples take seconds
    "config.yaml": st.one_of(config_texts(_yaml_values(SAFE_INTS)), st.lists(KEYED, min_size=1, max_size=3)),
    "metrics.csv": _rarely(metrics_texts(METRICS), CSV_FILES.map(lambda f: f[0]), one_in=4),
    "timing.csv": _rarely(metrics_texts(["epoch", "seconds"]), CSV_FILES.map(lambda f: f[0]), one_in=4),
    "summary.json": st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=30), st.sampled_from(
        ["[" * 100_000, '{"a": ' * 10_000, "NaN", "1" * 5000, '{"test": {"loss": "x"}}', '{"epochs": []}'])),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@RUN_FILES
@given(name=st.sampled_from(sorted(RUN_TEXTS)), data=st.data(),
       how=st.sampled_from(["text", "text", "text", "bytes", "folder", "gone"]),
       command=st.sampled_from([["eval"], ["eval", "--json", "--split", "val"], ["compare"], ["compare", "--json"]]))
def test_run_files(tmp_path, capsys, trained, name, data, how, command):
    run_dir = tmp_path / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(trained[0], run_dir, ignore=shutil.ignore_patterns("plots", "checkpoint.safetensors"))
    path = run_dir / name
    path.unlink()
    if how == "text":
        text = data.draw(RUN_TEXTS[name])
        if isinstance(text, list):
            text = _with_settings(yaml.safe_load((trained[0] / "config.yaml").read_text()), text)
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
    elif how == "bytes":
        path.write_bytes(data.draw(st.binary(max_size=100)))
    elif how == "folder":
        path.mkdir()
    _cli(capsys, *command, run_dir)


# --- sweeps and searches ------------------------------------------------------------------------------------------
"""Sweep and search files, loaded and validated (every point and probe made into a config) but never run: their
base (a mapping, or a config file that is missing, hostile, a folder, outside), set:, axes: and seeds:, and for
searches params: of choices or ranges (huge, inverted, log of zero, steps that do not divide) and the sampler,
pruner and trials; and the sweep.yaml of a sweep directory, which `redes plot SWEEP_DIR` reads back."""

BASE = {"model": {"hidden": [4]}, "train": {"epochs": 1}}
BASES = st.one_of(st.just(BASE), st.just(BASE), st.lists(KEYED, max_size=2).map(_nest), st.sampled_from(
    ["base.yaml", "base.yaml", "hostile.yaml", "missing.yaml", "", ".", "..", "/", "../" * 30 + "etc/hostname",
     "a\x00b"]), VALUES)
SMALL_LISTS = st.lists(VALUES, max_size=3)  # at most 3 values on at most 3 axes and 3 seeds: 81 points
SEEDS = _rarely(st.lists(st.one_of(st.integers(0, 5), SAFE_INTS), min_size=1, max_size=3), VALUES, one_in=4)
# an axis: a schema key with its default and other values, or anything
AXES = _rarely(st.lists(KEYED.flatmap(lambda pair: st.tuples(st.just(pair[0]), st.lists(
    st.one_of(st.just(DEFAULTS[pair[0]]), st.just(pair[1])), min_size=1, max_size=3))), max_size=3).map(dict),
               st.one_of(st.dictionaries(DOTTED, st.one_of(SMALL_LISTS, VALUES), max_size=3), VALUES), one_in=3)
RANGE_NUMBERS = st.one_of(st.sampled_from([0, 1, 3, 10, -1, 0.0, 1e-300, 0.5, 1e-3, 1e30, 10**40, math.inf, math.nan,
                                           True, "3", None]), FLOATS, SAFE_INTS)
PARAMS = st.one_of(
    KEYED.map(lambda pair: {"choices": [pair[1]]}),
    st.fixed_dictionaries({"choices": SMALL_LISTS}, optional={"log": st.booleans(), "low": RANGE_NUMBERS}),
    st.fixed_dictionaries({"low": RANGE_NUMBERS, "high": RANGE_NUMBERS},
                          optional={"log": VALUES, "step": RANGE_NUMBERS, "choices": SMALL_LISTS}),
    VALUES)
SEARCH_SETTINGS = st.sampled_from(["val_accuracy", "val_loss", "train_loss", "tpe", "random", "grid", "median",
                                   "none", {"name": "median", "startup_trials": -1}, {"name": "none", "x": 1}, 0, 1,
                                   -1, 10**30])


@st.composite
def study_files(draw, kind: str) -> str:
    """A sweep or search file: the usual keys (some missing, some unknown) with hostile values, as YAML text."""
    spec = {"base": draw(BASES), "set": draw(_rarely(st.lists(KEYED, max_size=2).map(dict),
                                                     st.one_of(st.dictionaries(DOTTED, VALUES, max_size=2), VALUES)))}
    if kind == "sweep":
        spec["axes"], spec["seeds"] = draw(AXES), draw(SEEDS)
    else:
        spec["params"] = draw(_rarely(st.dictionaries(st.sampled_from(KEYS), PARAMS, max_size=3),
                                      st.one_of(st.dictionaries(DOTTED, PARAMS, max_size=3), VALUES), one_in=3))
        spec.update(draw(st.dictionaries(st.sampled_from(["metric", "sampler", "pruner", "trials", "seed", "name"]),
                                         st.one_of(SEARCH_SETTINGS, VALUES), max_size=3)))
    if draw(st.sampled_from([False] * 5 + [True])):
        spec.pop(draw(st.sampled_from(sorted(spec, reverse=True))))
    spec.update(draw(_rarely(st.just({}), st.dictionaries(st.sampled_from(["extra", "Axes", "param", "trails"]),
                                                          VALUES, max_size=1))))
    return draw(_rarely(st.just(yaml.safe_dump(spec, width=10**9)), CONFIG_TEXTS, one_in=6))





def _study_outcome(tmp_path, text: str, kind: str):
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    (folder / "hostile.yaml").write_text("train: {epochs: !!binary aGk=}\nmodel: {hidden: [4], hidden: [5]}")
    path = folder / f"fuzz_{kind}.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    return _outcome(lambda: (load_sweep if kind == "sweep" else load_search)(path))


@STUDIES
@given(text=study_files("sweep"))
def test_sweep_files(tmp_path, text):
    _study_outcome(tmp_path, text, "sweep")


@STUDIES
@given(text=study_files("search"))
def test_search_files(tmp_path, text):
    _study_outcome(tmp_path, text, "search")



# mostly as `redes sweep` writes it, with hostile config values
SWEEP_PLANS = _rarely(st.fixed_dictionaries({
    "base": st.one_of(st.just(BASE), st.lists(KEYED, max_size=2).map(_nest)),
    "axes": st.lists(KEYED.map(lambda pair: (pair[0], [pair[1]])), min_size=1, max_size=3).map(dict),
    "seeds": st.lists(SAFE_INTS, min_size=1, max_size=3)}), st.one_of(
        st.fixed_dictionaries({"base": BASES, "axes": AXES, "seeds": SEEDS}), VALUES), one_in=4)


@STUDIES
@given(plan=SWEEP_PLANS, text=_rarely(st.none(), st.one_of(CONFIG_TEXTS, st.binary(max_size=60)), one_in=4))
def test_sweep_dirs(tmp_path, capsys, plan, text):
    """`redes plot SWEEP_DIR` reads sweep.yaml back (no point has run, so nothing is drawn)."""
    sweep_dir = tmp_path / "sweep"
    shutil.rmtree(sweep_dir, ignore_errors=True)
    sweep_dir.mkdir()
    text = yaml.safe_dump(plan) if text is None else text
    text = text.encode("utf-8", errors="surrogateescape") if isinstance(text, str) else text
    (sweep_dir / "sweep.yaml").write_bytes(text)
    _cli(capsys, "plot", sweep_dir)



def test_a_tampered_entry_that_is_no_longer_a_tensor_is_named(tmp_path):
    from torch import nn

    from redes.checkpoint import load_state

    model = nn.Linear(3, 2)
    tensors = {"weight": {"__tensor__": "t.0"}, "bias": model.bias.detach()}
    with pytest.raises(RedesError, match=r"model.safetensors: 'weight' is not a tensor; the file is damaged"):
        load_state(model, tensors, Path("model.safetensors"))
    with pytest.raises(RedesError, match="not a mapping of named tensors"):
        load_state(model, [1, 2], Path("model.safetensors"))
