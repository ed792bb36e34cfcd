"""MNIST and Fashion-MNIST: small files in the official IDX gzip format, read through `redes train`, checked
(md5, magic number, size), and downloaded from mirrors served on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from redes.data import mnist
from redes.data.mnist import FILES, IMAGES, LABELS, SETS
from tests.test_cli import assert_one_line_error

QUICK = ["--set", "train.epochs=1", "--set", "model.hidden=[8]", "--set", "data.val_fraction=0.2"]


def _idx(path: Path, array: np.ndarray, magic: int) -> Path:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def _files(folder: Path, train: int = 40, test: int = 20) -> Path:
    """The four files of a small data set, every class in both splits."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, count in (("train", train), ("t10k", test)):
        _idx(folder / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)), IMAGES)
        _idx(folder / f"{stem}-labels-idx1-ubyte.gz", np.arange(count) % 10, LABELS)
    return folder


def _trust(monkeypatch, folder: Path, name: str = "mnist", mirrors: tuple = ()) -> None:
    """Make the files in `folder` the 'official' ones (and serve them from `mirrors`)."""
    sums = tuple(hashlib.md5((folder / file).read_bytes()).hexdigest() for file in FILES)
    official = SETS[name]
    monkeypatch.setitem(SETS, name, dataclasses.replace(official, md5s=sums, mirrors=mirrors or official.mirrors))


@pytest.fixture
def served(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; its base URL."""
    folder = tmp_path / "served"
    folder.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_train_reads_the_idx_files_with_their_classes_and_pictures(cli, tmp_path, monkeypatch, name):
    folder = _files(tmp_path / "data")
    _trust(monkeypatch, folder, name)
    result = cli("train", "--set", f"data.name={name}", "--set", f"data.path={folder}", *QUICK, "--out", "r")
    assert result.status == 0, result.err
    assert "32 train, 8 val, 20 test, 784 features" in result.out
    report = (tmp_path / "r/report.txt").read_text()
    assert ("Ankle boot" if name == "fashion_mnist" else "           9 ") in report
    assert (tmp_path / "r/plots/samples.png").is_file()


def test_pixels_are_scaled_to_zero_one_and_the_official_test_set_is_kept(tmp_path, monkeypatch):
    from redes.config import DataConfig

    folder = _files(tmp_path / "data", train=30, test=10)
    _trust(monkeypatch, folder)
    raw = mnist.load_mnist(DataConfig(name="mnist", path=str(folder)), None)
    assert raw.x.shape == (30, 784) and raw.x_test.shape == (10, 784) and raw.x.dtype == np.uint8
    assert (raw.shift, raw.scale) == (0.0, 255.0) and raw.classes == [str(d) for d in range(10)]
    assert raw.y_test.tolist() == list(range(10))


def test_a_file_that_fails_its_checksum_is_never_used(cli, tmp_path):
    folder = _files(tmp_path / "data")  # not the official files
    result = cli("train", "--set", "data.name=mnist", "--set", f"data.path={folder}", *QUICK)
    assert_one_line_error(result, "train-images-idx3-ubyte.gz: md5", "does not match the official MNIST file "
                          f"({SETS['mnist'].md5s[0]})")


@pytest.mark.parametrize("damage, message", [
    (lambda raw: b"\0\0\x08\x02" + raw[4:], "not an IDX file of unsigned bytes (magic number 00000802"),
    (lambda raw: raw[:-28], "the header says 40 x 28 x 28 = 31,360 bytes of data, the file holds 31,332"),
])
def test_a_wrong_magic_number_or_size_is_one_line(cli, tmp_path, monkeypatch, damage, message):
    folder = _files(tmp_path / "data")
    images = folder / FILES[0]
    images.write_bytes(gzip.compress(damage(gzip.decompress(images.read_bytes()))))
    _trust(monkeypatch, folder)
    assert_one_line_error(cli("train", "--set", "data.name=mnist", "--set", f"data.path={folder}", *QUICK),
                          str(images), message)


def test_download_falls_back_to_the_next_mirror_and_checks_every_file(cli, tmp_path, monkeypatch, served):
    folder, url = served
    _files(folder)
    _trust(monkeypatch, folder, mirrors=("http://127.0.0.1:9/", url))  # the first mirror refuses
    root = tmp_path / "root"
    result = cli("train", "--set", "data.name=mnist", "--set", f"data.root={root}", *QUICK, "--out", "r")
    assert result.status == 0, result.err
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(FILES)
    assert all((root / "mnist" / f).read_bytes() == (folder / f).read_bytes() for f in FILES)


def test_a_mirror_serving_a_wrong_file_keeps_nothing(cli, tmp_path, monkeypatch, served):
    folder, url = served
    _files(folder)
    _trust(monkeypatch, folder, mirrors=(url,))
    (folder / FILES[0]).write_bytes(b"not the file")
    root = tmp_path / "root"
    result = cli("train", "--set", "data.name=mnist", "--set", f"data.root={root}", *QUICK)
    assert result.err.splitlines()[0] == f"downloading {url}{FILES[0]}"  # piped: a line, not a bar
    result.err = result.err.split("\n", 1)[1]
    assert_one_line_error(result, "could not download MNIST train-images-idx3-ubyte.gz", f"{url}{FILES[0]} (md5",
                          "nothing was kept", f"put train-images-idx3-ubyte.gz in {root / 'mnist'}")
    assert list((root / "mnist").iterdir()) == []


def test_offline_without_download_says_where_to_put_the_files(cli, tmp_path):
    root = tmp_path / "root"
    result = cli("train", "--set", "data.name=fashion_mnist", "--set", f"data.root={root}",
                 "--set", "data.download=false")
    assert_one_line_error(result, "Fashion-MNIST file train-images-idx3-ubyte.gz not found",
                          f"{root / 'fashion-mnist' / FILES[0]}", "set data.download=true")
