"""`dalle-bench sweep` and `dalle-bench report` as a user runs them: a
subprocess on the tiny preset, writing a real run folder."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from bench.results.points_schema import NAMES, SCHEMA
from tests.conftest import REPO, imported_modules

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_sweep_cli")

# Four points: (single, 1), (sharded, 1), (single, 2) - a bad combination - and (sharded, 2).
GRID = ["--parallel", "single,sharded", "--devices", "1,2", "--cond-scale", "3", "--iters", "2"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("sweep")
    # Without any persistent compilation cache: this run checks that "off" is recorded. Python lists
    # the modules it imports (PYTHONPROFILEIMPORTTIME): a sweep without metrics imports no torch.
    proc = run_cli("sweep", *GRID, "--out", out, "--run-id", "grid", "--no-progress", "--html",
                   "--no-compilation-cache", check=True, env={"PYTHONPROFILEIMPORTTIME": "1"})
    run_dir = out / "grid"
    return run_dir, pd.read_parquet(run_dir / "points.parquet"), proc


def test_every_point_has_a_row_in_definition_order(swept):
    _, rows, _ = swept
    assert list(rows.point_index) == [0, 1, 2, 3]
    assert list(zip(rows.parallel, rows.devices)) == [("single", 1), ("sharded", 1), ("single", 2), ("sharded", 2)]
    assert rows.point_id.is_unique
    assert (rows.cond_scale == 3.0).all() and (rows.temperature == 1.0).all() and (rows.top_k == 0).all()
    assert (rows.preset == "tiny").all() and rows.random_weights.fillna(True).all()
    assert list(rows.global_batch) == [1, 1, 2, 2]


def test_a_sweep_without_metrics_starts_without_torch(swept):
    """transformers would import torch (about 4 s of a 7 s start); bench/base/torch_free.py turns that off
    for a process that runs no metric (a sweep with --eval still has torch: tests/test_evals.py)."""
    _, _, proc = swept
    imported = imported_modules(proc.stderr)
    assert {"flax", "jax", "transformers.modeling_flax_utils"} <= imported  # the listing is there
    assert not {name for name in imported if name.split(".")[0] in ("torch", "torchvision")}


def test_a_bad_combination_is_recorded_and_the_sweep_goes_on(swept):
    _, rows, proc = swept
    bad = rows[rows.point_index == 2].iloc[0]
    assert bad.status == "invalid" and "--parallel single runs on one device" in bad.error
    assert math.isnan(bad.images_per_s)
    assert list(rows.status) == ["ok", "ok", "invalid", "ok"]
    assert "invalid" in proc.stdout


def test_timings_are_consistent(swept):
    _, rows, _ = swept
    ok = rows[rows.status == "ok"]
    assert (ok.iterations >= 2).all() and (ok.warmup == 1).all() and (ok.compile_s > 0).all()
    assert (ok.latency_min_s <= ok.latency_p50_s).all() and (ok.latency_p50_s <= ok.latency_p99_s).all()
    assert np.allclose(ok.images_per_s, ok.global_batch / ok.latency_p50_s)
    assert np.allclose(ok.seconds_per_image, 1 / ok.images_per_s)
    assert np.allclose(ok.images_per_s_per_device, ok.images_per_s / ok.devices)
    assert np.allclose(ok.image_tokens_per_s, 256 * ok.images_per_s)
    # A handful of calls cannot support them (astype: `~` on an object column of Python bools is -2, truthy).
    assert not ok.p90_supported.astype(bool).any() and not ok.p99_supported.astype(bool).any()
    for stage in ("encode", "sample", "decode", "score"):
        assert (ok[f"stage_{stage}_s"] > 0).all()
    assert (ok.flops_per_image > 0).all() and (ok.peak_flops > 0).all() and (ok.peak_source == "measured").all()
    assert np.allclose(ok.roofline_fraction, ok.roofline_s_per_image / ok.seconds_per_image)
    assert (ok.host_peak_rss_bytes > 0).all() and ok.peak_device_memory_bytes.isna().all()  # CPU has no allocator stats


def test_images_and_tokens_of_each_point(swept):
    run_dir, rows, _ = swept
    for row in rows[rows.status == "ok"].itertuples():
        folder = run_dir / row.images_dir
        tokens = np.load(folder / "tokens.npy")
        assert tokens.shape == (2, 2, 256) and tokens.dtype == np.int32  # demo set: 2 prompts, 2 images each
        assert np.load(folder / "clip_scores.npy").shape == (2, 2)
        latencies = np.load(folder / "latencies.npy")
        assert len(latencies) == row.iterations and np.median(latencies) == row.latency_p50_s
        with Image.open(folder / "prompt001_sample001.png") as image:
            assert image.size == (256, 256)
    # Same seed and settings on one or two devices: the same images.
    first, last = (np.load(run_dir / rows.images_dir[i] / "tokens.npy") for i in (1, 3))
    np.testing.assert_array_equal(first, last)


def test_the_file_follows_the_documented_schema(swept):
    run_dir, _, _ = swept
    schema = pq.read_schema(run_dir / "points.parquet")
    assert schema.names == list(NAMES)
    assert [f.type for f in schema] == [f.type for f in SCHEMA]


def test_run_json_records_command_definition_and_environment(swept):
    run_dir, _, _ = swept
    run = json.loads((run_dir / "run.json").read_text())
    assert "sweep" in run["command"]
    assert run["definition"]["grid"]["parallel"] == ["single", "sharded"]
    env = run["environment"]
    for package in ("python", "jax", "jaxlib", "flax", "transformers", "dalle-mini", "torch"):
        assert env["versions"][package]
    assert env["devices"]["platform"] == "cpu" and env["devices"]["available_devices"] == 2
    assert env["devices"]["process_count"] == 1
    assert "xla_force_host_platform_device_count=2" in env["host"]["xla_flags"]
    assert env["host"]["hostname"] and env["host"]["cpu"]
    assert set(env["git"]) == {"commit", "dirty"}
    assert run["compilation_cache"] == {"enabled": False}
    from bench.base.sources import weights_id

    checkpoints = run["checkpoints"]
    assert {k: weights_id(v) for k, v in checkpoints["sources"].items()} == checkpoints["revisions"]


def test_sweep_html_writes_the_page(swept):
    run_dir, rows, proc = swept
    page = run_dir / "report" / "report.html"
    assert f"report: {page}" in proc.stderr
    text = page.read_text()
    assert "id='table-failed-points'" in text and "--parallel single runs on one device" in text
    assert sorted(re.findall(r"id='grid-([^']+)'", text)) == sorted(rows[rows.status == "ok"].point_id)


def test_report_writes_markdown_and_csv(swept, cli_inprocess):
    run_dir, rows, _ = swept
    page = run_dir / "report" / "report.html"
    written = page.stat().st_mtime_ns  # by the sweep's --html
    proc = cli_inprocess("report", run_dir, check=True)
    assert "## Scaling across devices" in proc.stdout and "random weights" in proc.stdout
    report = run_dir / "report"
    points = pd.read_csv(report / "points.csv")
    assert list(points.point_id) == list(rows.point_id)
    scaling = pd.read_csv(report / "scaling_across_devices.csv")
    sharded = scaling[scaling.parallel == "sharded"].set_index("devices")
    ok = rows[rows.status == "ok"].set_index(["parallel", "devices"])
    expected = ok.loc[("sharded", 2), "images_per_s"] / ok.loc[("sharded", 1), "images_per_s"]
    assert sharded.loc[2, "speedup"] == pytest.approx(expected, rel=1e-3)
    assert sharded.loc[1, "speedup"] == pytest.approx(1.0)
    failed = pd.read_csv(report / "failed_points.csv")
    assert list(failed.status) == ["invalid"]
    assert page.stat().st_mtime_ns == written  # without --html the page is left alone
    markdown = (report / "report.md").read_text()
    assert all(point_id in markdown for point_id in rows.point_id)


def _sweep_process(out: Path, tiny_cache: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({"DALLE_BENCH_CACHE": str(tiny_cache), "TRANSFORMERS_VERBOSITY": "error", **DEFAULT_XLA_CACHE})
    return subprocess.Popen([sys.executable, "-m", "bench", "sweep", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# Without the test session's JAX_COMPILATION_CACHE_DIR: the sweep's own default folder.
DEFAULT_XLA_CACHE = {"JAX_COMPILATION_CACHE_DIR": ""}


def test_a_sweep_killed_with_sigkill_resumes_where_it_stopped(tmp_path, tiny_cache, cli_inprocess):
    args = ["--cond-scale", "1,2,3", "--no-stages", "--iters", "1", "--out", str(tmp_path), "--run-id", "killed",
            "--no-progress", "--no-report"]
    run_dir = tmp_path / "killed"
    proc = _sweep_process(tmp_path, tiny_cache, *args)
    deadline = time.monotonic() + 300
    while not (run_dir / "points.parquet").exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = pd.read_parquet(run_dir / "points.parquet")
    assert 1 <= len(before) < 3

    resumed = cli_inprocess("sweep", "--resume", run_dir, "--no-progress", check=True, env=DEFAULT_XLA_CACHE)
    assert f"{len(before)} already done" in resumed.stderr
    after = pd.read_parquet(run_dir / "points.parquet")
    assert sorted(after.point_index) == [0, 1, 2] and after.point_id.is_unique
    kept = after.set_index("point_id").loc[before.point_id]
    assert list(kept.finished_at) == list(before.finished_at)  # finished points were not re-run
    assert {p.name for p in (run_dir / "images").iterdir()} == set(after.point_id)  # no staging left behind
    run = json.loads((run_dir / "run.json").read_text())
    assert len(run["sessions"]) == 2
    # The persistent compilation cache is on by default, in the dalle-bench cache folder.
    assert run["compilation_cache"]["dir"] == str(tiny_cache / "xla-cache")


def test_resuming_a_finished_run_runs_nothing(swept, cli_inprocess):
    run_dir, rows, _ = swept
    before = (run_dir / "points.parquet").read_bytes()
    proc = cli_inprocess("sweep", "--resume", run_dir, "--no-progress", "--no-report", check=True)
    assert "4 points, 4 already done" in proc.stderr
    assert (run_dir / "points.parquet").read_bytes() == before


def test_a_sweep_file_with_grid_and_zip(tmp_path, cli_inprocess):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("grid:\n  temperature: [0.5, 1.0]\nzip:\n  parallel: [single, pmap]\n  devices: [1, 2]\n")
    proc = cli_inprocess("sweep", "--sweep", sweep, "--no-stages", "--iters", "1", "-n", "1", "--out", tmp_path,
                         "--run-id", "file", "--no-progress", "--no-report", check=True)
    rows = pd.read_parquet(tmp_path / "file" / "points.parquet")
    assert list(zip(rows.temperature, rows.parallel, rows.devices)) == [
        (0.5, "single", 1), (0.5, "pmap", 2), (1.0, "single", 1), (1.0, "pmap", 2)]
    assert (rows.status == "ok").all(), proc.stdout


SHARING = ["--temperature", "0.7,1.0", "--cond-scale", "1,3", "-n", "1", "--iters", "1", "--no-report",
           "--no-progress"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory, run_cli):
    """Two temperatures x two condition scales (two structures), two programs compiled at once, with a
    persistent compilation cache of its own that starts empty: (run folder, cache folder, output)."""
    out = tmp_path_factory.mktemp("shared")
    cache = out / "xla-cache"
    proc = run_cli("sweep", *SHARING, "--compile-workers", "2", "--compilation-cache", cache, "--out", out,
                   "--run-id", "shared", check=True)
    return out / "shared", cache, proc


def _run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_points_of_one_structure_share_their_programs(shared, run_cli, tmp_path):
    """Two structures (plain, uncond), each compiled by its first point and reused by the second, whole
    pipeline and stage programs alike; rows stay in definition order. A second sweep on the same
    persistent cache loads its programs instead of compiling them, and run.json says how full the
    cache was (a warm cache makes compile times incomparable)."""
    run_dir, cache, proc = shared
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert list(rows.point_index) == [0, 1, 2, 3] and list(rows.temperature) == [0.7, 0.7, 1.0, 1.0]
    assert list(rows.structure) == ["plain", "uncond", "plain", "uncond"]
    assert list(rows.compiled) == [True, True, False, False]
    assert (rows.compile_s[:2] > 0).all() and (rows.compile_s[2:] == 0).all()
    assert (rows.stage_compile_s[:2] > 0).all() and (rows.stage_compile_s[2:] == 0).all()
    # Warm-up calls only for a freshly compiled program: a reused one ran the point before.
    assert list(rows.warmup) == [1, 1, 0, 0]
    assert "program reused (plain)" in proc.stdout
    run = _run_json(run_dir)
    spent = run["sessions"][0]["time"]
    # Compiled: 2 pipelines; stages: decode and score once, encode and sample once per structure.
    # Reused: decode and score by the second structure's first point, then the pipeline and its four
    # stages by each of the last two points.
    assert (spent["programs_compiled"], spent["programs_reused"]) == (2 + 6, 2 + 2 + 4 * 2)
    assert spent["timed_s"] == pytest.approx(rows.timed_s.sum(), abs=5e-4)  # run.json keeps milliseconds
    assert 0 < spent["measuring_fraction"] < 1 and spent["wall_s"] > spent["compile_s"] + spent["timed_s"]
    assert "measuring fraction (timed / wall)" in proc.stderr

    # Counted from JAX's compile events, not timed: one temperature more or less asks XLA for nothing more.
    run_cli("sweep", *SHARING, "--temperature", "0.7", "--compilation-cache", cache, "--out", tmp_path,
            "--run-id", "fewer", check=True)
    fewer = _run_json(tmp_path / "fewer")
    assert fewer["sessions"][0]["time"]["xla_compile_requests"] == spent["xla_compile_requests"]

    states = [run["compilation_cache"], fewer["compilation_cache"]]
    assert states[0] == {"enabled": True, "dir": str(cache), "entries_before": 0}
    assert states[1]["entries_before"] > 0
    hits = [spent["compilation_cache_hits"], fewer["sessions"][0]["time"]["compilation_cache_hits"]]
    assert hits[0] == 0 and hits[1] > 0  # the second sweep loaded its programs instead of compiling them
    # The report's environment section shows these values (it once read a key the sweep never wrote).
    from bench.jobs.report.html import _environment

    assert dict(_environment(fewer))["compilation cache"] == (
        f"on: {cache} ({states[1]['entries_before']} entries when the run started)")
    assert dict(_environment(run))["compilation cache"].startswith(f"on: {cache} (0 entries")


def test_a_layouts_programs_compile_together_and_draw_the_same_tokens(shared, run_cli, tmp_path):
    """--compile-workers 2: the first point of a layout compiles both structures'
    programs at once (each row says 2 compiled together); --compile-workers 1
    compiles each alone when its first point runs. The tokens are the same."""
    together, _, _ = shared
    run_cli("sweep", *SHARING, "--no-stages", "--compile-workers", "1", "--no-compilation-cache",
            "--out", tmp_path, "--run-id", "alone", check=True)
    alone = tmp_path / "alone"
    counts = {}
    for workers, run_dir in ((1, alone), (2, together)):
        rows = pd.read_parquet(run_dir / "points.parquet")
        assert list(rows.compiled) == [True, True, False, False]
        counts[workers] = [None if pd.isna(v) else int(v) for v in rows.compile_concurrency]
        assert _run_json(run_dir)["sessions"][0]["compile_workers"] == workers
        for row in rows.itertuples():
            np.testing.assert_array_equal(np.load(run_dir / row.images_dir / "tokens.npy"),
                                          np.load(alone / row.images_dir / "tokens.npy"))
    assert counts == {1: [1, 1, None, None], 2: [2, 2, None, None]}
    spent = _run_json(alone)["sessions"][0]["time"]
    assert (spent["programs_compiled"], spent["programs_reused"]) == (2, 2)  # none twice
