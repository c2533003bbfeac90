"""Accuracy that is checked (`loadgen --benchmark NAME --mode accuracy`): the definition's metrics
on the accuracy log's images against the band around its stored reference run — PASS or FAIL with
the figures, in the scenario row, the report and the exit status. Through the CLI, on real runs:
the shapes definition passes as defined and fails with a setting that ruins its images (cond-scale
0, which also makes it not a benchmark run); mini's CLIP score and FID band, whose weights are not
here, on the tiny preset with random weights (its figures and verdict logic, not its quality)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench import data
from bench.jobs.loadgen.benchmark import load_benchmark

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("test_shapes_quality")]

BASELINE = data.path("baselines", "shapes")


def _row(run_dir) -> dict:
    (row,) = pd.read_parquet(run_dir / "scenarios.parquet").to_dict("records")
    return row


def _shapes(run_cli, tmp_path, run_id, *extra):
    return run_cli("loadgen", "--benchmark", "shapes", "--scenario", "offline", "--mode", "accuracy",
                   "--batch-per-device", "8", *extra, "--out", tmp_path, "--run-id", run_id)


def test_shapes_passes_on_its_reference_samples_with_the_figures(run_cli, tmp_path):
    proc = _shapes(run_cli, tmp_path, "pass")
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = _row(tmp_path / "pass")
    assert row["accuracy_verdict"] == "PASS"
    detail = json.loads(row["accuracy_detail"])
    assert detail["benchmark_run"] is True
    checks = {c["metric"]: c for c in detail["metrics"]}
    # The same samples as the float32 baseline (seed, prompt, sample): the same adherence, exactly.
    baseline = pd.read_parquet(BASELINE / "points.parquet").iloc[0]
    assert checks["adherence"]["measured"] == checks["adherence"]["reference"] == baseline.adherence
    assert checks["clip_score"]["measured"] == pytest.approx(row["clip_score"])
    assert abs(checks["clip_score"]["measured"] - checks["clip_score"]["reference"]) <= 1.0
    assert row["clip_model"] == "shapes"
    assert "offline-accuracy: accuracy PASS: adherence 0.575 in [0.475, 0.675]" in proc.stderr
    report = run_cli("report", tmp_path / "pass")
    assert report.returncode == 0 and "accuracy PASS: adherence 0.575" in report.stdout
    assert "results/baselines/shapes points.parquet" in report.stdout


def test_shapes_fails_with_a_setting_that_ruins_its_images_exit_1(run_cli, tmp_path):
    proc = _shapes(run_cli, tmp_path, "broken", "--cond-scale", "0")
    assert proc.returncode == 1, proc.stderr[-3000:]
    row = _row(tmp_path / "broken")  # everything written before the exit status
    assert row["accuracy_verdict"] == "FAIL" and row["accuracy_images"] == 40
    detail = json.loads(row["accuracy_detail"])
    assert detail["benchmark_run"] is False and "--cond-scale 0.0 (definition: 3.0)" in detail["not_benchmark_reason"]
    adherence = next(c for c in detail["metrics"] if c["metric"] == "adherence")
    assert adherence["passed"] is False and adherence["measured"] < adherence["low"] == pytest.approx(0.475)
    assert "accuracy FAIL (not a benchmark run: --cond-scale 0.0 (definition: 3.0))" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("Error: accuracy FAIL against the definition's band")
    report = run_cli("report", tmp_path / "broken")
    assert "accuracy FAIL (not a benchmark run" in report.stdout and "Not a benchmark run of `shapes`" in report.stdout
    assert run_cli("report", tmp_path / "broken", "--html").returncode == 0
    page = (tmp_path / "broken" / "report" / "report.html").read_text()
    assert "<p>offline-accuracy: accuracy FAIL (not a benchmark run: --cond-scale 0.0" in page


def _tiny_mini(tmp_path, name: str, clip, fid_ref, reference: str, figures: str = "") -> str:
    """mini's definition (its scenarios and its CLIP score and FID tolerances) on the tiny preset."""
    text = load_benchmark("mini").source.read_text()
    for old, new in (('preset = "mini"', 'preset = "tiny"'), ('weights = "pretrained"', 'weights = "random"'),
                     ('dtype = "bfloat16"', 'dtype = "float32"'),
                     ('prompts = "data/coco2014/captions/captions.tsv"', 'prompts = "demo"'),
                     ("images_per_prompt = 1", "images_per_prompt = 2"),
                     ("performance_sample_count = 5000", "performance_sample_count = 4"),
                     ('reference = "results/references/mini"', f'reference = "{reference}"'),
                     ('clip = "openai/clip-vit-large-patch14"', f'clip = "{clip}"'),
                     ('fid_ref = "data/coco2014/validation/data"', f'fid_ref = "{fid_ref}"')):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    if figures:  # the reference figures in the definition itself
        text = text.replace("clip_score = { tolerance = 0.5 }", f"clip_score = {{ tolerance = 0.5, {figures[0]} }}")
        text = text.replace("fid = { tolerance = 2.0 }", f"fid = {{ tolerance = 2.0, {figures[1]} }}")
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


def test_mini_clip_score_and_fid_band_on_the_tiny_preset(run_cli, tmp_path, torch_clip, inception_weights):
    references = tmp_path / "coco-stand-in"  # FID's reference images: eight random ones
    references.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(references / f"{i}.png")
    lg = ("--scenario", "offline", "--mode", "accuracy", "--inception-weights", inception_weights, "--out", tmp_path)
    # Reference figures stated in the definition, far from what random weights give: FAIL, exit 1.
    far = _tiny_mini(tmp_path, "far", torch_clip, references, str(tmp_path / "unused"),
                     ("reference = 99.0", "reference = 50.0"))
    proc = run_cli("loadgen", "--benchmark", far, *lg, "--run-id", "far")
    assert proc.returncode == 1, proc.stderr[-3000:]
    row = _row(tmp_path / "far")
    detail = json.loads(row["accuracy_detail"])
    checks = {c["metric"]: c for c in detail["metrics"]}
    assert row["accuracy_verdict"] == "FAIL" and detail["benchmark_run"] is True
    assert checks["clip_score"]["measured"] == pytest.approx(row["clip_score"]) and row["clip_score"] > 0
    assert checks["fid"]["measured"] == pytest.approx(row["fid"]) and row["fid"] >= 0  # ~0: random Inception
    assert (checks["clip_score"]["low"], checks["clip_score"]["high"]) == (98.5, 99.5)
    assert (checks["fid"]["low"], checks["fid"]["high"], checks["fid"]["passed"]) == (48.0, 52.0, False)
    assert row["fid_reference"] == str(references) and row["clip_model"] == str(torch_clip)
    # The same definition with that run as its stored reference run (a loadgen run folder): the
    # pipeline is deterministic per sample, so the same figures, inside the band: PASS, exit 0.
    own = _tiny_mini(tmp_path, "own", torch_clip, references, str(tmp_path / "far"))
    proc = run_cli("loadgen", "--benchmark", own, *lg, "--run-id", "own")
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = _row(tmp_path / "own")
    checks = {c["metric"]: c for c in json.loads(again["accuracy_detail"])["metrics"]}
    assert again["accuracy_verdict"] == "PASS"
    assert checks["clip_score"]["reference"] == pytest.approx(row["clip_score"])
    assert checks["fid"]["reference"] == pytest.approx(row["fid"])
    assert "far/ scenarios.parquet offline-accuracy" in checks["fid"]["source"].replace(str(tmp_path / "far"), "far/")


def test_an_accuracy_run_without_its_reference_is_refused_before_anything_is_written(run_cli, tmp_path):
    proc = run_cli("loadgen", "--benchmark", "mini", "--scenario", "offline", "--mode", "accuracy", "--preset", "tiny",
                   "--weights", "random", "--prompts", "demo", "--out", tmp_path, "--run-id", "x")
    assert proc.returncode == 2 and proc.stderr.count("\n") <= 2, proc.stderr[-3000:]
    assert "accuracy reference run" in proc.stderr and "results/references/mini" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_images_the_definitions_metric_cannot_score_fail_with_the_reason(run_cli, tmp_path):
    """Options that change the prompts to ones outside the shapes world: adherence cannot be computed,
    so that metric fails with its reason, CLIP score is still measured, and the run is written."""
    proc = run_cli("loadgen", "--benchmark", "shapes", "--scenario", "offline", "--mode", "accuracy", "--preset",
                   "tiny", "--weights", "random", "--prompts", "demo", "-n", "1", "--out", tmp_path, "--run-id", "t")
    assert proc.returncode == 1, proc.stderr[-3000:]
    row = _row(tmp_path / "t")
    checks = {c["metric"]: c for c in json.loads(row["accuracy_detail"])["metrics"]}
    assert row["accuracy_verdict"] == "FAIL" and checks["adherence"]["measured"] is None
    assert "prompts" in checks["adherence"]["reason"] and checks["clip_score"]["measured"] == row["clip_score"]
    assert "accuracy FAIL (not a benchmark run: --preset tiny (definition: shapes)" in proc.stderr
