"""The accuracy band of a benchmark definition (bench/loadgen/band.py, pure) and the checks of a
definition's [accuracy] table and reference figures (bench/loadgen/accuracy_check.py)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from bench.errors import BenchError
from bench.loadgen.accuracy_check import reference_bands
from bench.loadgen.band import Band, check_bands, verdict_from_detail
from bench.loadgen.benchmark import load_benchmark

BANDS = [Band("adherence", 0.575, 0.10, "baseline"), Band("clip_score", 66.07, 1.0, "definition")]


def test_inside_every_band_passes_including_its_edges():
    verdict = check_bands({"adherence": 0.675, "clip_score": 65.07}, BANDS)
    assert verdict.verdict == "PASS" and [c.passed for c in verdict.checks] == [True, True]
    assert verdict.checks[0].low == pytest.approx(0.475) and verdict.checks[0].high == pytest.approx(0.675)
    assert verdict.line().startswith("accuracy PASS: adherence 0.675 in [0.475, 0.675] (reference 0.575 ± 0.1)")


@pytest.mark.parametrize("measured", [
    {"adherence": 0.45, "clip_score": 66.07},  # worse than the band
    {"adherence": 0.575, "clip_score": 67.2},  # better than the band: a different computation, as in MLPerf
    {"adherence": 0.575},  # a figure not computed
    {"adherence": math.nan, "clip_score": 66.07},  # nor a NaN one
])
def test_outside_any_band_or_not_computed_fails(measured):
    verdict = check_bands(measured, BANDS, reasons={"clip_score": "clip needs at least 1 images, got 0"})
    assert verdict.verdict == "FAIL"
    assert sum(not c.passed for c in verdict.checks) == 1


def test_a_null_figure_says_why_and_a_run_with_overrides_says_it_is_not_a_benchmark_run():
    verdict = check_bands({"adherence": 0.6}, BANDS, {"clip_score": "no CLIP"}, benchmark_run=False,
                          not_benchmark_reason="--cond-scale 0.0 (definition: 3.0)")
    line = verdict.line()
    assert line.startswith("accuracy FAIL (not a benchmark run: --cond-scale 0.0 (definition: 3.0)): ")
    assert "clip_score null (no CLIP) outside [65.07, 67.07]" in line
    again = verdict_from_detail(json.loads(json.dumps(verdict.detail())))  # the row's JSON round trip
    assert again == verdict and again.detail()["benchmark_run"] is False


def test_no_band_is_a_bug():
    with pytest.raises(ValueError):
        check_bands({"adherence": 1.0}, [])


def test_shapes_reads_adherence_from_its_baseline_and_clip_score_from_the_definition():
    adherence, clip = reference_bands(load_benchmark("shapes"))
    baseline = pd.read_parquet("results/baselines/shapes/points.parquet").iloc[0]
    assert (adherence.metric, adherence.reference, adherence.tolerance) == ("adherence", baseline.adherence, 0.10)
    assert "results/baselines/shapes points.parquet" in adherence.source
    assert (clip.metric, clip.tolerance) == ("clip_score", 1.0) and "measured by: dalle-bench loadgen" in clip.source


def _definition(tmp_path, accuracy: str, name="acc.toml"):
    text = load_benchmark("shapes").source.read_text()
    path = tmp_path / name
    path.write_text(text.split("[accuracy]")[0] + "[accuracy]\n" + accuracy)
    return str(path)


@pytest.mark.parametrize("accuracy, message", [
    ('reference = "r"\nclip = "shapes"\nclip_scor = { tolerance = 1 }\n', "not a metric's figure.*clip_score"),
    ('reference = "r"\nadherence = { tolerance = -1 }\n', "tolerance must be a finite number >= 0"),
    ('reference = "r"\nadherence = { tolerance = 0.1, reference = "high" }\n', "reference must be a finite number"),
    ('reference = "r"\nadherence = { tolerance = 0.1, band = 2 }\n', "unknown field band"),
    ('reference = "r"\nclip_score = { tolerance = 1 }\n', r"\[accuracy\] clip: the CLIP network"),
    ('reference = "r"\nfid = { tolerance = 1 }\n', r"\[accuracy\] fid_ref"),
    ("adherence = { tolerance = 0.1 }\n", r"\[accuracy\] reference"),
    ('reference = "r"\nnetwork = "x"\n', "unknown field network"),
])
def test_a_bad_accuracy_table_is_one_line(tmp_path, accuracy, message):
    with pytest.raises(BenchError, match=message):
        load_benchmark(_definition(tmp_path, accuracy))


def test_a_reference_run_without_the_definitions_figure_is_refused(tmp_path):
    other = tmp_path / "other"  # the shapes baseline's point, at another condition scale
    other.mkdir()
    points = pd.read_parquet("results/baselines/shapes/points.parquet")
    points.assign(cond_scale=10.0).to_parquet(other / "points.parquet")
    benchmark = load_benchmark(_definition(tmp_path, f'reference = "{other}"\nadherence = {{ tolerance = 0.1 }}\n'))
    with pytest.raises(BenchError, match="no adherence figure made with the definition's model, prompts and sampling"):
        reference_bands(benchmark)
    benchmark = load_benchmark(_definition(tmp_path, f'reference = "{tmp_path / "none"}"\n'
                                                     'adherence = { tolerance = 0.1 }\n', "none.toml"))
    with pytest.raises(BenchError, match="not found"):
        reference_bands(benchmark)
