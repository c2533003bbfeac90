"""`dalle-bench compare`: the pure parts on hand-made rows (thresholds, matching,
the noise rule, verdicts, renderings), then the CLI on real tiny runs: the
project's own CI gate against results/baselines/tiny, a real candidate
against the evaluated fixture, regressions in every output format, and bad
input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from bench.compare.formats import junit, markdown, to_json
from bench.compare.gates import METRICS, compare_points
from bench.compare.match import KEY, key_columns, match_points, required_key_columns
from bench.compare.noise import (NA, NOISE, OFF, OK, PAIRED_TEST, REGRESSION, TEST, UNDECIDED, apart, latency_test,
                                 minimum_calls, ratio_interval, smallest_p, verdict)
from bench.compare.runs import check_same_models, machine_warnings, took_turns
from bench.compare.thresholds import Thresholds, build_thresholds, parse_threshold, parse_thresholds_text
from bench.errors import BenchError

from .conftest import REPO

# One pytest-xdist worker runs the modules that share the evaluated sweep (built once per worker).
pytestmark = pytest.mark.xdist_group("evaluated-sweep")

BASELINE = REPO / "results" / "baselines" / "tiny"
CI_THRESHOLDS = REPO / "results" / "baselines" / "tiny-thresholds.toml"
AB_THRESHOLDS = REPO / "results" / "baselines" / "tiny-ab-thresholds.toml"


# --- thresholds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, value", [("5%", 0.05), (" 5 % ", 0.05), ("0.05", 0.05), (0.05, 0.05), ("0", 0.0),
                                        ("off", None), ("OFF", None), ("none", None), (False, None)])
def test_relative_threshold_takes_a_percentage_or_a_fraction(raw, value):
    parsed = parse_threshold("max_throughput_drop", raw)
    assert parsed is None if value is None else parsed == pytest.approx(value)


def test_a_latency_rise_may_exceed_100_percent():
    assert parse_threshold("max_latency_rise", "150%") == pytest.approx(1.5)


@pytest.mark.parametrize("name, raw, message", [
    ("max_throughput_drop", "5", "did you mean '5%'"),  # a drop of 500 % cannot happen
    ("max_throughput_drop", "100%", "cannot happen"),
    ("max_throughput_drop", "fast", "is not a number"),
    ("max_latency_rise", "-5%", "must be a finite number >= 0"),
    ("max_latency_rise", True, "is not a threshold"),
    ("max_clip_drop", "2%", "not a percentage"),  # CLIP score is in points of a 0-100 scale
    ("max_fid_rise", "nan", "finite"),
])
def test_bad_thresholds_are_one_line_errors(name, raw, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(")):
        parse_threshold(name, raw)


def test_thresholds_file_toml_and_yaml_flags_override_it():
    toml = parse_thresholds_text('max_throughput_drop = "10%"\nmax-clip-drop = 0.5\nmax_fid_rise = false\n',
                                 yaml=False, where="t.toml")
    yaml = parse_thresholds_text("max_throughput_drop: 10%\nmax_clip_drop: 0.5\nmax_fid_rise: off\n",
                                 yaml=True, where="t.yaml")
    assert toml == yaml == {"max_throughput_drop": pytest.approx(0.10), "max_clip_drop": 0.5, "max_fid_rise": None}
    thresholds = build_thresholds(toml, {"max_throughput_drop": "20%", "max_latency_rise": None})
    assert thresholds.max_throughput_drop == pytest.approx(0.20)  # the flag beats the file
    assert thresholds.max_clip_drop == 0.5 and thresholds.max_fid_rise is None  # the file beats the default
    assert thresholds.max_latency_rise == Thresholds().max_latency_rise  # untouched: the default


@pytest.mark.parametrize("text, message", [("max_thruput_drop = 0.1", "did you mean 'max_throughput_drop'"),
                                           ("max_throughput_drop = [", "does not parse"),
                                           ("[gates]\nmax_fid_rise = 1", "unknown key 'gates'")])
def test_thresholds_file_errors(text, message):
    with pytest.raises(BenchError, match=message):
        parse_thresholds_text(text, yaml=False, where="t.toml")


# --- matching ----------------------------------------------------------------------------------

def _row(point_id="000-aaaaaaaa", status="ok", **values) -> dict:
    row = {"point_id": point_id, "status": status, "error": None, "temperature": 1.0, "top_k": 0, "top_p": 1.0,
           "cond_scale": 3.0, "seed": 0, "batch_per_device": 1, "devices": 1, "parallel": "single",
           "dtype": "float32", "prompts": "demo", "num_images": 2, "images_per_s": 10.0, "latency_p50_s": 0.1,
           "latency_p50_ci_low_s": 0.095, "latency_p50_ci_high_s": 0.105, "latency_p90_s": 0.11,
           "compile_s": 3.0, "peak_device_memory_bytes": None, "host_peak_rss_bytes": 2_000_000_000,
           "clip_score_mean": 20.0, "clip_score": 30.0, "clip_score_ci_low": 29.0, "clip_score_ci_high": 31.0,
           "fid": 10.0, "global_batch": 1, "latencies": _calls(0.1)}
    row.update(values)
    return row


def _calls(median: float, n: int = 10, spread: float = 0.02, seed: int = 0) -> np.ndarray:
    """n per-call latencies around `median`, each within +-spread of it (seeded)."""
    noise = np.random.default_rng(seed).uniform(-spread, spread, n)
    return median * (1.0 + noise - np.median(noise))


def _key(*runs):
    return key_columns(*(set(r for row in rows for r in row) for rows in runs))


def test_points_match_by_settings_not_by_id():
    base = [_row("000-aaaaaaaa", devices=1), _row("001-bbbbbbbb", devices=2), _row("002-cccccccc", devices=4)]
    cand = [_row("000-dddddddd", devices=2), _row("001-eeeeeeee", devices=8), _row("002-ffffffff", devices=1)]
    match = match_points(base, cand, _key(base, cand))
    assert [(b["point_id"], c["point_id"]) for b, c in match.pairs] == [("000-aaaaaaaa", "002-ffffffff"),
                                                                         ("001-bbbbbbbb", "000-dddddddd")]
    assert [r["point_id"] for r in match.only_baseline] == ["002-cccccccc"]
    assert [r["point_id"] for r in match.only_candidate] == ["001-eeeeeeee"]


def test_every_setting_is_part_of_the_key():
    for column in required_key_columns():
        other = {"parallel": "pmap", "dtype": "bfloat16", "prompts": "curated"}.get(column, 7)
        base, cand = [_row()], [_row(**{column: other})]
        with pytest.raises(BenchError, match="share no points"):
            match_points(base, cand, _key(base, cand))


def test_processes_is_a_key_when_either_run_has_it_and_missing_reads_as_one():
    assert "processes" in [c.name for c in KEY]
    base = [_row("000-aaaaaaaa"), _row("001-bbbbbbbb", devices=2)]  # an older run: no processes column
    cand = [_row("000-cccccccc", processes=1), _row("001-dddddddd", devices=2, processes=2)]
    key = _key(base, cand)
    assert "processes" in [c.name for c in key]
    match = match_points(base, cand, key)
    assert [(b["point_id"], c["point_id"]) for b, c in match.pairs] == [("000-aaaaaaaa", "000-cccccccc")]
    assert "processes" not in [c.name for c in _key(base, base)]


def test_two_points_with_the_same_settings_are_refused():
    base = [_row("000-aaaaaaaa"), _row("001-bbbbbbbb")]
    with pytest.raises(BenchError, match="two points with the same settings"):
        match_points(base, [_row()], _key(base, base))


# --- the noise rule ----------------------------------------------------------------------------

@pytest.mark.parametrize("base, cand, worse, expected", [
    ((1.0, 2.0), (2.5, 3.0), "higher", True),  # candidate entirely above
    ((1.0, 2.0), (2.0, 3.0), "higher", False),  # touching counts as overlapping
    ((1.0, 2.0), (1.5, 3.0), "higher", False),
    ((1.0, 2.0), (0.1, 0.5), "higher", False),  # better, not worse
    ((1.0, 2.0), (0.1, 0.5), "lower", True),
    ((1.0, 2.0), (0.5, 1.5), "lower", False),
    ((1.0, float("nan")), (2.5, 3.0), "higher", None),  # no interval: undecided
    ((1.0, 2.0), (None, 3.0), "lower", None),
])
def test_intervals_apart(base, cand, worse, expected):
    assert apart(*base, *cand, worse) is expected


@pytest.mark.parametrize("worsening, threshold, not_noise, decided, expected", [
    (0.10, None, True, True, OFF),
    (None, 0.05, True, True, NA),
    (float("nan"), 0.05, True, True, NA),
    (0.05, 0.05, True, True, OK),  # must exceed the threshold
    (-0.50, 0.05, True, True, OK),  # an improvement
    (0.10, 0.05, False, True, NOISE),  # beyond threshold, the test says it may be noise
    (0.10, 0.05, True, True, REGRESSION),
    (0.10, 0.05, None, True, REGRESSION),  # no test: threshold only
    (0.50, 0.05, None, False, UNDECIDED),  # a test that cannot decide: neither regression...
    (0.00, 0.05, None, False, UNDECIDED),  # ...nor ok
])
def test_verdict(worsening, threshold, not_noise, decided, expected):
    assert verdict(worsening, threshold, not_noise, decided) == expected


# --- the latency test: every timed call of both points -----------------------------------------

def test_fewest_calls_that_can_reach_the_significance_level():
    # Two-sided exact Mann-Whitney p of complete separation: 2 / C(2n, n).
    assert smallest_p(3, 3) == pytest.approx(0.1) and smallest_p(4, 4) == pytest.approx(2 / 70)
    assert minimum_calls(0.05) == 4 and minimum_calls(0.01) == 5
    test = latency_test(_calls(0.1, 3), _calls(0.2, 3, seed=1))  # twice as slow, every call: still undecided
    assert not test.decided and test.significant is None
    assert test.undecided_reason.startswith("3 vs 3 calls; at least 4 a side needed")
    assert latency_test(_calls(0.1, 4), _calls(0.2, 4, seed=1)).significant is True
    assert "no per-call latencies in the candidate" in latency_test(_calls(0.1), None).undecided_reason


def test_ratio_of_medians_interval_is_seeded_and_covers_the_shift():
    base, cand = _calls(0.1, spread=0.05), _calls(0.13, spread=0.05, seed=1)
    low, high = ratio_interval(base, cand)
    assert (low, high) == ratio_interval(base, cand)  # deterministic
    assert low < 1.3 < high and low > 1.0


def _synthetic(shift: float, seed: int, n: int = 10, sigma: float = 0.03):
    """Log-normal latencies (3 % spread, as the tiny preset's calls on an idle core) of two points,
    the candidate's `shift` slower."""
    rng = np.random.default_rng(seed)
    return 0.2 * np.exp(rng.normal(0, sigma, n)), 0.2 * (1 + shift) * np.exp(rng.normal(0, sigma, n))


def _latency_verdicts(base, cand, threshold=0.05):
    comparison = _compare([_row(latencies=base)], [_row(latencies=cand)], max_throughput_drop=threshold,
                          max_latency_rise=threshold)
    point = comparison.points[0]
    return point.gate("images_per_s").verdict, point.gate("latency_p50_s").verdict


@pytest.mark.parametrize("shift", [0.10, 0.30])
@pytest.mark.parametrize("seed", range(5))
def test_a_known_slowdown_is_detected(shift, seed):
    assert _latency_verdicts(*_synthetic(shift, seed)) == (REGRESSION, REGRESSION)


@pytest.mark.parametrize("seed", range(5))
def test_an_unchanged_copy_passes(seed):
    base, _ = _synthetic(0.0, seed)
    assert _latency_verdicts(base, base.copy()) == (OK, OK)
    assert _latency_verdicts(base, np.random.default_rng(seed).permutation(base)) == (OK, OK)


def test_overlapping_noise_is_not_a_regression():
    # Wide noise (20 % spread): the candidate's median is 7 % higher by chance, but its calls
    # interleave with the baseline's; the summary medians alone would call it a regression.
    base = np.array([0.17, 0.18, 0.19, 0.20, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26])
    cand = np.array([0.165, 0.185, 0.20, 0.21, 0.225, 0.235, 0.245, 0.26, 0.27, 0.28])
    change = np.median(cand) / np.median(base) - 1
    assert change > 0.05
    assert _latency_verdicts(base, cand) == (NOISE, NOISE)
    assert latency_test(base, cand).p_value > 0.05


def _drifting(shift: float, seed: int, n: int = 12):
    """Two interleaved runs on a runner whose load drifts: turn i of both runs sees the same load
    (a slowdown of 1x to 3x, log-uniform per turn, as neighbours' jobs come and go: a tiny point's
    40 calls spanned 1.6-2.1x with both cores busy), plus 5 % jitter per call."""
    rng = np.random.default_rng(seed)
    load = np.exp(rng.uniform(0.0, np.log(3.0), n))
    return (0.3 * load * np.exp(rng.normal(0, 0.05, n)),
            0.3 * (1 + shift) * load * np.exp(rng.normal(0, 0.05, n)))


def _paired_verdicts(base, cand, paired: bool, threshold=0.2):
    key = _key([_row()], [_row()])
    comparison = compare_points(match_points([_row(latencies=base)], [_row(latencies=cand)], key), key,
                                Thresholds(max_throughput_drop=threshold, max_latency_rise=threshold), "base", "cand",
                                paired=paired)
    point = comparison.points[0]
    return point.gate("images_per_s"), point.gate("latency_p50_s")


@pytest.mark.parametrize("seed", range(5))
def test_interleaved_runs_are_paired_by_turn_and_see_a_slowdown_through_drifting_load(seed):
    base, cand = _drifting(0.3, seed)
    # Unpaired, the drift (up to 3x) swamps the 30 % slowdown: the samples overlap.
    unpaired = latency_test(base, cand)
    assert unpaired.name == TEST and unpaired.p_value > 0.05
    paired = latency_test(base, cand, paired=True)
    assert paired.paired and paired.name == PAIRED_TEST and paired.p_value < 0.01
    assert paired.ratio_low < 1.3 < paired.ratio_high
    throughput, latency = _paired_verdicts(base, cand, paired=True)
    assert (throughput.verdict, latency.verdict) == (REGRESSION, REGRESSION)
    assert latency.change == pytest.approx(paired.ratio - 1) and PAIRED_TEST in latency.reason
    assert throughput.change == pytest.approx(1 / paired.ratio - 1)
    # The same code under the same drift passes, paired.
    same, again = _drifting(0.0, seed)
    assert {g.verdict for g in _paired_verdicts(same, again, paired=True)} <= {OK, NOISE}


def test_paired_test_needs_six_turns_and_unequal_counts_fall_back_to_the_unpaired_test():
    assert minimum_calls(0.05, paired=True) == 6
    base, cand = _drifting(1.0, 0, n=5)
    test = latency_test(base, cand, paired=True)
    assert test.paired and not test.decided
    assert test.undecided_reason.startswith("5 vs 5 calls; at least 6 a side needed for the Wilcoxon")
    base, cand = _drifting(0.3, 0)
    assert not latency_test(base, cand[:-1], paired=True).paired
    assert latency_test(base, base.copy(), paired=True).p_value == 1.0  # every turn equal


def _session(interleave="/tmp/turns.json", started_at="2026-11-30T10:00:00+00:00"):
    return {"sessions": [{"interleave": interleave, "started_at": started_at}]}


def test_runs_took_turns_only_with_the_same_interleave_file_in_one_session_each_started_together():
    assert took_turns(_session(), _session(started_at="2026-11-30T10:04:00+00:00"))
    assert not took_turns(_session(), _session(interleave="/tmp/other.json"))
    assert took_turns(_session(interleave="../runs/turns.json"), _session(interleave="runs/turns.json"))  # older runs
    other_host = _session()
    other_host["sessions"][0]["environment"] = {"host": {"hostname": "elsewhere"}}
    assert not took_turns(_session(), other_host)
    assert not took_turns(_session(interleave=None), _session(interleave=None))
    assert not took_turns(_session(), _session(started_at="2026-11-30T11:00:00+00:00"))  # another job's run
    resumed = {"sessions": _session()["sessions"] * 2}  # a resumed run's calls no longer alternate
    assert not took_turns(_session(), resumed) and not took_turns({}, _session())


def test_the_gate_decides_from_the_latencies_not_the_summary_columns():
    # Summary columns say nothing changed; every call is 30 % slower.
    base = _calls(0.1)
    point = _compare([_row(latencies=base)], [_row(latencies=base * 1.3)]).points[0]
    gate = point.gate("latency_p50_s")
    assert gate.verdict == REGRESSION and gate.change == pytest.approx(0.3)
    assert gate.test.baseline_calls == gate.test.candidate_calls == 10 and gate.test.p_value < 0.001
    assert point.gate("images_per_s").change == pytest.approx(1 / 1.3 - 1)


def test_too_few_calls_are_undecided_shown_and_counted_apart():
    comparison = _compare([_row(latencies=_calls(0.1, 3))], [_row(latencies=_calls(0.13, 3, seed=1))])
    gate = comparison.points[0].gate("latency_p50_s")
    assert gate.verdict == UNDECIDED and "3 vs 3 calls; at least 4" in gate.reason
    assert comparison.passed and comparison.count(UNDECIDED) == 2 and not comparison.regressions()
    text = markdown(comparison)
    assert "2 gates undecided" in text and "### Undecided" in text and "α = 0.05" in text
    assert to_json(comparison)["undecided"] == 2 and to_json(comparison)["significance_level"] == 0.05
    strict = compare_points(comparison_match := match_points([_row(latencies=_calls(0.1, 3))],
                                                             [_row(latencies=_calls(0.13, 3, seed=1))],
                                                             _key([_row()], [_row()])),
                            _key([_row()], [_row()]), Thresholds(), "base", "cand", require_decided=True)
    assert comparison_match.pairs and not strict.passed and markdown(strict).startswith("**FAIL**")
    root = ET.fromstring(junit(strict))
    assert root.get("failures") == "2"
    assert any(p.get("name") == "significance_level" and p.get("value") == "0.05" for p in root.iter("property"))


def _compare(base_rows, cand_rows, **thresholds):
    key = _key(base_rows, cand_rows)
    return compare_points(match_points(base_rows, cand_rows, key), key, Thresholds(**thresholds), "base", "cand")


def _verdicts(comparison) -> dict:
    return {(p.baseline_id, g.metric): g.verdict for p in comparison.points for g in p.gates}


def test_throughput_drop_is_a_regression_only_when_the_test_says_it_is_not_noise():
    wide = dict(spread=0.6)  # calls +-60 % around the median: a +25 % median is within noise
    comparison = _compare([_row("000-a", devices=1, latencies=_calls(0.1, **wide)), _row("001-b", devices=2)],
                          [_row("000-a", devices=1, latencies=_calls(0.125, seed=1, **wide)),
                           _row("001-b", devices=2, latencies=_calls(0.125, seed=1))])  # every call 25 % slower
    verdicts = _verdicts(comparison)
    assert verdicts[("000-a", "images_per_s")] == verdicts[("000-a", "latency_p50_s")] == NOISE
    assert verdicts[("001-b", "images_per_s")] == verdicts[("001-b", "latency_p50_s")] == REGRESSION
    assert not comparison.passed and len(comparison.regressions()) == 2
    looser = _verdicts(_compare([_row()], [_row(latencies=_calls(0.125, seed=1))], max_throughput_drop=0.25,
                                max_latency_rise=0.30))
    assert looser[("000-aaaaaaaa", "images_per_s")] == looser[("000-aaaaaaaa", "latency_p50_s")] == OK


def test_clip_score_uses_its_interval_fid_and_pipeline_clip_the_threshold_alone():
    comparison = _compare(
        [_row("000-a", seed=0), _row("001-b", seed=1)],
        [_row("000-a", seed=0, clip_score=28.0, clip_score_ci_low=26.0, clip_score_ci_high=30.0),  # overlap
         _row("001-b", seed=1, clip_score=27.0, clip_score_ci_low=26.0, clip_score_ci_high=28.0,  # apart
              clip_score_mean=18.5, fid=12.5)])
    verdicts = _verdicts(comparison)
    assert verdicts[("000-a", "clip_score")] == NOISE and verdicts[("001-b", "clip_score")] == REGRESSION
    assert verdicts[("001-b", "clip_score_mean")] == REGRESSION  # 1.5 points > 1
    assert verdicts[("001-b", "fid")] == REGRESSION  # 2.5 > 2
    assert verdicts[("000-a", "fid")] == OK and verdicts[("000-a", "compile_s")] == OFF  # compile: off by default
    assert verdicts[("000-a", "latency_p90_s")] == "info"


def test_gates_can_be_switched_off_and_missing_values_are_not_regressions():
    comparison = _compare([_row()], [_row(latencies=_calls(1.0), fid=None, compile_s=30.0)],
                          max_throughput_drop=None, max_latency_rise=None, max_compile_rise=0.5)
    verdicts = _verdicts(comparison)
    assert verdicts[("000-aaaaaaaa", "images_per_s")] == verdicts[("000-aaaaaaaa", "latency_p50_s")] == OFF
    assert verdicts[("000-aaaaaaaa", "fid")] == NA
    assert verdicts[("000-aaaaaaaa", "peak_device_memory_bytes")] == OFF  # null on CPU, and off by default
    assert verdicts[("000-aaaaaaaa", "compile_s")] == REGRESSION and len(comparison.regressions()) == 1


def test_quality_from_another_clip_or_fid_reference_is_not_compared():
    comparison = _compare([_row(clip_model="openai/clip-vit-base-patch32", fid_reference="ref")],
                          [_row(clip_model="openai/clip-vit-large-patch14", clip_score=10.0, clip_score_ci_low=9.0,
                                clip_score_ci_high=11.0, fid_reference="other", fid=50.0)])
    point = comparison.points[0]
    assert point.gate("clip_score").verdict == point.gate("fid").verdict == NA and comparison.passed
    assert "clip_model openai/clip-vit-base-patch32 vs openai/clip-vit-large-patch14" in point.gate("clip_score").reason


def test_a_point_that_fails_in_the_candidate_is_a_regression_of_its_own():
    comparison = _compare([_row("000-a", seed=0), _row("001-b", seed=1, status="oom")],
                          [_row("000-a", seed=0, status="failed", error="XlaRuntimeError: boom"),
                           _row("001-b", seed=1)])
    (point, gate), = comparison.regressions()
    assert point.baseline_id == "000-a" and gate.metric == "status" and "boom" in gate.reason
    assert [g.metric for g in comparison.points[0].gates] == ["status"]  # no metrics of a failed point
    assert comparison.points[1].gates[0].verdict == "info" and "fixed" in comparison.points[1].gates[0].reason


def test_renderings_name_the_regression():
    comparison = _compare([_row("000-a", seed=0), _row("001-b", seed=1)],
                          [_row("000-a", seed=0), _row("001-b", seed=1, fid=20.0)])
    text = markdown(comparison)
    assert text.startswith("**FAIL**: 1 regression in 2 matched points")
    assert "| 001-b | fid | 10 | 20 | +10.00 | 2 |" in text
    data = to_json(comparison)
    assert data["verdict"] == "fail" and data["regressions"] == 1
    assert json.loads(json.dumps(data)) == data
    root = ET.fromstring(junit(comparison))
    failed = [case.get("name") for case in root.iter("testcase") if case.find("failure") is not None]
    assert failed == ["fid (seed=1)"] and root.get("failures") == "1"
    gated = sum(m.threshold is not None for m in METRICS) + 1  # + status
    assert int(root.get("tests")) == 2 * gated
    assert markdown(_compare([_row()], [_row()])).startswith("**PASS**: no regression in 1 matched point ")


def test_runs_of_different_models_are_refused_and_machines_warned_about():
    base = {"definition": {"preset": "tiny", "weights": None}, "environment": {"host": {"cpu": "AMD EPYC"}}}
    check_same_models(base, base)
    for change in ({"preset": "mini"}, {"weights": "random"}, {"model": "x/y"}, {"clip": "c"}, {"vqgan": "v"}):
        with pytest.raises(BenchError, match="different models"):
            check_same_models(base, {"definition": {**base["definition"], **change}})
    other = {**base, "environment": {"host": {"cpu": "Intel Xeon"}}}
    assert machine_warnings(base, base) == ()
    assert "different host cpu: AMD EPYC (baseline) vs Intel Xeon (candidate)" in machine_warnings(base, other)[0]


# --- the CLI on real runs ----------------------------------------------------------------------

# The stored baseline's sweep, as the Makefile's `baseline` target and docs/ci-example.yml run it
# (paths relative to the repository, where run_cli runs).
SWEEP_ARGS = ["--sweep", "results/baselines/tiny.toml", "--no-stages", "-n", "2", "--iters", "12"]
QUIET = ["--no-report", "--no-progress"]


def test_makefile_and_ci_example_run_the_baselines_sweep():
    makefile = (REPO / "Makefile").read_text().splitlines()
    assert next(line for line in makefile if line.startswith("BASELINE_SWEEP :=")).split()[2:] == SWEEP_ARGS + QUIET
    workflow = yaml.safe_load((REPO / "docs" / "ci-example.yml").read_text())
    assert workflow["env"]["SWEEP"].split("#")[0].split() == SWEEP_ARGS
    assert workflow["env"]["BASELINE"] == "results/baselines/tiny"
    assert any("compare" in step.get("run", "") and "--format junit" in step["run"]
               for step in workflow["jobs"]["gate"]["steps"])


def _measure_ab(out: Path, tiny_cache: Path) -> tuple[Path, Path]:
    """The stored baseline's sweep run twice into `out`, as CI runs the base branch's checkout and
    the candidate's: two processes taking turns call by call (`--interleave`)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({"DALLE_BENCH_CACHE": str(tiny_cache), "TRANSFORMERS_VERBOSITY": "error"})
    # One names the turn file absolutely, the other relative to its checkout, as docs/ci-example.yml does.
    turn_files = {"base-now": str(out / "turns.json"), "fresh": os.path.relpath(out / "turns.json", REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "bench", "sweep", *SWEEP_ARGS, *QUIET, "--out", str(out),
                               "--run-id", name, "--interleave", turn_file],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name, turn_file in turn_files.items()]
    try:
        for proc in procs:
            output, _ = proc.communicate(timeout=1800)
            assert proc.returncode == 0, output[-3000:]
            assert "Taking turns call by call" in output
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out / "base-now", out / "fresh"


@pytest.fixture(scope="module")
def ab_runs(tmp_path_factory, tiny_cache) -> tuple[Path, Path]:
    """The A/B pair of the stored baseline's sweep, measured now (read-only)."""
    return _measure_ab(tmp_path_factory.mktemp("ab"), tiny_cache)


@pytest.fixture(scope="module")
def fresh_run(ab_runs) -> Path:
    """The stored baseline's sweep run again now: the candidate of the CI gate (read-only)."""
    return ab_runs[1]


def _copy_run(run_dir: Path, dest: Path) -> Path:
    """run.json and points.parquet only: compare needs no images."""
    dest.mkdir(parents=True)
    for name in ("run.json", "points.parquet"):
        shutil.copy(run_dir / name, dest / name)
    return dest


def _edit_points(run_dir: Path, edit) -> None:
    table = pq.read_table(run_dir / "points.parquet")
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), run_dir / "points.parquet")


def test_ci_gate_against_the_stored_tiny_baseline(fresh_run, run_cli):
    """The project's own regression gate against stored figures: what is deterministic (tokens,
    quality, statuses); throughput is not gated against figures from another day or machine."""
    stored, fresh = (json.loads((run / "run.json").read_text()) for run in (BASELINE, fresh_run))
    assert fresh["definition"] == stored["definition"], "the Makefile's baseline sweep and this test's differ"
    assert not list(BASELINE.rglob("*.png"))
    proc = run_cli("compare", BASELINE, fresh_run, "--thresholds", CI_THRESHOLDS, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["verdict"] == "pass" and result["matched_points"] == 3 and not result["only_candidate"]
    for point in result["points"]:
        gates = {g["metric"]: g for g in point["gates"]}
        assert gates["images_per_s"]["verdict"] == OFF and gates["latency_p50_s"]["verdict"] == OFF
        # The CLIP gate can only fail when the scores can move: positive, one per image.
        scores = np.load(BASELINE / "images" / point["baseline_point"] / "clip_scores.npy")
        assert (scores > 0).all() and len(np.unique(scores)) == scores.size, scores
        assert gates["clip_score_mean"]["verdict"] == OK
        assert gates["clip_score_mean"]["change"] == pytest.approx(0.0, abs=0.01)
        tokens = [np.load(run / "images" / point[f"{side}_point"] / "tokens.npy")
                  for run, side in ((BASELINE, "baseline"), (fresh_run, "candidate"))]
        assert np.array_equal(*tokens), f"tokens of {point['baseline_point']} changed: regenerate with make baseline?"


def _copy_with_latencies(run_dir: Path, dest: Path, factor: float = 1.0, calls: int | None = None) -> Path:
    """A copy of a run without its PNGs, every timed call `factor` times as long (the first `calls`)."""
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("*.png", "report"))
    for path in dest.glob("images/*/latencies.npy"):
        np.save(path, np.load(path)[:calls] * factor)
    return dest


def test_every_call_30_percent_slower_fails_the_gate_an_unchanged_copy_passes(fresh_run, run_cli, tmp_path):
    """The summary columns of the copies are untouched: the gate reads every timed call."""
    same = _copy_with_latencies(fresh_run, tmp_path / "same")
    slower = _copy_with_latencies(fresh_run, tmp_path / "slower", factor=1.3)
    proc = run_cli("compare", fresh_run, same, "--format", "json", "--require-decided")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["undecided"] == 0
    proc = run_cli("compare", fresh_run, slower, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    # The copy keeps the run's record of taking turns, so its calls pair with the run's own: each
    # turn exactly 1.3x, whatever the load did during the run.
    assert result["significance_level"] == 0.05 and PAIRED_TEST in result["test"]
    slow = {(p["baseline_point"], g["metric"]): g for p in result["points"] for g in p["gates"]
            if g["verdict"] == REGRESSION}
    assert {metric for _, metric in slow} == {"images_per_s", "latency_p50_s"} and len(slow) == 6
    assert all(g["change"] == pytest.approx(0.3) and g["p_value"] < 0.05 and g["calls"] == [12, 12]
               for (_, metric), g in slow.items() if metric == "latency_p50_s")
    # Without that record the calls are not paired: the unpaired test, named in the output.
    unpaired = _copy_with_latencies(fresh_run, tmp_path / "unpaired", factor=1.3)
    run = json.loads((unpaired / "run.json").read_text())
    run["sessions"][0]["interleave"] = None
    (unpaired / "run.json").write_text(json.dumps(run))
    result = json.loads(run_cli("compare", fresh_run, unpaired, "--format", "json").stdout)
    assert result["test"].startswith("throughput and latency: Mann–Whitney U test")
    assert all(TEST in g["reason"] or g["verdict"] == OK for p in result["points"] for g in p["gates"]
               if g["metric"] == "latency_p50_s")


def test_too_few_calls_are_undecided_and_require_decided_fails(fresh_run, run_cli, tmp_path):
    short = _copy_with_latencies(fresh_run, tmp_path / "short", factor=1.3, calls=3)
    proc = run_cli("compare", fresh_run, short)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Below minimum_calls on either side: 12 vs 3 is undecided too, whatever its exact p could reach.
    assert "6 gates undecided, too few calls" in proc.stdout.splitlines()[0]
    assert "12 vs 3 calls; at least 4 a side needed" in proc.stdout
    proc = run_cli("compare", short, _copy_with_latencies(fresh_run, tmp_path / "short2", calls=3),
                   "--require-decided", "--format", "junit")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    root = ET.fromstring(proc.stdout)
    messages = [f.get("message") for f in root.iter("failure")]
    # Both copies keep the run's turns, so their calls pair: the paired test needs 6 turns.
    assert len(messages) == 6 and all("3 vs 3 calls; at least 6 a side needed for the Wilcoxon" in m
                                      for m in messages)


def test_ab_gate_passes_the_same_code_and_catches_a_50_percent_slowdown(ab_runs, run_cli, tmp_path, tiny_cache):
    """The CI recipe's A/B throughput gate: the baseline's version measured in the same job,
    taking turns with the candidate. Same code on both sides must pass (under load too: see the
    README); every call 50 % slower must fail."""
    base_now, fresh = ab_runs
    runs = [json.loads((run / "run.json").read_text()) for run in ab_runs]
    assert all(Path(run["sessions"][0]["interleave"]).is_absolute() for run in runs) and took_turns(*runs)
    gate = ("--thresholds", AB_THRESHOLDS, "--require-decided", "--format", "json")
    proc = run_cli("compare", base_now, fresh, *gate)
    if proc.returncode != 0:
        # A failed gate is confirmed by measuring the pair again, as a CI job is retriggered: beside
        # the suite's other worker an unchanged pair failed once (make test, 2026-12-02: one point's
        # candidate calls drifted to a median 1.26x their partners' over 12 turns, p = 0.034),
        # while a real slowdown fails both measurements.
        first = proc.stdout
        base_now, fresh = _measure_ab(tmp_path / "again", tiny_cache)
        proc = run_cli("compare", base_now, fresh, *gate)
        assert proc.returncode == 0, "failed twice:\n" + first + proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["undecided"] == 0 and result["matched_points"] == 3
    assert {g["verdict"] for p in result["points"] for g in p["gates"] if g["metric"] == "images_per_s"} <= {OK, NOISE}
    # Every call 50 % slower must fail. Not 30 %: the threshold is a 25 % rise, and on real pairs the
    # unchanged candidate's median per-turn ratio was 0.93-1.26 (2026-12-02), so x1.3 lands below
    # the threshold in some runs (it did: 0.93 x 1.3 = 1.21, a failed make test). The gate's power
    # at x1.3 is documented as measured (docs/compare.md), and every turn exactly x1.3 must fail
    # in test_every_call_30_percent_slower_fails_the_gate_an_unchanged_copy_passes.
    slower = _copy_with_latencies(fresh, tmp_path / "slower", factor=1.5)
    proc = run_cli("compare", base_now, slower, "--thresholds", AB_THRESHOLDS, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    # Paired by turn: the load's drift during the job cancels in each turn's ratio.
    assert PAIRED_TEST in result["test"] and result["regressions"] >= 1


@pytest.fixture(scope="module")
def evaluated_candidate(fresh_run, tmp_path_factory, run_cli, torch_clip) -> Path:
    """The fresh run evaluated with the fixture's CLIP: three of evaluated_sweep's points."""
    run_dir = tmp_path_factory.mktemp("candidate") / "candidate"
    shutil.copytree(fresh_run, run_dir)
    run_cli("eval", run_dir, "--metrics", "clip", "--clip", torch_clip, check=True)
    return run_dir


def test_a_real_candidate_passes_loose_thresholds(evaluated_sweep, evaluated_candidate, run_cli, tmp_path):
    proc = run_cli("compare", evaluated_sweep, evaluated_candidate, "--max-throughput-drop", "60%",
                   "--max-latency-rise", "150%", "--max-clip-drop", "0.01", "--format", "json",
                   "--output", tmp_path / "compare.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert (tmp_path / "compare.json").read_text() == proc.stdout
    assert result["matched_points"] == 3 and len(result["only_baseline"]) == 5
    clip = [g for p in result["points"] for g in p["gates"] if g["metric"] == "clip_score"]
    assert len(clip) == 3 and all(g["verdict"] == OK and g["change"] == pytest.approx(0, abs=1e-3) for g in clip)
    assert all(g["verdict"] == NA for p in result["points"] for g in p["gates"] if g["metric"] == "fid")


@pytest.fixture(scope="module")
def regressed(evaluated_sweep, tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the evaluated sweep with one regression per kind, and one slow-down within noise."""
    run_dir = _copy_with_latencies(evaluated_sweep, tmp_path_factory.mktemp("regressed") / "regressed")
    rows = pq.read_table(run_dir / "points.parquet").to_pylist()
    ids = [row["point_id"] for row in rows]
    slow_calls = run_dir / rows[0]["images_dir"] / "latencies.npy"
    calls = np.load(slow_calls)  # every call slower than the baseline's slowest (4 vs 4: p = 0.029)
    np.save(slow_calls, calls * 1.5 * calls.max() / calls.min())
    noisy_calls = run_dir / rows[4]["images_dir"] / "latencies.npy"
    base = np.sort(np.load(noisy_calls))  # the two slowest calls 60 % slower: median +20 % or more, not apart
    np.save(noisy_calls, np.concatenate([base[:-2], base[-2:] * 1.6]))

    def edit(rows):
        worse = rows[1]  # CLIP score below its own interval's lower end
        drop = worse["clip_score_ci_high"] - worse["clip_score_ci_low"] + 2.0
        for column in ("clip_score", "clip_score_ci_low", "clip_score_ci_high"):
            worse[column] -= drop
        rows[2]["fid"] += 5.0
        rows[3].update(status="failed", error="XlaRuntimeError: something broke")

    _edit_points(run_dir, edit)
    expected = {(ids[0], "images_per_s"), (ids[0], "latency_p50_s"), (ids[1], "clip_score"), (ids[2], "fid"),
                (ids[3], "status")}
    return run_dir, {"expected": expected, "noisy": ids[4]}


@pytest.mark.parametrize("fmt", ["markdown", "json", "junit"])
def test_regressions_exit_1_and_are_named(fmt, evaluated_sweep, regressed, run_cli):
    run_dir, info = regressed
    proc = run_cli("compare", evaluated_sweep, run_dir, "--format", fmt)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expected = info["expected"]
    if fmt == "markdown":
        assert proc.stdout.startswith("**FAIL**: 5 regressions in 8 matched points")
        section = proc.stdout.split("### Regressions")[1]
        named = {(line.split(" | ")[0].strip("| "), line.split(" | ")[1]) for line in section.splitlines()
                 if line.startswith("| 0")}
        assert named == expected
        assert "something broke" in section
    elif fmt == "json":
        result = json.loads(proc.stdout)
        assert result["verdict"] == "fail" and result["regressions"] == 5
        assert {(p["baseline_point"], g["metric"]) for p in result["points"] for g in p["gates"]
                if g["verdict"] == REGRESSION} == expected
        noisy = next(p for p in result["points"] if p["baseline_point"] == info["noisy"])
        assert {g["metric"]: g["verdict"] for g in noisy["gates"]}["images_per_s"] == NOISE
    else:
        root = ET.fromstring(proc.stdout)
        assert root.tag == "testsuites" and root.get("failures") == "5"
        failed = {(case.get("classname").removeprefix("compare."), case.get("name").split(" (")[0])
                  for case in root.iter("testcase") if case.find("failure") is not None}
        assert failed == expected
        assert int(root.get("tests")) == len(list(root.iter("testcase")))


def _bad_inputs(evaluated_sweep: Path, tmp: Path) -> dict:
    def copy(name, edit=None):
        run_dir = _copy_run(evaluated_sweep, tmp / name)
        if edit:
            _edit_points(run_dir, edit)
        return run_dir

    other_seed = copy("other_seed", lambda rows: [row.update(seed=7) for row in rows])
    mini = copy("mini")
    run = json.loads((mini / "run.json").read_text())
    run["definition"]["preset"] = "mini"
    (mini / "run.json").write_text(json.dumps(run))
    no_results = copy("no_results")
    (no_results / "points.parquet").unlink()
    no_column = copy("no_column")
    table = pq.read_table(no_column / "points.parquet")
    pq.write_table(table.drop(["images_per_s"]), no_column / "points.parquet")
    (tmp / "broken.toml").write_text("max_throughput_drop = [\n")
    (tmp / "unknown.yaml").write_text("max_throughput_drop: 5%\nmax_clip_dorp: 1\n")
    return {
        "no shared points": ([other_seed], "the runs share no points"),
        "different models": ([mini], "different models (preset 'tiny' vs 'mini')"),
        "no results": ([no_results], "has no results"),
        "missing column": ([no_column], "lacks column images_per_s"),
        "not a run": ([tmp], "is not a dalle-bench run"),
        "thresholds file does not parse": ([evaluated_sweep, "--thresholds", tmp / "broken.toml"],
                                           "does not parse"),
        "thresholds file unknown key": ([evaluated_sweep, "--thresholds", tmp / "unknown.yaml"],
                                        "unknown key 'max_clip_dorp'"),
        "bad threshold flag": ([evaluated_sweep, "--max-clip-drop", "5%"], "not a percentage"),
    }


def test_bad_input_is_a_one_line_error_with_exit_status_2(evaluated_sweep, run_cli, tmp_path):
    for case, (args, message) in _bad_inputs(evaluated_sweep, tmp_path).items():
        proc = run_cli("compare", evaluated_sweep, *args)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, f"{case}: {proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr and not proc.stdout, case
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], f"{case}: {lines}"
