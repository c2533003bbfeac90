"""A sweep's exit status and throughput say what happened: failed points
make it exit 1 (after everything is written), batches its images do not fill
are recorded and warned about, the throughput definition is stated, and
prompts cut to the model's text length are named once."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.results.points_schema import SCHEMA

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


def test_failed_points_make_the_sweep_exit_1_after_writing_everything(padded_run, run_cli, tmp_path):
    run_dir = tmp_path / "p"
    shutil.copytree(padded_run[0], run_dir)
    rows = pd.read_parquet(run_dir / "points.parquet")
    second = rows.point_id[1]
    # Forget the second point, and put a file where its images must go: measuring it fails for real.
    pq.write_table(pa.Table.from_pandas(rows.iloc[:1], schema=SCHEMA, preserve_index=False),
                   run_dir / "points.parquet")
    shutil.rmtree(run_dir / "images" / second)
    (run_dir / "images" / second).write_text("in the way")
    (run_dir / "report" / "report.md").unlink()

    proc = run_cli("sweep", "--resume", run_dir, "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"1 of 2 points failed (1 failed): {second}" in proc.stderr.splitlines()[-1]
    after = pd.read_parquet(run_dir / "points.parquet")
    assert list(after.status) == ["ok", "failed"] and "NotADirectoryError" in after.error[1]
    assert second in (run_dir / "report" / "report.md").read_text()  # the report was written first


def test_invalid_combinations_do_not_change_the_exit_status(run_cli, tmp_path):
    proc = run_cli("sweep", "--parallel", "single", "--devices", "2", "--host-devices", "2", "--no-stages",
                   "--iters", "1", "-n", "1", "--out", tmp_path, "--run-id", "i", "--no-progress", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert list(pd.read_parquet(tmp_path / "i" / "points.parquet").status) == ["invalid"]
