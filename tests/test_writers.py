"""A run directory under contention and failure: one writer at a time, a full disk, a read-only folder, and
output paths that cannot be written. Each is one `redes: error:` line; the last checkpoint stays valid and
`redes resume` then finishes the same run."""

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import redes
from redes.errors import RedesError
from redes.loop.callbacks import Callback
from redes.runs.writer import writing
from tests.conftest import fast_config, stopped_run
from tests.test_cli import assert_one_line_error

CONFIG = fast_config(train={"epochs": 4, "batch_size": 64})


def _same_run(path: Path, reference: Path) -> None:
    for name in ("model.safetensors", "metrics.csv"):
        assert (path / name).read_bytes() == (reference / name).read_bytes(), name
    assert not list(path.glob(".*.tmp")), "a temporary file was left behind"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return redes.train(CONFIG, out=tmp_path_factory.mktemp("reference") / "run", verbose=False).path


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs when the tests may mount one (root), else None."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        yield None
        return
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_second_writer_fails_at_once_naming_the_holder(cli, tmp_path):
    run = stopped_run(tmp_path / "run", CONFIG)
    with writing(run):
        assert_one_line_error(cli("resume", run), f"is being written by process {os.getpid()}")
        assert_one_line_error(cli("train", "--out", run), "already exists and is not empty")
    assert cli("resume", run).status == 0


def test_a_writer_waits_for_the_process_drawing_a_finished_runs_pictures(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; lock = open(sys.argv[1], 'a+'); fcntl.flock(lock, fcntl.LOCK_EX); "
        "lock.truncate(0); lock.write('process 1 (drawing the pictures)'); lock.flush(); print(flush=True); "
        "time.sleep(1)"), str(run / ".lock")], stdout=subprocess.PIPE)
    holder.stdout.readline()  # it holds the lock
    start = time.monotonic()
    with writing(run):
        assert holder.poll() is not None and time.monotonic() - start > 0.5
    holder.wait()


def test_pictures_that_cannot_be_drawn_are_named_in_the_run_until_they_are(tmp_path):
    from redes.runs.plots import draw, draw_later

    run = tmp_path / "run"
    (run / "plots").mkdir(parents=True)
    with writing(run):
        draw_later([("learning_curves", {"history": [{"epoch": 1, "train_loss": 1.0}],
                                         "path": run / "gone" / "learning_curves.png"})], run)
    with writing(run):  # waits for the drawing process
        pass
    assert "FileNotFoundError" in (run / "plots/not_drawn.txt").read_text()
    assert f"`redes plot {run}` draws the pictures again" in (run / "plots/not_drawn.txt").read_text()
    draw([("learning_curves", {"history": [{"epoch": 1, "train_loss": 1.0}], "path": run / "plots/curves.png"})],
         run)
    assert not (run / "plots/not_drawn.txt").exists()


def test_two_concurrent_resumes_one_fails_with_the_lock_message(cli, tmp_path, reference):
    slow = fast_config(train={"epochs": 4, "batch_size": 4})  # long enough to still be training when B starts
    slow_reference = redes.train(slow, out=tmp_path / "straight", verbose=False).path
    run = stopped_run(tmp_path / "run", slow)
    first = subprocess.Popen([sys.executable, "-m", "redes", "resume", str(run)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while f"process {first.pid}" not in (run / ".lock").read_text():  # A holds the lock: it is training
        assert first.poll() is None, first.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = cli("resume", run)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert_one_line_error(second, f"is being written by process {first.pid}")
    epochs = [line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2", "3", "4"]
    _same_run(run, slow_reference)


class FillTheDisk(Callback):
    """After epoch `epoch`'s checkpoint, the disk is full: on a small tmpfs a file takes the space left, else
    every fsync raises ENOSPC (what a full disk does to a write)."""

    def __init__(self, epoch: int, disk, monkeypatch):
        self.epoch, self.disk, self.monkeypatch = epoch, disk, monkeypatch

    def on_epoch_end(self, state, logs):
        if logs["epoch"] != self.epoch:
            return
        if self.disk is None:
            def full(fd):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.monkeypatch.setattr(os, "fsync", full)
            return
        with open(self.disk / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass


def test_a_full_disk_keeps_the_last_checkpoint_and_resume_finishes_the_run(tmp_path, small_disk, monkeypatch,
                                                                         reference):
    where = (small_disk or tmp_path) / "run"
    with pytest.raises(RedesError, match=r"no space left on the device; free some space, then `redes resume .*run` "
                                         "continues from the last checkpoint, which is kept") as error:
        redes.train(CONFIG, out=where, verbose=False, callbacks=[FillTheDisk(2, small_disk, monkeypatch)])
    assert "\n" not in str(error.value)
    monkeypatch.undo()
    (where.parent / "filler").unlink(missing_ok=True)
    redes.resume(where, verbose=False)
    _same_run(where, reference)


def test_a_read_only_run_directory_is_one_line(cli, tmp_path, small_disk):
    base = small_disk or tmp_path
    run = stopped_run(base / "run", CONFIG)
    finished = Path(shutil.copytree(redes.train(CONFIG, out=base / "done", verbose=False).path, base / "finished"))
    shutil.rmtree(finished / "plots")
    if small_disk is not None:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    else:
        for path in (run, finished):
            path.chmod(0o555)
    try:
        assert_one_line_error(cli("resume", run), "cannot be written", "make it writable, then `redes resume")
        assert_one_line_error(cli("plot", finished), f"{finished / '.lock'} cannot be written", "make it writable")
        assert_one_line_error(cli("train", "--out", base / "new"), "cannot create run directory")
    finally:
        if small_disk is None:
            for path in (run, finished):
                path.chmod(0o755)
        else:
            subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert cli("resume", run).status == 0


def test_outputs_that_cannot_be_written_are_refused_before_any_work(cli, tmp_path, digits_run):
    np_file = tmp_path / "x.npz"
    import numpy as np

    np.savez(np_file, x=np.zeros((2, 64)))
    assert_one_line_error(cli("predict", digits_run.path, np_file, "--out", "missing/p.csv"),
                          "the folder missing does not exist")
    assert_one_line_error(cli("plot", "activations", "--out", "missing/a.png"), "the folder missing does not exist")
    assert_one_line_error(cli("plot", "activations", "--out", "a.xyz"), "matplotlib cannot draw .xyz pictures",
                          ".png")
    assert not (tmp_path / "a.xyz").exists()


def test_plot_of_a_run_without_metrics_is_refused(cli, tmp_path, digits_run):
    run = Path(shutil.copytree(digits_run.path, tmp_path / "run"))
    (run / "metrics.csv").unlink()
    assert_one_line_error(cli("plot", run), "metrics.csv is missing or empty")
