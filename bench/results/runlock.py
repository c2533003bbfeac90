"""One writer per run folder: `sweep`, `eval`, `report` (and any future
command that writes into a run) hold `run_lock(run_dir)` for as long as they
write. A second writer is refused with a one-line error naming the holder.

The lock is an `fcntl.flock` on `RUN_DIR/.lock`, which the kernel releases
when the holding process dies, however it dies: a killed sweep never blocks
its resume. The file also records the holder (host, pid, command) so that
the refusal can name it. On file systems without flock (some network
mounts) the recorded holder decides instead: a pid that is not alive on
this host is a stale lock and is taken over.

Re-entrant within a process: `sweep --report` writes its report while it
holds the lock (flock would refuse a second open file in the same process)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import sys
from pathlib import Path

from bench.base.errors import BenchError, RunWriteError, first_line

LOCK_FILE = ".lock"

_held: dict[Path, list] = {}  # resolved run folder -> [open file, depth]


class RunLocked(BenchError):
    """Another process writes into this run."""


def _holder_text(record: dict) -> str:
    if not record:
        return "another process (holder not recorded yet)"
    command = " ".join(record.get("command", [])[:4])
    return f"pid {record.get('pid')} on host {record.get('host')}" + (f" ({command})" if command else "")


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _stale(record: dict) -> bool:
    """No holder recorded, or one on this host whose process is gone (a holder
    on another host cannot be checked from here: it is not stale)."""
    if not record or not isinstance(record.get("pid"), int):
        return True
    return record.get("host") == socket.gethostname() and not pid_alive(record["pid"])


def _acquire(run_dir: Path):
    path = run_dir / LOCK_FILE
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunLocked(f"{run_dir} is being written by {_holder_text(_read_record(path))}; "
                        "wait for it to finish (a lock left by a killed process does not count)") from None
    except OSError as e:
        if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            handle.close()
            raise
        record = _read_record(path)  # no flock here: the recorded holder decides
        if not _stale(record):
            handle.close()
            raise RunLocked(f"{run_dir} is being written by {_holder_text(record)}; wait for it to finish") from None
    record = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "command": sys.argv}).encode()
    try:  # unbuffered, so that a failed write leaves nothing to flush again on close
        os.ftruncate(handle.fileno(), 0)
        written = os.pwrite(handle.fileno(), record, 0)
        if written < len(record):  # a file-size limit met part-way: a count, not an error
            raise OSError(errno.EFBIG, f"only {written} of {len(record)} bytes written")
    except OSError as e:  # a file-size limit, a full disk: one line, and no half record left
        with contextlib.suppress(OSError):
            os.ftruncate(handle.fileno(), 0)
        handle.close()
        raise RunWriteError(f"cannot write {path}: {e.strerror or first_line(e)}") from None
    return handle


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold the run folder's write lock inside the block (RunLocked, exit 2, if another process holds it)."""
    key = Path(run_dir).resolve()
    if key in _held:
        _held[key][1] += 1
    else:
        _held[key] = [_acquire(key), 1]
    try:
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            handle = _held.pop(key)[0]
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()  # the record names a holder only while it holds
            handle.close()  # closing releases the flock


def check_output_folder(folder: Path, option: str) -> None:
    """Before any work, refuse an output folder that cannot be made or written: one under a regular
    file, inside a run folder (check_not_in_a_run), or whose nearest existing folder this process may
    not write (permissions, an immutable or read-only folder)."""
    check_not_in_a_run(Path(folder), option)
    check_writable(Path(folder), option)


def check_writable(folder: Path, option: str) -> None:
    """Refuse a folder this process cannot write into (or make): the nearest folder of its path that
    exists must be a folder, and writable (an existing run folder, for `sweep --resume`, included)."""
    existing = Path(folder).expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BenchError(f"{option}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BenchError(f"{option}: cannot write to {existing}: permission denied")


def release_before_exit(run_dir: Path) -> None:
    """Release a held lock now, as `run_lock` does when its block ends, for a
    command about to leave by `os._exit` (which runs no `finally`): the
    record stops naming this process. The kernel would drop the flock anyway."""
    entry = _held.pop(Path(run_dir).resolve(), None)
    if entry is not None:
        with contextlib.suppress(OSError):
            entry[0].seek(0)
            entry[0].truncate()
            entry[0].close()


MAX_RUN_ID = 128


def check_not_in_a_run(path: Path, option: str) -> None:
    """A command writing `path` must not write into a run folder (one holding run.json, at `path` or
    above it) that it does not own, nor under a regular file: one line instead."""
    path = Path(path).resolve()
    for folder in path.parents if not path.is_dir() else [path, *path.parents]:
        if folder.exists() and not folder.is_dir():
            raise BenchError(f"{option}: {folder} is a file, not a folder")
        if (folder / "run.json").is_file():
            raise BenchError(f"{option}: {path} is inside the run folder {folder}; write elsewhere "
                             "(a finished run's files belong to the command that made it)")


def check_run_id(run_id: str) -> str:
    """A run id is a plain folder name: letters, digits, '-', '_', '.', without '..' and not only dots."""
    if len(run_id) > MAX_RUN_ID:  # the file system's limit on one name is 255 bytes, with suffixes to add
        raise BenchError(f"--run-id: at most {MAX_RUN_ID} characters, got {len(run_id)}")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id) or ".." in run_id or set(run_id) == {"."}:
        raise BenchError(f"--run-id {run_id!r}: a run id is a plain name (letters, digits, '-', '_', '.'), "
                         "not a path")
    return run_id
