"""Runs their users cannot damage: a run id is a plain name, and one process
at a time writes into a run folder (a second writer is refused, naming the
holder; a lock left by a killed process does not block a resume). Each test
runs real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("test_run_safety")]


def _one_line_error(proc, *fragments: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    return lines[0]


@pytest.mark.parametrize("run_id", ["../escaped", "a/b", "..", "/tmp/abs", "x y", "a..b", ""])
def test_a_run_id_that_is_not_a_plain_name_is_refused(run_id, run_cli, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("sweep", "--cond-scale", "1", "--iters", "1", "-n", "1", "--out", out, "--run-id", run_id)
    _one_line_error(proc, "--run-id", "plain name")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, inside --out or beside it


def test_a_plain_run_id_with_dots_is_accepted():
    from bench.results.runlock import check_run_id

    assert check_run_id("v1.2_base-3") == "v1.2_base-3"


def _env(tiny_cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({"DALLE_BENCH_CACHE": str(tiny_cache), "TRANSFORMERS_VERBOSITY": "error"})
    return env


def _holder(run_dir: Path, tiny_cache: Path) -> subprocess.Popen:
    """Another process that takes the run's lock, as any writing command does, and keeps it."""
    code = ("import sys, time\nfrom pathlib import Path\nfrom bench.results.runlock import run_lock\n"
            "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], cwd=REPO, env=_env(tiny_cache),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture(scope="module")
def one_point_run(tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("locked")
    run_cli("sweep", "--cond-scale", "1", "--no-stages", "--iters", "1", "-n", "1", "--out", out, "--run-id", "r",
            "--no-progress", "--no-report", check=True)
    return out / "r"


def test_every_writing_command_is_refused_while_another_process_writes(one_point_run, run_cli, tiny_cache):
    run_dir = one_point_run
    before = (run_dir / "points.parquet").read_bytes()
    holder = _holder(run_dir, tiny_cache)
    try:
        where = (f"pid {holder.pid}", f"host {socket.gethostname()}")
        _one_line_error(run_cli("sweep", "--resume", run_dir, "--no-progress"), "is being written by", *where)
        _one_line_error(run_cli("report", run_dir), "is being written by", *where)
        _one_line_error(run_cli("eval", run_dir, "--metrics", "clip", "--clip", "shapes"),  # valid: the lock refuses
                        "is being written by", *where)
    finally:
        holder.send_signal(signal.SIGKILL)  # killed: its record stays in the lock file
        holder.wait()
    assert (run_dir / "points.parquet").read_bytes() == before
    assert str(holder.pid) in (run_dir / ".lock").read_text()  # a stale record of a dead process...
    run_cli("report", run_dir, check=True)  # ...does not block the next writer
    run_cli("sweep", "--resume", run_dir, "--no-progress", "--no-report", check=True)
    assert (run_dir / ".lock").read_text() == ""  # released by a writer that finished


def test_a_second_sweep_on_a_running_sweep_is_refused_and_a_killed_one_resumes(tmp_path, tiny_cache, run_cli):
    args = ["--cond-scale", "1,2,3", "--no-stages", "--iters", "1", "-n", "1", "--no-progress", "--no-report"]
    run_dir = tmp_path / "busy"
    first = subprocess.Popen([sys.executable, "-m", "bench", "sweep", *args, "--out", str(tmp_path), "--run-id",
                              "busy"], cwd=REPO, env=_env(tiny_cache), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "points.parquet").exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # Paused in the middle of its sweep (it keeps its lock, as a busy process does), however
        # slow this machine is when the second one starts.
        first.send_signal(signal.SIGSTOP)
        second = run_cli("sweep", "--resume", run_dir, "--no-progress", "--no-report")
        _one_line_error(second, "is being written by", f"pid {first.pid}", f"host {socket.gethostname()}")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done = len(pd.read_parquet(run_dir / "points.parquet"))
    assert 1 <= done < 3
    resumed = run_cli("sweep", "--resume", run_dir, "--no-progress", "--no-report", check=True)
    assert f"{done} already done" in resumed.stderr
    assert sorted(pd.read_parquet(run_dir / "points.parquet").point_index) == [0, 1, 2]


def test_a_lock_record_cut_short_by_a_file_size_limit_is_refused_and_left_empty(tmp_path):
    """`ulimit -f` below the lock's record: the kernel writes what fits and returns a count (a short write,
    no error); the lock is refused with RunWriteError (exit status 1) and no half record stays."""
    import resource

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    code = ("import sys\nfrom pathlib import Path\nfrom bench.base.errors import RunWriteError\n"
            "from bench.results.runlock import run_lock\ntry:\n    with run_lock(Path(sys.argv[1])):\n"
            "        print('held')\nexcept RunWriteError as e:\n    print(f'refused {e.exit_code}: {e}')\n")
    proc = subprocess.run([sys.executable, "-c", code, str(run_dir)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},  # no .pyc under the limit
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16)), timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith(f"refused 1: cannot write {run_dir.resolve() / '.lock'}: only 16 of "), proc.stdout
    assert "held" not in proc.stdout
    assert (run_dir / ".lock").read_bytes() == b""
