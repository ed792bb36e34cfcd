"""The one process that writes a run directory: an OS advisory lock on RUN_DIR/.lock while it writes, and a
failed write (no space, read-only) as one line saying what to do.

The OS releases the lock when the process ends, however it ends (kill -9 included), so a stale lock never
blocks a `redes resume`. `redes train` hands its lock to the process that draws the run's pictures
(runs/plots.py, draw_later); another writer waits for that one instead of refusing.
"""

from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Optional

from redes.errors import RedesError
from redes.runs.layout import RunFiles

DRAWING = "(drawing the pictures)"  # how the lock file names a holder that another writer waits for
WAIT_FOR_DRAWING = 120.0  # seconds, at most
_held: dict[Path, IO[str]] = {}  # the locks this process holds, by run directory


@contextmanager
def writing(run_dir: Path, new: bool = False) -> Iterator[None]:
    """Hold `run_dir`'s lock for the block (a `new` run's directory must hold nothing else); another process
    holding it is an error naming its pid, and an OSError of the block one error naming the file."""
    try:
        with _locked(run_dir):
            if new and any(path.name != RunFiles(run_dir).lock.name for path in run_dir.iterdir()):
                raise RedesError(f"run directory {run_dir} already exists and is not empty; choose another --out")
            yield
    except OSError as exc:
        raise cannot_write(exc, run_dir, new) from None


def cannot_write(exc: OSError, run_dir: Path, new: bool = False) -> RedesError:
    """What a failed write into `run_dir` (a `new` run's) means for the user: the file, the reason, and how to
    go on."""
    files = RunFiles(run_dir)
    go_on = (f"then `redes resume {run_dir}` continues from the last checkpoint, which is kept"
             if files.checkpoint.is_file() and not files.summary.is_file() else "then try again")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RedesError(f"{exc.filename or run_dir}: no space left on the device; free some space, {go_on}")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return RedesError(f"{exc.filename or run_dir} cannot be written ({exc.strerror}); make it writable, {go_on}"
                          + (", or train into another --out" if new else ""))
    return RedesError(f"{exc.filename or run_dir}: {exc.strerror or exc}; {go_on}")


def held_lock(run_dir: Path) -> Optional[int]:
    """The descriptor of `run_dir`'s lock, held by this process, for a child process to inherit and hold after
    this one ends (flock's lock belongs to the open file, which a child shares); None on Windows."""
    handle = _held.get(Path(run_dir).resolve())
    return handle.fileno() if handle is not None and os.name == "posix" else None


def name_holder(run_dir: Path, holder: str) -> None:
    """Write who holds `run_dir`'s lock (held by this process, or handed to a child) into the lock file."""
    handle = _held[Path(run_dir).resolve()]
    handle.seek(0)
    handle.truncate()
    handle.write(f"{holder}\n")
    handle.flush()


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    handle, key = open(RunFiles(run_dir).lock, "a+"), Path(run_dir).resolve()
    try:
        _lock(handle, run_dir)
        _held[key] = handle
        name_holder(run_dir, f"process {os.getpid()}")
        yield
    finally:
        _held.pop(key, None)
        handle.close()  # closing the file releases the lock (unless a child process shares it)


def _lock(handle: IO[str], run_dir: Path) -> None:
    """Take the lock; wait (a while) for a process that only draws a finished run's pictures."""
    deadline = time.monotonic() + WAIT_FOR_DRAWING
    while not _try_lock(handle):
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        if not holder.endswith(DRAWING) or time.monotonic() > deadline:
            raise RedesError(f"{run_dir} is being written by {holder}; wait for it to end (or stop it), then try "
                             "again")
        time.sleep(0.05)


def _try_lock(handle: IO[str]) -> bool:
    """An exclusive lock on the open file, without waiting: flock on POSIX, msvcrt's byte lock on Windows."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
