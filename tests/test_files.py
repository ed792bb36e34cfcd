"""User data files: csv and npz readers, task inference, label encoding, and every refusal of bad input."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from redes.config import DataConfig
from redes.data.files import load_file, read_csv, read_features, read_file
from redes.data.raw import RawData
from redes.errors import RedesError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _npz(tmp_path: Path, name: str = "data.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _rows(matrix: np.ndarray, labels) -> str:
    return "".join(",".join([*map(str, row), str(label)]) + "\n" for row, label in zip(matrix.tolist(), labels))


def _refused(path, what: str):
    """A RedesError whose message names the file and then says what is wrong."""
    return pytest.raises(RedesError, match=re.escape(str(path)) + ".*" + what)


def _encoded(labels) -> tuple[list[str], np.ndarray]:
    """The oracle: classes are the sorted unique labels, y the index of each label among them."""
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    return classes, y


# --- csv -----------------------------------------------------------------------------------------------------

X = np.array([[0.5, -1.0], [2.0, 3.25], [1.5, 0.0], [-4.0, 8.0], [7.0, 1.0], [0.0, 0.125]])


def test_csv_without_header_numeric_labels_are_classes_sorted_by_value(tmp_path):
    labels = [9, 5, 7, 5, 9, 10]
    raw = read_file(str(_csv(tmp_path, _rows(X, labels))), None, "auto")
    classes, y = _encoded(labels)
    assert raw.task == "classification"
    assert raw.classes == [str(c) for c in classes] == ["5", "7", "9", "10"]
    np.testing.assert_array_equal(raw.y, y)
    assert raw.y.dtype == np.int64
    np.testing.assert_array_equal(raw.x, X.astype(np.float32))
    assert raw.x.dtype == np.float32 and raw.x_test is None and raw.y_test is None


def test_csv_with_header_reads_the_same_data(tmp_path):
    labels = [2, 0, 1, 1, 0, 2]
    raw = read_file(str(_csv(tmp_path, "f0,f1,label\n" + _rows(X, labels))), None, "auto")
    assert raw.task == "classification" and raw.classes == ["0", "1", "2"]
    np.testing.assert_array_equal(raw.y, labels)
    np.testing.assert_array_equal(raw.x, X.astype(np.float32))


def test_two_labels_make_a_binary_task(tmp_path):
    labels = [3, 8, 8, 3, 3, 8]
    raw = read_file(str(_csv(tmp_path, _rows(X, labels))), None, "auto")
    assert raw.task == "binary" and raw.classes == ["3", "8"]
    np.testing.assert_array_equal(raw.y, [0, 1, 1, 0, 0, 1])


def test_float_targets_are_regression_with_one_column(tmp_path):
    targets = [0.5, 1.25, -3.0, 2.0, 1e-3, 7.75]
    raw = read_file(str(_csv(tmp_path, _rows(X, targets))), None, "auto")
    assert raw.task == "regression" and raw.classes is None
    assert raw.y.shape == (6, 1) and raw.y.dtype == np.float32
    np.testing.assert_array_equal(raw.y[:, 0], np.float32(targets))


@pytest.mark.parametrize("header", ["", "sepal_length,sepal_width,species\n"])
def test_text_labels_are_class_names(tmp_path, header):
    species = ["virginica", "setosa", "versicolor", "setosa", "virginica", "setosa"]
    raw = read_file(str(_csv(tmp_path, header + _rows(X, species))), None, "auto")
    classes, y = _encoded(species)
    assert raw.task == "classification" and raw.classes == list(classes) == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(raw.y, y)
    np.testing.assert_array_equal(raw.x, X.astype(np.float32))


@pytest.mark.parametrize("target", ["kind", 0, -3])
def test_target_column_by_name_or_index(tmp_path, target):
    kinds = [1, 0, 1, 1, 0, 0]
    text = "kind,a,b\n" + "".join(f"{k},{a},{b}\n" for k, (a, b) in zip(kinds, X.tolist()))
    raw = read_file(str(_csv(tmp_path, text)), target, "auto")
    assert raw.task == "binary"
    np.testing.assert_array_equal(raw.y, kinds)
    np.testing.assert_array_equal(raw.x, X.astype(np.float32))


def test_target_in_the_middle_keeps_the_other_columns_in_order(tmp_path):
    text = "".join(f"{a},{k},{b}\n" for k, (a, b) in zip(range(6), X.tolist()))
    raw = read_file(str(_csv(tmp_path, text)), 1, "auto")
    np.testing.assert_array_equal(raw.x, X.astype(np.float32))
    np.testing.assert_array_equal(raw.y, range(6))


def test_forced_regression_keeps_integer_targets_as_numbers(tmp_path):
    labels = [9, 5, 7, 5, 9, 10]
    raw = read_file(str(_csv(tmp_path, _rows(X, labels))), None, "regression")
    assert raw.task == "regression" and raw.classes is None
    np.testing.assert_array_equal(raw.y, np.float32(labels).reshape(-1, 1))


def test_forced_classification_of_float_targets(tmp_path):
    raw = read_file(str(_csv(tmp_path, _rows(X, [0.5, 1.5, 0.5, 2.5, 1.5, 0.5]))), None, "classification")
    assert raw.task == "classification" and raw.classes == ["0.5", "1.5", "2.5"]
    np.testing.assert_array_equal(raw.y, [0, 1, 0, 2, 1, 0])


def test_excel_byte_order_mark_is_not_part_of_the_header(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b,label\n1,2,0\n3,4,1\n5,6,0\n")
    raw = read_file(str(path), "a", "regression")
    np.testing.assert_array_equal(raw.y[:, 0], [1, 3, 5])


def test_byte_order_mark_without_header_keeps_the_first_row(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf1,2,0\n3,4,1\n5,6,0\n")
    raw = read_file(str(path), None, "auto")
    np.testing.assert_array_equal(raw.x, [[1, 2], [3, 4], [5, 6]])


def test_blank_lines_and_spaces_around_cells_are_ignored(tmp_path):
    raw = read_file(str(_csv(tmp_path, "a, b ,y\n\n 1 ,2, 0\n\n3,4,1\n")), "b", "regression")
    np.testing.assert_array_equal(raw.x, [[1, 0], [3, 1]])
    np.testing.assert_array_equal(raw.y, [[2], [4]])


# --- npz -----------------------------------------------------------------------------------------------------


def test_npz_with_x_and_y(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    raw = read_file(str(_npz(tmp_path, x=x, y=np.array([4, 2, 2, 4]))), None, "auto")
    assert raw.task == "binary" and raw.classes == ["2", "4"]
    np.testing.assert_array_equal(raw.y, [1, 0, 0, 1])
    np.testing.assert_array_equal(raw.x, x)
    assert raw.x.dtype == np.float32 and raw.x_test is None


def test_npz_with_its_own_test_set_encodes_labels_over_both(tmp_path):
    x, x_test = np.arange(8.0).reshape(4, 2), -np.arange(6.0).reshape(3, 2)
    y, y_test = np.array(["cat", "dog", "cat", "dog"]), np.array(["eel", "cat", "dog"])
    raw = read_file(str(_npz(tmp_path, x=x, y=y, x_test=x_test, y_test=y_test)), None, "auto")
    classes, codes = _encoded(np.concatenate([y, y_test]))
    assert raw.task == "classification" and raw.classes == list(classes) == ["cat", "dog", "eel"]
    np.testing.assert_array_equal(raw.y, codes[:4])
    np.testing.assert_array_equal(raw.y_test, codes[4:])
    np.testing.assert_array_equal(raw.x_test, x_test)
    assert raw.x_test.dtype == np.float32 and raw.y_test.dtype == np.int64


def test_npz_regression_test_targets_become_one_column(tmp_path):
    path = _npz(tmp_path, x=np.ones((3, 2)), y=np.array([0.5, 1.0, 2.0]), x_test=np.ones((2, 2)),
                y_test=np.array([0.25, 3.0]))
    raw = read_file(str(path), None, "auto")
    assert raw.task == "regression"
    np.testing.assert_array_equal(raw.y_test, [[0.25], [3.0]])


def test_npz_one_dimensional_x_becomes_a_column(tmp_path):
    raw = read_file(str(_npz(tmp_path, x=np.array([1.0, 2.0, 3.0]), y=np.array([0.1, 0.2, 0.4]))), None, "auto")
    assert raw.x.shape == (3, 1)
    np.testing.assert_array_equal(raw.x[:, 0], [1, 2, 3])


def test_npz_images_are_flattened_per_sample(tmp_path):
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    raw = read_file(str(_npz(tmp_path, x=x, y=np.array([0, 1]))), None, "auto")
    np.testing.assert_array_equal(raw.x, x.reshape(2, 12))


def test_npz_integer_targets_with_several_columns_are_regression(tmp_path):
    y = np.array([[0, 1], [1, 0], [2, 2]])
    raw = read_file(str(_npz(tmp_path, x=np.ones((3, 2)), y=y)), None, "auto")
    assert raw.task == "regression" and raw.y.shape == (3, 2)
    np.testing.assert_array_equal(raw.y, y)


# --- refusals ------------------------------------------------------------------------------------------------


def test_missing_path_and_missing_file(tmp_path):
    with pytest.raises(RedesError, match="data.name=file needs data.path"):
        load_file(DataConfig(name="file"), np.random.default_rng(0))
    missing = tmp_path / "nope.csv"
    with pytest.raises(RedesError, match=f"data file {re.escape(str(missing))} not found"):
        read_file(str(missing), None, "auto")


def test_wrong_extension(tmp_path):
    path = _csv(tmp_path, "1,2,0\n", name="data.txt")
    with _refused(path, r"expected a \.npz or \.csv file"):
        read_file(str(path), None, "auto")


@pytest.mark.parametrize("text, what", [
    ("a,b,y\n1,2,0\n3,oops,1\n", r"column 'b' \(1\), line 3: 'oops' is not a number"),
    ("1,2,0\n3,4,1\n,5,0\n", r"column 0, line 3: '' is not a number"),
    ("1,2,0\n3,4\n", "line 2 has 2 columns, expected 3"),
    ("a,b\n1,2,0\n3,4,1\n", "line 2 has 3 columns, expected 2"),
    ("a,b,c,d\n1,2,0\n", "line 2 has 3 columns, expected 4"),
    ("a,b,y\n", "no data rows"),
    ("", "no data rows"),
    ("1\n2\n", "expected feature columns and a target column, found 1 column"),
    ("1,nan,0\n3,4,1\n", "x holds NaN or infinite values"),
    ("1,2,inf\n3,4,1\n", "y holds NaN or infinite values"),
])
def test_bad_csv(tmp_path, text, what):
    path = _csv(tmp_path, text)
    with _refused(path, what):
        read_file(str(path), None, "auto")


def test_csv_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("caf\xe9,1\n2,3\n".encode("latin-1"))
    with _refused(path, "not a readable csv"):
        read_file(str(path), None, "auto")


@pytest.mark.parametrize("target, what", [
    ("nope", r"no column named 'nope' for data.target \(found: a, b, y\)"),
    (3, "data.target=3 but the file has 3 columns"),
    (-4, "data.target=-4 but the file has 3 columns"),
])
def test_target_not_in_the_file(tmp_path, target, what):
    path = _csv(tmp_path, "a,b,y\n1,2,0\n3,4,1\n")
    with _refused(path, what):
        read_file(str(path), target, "auto")


def test_target_name_without_header(tmp_path):
    path = _csv(tmp_path, "1,2,0\n3,4,1\n")
    with _refused(path, "no column named 'y' for data.target \\(found: no header row\\)"):
        read_file(str(path), "y", "auto")


def test_binary_task_needs_two_labels(tmp_path):
    path = _csv(tmp_path, _rows(X, [0, 1, 2, 0, 1, 2]))
    with _refused(path, "data.task=binary needs exactly 2 distinct labels, found 3"):
        read_file(str(path), None, "binary")


def test_regression_task_needs_numeric_targets(tmp_path):
    path = _csv(tmp_path, _rows(X, ["a", "b", "a", "b", "a", "b"]))
    with _refused(path, "data.task=regression needs numeric targets"):
        read_file(str(path), None, "regression")


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300 -> float32 inf
@pytest.mark.parametrize("arrays, what", [
    (dict(x=np.ones((10, 2)), y=np.zeros(9)), "x has 10 rows but y has 9 labels"),
    (dict(y=np.zeros(3)), r"no array 'x' \(found: y\)"),
    (dict(x=np.ones((3, 2))), r"no array 'y' \(found: x\)"),
    (dict(x=np.ones((3, 2)), y=np.zeros(3), x_test=np.ones((2, 2))), "x_test and y_test come together"),
    (dict(x=np.ones((3, 2)), y=np.zeros(3), y_test=np.zeros(2)), "x_test and y_test come together"),
    (dict(x=np.ones((3, 2)), y=np.zeros(3), x_test=np.ones((2, 3)), y_test=np.zeros(2)),
     "x_test has 3 columns, x has 2"),
    (dict(x=np.ones((3, 2)), y=np.zeros(3), x_test=np.ones((2, 2)), y_test=np.zeros(3)),
     "x_test has 2 rows but y_test has 3 labels"),
    (dict(x=np.ones((3, 2)), y=np.zeros(3), x_test=np.ones((2, 2)), y_test=np.array(["a", "b"])),
     "y_test .* does not match y"),
    (dict(x=np.ones((3, 2)), y=np.zeros(3), x_test=np.ones((2, 2)), y_test=np.zeros((2, 2))),
     "y_test .* does not match y"),
    (dict(x=np.array([[1.0, np.nan], [0, 0]]), y=np.zeros(2)), "x holds NaN or infinite values"),
    (dict(x=np.array([[1.0, np.inf], [0, 0]]), y=np.zeros(2)), "x holds NaN or infinite values"),
    (dict(x=np.array([[1e300], [0]]), y=np.zeros(2)), "x holds NaN or infinite values"),
    (dict(x=np.ones((2, 1)), y=np.array([1.0, np.nan])), "y holds NaN or infinite values"),
    (dict(x=np.ones((3, 2)), y=np.zeros(3), x_test=np.full((1, 2), np.nan), y_test=np.zeros(1)),
     "x_test holds NaN or infinite values"),
    (dict(x=np.zeros((0, 3)), y=np.zeros(0)), r"x is empty \(shape \(0, 3\)\)"),
    (dict(x=np.zeros((0, 3, 4)), y=np.zeros(0)), "x is empty"),
    (dict(x=np.zeros((4, 0)), y=np.zeros(4)), "x is empty"),
    (dict(x=np.zeros((4, 2)), y=np.zeros((4, 0))), "y is empty"),
    (dict(x=np.float64(3.0), y=np.zeros(1)), "array 'x' is a single number"),
    (dict(x=np.ones((1, 2)), y=np.int64(3)), "array 'y' is a single number"),
    (dict(x=np.array([["a", "b"]]), y=np.zeros(1)), "array 'x' has dtype <U1, expected numbers"),
    (dict(x=np.ones((2, 2)), y=np.array([1 + 2j, 3j])), "array 'y' has dtype complex128, expected numbers"),
])
def test_bad_npz(tmp_path, arrays, what):
    path = _npz(tmp_path, **arrays)
    with _refused(path, what):
        read_file(str(path), None, "auto")


@pytest.mark.parametrize("task", ["classification", "binary"])
def test_class_labels_need_one_column(tmp_path, task):
    path = _npz(tmp_path, x=np.ones((3, 2)), y=np.array([[0, 1], [1, 0], [1, 1]]))
    with _refused(path, r"y has shape \(3, 2\); class labels need one label per sample"):
        read_file(str(path), None, task)


def _make_dir(path: str) -> None:
    os.mkdir(path)


class _Canary:
    """Unpickling this calls os.mkdir: a loader that unpickles leaves a directory behind."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_object_npz_is_refused_and_never_unpickled(tmp_path):
    canary = tmp_path / "unpickled"
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([_Canary(str(canary)), 1], dtype=object), y=np.zeros(2))
    with _refused(path, "not a readable .npz of numeric arrays"):
        read_file(str(path), None, "auto")
    with _refused(path, "not a readable .npz of numeric arrays"):
        read_features(str(path), 1)
    assert not canary.exists()
    with np.load(path, allow_pickle=True) as archive:  # the canary is live: unpickling does make the directory
        archive["x"]
    assert canary.is_dir()


@pytest.mark.parametrize("content", [b"", b"this is not a zip file", b"PK\x03\x04 truncated zip"])
def test_npz_that_is_not_a_zip(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with _refused(path, "not a readable .npz of numeric arrays"):
        read_file(str(path), None, "auto")


def test_lone_npy_array_named_npz(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.ones((3, 2)))
    with _refused(path, "a single .npy array, expected a .npz archive"):
        read_file(str(path), None, "auto")


# --- read_features -------------------------------------------------------------------------------------------


def test_features_csv_with_exactly_the_model_width(tmp_path):
    path = _csv(tmp_path, "1,2,3\n4,5,6\n")
    x = read_features(str(path), 3)
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 5, 6]])
    assert x.dtype == np.float32


def test_features_csv_with_header_and_exact_width(tmp_path):
    np.testing.assert_array_equal(read_features(str(_csv(tmp_path, "a,b\n1,2\n3,4\n")), 2), [[1, 2], [3, 4]])


@pytest.mark.parametrize("target, expected", [(None, [[1, 2], [4, 5]]), (0, [[2, 3], [5, 6]]),
                                              ("b", [[1, 3], [4, 6]])])
def test_features_csv_drops_the_target_column(tmp_path, target, expected):
    path = _csv(tmp_path, "a,b,c\n1,2,3\n4,5,6\n")
    np.testing.assert_array_equal(read_features(str(path), 2, target), expected)


def test_features_npz(tmp_path):
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(read_features(str(_npz(tmp_path, x=x)), 2), x)
    np.testing.assert_array_equal(read_features(str(_npz(tmp_path, "one.npz", x=np.arange(3.0))), 1), [[0], [1], [2]])


@pytest.mark.parametrize("text, n_features, found", [("1,2,3\n4,5,6\n", 5, 3), ("1,2,3,4\n", 2, 4),
                                                      ("1,2,3,4\n", 3, 4), ("a,b,c,d\n1,2,3,4\n", 3, 4)])
def test_features_csv_width_mismatch_counts_every_column(tmp_path, text, n_features, found):
    path = _csv(tmp_path, text)
    with _refused(path, f"{found} columns, but the model expects {n_features} features"):
        read_features(str(path), n_features, target_by_position=False)


def test_features_csv_drops_a_column_only_when_it_is_known_to_be_the_target(tmp_path):
    path = _csv(tmp_path, "1,2,3\n4,5,6\n")
    with _refused(path, "3 columns, but the model expects 2 features; if one is the target, name it"):
        read_features(str(path), 2, target_by_position=False)  # a digits model: no column is a target by position
    named = _csv(tmp_path, "a,label,c\n1,2,3\n4,5,6\n", "named.csv")
    np.testing.assert_array_equal(read_features(str(named), 2, target_by_position=False), [[1, 3], [4, 6]])


def test_features_npz_width_mismatch(tmp_path):
    path = _npz(tmp_path, x=np.ones((2, 4)))
    with _refused(path, "4 columns, but the model expects 3 features"):
        read_features(str(path), 3)


@pytest.mark.parametrize("text, where", [("a,b\n1,2\n3,nan\n", "line 3, column 2 is nan"),
                                          ("1,inf\n", "line 1, column 2 is inf"),
                                          ("1,2\n1e39,0\n", "line 2, column 1 is inf")])
def test_features_that_are_not_finite_are_refused_by_line_and_column(tmp_path, text, where):
    path = _csv(tmp_path, text)
    with _refused(path, where + r" \(NaN, infinite, or beyond float32's range\)"):
        read_features(str(path), 2)
    npz = _npz(tmp_path, x=np.array([[0.0, 1.0], [np.nan, 2.0]]))
    with _refused(npz, r"x\[1, 0\] is nan"):
        read_features(str(npz), 2)


def test_features_bad_cell_and_missing_file(tmp_path):
    path = _csv(tmp_path, "a,b\n1,x\n")
    with _refused(path, r"column 'b' \(1\), line 2: 'x' is not a number"):
        read_features(str(path), 2)
    with pytest.raises(RedesError, match="not found"):
        read_features(str(tmp_path / "missing.npz"), 2)


# --- fuzz: every input is either data or a RedesError --------------------------------------------------------


def _check_raw(raw: RawData) -> None:
    """What the rest of redes relies on in a RawData from a file."""
    pairs = [(raw.x, raw.y)] + ([(raw.x_test, raw.y_test)] if raw.x_test is not None else [])
    assert (raw.x_test is None) == (raw.y_test is None)
    for x, y in pairs:
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] == len(y) > 0 and x.shape[1] == raw.x.shape[1] > 0
        assert np.all(np.isfinite(x))
        if raw.task == "regression":
            assert raw.classes is None and y.dtype == np.float32 and y.ndim == 2 and y.shape[1] == raw.y.shape[1]
            assert np.all(np.isfinite(y))
        else:
            assert y.dtype == np.int64 and y.ndim == 1 and np.all((0 <= y) & (y < len(raw.classes)))
    if raw.task != "regression":
        assert len(set(raw.classes)) == len(raw.classes) and all(isinstance(c, str) for c in raw.classes)
        assert raw.task == "classification" or len(raw.classes) == 2


def _load_or_refuse(path: Path, target, task: str) -> None:
    try:
        raw = read_file(str(path), target, task)
    except RedesError as exc:
        assert str(path) in str(exc)
        return
    _check_raw(raw)


CELLS = st.one_of(st.integers(-3, 3).map(str), st.floats().map(str), st.text(max_size=3),
                  st.sampled_from(["", "setosa", "nan", "-inf", "1e999", '"1,2"', " 2 ", "1_0", "0x1"]))
TARGETS = st.one_of(st.none(), st.integers(-4, 4), st.sampled_from(["a", "c0", "y"]))
TASKS = st.sampled_from(["auto", "classification", "binary", "regression"])


@st.composite
def csv_texts(draw) -> str:
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width + draw(st.integers(0, 1))), max_size=6))
    header = draw(st.sampled_from([[], [[f"c{i}" for i in range(width)]], [["a", "y", "c0", "b"][:width]]]))
    return "\n".join(",".join(row) for row in header + rows) + draw(st.sampled_from(["", "\n", "\r\n"]))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300 -> float32 inf
@FUZZ
@given(text=st.one_of(csv_texts(), st.text(max_size=60)), target=TARGETS, task=TASKS)
def test_fuzz_csv_text(tmp_path, text, target, task):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8", newline="")
    _load_or_refuse(path, target, task)


@FUZZ
@given(prefix=st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY\x01\x00", b"\xef\xbb\xbf"]),
       content=st.binary(max_size=200), suffix=st.sampled_from([".csv", ".npz"]), task=TASKS)
def test_fuzz_random_bytes(tmp_path, prefix, content, suffix, task):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(prefix + content)
    _load_or_refuse(path, None, task)


DTYPES = st.sampled_from([np.int64, np.int8, np.uint8, np.float64, np.float32, np.float16, np.bool_, "<U2",
                          np.complex64])
ARRAYS = DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                                        max_side=4)))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300 -> float32 inf
@FUZZ
@given(arrays=st.dictionaries(st.sampled_from(["x", "y", "x_test", "y_test", "z"]), ARRAYS, max_size=5),
       task=TASKS)
def test_fuzz_npz_arrays(tmp_path, arrays, task):
    path = tmp_path / "fuzz.npz"
    np.savez(path, **arrays)
    _load_or_refuse(path, None, task)


def test_an_npz_whose_header_declares_more_than_it_holds_is_refused_before_allocating(tmp_path):
    path = _npz(tmp_path, x=np.ones((4, 3)), y=np.zeros(4))
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["x.npy"] = members["x.npy"].replace(b"(4, 3)", b"(1000000000000, 3)")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with _refused(path, r"array 'x' declares shape \(1000000000000, 3\) of float64, 24,000,000,000,000 bytes, "
                        r"but holds \d+"):
        read_file(str(path), None, "auto")
    with _refused(path, "declares shape"):
        read_features(str(path), 3)


def test_a_column_named_like_a_target_that_is_not_the_last_is_not_ignored(tmp_path):
    path = _csv(tmp_path, "label,a,b\n0,0.5,1.5\n1,2.5,0.25\n0,1.0,3.5\n1,0.75,2.0\n")
    with _refused(path, "the target is the last column \\('b'\\) unless data.target says otherwise, but column "
                        "'label' is named like a target; set data.target=label"):
        read_file(str(path), None, "auto")
    x, y = read_csv(path, "label")
    np.testing.assert_array_equal(y, [0, 1, 0, 1])
    assert read_csv(path, -1)[1].tolist() == [1.5, 0.25, 3.5, 2.0]
