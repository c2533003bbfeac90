"""A sweep's exit status and throughput say what happened: failed points
make it exit 1 (after everything is written), batches its images do not fill
are recorded and warned about, the throughput definition is stated, and
prompts cut to the model's text length are named once."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("test_honest_status")]

LONG = " ".join(["a very long prompt about a red bicycle"] * 20)  # far beyond the 64 text tokens


@pytest.fixture(scope="module")
def padded_run(tmp_path_factory, run_cli):
    """Two points of 2 images each in batches of 3: one padding row per point."""
    out = tmp_path_factory.mktemp("padded")
    prompts = out / "prompts.txt"
    prompts.write_text(f"{LONG}\nsunset over a lake\n")
    proc = run_cli("sweep", "--prompts", prompts, "--cond-scale", "1,3", "--batch-per-device", "3", "-n", "1",
                   "--no-stages", "--iters", "1", "--out", out, "--run-id", "p", "--no-progress", check=True)
    return out / "p", proc


def test_padding_is_recorded_and_warned_about(padded_run):
    run_dir, proc = padded_run
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert list(rows.padded_rows) == [1, 1] and (rows.global_batch == 3).all()
    # Throughput stays the capacity of a full batch...
    assert rows.images_per_s.tolist() == pytest.approx((3 / rows.latency_p50_s).tolist())
    # ...and every output says so.
    summaries = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "images/s (full batches)" in line]
    assert len(summaries) == 2
    assert all("warning: 2 image(s) leave 1 of 3 batch rows as padding" in line for line in summaries)
    assert "Throughput: images_per_s = global_batch / median batch latency" in proc.stderr
    report = (run_dir / "report" / "report.md").read_text()
    assert "Throughput: images_per_s = global_batch / median batch latency" in report
    assert f"Warning: {', '.join(rows.point_id)} do not fill their batches" in report


def test_a_long_prompt_is_named_once_per_run(padded_run):
    _, proc = padded_run
    warnings = [line for line in proc.stderr.splitlines() if "longer than" in line]
    assert len(warnings) == 1, proc.stderr
    assert "1 prompt(s) longer than 64 text tokens, truncated: 1: 'a very long prompt" in warnings[0]


# A cap on the sweep's address space (as a memory-limited container has): batch 4096 of the tiny
# preset asks XLA for ~100 GB at once and cannot have it, batch 1 runs well within it.
ADDRESS_SPACE_BYTES = 16 * 2**30


def test_failed_points_make_the_sweep_exit_1_after_writing_everything(tiny_cache, tmp_path):
    """A point that fails for real: out of memory under the cap, recorded as `oom` with XLA's message,
    and the sweep goes on to the next point, writes every row and the report, then exits 1. (A file in
    the way of a point's images is a fault of the run folder instead, which stops the sweep with
    'resume with': tests/test_faults.py.)"""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({"DALLE_BENCH_CACHE": str(tiny_cache), "TRANSFORMERS_VERBOSITY": "error"})
    proc = subprocess.run([sys.executable, "-m", "bench", "sweep", "--batch-per-device", "4096,1", "-n", "1",
                           "--cond-scale", "1", "--iters", "1", "--no-stages", "--out", str(tmp_path), "--run-id", "m",
                           "--no-progress"], cwd=REPO, env=env, preexec_fn=cap, capture_output=True, text=True,
                          timeout=600)
    run_dir = tmp_path / "m"
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert list(rows.batch_per_device) == [4096, 1] and list(rows.status) == ["oom", "ok"]
    assert "RESOURCE_EXHAUSTED" in rows.error[0]
    assert proc.stderr.splitlines()[-1] == f"Error: 1 of 2 points failed (1 oom): {rows.point_id[0]}"
    assert rows.point_id[0] in (run_dir / "report" / "report.md").read_text()  # the report was written first
    assert (run_dir / "images" / rows.point_id[1] / "tokens.npy").is_file()


def test_invalid_combinations_do_not_change_the_exit_status(run_cli, tmp_path):
    proc = run_cli("sweep", "--parallel", "single", "--devices", "2", "--host-devices", "2", "--no-stages",
                   "--iters", "1", "-n", "1", "--out", tmp_path, "--run-id", "i", "--no-progress", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert list(pd.read_parquet(tmp_path / "i" / "points.parquet").status) == ["invalid"]
