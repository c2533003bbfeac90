"""The accuracy band of a benchmark definition (bench/jobs/loadgen/band.py, pure) and the checks of a
definition's [accuracy] table and reference figures (bench/jobs/loadgen/accuracy_check.py)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from bench import data
from bench.base.errors import BenchError
from bench.jobs.loadgen.accuracy_check import reference_bands
from bench.jobs.loadgen.band import Band, check_bands, stored_figures, stored_verdict, verdict_from_detail
from bench.jobs.loadgen.benchmark import load_benchmark

SHAPES_POINTS = data.path("baselines", "shapes", "points.parquet")
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
    baseline = pd.read_parquet(SHAPES_POINTS).iloc[0]
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
    points = pd.read_parquet(SHAPES_POINTS)
    points.assign(cond_scale=10.0).to_parquet(other / "points.parquet")
    benchmark = load_benchmark(_definition(tmp_path, f'reference = "{other}"\nadherence = {{ tolerance = 0.1 }}\n'))
    with pytest.raises(BenchError, match="no adherence figure made with the definition's model, prompts and sampling"):
        reference_bands(benchmark)
    benchmark = load_benchmark(_definition(tmp_path, f'reference = "{tmp_path / "none"}"\n'
                                                     'adherence = { tolerance = 0.1 }\n', "none.toml"))
    with pytest.raises(BenchError, match="not found"):
        reference_bands(benchmark)


def test_a_stored_accuracy_detail_is_read_back_or_is_none_when_damaged():
    """One guarded reader of a row's accuracy_detail (the report, `loadgen check`, a loadgen reference run):
    what AccuracyVerdict.detail wrote comes back; anything else is None (or no figure), not an exception."""
    verdict = check_bands({"adherence": 0.6, "clip_score": None}, BANDS, {"clip_score": "no CLIP"})
    text = json.dumps(verdict.detail() | {"measured": {"adherence": 0.6, "fid": 12.5, "clip_score": None}})
    assert stored_verdict(text) == verdict
    assert stored_figures(text) == {"adherence": 0.6, "fid": 12.5}
    metric = verdict.detail()["metrics"][0]
    for damaged in (None, 5, "", "{", "[]", "5", '{"metrics": "x"}', '{"metrics": [5], "benchmark_run": true}',
                    json.dumps({"metrics": [metric | {"measured": "0.6"}], "benchmark_run": True}),
                    json.dumps({"metrics": [metric | {"extra": 1}], "benchmark_run": True}),
                    json.dumps({"metrics": [metric], "benchmark_run": True, "not_benchmark_reason": 3})):
        assert stored_verdict(damaged) is None, damaged
        assert stored_figures(damaged) == {}, damaged
    assert stored_figures('{"measured": {"fid": "x", "kid_mean": Infinity, "adherence": 0.5}}') == {"adherence": 0.5}


def test_a_loadgen_reference_run_with_a_damaged_accuracy_detail_holds_no_figure(tmp_path):
    """A loadgen run as a definition's reference: its figures outside the row's columns come from its
    accuracy_detail; a damaged one gives no figure (the one-line refusal), not a traceback."""
    point = pd.read_parquet(SHAPES_POINTS).iloc[0]
    row = {"scenario_id": "offline-accuracy", "mode": "accuracy", "status": "ok", "adherence": None,
           **{column: point[column] for column in ("preset", "prompts", "num_images", "cond_scale", "temperature",
                                                   "top_k", "top_p", "seed", "dtype", "random_weights")}}
    run = tmp_path / "run"
    run.mkdir()
    benchmark = load_benchmark(_definition(tmp_path, f'reference = "{run}"\nadherence = {{ tolerance = 0.1 }}\n'))
    pd.DataFrame([row | {"accuracy_detail": json.dumps({"measured": {"adherence": 0.5}})}]).to_parquet(
        run / "scenarios.parquet")
    (band,) = reference_bands(benchmark)
    assert band.reference == 0.5 and "offline-accuracy" in band.source
    for damaged in ("{", "[1]", '{"measured": 5}'):
        pd.DataFrame([row | {"accuracy_detail": damaged}]).to_parquet(run / "scenarios.parquet")
        with pytest.raises(BenchError, match="no adherence figure made with the definition's model"):
            reference_bands(benchmark)


def test_the_accuracy_networks_are_checked_before_the_run(cli_inprocess, tmp_path):
    """A definition's CLIP that cannot load (a Hub id neither cached nor reachable: offline here) and a
    FID reference that is not there are refused in one line before JAX starts, not measured as null
    figures and an accuracy FAIL after the run; --eval-clip's Hub id is checked the same way."""
    offline = {"HF_HUB_OFFLINE": "1"}
    hub = _definition(tmp_path, 'clip = "someone/no-such-clip"\nclip_score = { tolerance = 1, reference = 66.0 }\n',
                      "hub.toml")
    missing = _definition(tmp_path, 'fid_ref = "/no/such/images"\nfid = { tolerance = 2, reference = 10.0 }\n',
                          "fid.toml")
    cases = ((("--benchmark", hub), offline, "hub.toml [accuracy] clip: cannot load 'someone/no-such-clip': not in "
                                             "the local Hugging Face cache and HF_HUB_OFFLINE is set"),
             (("--benchmark", missing), {}, "fid.toml [accuracy] fid_ref: not found: /no/such/images"),
             (("--eval-clip", "someone/no-such-clip"), offline, "--eval-clip: cannot load 'someone/no-such-clip'"))
    for number, (options, env, message) in enumerate(cases):
        proc = cli_inprocess("loadgen", *options, "--scenario", "offline", "--mode", "accuracy",
                             "--out", tmp_path / "out", "--run-id", f"r{number}", env=env)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and not (tmp_path / "out" / f"r{number}").exists()


def test_a_network_that_cannot_load_after_the_run_is_the_runs_error_not_a_null_figure(tmp_path, monkeypatch):
    """measure loads the networks before any metric: a CLIP that cannot load (offline, not cached) is a
    BenchError for the run, not a clip_score null with that reason (which would fail the band, exit 1)."""
    import numpy as np
    from PIL import Image

    from bench.jobs.loadgen.accuracy_check import measure
    from bench.results.outputs import image_name

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    benchmark = load_benchmark(_definition(tmp_path, 'clip = "someone/no-such-clip"\n'
                                                     'clip_score = { tolerance = 1, reference = 66.0 }\n'))
    images = tmp_path / "images"
    images.mkdir()
    for prompt in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / image_name(prompt, 0))
    with pytest.raises(BenchError, match="cannot load 'someone/no-such-clip'"):
        measure(benchmark, images, ["a red circle", "a blue square"], 1, None)
