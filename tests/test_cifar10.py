"""CIFAR-10 loader: both official formats, archive or folder, md5 checks, download, and the restricted unpickler."""

from __future__ import annotations

import builtins
import codecs
import dataclasses
import hashlib
import io
import os
import pickle
import struct
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from redes.config import DataConfig
from redes.data.cifar10 import ARCHIVES, cifar10_locations, load_cifar10
from redes.errors import RedesError

N_TRAIN, N_TEST = 20, 10
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
RNG = np.random.default_rng(0)  # every reader takes one; CIFAR-10 ships its own split and draws nothing


def _write_binary(folder: Path, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """The binary version: records of 1 label byte + 3072 pixel bytes, and one class name per line."""
    folder.mkdir(parents=True)
    for name, (x, y) in zip([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"], batches):
        (folder / name).write_bytes(np.concatenate([y[:, None].astype(np.uint8), x], axis=1).tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n\n")


def _write_python(folder: Path, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """The python version: protocol-2 pickles of dicts with bytes keys, as torchvision downloads them."""
    folder.mkdir(parents=True)
    for name, (x, y) in zip([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], batches):
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in y], b"data": x,
                 b"filenames": [f"img_{i}.png".encode() for i in range(len(y))]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    meta = {b"num_cases_per_batch": N_TRAIN, b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)


def _tar(folder: Path, dest: Path) -> Path:
    """A .tar.gz with the folder as its top directory, like the official archives."""
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return dest


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """Random images and labels written in all four forms: binary/python, folder/archive."""
    rng = np.random.default_rng(0)
    sizes = [N_TRAIN] * 5 + [N_TEST]
    batches = [(rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n)) for n in sizes]
    base = tmp_path_factory.mktemp("cifar")
    _write_binary(base / "bin" / "cifar-10-batches-bin", batches)
    _write_python(base / "py" / "cifar-10-batches-py", batches)
    return SimpleNamespace(
        x=np.concatenate([x for x, _ in batches[:5]]), y=np.concatenate([y for _, y in batches[:5]]),
        x_test=batches[5][0], y_test=batches[5][1], base=base,
        bin_dir=base / "bin" / "cifar-10-batches-bin", py_dir=base / "py" / "cifar-10-batches-py",
        bin_tar=_tar(base / "bin" / "cifar-10-batches-bin", base / "cifar-10-binary.tar.gz"),
        py_tar=_tar(base / "py" / "cifar-10-batches-py", base / "cifar-10-python.tar.gz"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No real ~/.cache/redes, $REDES_DATA or ./data leaks into a test."""
    monkeypatch.delenv("REDES_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def _trust(monkeypatch, version: str, archive: Path, url: str | None = None) -> None:
    """Make the generated archive the 'official' one for its version (and optionally where it downloads from)."""
    official = ARCHIVES[version]
    monkeypatch.setitem(ARCHIVES, version, dataclasses.replace(official, md5=_md5(archive), url=url or official.url))


def _assert_same(raw, fake) -> None:
    assert raw.x.dtype == np.uint8 and raw.x.shape == (5 * N_TRAIN, 3072)
    assert raw.y.dtype == np.int64 and raw.y_test.dtype == np.int64
    np.testing.assert_array_equal(raw.x, fake.x)
    np.testing.assert_array_equal(raw.y, fake.y)
    np.testing.assert_array_equal(raw.x_test, fake.x_test)
    np.testing.assert_array_equal(raw.y_test, fake.y_test)
    assert raw.classes == CLASSES
    assert raw.task == "classification"
    assert ((raw.x.astype(float) - raw.shift) / raw.scale).min() >= -1
    assert (raw.shift, raw.scale) == (127.5, 127.5)


@pytest.mark.parametrize("form", ["bin_dir", "bin_tar", "py_dir", "py_tar"])
def test_every_form_loads_what_was_written(fake, form, monkeypatch):
    path = getattr(fake, form)
    if form.endswith("tar"):
        _trust(monkeypatch, "binary" if form.startswith("bin") else "python", path)
    _assert_same(load_cifar10(DataConfig(name="cifar10", path=str(path), download=False), RNG), fake)


def test_path_may_be_the_parent_of_the_batches_folder(fake):
    cfg = DataConfig(name="cifar10", path=str(fake.py_dir.parent), download=False)
    _assert_same(load_cifar10(cfg, RNG), fake)


def test_pixel_bytes_land_in_the_channel_major_row(tmp_path):
    img = np.zeros((32, 32, 3), np.uint8)  # height, width, channel
    img[..., 0], img[..., 1], img[..., 2] = 1, 2, 3
    img[5, 7, 1] = 200
    record = bytes([7]) + img.transpose(2, 0, 1).tobytes()  # the official R, G, B planes
    other = bytes([0]) + bytes(3072)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(other + (record if i == 2 else other))
    (folder / "test_batch.bin").write_bytes(record)
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES))
    raw = load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)
    row = raw.x[3]  # second record of the second batch
    assert raw.y[3] == 7 and raw.y_test[0] == 7 and (raw.y[[0, 1, 2, 4]] == 0).all()
    assert (row[:1024] == 1).all() and (row[2048:] == 3).all()
    assert row[1024 + 5 * 32 + 7] == 200 and np.count_nonzero(row[1024:2048] == 2) == 1023
    np.testing.assert_array_equal(row.reshape(3, 32, 32).transpose(1, 2, 0), img)


def test_root_then_dot_data_are_searched_in_order(fake, tmp_path, monkeypatch):
    root = tmp_path / "root"
    cfg = DataConfig(name="cifar10", root=str(root), download=False)
    locations = cifar10_locations(cfg)
    assert locations[:4] == [root / "cifar-10-batches-bin", root / "cifar-10-batches-py",
                             root / "cifar-10-binary.tar.gz", root / "cifar-10-python.tar.gz"]
    assert locations[4:] == [tmp_path / "data" / p.name for p in locations[:4]]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cifar-10-batches-py").symlink_to(fake.py_dir)
    _assert_same(load_cifar10(cfg, RNG), fake)
    monkeypatch.setenv("REDES_DATA", str(fake.base))
    _trust(monkeypatch, "binary", fake.bin_tar)
    assert cifar10_locations(DataConfig(name="cifar10"))[0] == fake.base / "cifar-10-batches-bin"
    _assert_same(load_cifar10(DataConfig(name="cifar10", download=False), RNG), fake)


def test_an_archive_that_is_not_the_official_one_is_refused(fake):
    with pytest.raises(RedesError, match="md5") as err:
        load_cifar10(DataConfig(name="cifar10", path=str(fake.bin_tar)), RNG)
    assert str(fake.bin_tar) in str(err.value) and ARCHIVES["binary"].md5 in str(err.value)


def test_download_lands_the_archive_in_root_and_loads_it(fake, tmp_path, monkeypatch):
    _trust(monkeypatch, "binary", fake.bin_tar, url=fake.bin_tar.as_uri())
    root = tmp_path / "root"
    _assert_same(load_cifar10(DataConfig(name="cifar10", root=str(root)), RNG), fake)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-binary.tar.gz"]
    assert _md5(root / "cifar-10-binary.tar.gz") == _md5(fake.bin_tar)


def test_a_wrong_download_leaves_nothing_behind(fake, tmp_path, monkeypatch):
    monkeypatch.setitem(ARCHIVES, "binary", dataclasses.replace(ARCHIVES["binary"], url=fake.bin_tar.as_uri()))
    root = tmp_path / "root"
    with pytest.raises(RedesError, match="md5"):
        load_cifar10(DataConfig(name="cifar10", root=str(root)), RNG)
    assert list(root.iterdir()) == []


def test_offline_download_says_where_to_put_the_archive(tmp_path, monkeypatch):
    url = "http://127.0.0.1:9/cifar-10-binary.tar.gz"
    monkeypatch.setitem(ARCHIVES, "binary", dataclasses.replace(ARCHIVES["binary"], url=url))
    root = tmp_path / "root"
    with pytest.raises(RedesError, match="could not download") as err:
        load_cifar10(DataConfig(name="cifar10", root=str(root)), RNG)
    assert url in str(err.value) and f"in {root}" in str(err.value) and "cifar-10-binary.tar.gz" in str(err.value)
    assert list(root.iterdir()) == []


def test_not_found_without_download_lists_the_places_looked_at(tmp_path):
    cfg = DataConfig(name="cifar10", root=str(tmp_path / "root"), download=False)
    with pytest.raises(RedesError, match="not found") as err:
        load_cifar10(cfg, RNG)
    assert all(str(path) in str(err.value) for path in cifar10_locations(cfg))
    with pytest.raises(RedesError, match="no such file"):
        load_cifar10(DataConfig(name="cifar10", path=str(tmp_path / "nowhere")), RNG)


class _Evil:
    """Pickles as a call that would create the marker file if the unpickler allowed it."""

    def __init__(self, how: str, marker: Path):
        self.how, self.marker = how, marker

    def __reduce__(self):
        if self.how == "os.system":
            return os.system, (f"touch {self.marker}",)
        if self.how == "builtins.eval":
            return builtins.eval, (f"open({str(self.marker)!r}, 'w')",)
        return subprocess.Popen, (["touch", str(self.marker)],)


@pytest.mark.parametrize("how, refused", [("os.system", r"(os|posix|nt)\.system"), ("builtins.eval", "builtins.eval"),
                                          ("subprocess.Popen", "subprocess.Popen")])
def test_the_unpickler_refuses_anything_but_numpy_arrays(fake, tmp_path, how, refused):
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar-10-batches-py"
    _write_python(folder, [(fake.x_test, fake.y_test)] * 6)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(how, marker), b"labels": []}, f, protocol=2, fix_imports=False)
    with pytest.raises(RedesError, match=f"data_batch_1: refused to unpickle the global {refused}"):
        load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)
    assert not marker.exists()


def test_only_the_latin1_codec_of_protocol_2_pickles_is_admitted(fake, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_python(folder, [(fake.x_test, fake.y_test)] * 6)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": _Rot13()}, protocol=2))
    with pytest.raises(RedesError, match="batches.meta: not a readable CIFAR-10 python batch .*'rot13'"):
        load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)


class _Rot13:
    """Pickles as _codecs.encode with a codec other than the latin-1 that pickle itself uses."""

    def __reduce__(self):
        return codecs.encode, ("airplane", "rot13")


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 str opcodes (no _codecs global), as the official files were written."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def test_pickles_written_by_python_2_and_numpy_1_are_admitted(fake, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_python(folder, [(fake.x_test, fake.y_test)] * 6)
    for name in ["test_batch", "batches.meta"]:
        buffer = io.BytesIO()
        _Python2Pickler(buffer, protocol=2).dump(pickle.loads((folder / name).read_bytes()))
        old = buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        assert b"_codecs" not in old and (name != "test_batch" or b"numpy.core.multiarray\n_reconstruct" in old)
        (folder / name).write_bytes(old)
    raw = load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)
    np.testing.assert_array_equal(raw.x_test, fake.x_test)
    assert raw.classes == CLASSES


def test_a_python_batch_of_the_wrong_shape_is_refused(fake, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_python(folder, [(fake.x_test, fake.y_test)] * 6)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": fake.x_test, b"labels": [0]}, f, protocol=2)
    with pytest.raises(RedesError, match="data_batch_3: expected a dict with b'data'"):
        load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)


def test_damaged_files_are_named(fake, tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-bin"
    _write_binary(folder, [(fake.x_test, fake.y_test)] * 6)
    (folder / "data_batch_4.bin").write_bytes((folder / "data_batch_4.bin").read_bytes()[:-100])
    with pytest.raises(RedesError, match="data_batch_4.bin: .* not a whole number of 3073-byte records"):
        load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)
    (folder / "data_batch_4.bin").write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(RedesError, match=r"data_batch_4.bin: labels must be in 0..9, found 10..10"):
        load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)
    (folder / "test_batch.bin").unlink()
    with pytest.raises(RedesError, match="test_batch.bin: cannot read"):
        load_cifar10(DataConfig(name="cifar10", path=str(folder)), RNG)
    truncated = tmp_path / "cifar-10-python.tar.gz"
    truncated.write_bytes(fake.py_tar.read_bytes()[:5000])
    with pytest.raises(RedesError, match=f"{truncated}: not a readable .tar.gz"):
        load_cifar10(DataConfig(name="cifar10", path=str(truncated)), RNG)
    incomplete = tmp_path / "incomplete"
    (folder / "data_batch_4.bin").unlink()
    _tar(folder, incomplete)
    _trust(monkeypatch, "binary", incomplete)
    with pytest.raises(RedesError, match=f"{incomplete}: missing data_batch_4.bin, test_batch.bin"):
        load_cifar10(DataConfig(name="cifar10", path=str(incomplete)), RNG)
