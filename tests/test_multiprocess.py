"""Multi-process sweeps on jax.distributed, as a user runs them: N
`dalle-bench sweep` processes on 127.0.0.1 (gloo collectives, emulated CPU
devices), compared with one process over the same number of global devices.
`make test` runs the two-process run; four processes, and a killed process
with the resume after it, are the integration tier (`make test-integration`)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_multiprocess")

TIMEOUT_S = 30  # the kill test's --distributed-timeout: how long the survivors wait for the killed process
LIVE_TIMEOUT_S = 300  # every other run: all processes live, so only a hang may end a wait (compiling the
# second structure on a loaded 2-core machine took over 30 s, and a resume failed on it)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """`count` sweep processes of one run; every one is killed on exit."""

    def __init__(self, cache: Path, count: int, args: list, log_dir: Path, via_environment: bool = False,
                 timeout_s: int = LIVE_TIMEOUT_S):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env.update(DALLE_BENCH_CACHE=str(cache), TRANSFORMERS_VERBOSITY="error")
        self.logs = [log_dir / f"process{i}.log" for i in range(count)]
        self.procs = []
        for i, log in enumerate(self.logs):
            settings = {"coordinator": f"127.0.0.1:{port}", "num-processes": count, "process-id": i,
                        "distributed-timeout": timeout_s}
            if via_environment:
                names = {"coordinator": "COORDINATOR", "num-processes": "NUM_PROCESSES", "process-id": "PROCESS_ID",
                         "distributed-timeout": "DISTRIBUTED_TIMEOUT"}
                process_env = {**env, **{f"DALLE_BENCH_{names[k]}": str(v) for k, v in settings.items()}}
                options = []
            else:
                process_env, options = env, [str(x) for k, v in settings.items() for x in (f"--{k}", v)]
            with open(log, "w") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "bench", "sweep", *map(str, args), *options, "--no-progress"], cwd=REPO,
                    env=process_env, stdout=out, stderr=subprocess.STDOUT))

    def wait(self, timeout: float = 600) -> list[int]:
        deadline = time.monotonic() + timeout
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in self.procs]

    def output(self, i: int) -> str:
        return self.logs[i].read_text()

    def errors(self, i: int) -> list[str]:
        return [line for line in self.output(i).splitlines() if line.startswith("Error:")]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _tokens(run_dir: Path) -> dict:
    rows = pd.read_parquet(run_dir / "points.parquet")
    return {(r.parallel, r.devices): np.load(run_dir / r.images_dir / "tokens.npy") for r in rows.itertuples()}


def _single_process(run_cli, out: Path, devices: int) -> dict:
    """One process over `devices` devices: the reference the multi-process runs must reproduce."""
    run_cli("sweep", "--parallel", "sharded", "--devices", devices, "--cond-scale", "3", "--iters", "1",
            "--no-stages", "--out", out, "--run-id", "one", "--no-progress", "--no-report", check=True)
    return _tokens(out / "one")


@pytest.fixture(scope="module")
def single_process(tmp_path_factory, cli_inprocess):
    return _single_process(cli_inprocess, tmp_path_factory.mktemp("single"), 4)  # this process has 4 devices


def _check_complete_run(run_dir: Path, processes: int, local_devices: int, points: int):
    run = json.loads((run_dir / "run.json").read_text())
    assert len(run["sessions"]) == 1 and len(run["environment"]["processes"]) == processes
    assert run["environment"]["devices"]["process_count"] == processes
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert len(rows) == points and (rows.status == "ok").all(), rows[["status", "error"]]
    assert (rows.processes == processes).all() and (rows.local_devices == local_devices).all()
    assert all(len(p) == processes for p in rows.process_latency_p50_s)
    assert np.allclose(rows.latency_p50_s, [np.median(np.load(run_dir / d / "latencies.npy")) for d in rows.images_dir])
    assert not list((run_dir / "images").glob(".*")), "staging folders left behind"
    for row in rows.itertuples():
        files = sorted(p.name for p in (run_dir / row.images_dir).iterdir())
        assert files == ["clip_scores.npy", "latencies.npy", "prompt000_sample000.png", "prompt000_sample001.png",
                         "prompt001_sample000.png", "prompt001_sample001.png", "tokens.npy"]
    return rows


def test_two_processes_reproduce_one(tiny_cache, single_process, tmp_path):
    args = ["--parallel", "sharded,pmap", "--devices", "4", "--cond-scale", "3", "--iters", "2", "--no-stages",
            "--out", tmp_path, "--run-id", "two"]
    with Processes(tiny_cache, 2, args, tmp_path, via_environment=True) as procs:  # DALLE_BENCH_COORDINATOR...
        assert procs.wait() == [0, 0], procs.output(0)[-3000:] + procs.output(1)[-3000:]
    run_dir = tmp_path / "two"
    _check_complete_run(run_dir, processes=2, local_devices=2, points=2)
    for (mode, devices), tokens in _tokens(run_dir).items():
        assert np.array_equal(tokens, single_process[("sharded", devices)]), mode
    assert "process 1 of 2: done" in procs.output(1)
    report = (run_dir / "report" / "report.md").read_text()
    assert "2 processes × 2 local devices" in report and "process_1_p50_s" in report


@pytest.mark.integration
def test_four_processes_reproduce_one(tiny_cache, run_cli, tmp_path):
    """Integration tier: in `make test`, test_two_processes_reproduce_one covers a multi-process run
    (its settings from the environment, here from options with --host-devices)."""
    single = _single_process(run_cli, tmp_path / "single", 8)
    args = ["--parallel", "sharded", "--devices", "8", "--host-devices", "2", "--cond-scale", "3", "--iters", "1",
            "--no-stages", "--out", tmp_path, "--run-id", "four", "--no-report"]
    with Processes(tiny_cache, 4, args, tmp_path) as procs:
        assert procs.wait() == [0] * 4, procs.output(0)[-3000:]
    run_dir = tmp_path / "four"
    _check_complete_run(run_dir, processes=4, local_devices=2, points=1)
    assert np.array_equal(_tokens(run_dir)[("sharded", 8)], single[("sharded", 8)])


GLOO_DEADLINE = ("under load the resume can fail: a process that compiles the second structure late misses "
                 "Gloo's own 30 s key-value deadline at context initialisation (GetKeyValue DEADLINE_EXCEEDED, "
                 "measured 2026-11-30), which --distributed-timeout does not set")


@pytest.mark.integration
def test_a_killed_process_fails_the_point_and_the_run_resumes(tiny_cache, tmp_path):
    """Integration tier (a real kill, the survivors' timeout, a three-process resume): in `make test`,
    test_two_processes_reproduce_one runs the processes' exchanges, test_bad_distributed_settings_are_refused
    the timeout's setting, and tests/test_sweep_cli.py's SIGKILL test a resume after a killed sweep."""
    args = ["--parallel", "sharded", "--devices", "3", "--host-devices", "1", "--cond-scale", "1,3",
            "--iters", "1", "--no-stages", "--out", tmp_path, "--run-id", "killed", "--no-report"]
    run_dir = tmp_path / "killed"
    with Processes(tiny_cache, 3, args, tmp_path, timeout_s=TIMEOUT_S) as procs:
        deadline = time.monotonic() + 300
        while not (run_dir / "points.parquet").exists():
            assert time.monotonic() < deadline and procs.procs[0].poll() is None, procs.output(0)[-3000:]
            time.sleep(0.2)
        procs.procs[1].kill()
        killed = time.monotonic()
        codes = procs.wait(timeout=TIMEOUT_S + 120)
        waited = time.monotonic() - killed
    assert codes[0] == 1 and codes[2] == 1, (codes, procs.output(0)[-2000:])
    assert waited < TIMEOUT_S + 90  # the point's own work, then at most the timeout
    assert procs.errors(0) == [f"Error: process 1 did not send {_second_id(run_dir)}/report within "
                               f"{TIMEOUT_S} s: it died or hung"]
    assert len(procs.errors(2)) == 1 and "process 0 stopped the run: process 1 did not send" in procs.errors(2)[0]
    assert "Traceback" not in procs.output(0) + procs.output(2)
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert list(rows.status) == ["ok", "lost"]

    resume = ["--resume", run_dir, "--no-stages", "--no-report"]
    with Processes(tiny_cache, 3, resume, tmp_path) as procs:
        codes = procs.wait()
        outputs = "".join(procs.output(i) for i in range(3))
    # Only that known failure is expected; the kill above and any other failure of the resume fail.
    # (Marked xfail as a whole, the test could not fail at all: it cost 156 s of make test for nothing.)
    if codes != [0, 0, 0] and "DEADLINE_EXCEEDED" in outputs:
        pytest.xfail(GLOO_DEADLINE)
    assert codes == [0, 0, 0], procs.output(0)[-3000:]
    assert "Measuring again the point(s) lost with a process" in procs.output(0)
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert list(rows.status) == ["ok", "ok"] and list(rows.point_index) == [0, 1]
    assert len(json.loads((run_dir / "run.json").read_text())["sessions"]) == 2


def _second_id(run_dir: Path) -> str:
    return pd.read_parquet(run_dir / "points.parquet").point_id.iloc[1]


@pytest.mark.parametrize("options, message", [
    (dict(coordinator="nohost"), "--coordinator must be HOST:PORT or 'auto'"),
    (dict(coordinator="127.0.0.1:1234"), "needs --num-processes and --process-id"),
    (dict(coordinator="127.0.0.1:1234", num_processes=2, process_id=2), "--process-id must be in [0, 2)"),
    (dict(num_processes=2), "need --coordinator"),
    (dict(timeout_s=0), "--distributed-timeout must be > 0"),
])
def test_bad_distributed_settings_are_refused(options, message):
    from bench.base.errors import BenchError
    from bench.core.distributed import DistributedConfig

    with pytest.raises(BenchError, match=re.escape(message)):
        DistributedConfig(**options)


def test_good_distributed_settings():
    from bench.core.distributed import DistributedConfig

    assert not DistributedConfig().enabled
    assert DistributedConfig("auto").enabled and DistributedConfig("[::1]:8476", 4, 3).enabled


def test_bad_distributed_options_on_the_command_line(cli_inprocess, tmp_path):
    for args, message in ((["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "0",
                            "--min-seconds", "1"], "--min-seconds is not supported across processes"),
                          (["--distributed-timeout", "0"], "--distributed-timeout must be > 0")):
        proc = cli_inprocess("sweep", *args, "--out", tmp_path / "out")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
        assert not (tmp_path / "out").exists()
