"""CIFAR-100: a small archive in the official python layout, read through `redes train` with fine and coarse
labels, its md5 and contents checked, the restricted unpickler shared with CIFAR-10."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest

from redes.config import DataConfig
from redes.data import cifar100
from tests.test_cifar10 import _tar
from tests.test_cli import assert_one_line_error

FINE = [f"fine_{i}" for i in range(100)]
COARSE = [f"coarse_{i}" for i in range(20)]
QUICK = ["--set", "train.epochs=1", "--set", "model.hidden=[8]", "--set", "data.val_fraction=0.2"]


def _write(folder: Path, train: int = 200, test: int = 100, extra: dict | None = None) -> Path:
    """train, test and meta as the python version holds them: protocol-2 pickles of dicts with bytes keys."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name, count in (("train", train), ("test", test)):
        fine = [i % 100 for i in range(count)]
        batch = {b"filenames": [b"x.png"] * count, b"batch_label": name.encode(), b"fine_labels": fine,
                 b"coarse_labels": [label // 5 for label in fine],
                 b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8), **(extra or {})}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"fine_label_names": [n.encode() for n in FINE], b"coarse_label_names": [n.encode() for n in COARSE]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


@pytest.fixture
def archive(tmp_path, monkeypatch) -> Path:
    """The archive, made the 'official' one (its md5 trusted)."""
    path = _tar(_write(tmp_path / "made" / "cifar-100-python"), tmp_path / "cifar-100-python.tar.gz")
    official = dataclasses.replace(cifar100.ARCHIVE, md5=hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setattr(cifar100, "ARCHIVE", official)
    return path


@pytest.mark.parametrize("labels, classes", [("fine", FINE), ("coarse", COARSE)])
def test_fine_and_coarse_labels_with_their_names(archive, labels, classes):
    raw = cifar100.load_cifar100(DataConfig(name="cifar100", path=str(archive), labels=labels), None)
    assert raw.x.shape == (200, 3072) and raw.x_test.shape == (100, 3072) and raw.classes == classes
    assert raw.y[:7].tolist() == ([0, 1, 2, 3, 4, 5, 6] if labels == "fine" else [0, 0, 0, 0, 0, 1, 1])
    assert (raw.shift, raw.scale) == (127.5, 127.5)


def test_train_reads_the_archive_and_its_extracted_folder(cli, archive, tmp_path):
    result = cli("train", "--set", "data.name=cifar100", "--set", f"data.path={archive}", "--set",
                 "data.labels=coarse", *QUICK, "--out", "r")
    assert result.status == 0, result.err
    assert "coarse_19" in (tmp_path / "r/report.txt").read_text() and (tmp_path / "r/plots/samples.png").is_file()
    folder = tmp_path / "made"  # holds cifar-100-python/
    assert cli("train", "--set", "data.name=cifar100", "--set", f"data.path={folder}", *QUICK).status == 0


def test_an_archive_that_is_not_the_official_one_is_refused(cli, tmp_path):
    path = _tar(_write(tmp_path / "made" / "cifar-100-python"), tmp_path / "cifar-100-python.tar.gz")
    assert_one_line_error(cli("train", "--set", "data.name=cifar100", "--set", f"data.path={path}"),
                          f"{path}: md5", f"does not match the official CIFAR-100 archive ({cifar100.ARCHIVE.md5})")


def test_a_batch_with_a_foreign_global_is_refused_unread(cli, tmp_path):
    folder = _write(tmp_path / "made" / "cifar-100-python", extra={b"x": Path("evil")})
    assert_one_line_error(cli("train", "--set", "data.name=cifar100", "--set", f"data.path={folder}"),
                          "train: refused to unpickle the global pathlib.PosixPath",
                          "a CIFAR-100 python batch holds only numpy arrays")


def test_labels_out_of_range_and_a_missing_file_are_named(cli, tmp_path):
    folder = _write(tmp_path / "made" / "cifar-100-python", extra={b"fine_labels": [100] * 200})
    assert_one_line_error(cli("train", "--set", "data.name=cifar100", "--set", f"data.path={folder}"),
                          "fine_labels must be in 0..99, found 100..100")
    (folder / "meta").unlink()
    assert_one_line_error(cli("train", "--set", "data.name=cifar100", "--set", f"data.path={folder}"),
                          "meta: cannot read")


def test_labels_is_a_cifar100_key(cli):
    assert_one_line_error(cli("train", "--set", "data.labels=coarse"), "data.labels is not read by data.name=digits")
