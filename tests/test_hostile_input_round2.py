"""Issue 29's classes of hostile input, one fast case each through the CLI (the whole table is the
integration tier's tests/test_fuzz_cli.py): refused up front with one line and exit 2, nothing written."""

from __future__ import annotations

import hashlib

import pytest

from bench.cli import _json_text

REFUSED = {
    "not finite": (["loadgen", "--scenario", "server", "--target-qps", "inf"], "--target-qps must be a finite number"),
    "no upper bound": (["loadgen", "--scenario", "offline", "--min-queries", "1000000000000"],
                       "--min-queries must be in [1, 10,000,000]"),
    "a window that never ends": (["loadgen", "--scenario", "offline", "--max-batch-wait-ms", "inf"],
                                 "--max-batch-wait-ms must be a finite number"),
    "a run id longer than a file name": (["loadgen", "--scenario", "offline", "--run-id", "a" * 300],
                                         "--run-id: at most 128 characters"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_before_anything_starts(run_cli, tmp_path, name):
    args, message = REFUSED[name]
    proc = run_cli(*args, "--out", tmp_path / "out")
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_no_command_writes_into_a_run_it_does_not_own(run_cli, tmp_path):
    run = tmp_path / "run"
    (run / "images" / "000-x").mkdir(parents=True)
    (run / "run.json").write_text('{"run_id": "run"}')
    before = hashlib.sha256((run / "run.json").read_bytes()).hexdigest()
    proc = run_cli("compare", run, run, "--output", run / "run.json")
    assert proc.returncode == 2 and "--output" in proc.stderr and "inside the run folder" in proc.stderr
    proc = run_cli("generate", "a cat", "--out", run / "images" / "000-x", "--no-progress")
    assert proc.returncode == 2 and "--out" in proc.stderr and "inside the run folder" in proc.stderr
    assert hashlib.sha256((run / "run.json").read_bytes()).hexdigest() == before
    assert list((run / "images" / "000-x").iterdir()) == []
    proc = run_cli("generate", "a cat", "--out", run / "run.json" / "sub", "--no-progress")
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr


def test_metrics_json_has_null_for_values_that_are_not_numbers():
    text = _json_text({"fid": float("nan"), "kid": [1.0, float("inf")], "n": 3})
    assert "NaN" not in text and "Infinity" not in text
    assert '"fid": null' in text and '"n": 3' in text


@pytest.mark.parametrize("command", [("loadgen", "--scenario", "offline"), ("sweep", "--preset", "shapes", "-n", "1")])
def test_out_under_a_regular_file_is_refused(run_cli, tmp_path, command):
    (tmp_path / "file").write_text("x")
    proc = run_cli(*command, "--out", tmp_path / "file" / "sub")
    assert proc.returncode == 2 and "--out" in proc.stderr and "is a file, not a folder" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_prompt_file_with_invalid_utf8_is_refused(run_cli, tmp_path):
    (tmp_path / "prompts.txt").write_bytes(b"a red \xff\xfe circle\n")
    proc = run_cli("loadgen", "--scenario", "offline", "--prompts", tmp_path / "prompts.txt", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "--prompts" in proc.stderr and "utf-8" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_sigterm_during_loadgen_is_recorded_as_ctrl_c_is(tiny_cache, tmp_path):
    """SIGTERM (a scheduler's stop, `kill`) while LoadGen runs: the running test gets its row, marked
    interrupted, run.json says the run is incomplete, the lock is released, exit 143."""
    import fcntl
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    import pandas as pd

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(DALLE_BENCH_CACHE=str(tiny_cache), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "bench", "loadgen", "--scenario", "singlestream", "-n", "1",
                             "--min-duration", "600", "--out", tmp_path, "--run-id", "stopped"], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "LoadGen running" in line:
            break
    run_dir = tmp_path / "stopped"
    deadline = time.monotonic() + 120
    while not (run_dir / "loadgen" / "singlestream-performance" / "mlperf_log_detail.txt").is_file():
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        time.sleep(0.2)
    time.sleep(2)  # a few samples into the test
    assert str(proc.pid) in (run_dir / ".lock").read_text()  # the test runs under the lock
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    stderr = "".join(lines) + rest
    assert proc.returncode == 143, stderr
    assert "Interrupted: the run is incomplete (stopped by SIGTERM)" in stderr and "Traceback" not in stderr
    rows = pd.read_parquet(run_dir / "scenarios.parquet")
    assert list(rows.scenario_id) == ["singlestream-performance"]
    assert rows.status[0] == "interrupted" and "SIGTERM" in rows.error[0] and "incomplete" in rows.error[0]
    assert (run_dir / rows.log_dir[0] / "mlperf_log_detail.txt").is_file()
    interrupted = json.loads((run_dir / "run.json").read_text())["interrupted"]
    assert interrupted["by"] == "SIGTERM" and interrupted["scenario_id"] == "singlestream-performance"
    assert (run_dir / ".lock").read_text() == ""  # released: the record names no holder
    with open(run_dir / ".lock") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.fixture(scope="module")
def measured_run(run_cli, tmp_path_factory):
    """A finished tiny sweep of one point (two timed calls)."""
    out = tmp_path_factory.mktemp("measured")
    run_cli("sweep", "--cond-scale", "1", "--no-stages", "--iters", "2", "--warmup", "0", "-n", "1", "--out", out,
            "--run-id", "base", "--no-progress", "--no-report", check=True)
    return out / "base"


def _copy_with_infinite_latencies(run, dest, in_table: bool):
    import shutil

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(run, dest)
    for path in dest.glob("images/*/latencies.npy"):
        if in_table:
            path.unlink()  # only the table's figures: the gates would have no calls to test
        else:
            np.save(path, np.full_like(np.load(path), np.inf))
    if in_table:
        table = pq.read_table(dest / "points.parquet")
        rows = table.to_pylist()
        for row in rows:
            row.update({c: float("inf") for c in row if c.startswith("latency_") and isinstance(row[c], float)})
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), dest / "points.parquet")
    return dest


@pytest.mark.parametrize("where", ["latencies.npy", "points.parquet"])
def test_compare_never_passes_a_candidate_whose_latencies_are_infinite(run_cli, measured_run, tmp_path, where):
    candidate = _copy_with_infinite_latencies(measured_run, tmp_path / "cand", in_table=where == "points.parquet")
    same = run_cli("compare", measured_run, measured_run)
    assert same.returncode == 0, same.stderr[-2000:]
    proc = run_cli("compare", measured_run, candidate)
    assert proc.returncode == 2 and "PASS" not in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert where in proc.stderr and "inf" in proc.stderr and "refusing to compare" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def _loadgen_run(folder, result_value: float):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.sweep.scenario_schema import SCHEMA, check_row

    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"kind": "loadgen", "run_id": folder.name}))
    row = check_row({"run_id": folder.name, "scenario_id": "offline-performance", "scenario": "Offline",
                     "mode": "performance", "status": "ok", "validity": "VALID", "result_metric": "samples_per_s",
                     "result_value": result_value})
    pq.write_table(pa.Table.from_pylist([row], schema=SCHEMA), folder / "scenarios.parquet")
    return folder


def test_compare_fails_a_loadgen_candidate_with_an_infinite_result(run_cli, tmp_path):
    base = _loadgen_run(tmp_path / "base", 2.0)
    assert run_cli("compare", base, _loadgen_run(tmp_path / "same", 2.0)).returncode == 0
    proc = run_cli("compare", base, _loadgen_run(tmp_path / "inf", float("inf")))
    assert proc.returncode == 1 and "not a measured figure" in proc.stdout, proc.stdout[-2000:] + proc.stderr
    assert "Traceback" not in proc.stderr


# --- output folders that cannot be written, train-shapes' assemble, loadgen's --eval-clip, prompt bytes


def _one_line_refusal(proc, *names):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert all(name in proc.stderr for name in names), proc.stderr


def _unwritable(folder):
    """A folder this process cannot write: mode 555, or for root (whom modes do not stop) immutable."""
    import os
    import subprocess

    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not possible: no folder root cannot write")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_train_shapes_refuses_what_it_could_not_finish(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("train-shapes", "--stage", "assemble", "--out", tmp_path / "empty")
    _one_line_refusal(proc, "--stage assemble", "vqgan")
    assert list((tmp_path / "empty").iterdir()) == []
    (tmp_path / "file").write_text("x")
    _one_line_refusal(run_cli("train-shapes", "--stage", "clip", "--out", tmp_path / "file" / "sub"),
                      "--out", "is a file, not a folder")
    restore = _unwritable(tmp_path / "locked")
    try:
        for out in (tmp_path / "locked", tmp_path / "locked" / "sub"):
            _one_line_refusal(run_cli("train-shapes", "--stage", "clip", "--out", out), "--out", "cannot write")
    finally:
        restore()
    assert list((tmp_path / "locked").iterdir()) == []


def test_accelerator_refuses_an_out_under_a_file_before_its_probe(run_cli, tmp_path):
    import time

    (tmp_path / "file").write_text("x")
    start = time.monotonic()
    proc = run_cli("accelerator", "--smoke", "--out", tmp_path / "file" / "sub")
    _one_line_refusal(proc, "--out", "is a file, not a folder")
    assert time.monotonic() - start < 30  # the device probe alone takes up to 60 s


@pytest.mark.parametrize("source, message", [
    ("{tmp}/none", "checkpoint not found"),
    ("{tmp}/empty", "is not a CLIP checkpoint"),
    ("{tmp}/corrupt", "config.json cannot be read"),
    ("{tmp}/bart", "is not a CLIP checkpoint"),
    ("not a hub id", "neither a checkpoint folder nor a Hub id"),
])
def test_loadgen_checks_eval_clip_before_anything_loads(run_cli, tmp_path, source, message):
    (tmp_path / "empty").mkdir()
    for name, config in (("corrupt", "{"), ("bart", '{"model_type": "bart"}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(config)
        (tmp_path / name / "flax_model.msgpack").write_bytes(b"")
    proc = run_cli("loadgen", "--scenario", "offline", "--mode", "accuracy", "--eval-clip",
                   source.format(tmp=tmp_path), "--out", tmp_path / "out")
    _one_line_refusal(proc, "--eval-clip", message)
    assert not (tmp_path / "out").exists()


def test_generate_refuses_a_prompt_that_is_not_utf8(run_cli, tmp_path):
    proc = run_cli("generate", "a red \udcff circle", "--out", tmp_path / "out", "--no-progress")  # the byte 0xff
    _one_line_refusal(proc, "prompt 1", "utf-8")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [("loadgen", "--scenario", "offline"), ("generate", "a cat", "--no-progress"),
                                     ("sweep", "--no-progress")])
def test_an_out_that_cannot_be_written_is_refused_before_any_model_loads(run_cli, tmp_path, command):
    restore = _unwritable(tmp_path / "locked")
    try:
        proc = run_cli(*command, "--out", tmp_path / "locked" / "sub")
    finally:
        restore()
    _one_line_refusal(proc, "--out", "cannot write")
    assert list((tmp_path / "locked").iterdir()) == []
