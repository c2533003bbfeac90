"""`dalle-bench compare`: the pure parts on hand-made rows (thresholds, matching,
the noise rule, verdicts, renderings), then the CLI on real tiny runs: the
project's own CI gate against results/baselines/tiny, a real candidate
against the evaluated fixture, regressions in every output format, and bad
input."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from bench.base.errors import BenchError
from bench.jobs.compare.family import holm, holm_adjusted
from bench.jobs.compare.formats import junit, markdown, to_json
from bench.jobs.compare.gates import INFO, METRICS, compare_points, latency_margin
from bench.jobs.compare.load import load_side
from bench.jobs.compare.match import KEY, key_columns, match_points, required_key_columns
from bench.jobs.compare.noise import (
    NA,
    NEWCOMB,
    NOISE,
    OFF,
    OK,
    PAIRED,
    PREDICTION,
    REGRESSION,
    UNDECIDED,
    WELCH,
    adherence_test,
    clip_score_test,
    exceeds,
    latency_test,
    newcomb_drop_interval,
    verdict,
    welch_shift,
)
from bench.jobs.compare.runs import check_same_models, machine_warnings, took_turns_side_by_side
from bench.jobs.compare.thresholds import (
    Thresholds,
    build_thresholds,
    parse_threshold,
    parse_threshold_flags,
    parse_thresholds_text,
)
from bench.jobs.sweep.interleave import ring_order

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
    flags = parse_threshold_flags({"max_throughput_drop": "20%", "max_latency_rise": None})
    assert flags == {"max_throughput_drop": pytest.approx(0.20)}  # an option not given sets nothing
    thresholds = build_thresholds(toml, flags)
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
           "clip_score_mean": 20.0, "clip_score": 30.0, "clip_score_std": 1.0, "num_prompts": 2,
           "fid": 10.0, "global_batch": 1, "runs": {"": _calls(0.1)}}
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

@pytest.mark.parametrize("worsening, threshold, rejected, decided, expected", [
    (0.10, None, True, True, OFF),
    (None, 0.05, True, True, NA),
    (float("nan"), 0.05, True, True, NA),
    (0.05, 0.05, True, True, OK),  # must exceed the threshold
    (-0.50, 0.05, True, True, OK),  # an improvement
    (0.10, 0.05, False, True, NOISE),  # beyond threshold, the test does not reject "at most the threshold"
    (0.10, 0.05, True, True, REGRESSION),
    (0.10, 0.05, None, True, REGRESSION),  # no test: threshold only
    (0.50, 0.05, None, False, UNDECIDED),  # a test that cannot decide: neither regression...
    (0.00, 0.05, None, False, UNDECIDED),  # ...nor ok
])
def test_verdict(worsening, threshold, rejected, decided, expected):
    assert verdict(worsening, threshold, rejected, decided) == expected


# --- the latency test: runs are the unit --------------------------------------------------------

def _runs(median: float, runs: int, spread: float = 0.03, seed: int = 0, calls: int = 12,
          offsets=None) -> dict:
    """`runs` processes' timed calls: each process's own offset (log-normal, `spread`), 2 % call jitter."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, spread, runs) if offsets is None else offsets
    return {f"r{k + 1}": median * np.exp(offset + rng.normal(0, 0.02, calls)) for k, offset in enumerate(offsets)}


def test_one_run_a_side_is_undecided_and_says_what_would_decide_it():
    test = latency_test(list(_runs(0.1, 1).values()), list(_runs(0.2, 1, seed=1).values()), 0.05)
    assert not test.decided and test.ratio == pytest.approx(2.0, rel=0.1)  # twice as slow: still undecided
    assert test.undecided_reason.startswith("run-to-run variance unknown: 1 run in the baseline, 1 in the candidate")
    assert "what would decide it: at least 2 runs a side (sweep --repeat" in test.undecided_reason
    # A baseline of 5 runs judges a single candidate run against its run-level spread; 4 do not.
    assert latency_test(list(_runs(0.1, 5).values()), list(_runs(0.2, 1, seed=1).values()), 0.05).name == PREDICTION
    assert latency_test(list(_runs(0.1, 5).values()), list(_runs(0.2, 1, seed=1).values()), 0.05).p_value < 0.001
    assert not latency_test(list(_runs(0.1, 4).values()), list(_runs(0.2, 1, seed=1).values()), 0.05).decided
    assert not latency_test(list(_runs(0.1, 1).values()), list(_runs(0.2, 5, seed=1).values()), 0.05).decided
    assert "no per-call latencies in the candidate" in latency_test(list(_runs(0.1, 3).values()), [], 0.05).undecided_reason


def test_the_test_is_against_the_threshold_and_holds_its_level_there():
    """At a true rise exactly at the threshold the one-sided test rejects in about α of draws (the old
    rule, 'estimate past the threshold and p < α against no change', failed about half of them);
    with no change it rejects far less often."""
    rng = np.random.default_rng(0)
    margin = math.log1p(0.10)
    at_threshold = [welch_shift(rng.normal(0, 0.05, 5), rng.normal(margin, 0.05, 5), margin).p_value < 0.05
                    for _ in range(2000)]
    unchanged = [welch_shift(rng.normal(0, 0.05, 5), rng.normal(0, 0.05, 5), margin).p_value < 0.05
                 for _ in range(2000)]
    assert 0.035 < np.mean(at_threshold) < 0.065
    assert np.mean(unchanged) < 0.01


def test_a_process_offset_counts_once_not_once_per_call():
    """Two runs of the same code whose processes happen to sit 10 % apart: per call (12 vs 12) that
    looks certain; per run it is one observation each, and undecided."""
    base, cand = _runs(0.1, 1, offsets=[0.0]), _runs(0.1, 1, offsets=[0.1])
    comparison = _compare([_row(runs=base)], [_row(runs=cand)])
    assert comparison.points[0].gate("latency_p50_s").verdict == UNDECIDED and comparison.passed
    # With 5 runs a side, 30 % slower on every process is a regression; the same code is not.
    slow = _compare([_row(runs=_runs(0.1, 5))], [_row(runs=_runs(0.13, 5, seed=1))])
    gate = slow.points[0].gate("latency_p50_s")
    assert gate.verdict == REGRESSION and gate.change == pytest.approx(0.3, abs=0.05)
    assert gate.test.baseline_runs == gate.test.candidate_runs == 5 and gate.test.baseline_calls == 60
    assert slow.points[0].gate("images_per_s").verdict == INFO  # shown, not gated twice
    assert slow.points[0].gate("images_per_s").change == pytest.approx(1 / (1 + gate.change) - 1)
    assert _compare([_row(runs=_runs(0.1, 5))], [_row(runs=_runs(0.1, 5, seed=1))]).passed


def test_the_latency_gate_takes_the_tighter_of_the_two_speed_thresholds():
    assert latency_margin(Thresholds(max_throughput_drop=0.2, max_latency_rise=0.5)) == pytest.approx(0.25)
    assert latency_margin(Thresholds(max_throughput_drop=0.2, max_latency_rise=0.1)) == pytest.approx(0.1)
    assert latency_margin(Thresholds(max_throughput_drop=None, max_latency_rise=0.1)) == pytest.approx(0.1)
    assert latency_margin(Thresholds(max_throughput_drop=None, max_latency_rise=None)) is None


def test_holm_rejects_step_down():
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p, 0.05) == [True, False, False, True]  # 0.005 <= 0.0125, 0.01 <= 0.0167, 0.03 > 0.025
    assert holm_adjusted(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([], 0.05) == []


def test_the_family_keeps_false_alarms_at_alpha_where_points_alone_do_not():
    """20 unchanged points, gated at a threshold of 0 (each test then sits exactly at its level):
    deciding each alone fails most comparisons; Holm's family fails at most about α of them."""
    rng = np.random.default_rng(1)
    alone = family = 0
    draws = 100  # seeded: the same draws every run
    for draw in range(draws):
        base = [_row(f"{i:03d}-p", seed=i, runs=_runs(0.1, 5, seed=int(rng.integers(1 << 30)))) for i in range(20)]
        cand = [_row(f"{i:03d}-p", seed=i, runs=_runs(0.1, 5, seed=int(rng.integers(1 << 30)))) for i in range(20)]
        comparison = _compare(base, cand, max_latency_rise=0.0, max_throughput_drop=None,
                              max_sweep_latency_rise=None, max_clip_drop=None)
        gates = [p.gate("latency_p50_s") for p in comparison.points]
        alone += any(g.p_value is not None and g.p_value < 0.05 for g in gates)
        family += not comparison.passed
    assert alone / draws > 0.4
    assert family / draws <= 0.07
    assert comparison.tests == 20 and "Holm–Bonferroni over 20 tests" in markdown(comparison).splitlines()[0]


def test_the_sweep_level_gate_sees_a_uniform_slowdown_no_point_decides():
    """Every point 10 % slower, each point's runs too noisy to decide it (8 % spread a point): the
    geometric mean over 16 points, one figure per run, decides."""
    caught = points_caught = 0
    for seed in range(5):
        base = [_row(f"{i:03d}-p", seed=i, runs=_runs(0.1, 5, spread=0.08, seed=100 * seed + i)) for i in range(16)]
        cand = [_row(f"{i:03d}-p", seed=i, runs=_runs(0.11, 5, spread=0.08, seed=100 * seed + 50 + i))
                for i in range(16)]
        comparison = _compare(base, cand, max_sweep_latency_rise=0.02, max_latency_rise=0.02, max_clip_drop=None)
        points_caught += sum(g.verdict == REGRESSION for p in comparison.points for g in p.gates)
        caught += comparison.sweep.verdict == REGRESSION
        assert comparison.sweep.p_value < min(p.gate("latency_p50_s").p_value for p in comparison.points)
    assert caught >= 4 and points_caught <= 4  # of 5 draws; of 80 point gates
    assert comparison.sweep.change == pytest.approx(0.10, abs=0.04)
    assert comparison.tests == 17 and "sweep latency +" in markdown(comparison).splitlines()[0]


def test_the_sweep_level_gate_counts_each_process_once():
    """One slow process (all its points 30 % slower) in a side of 5 moves the sweep figure of one run,
    not of 16 independent observations: no regression."""
    offsets = [0.0, 0.0, 0.0, 0.0, 0.3]
    base = [_row(f"{i:03d}-p", seed=i, runs=_runs(0.1, 5, seed=i)) for i in range(16)]
    cand = [_row(f"{i:03d}-p", seed=i, runs=_runs(0.1, 5, seed=50 + i, offsets=np.array(offsets)))
            for i in range(16)]
    comparison = _compare(base, cand)
    assert comparison.sweep.test.candidate_runs == 5 and comparison.passed


def _drifting_pairs(shift: float, seed: int, runs: int = 5, points: int = 3):
    """Two `--repeat --interleave` sides on a machine whose load drifts: pair k of the ring sees the
    same load (1x to 3x, log-uniform), plus each process's own 3 % offset and 2 % call jitter."""
    rng = np.random.default_rng(seed)
    load = np.exp(rng.uniform(0.0, np.log(3.0), (runs, points)))
    sides = []
    for factor in (1.0, 1.0 + shift):
        offsets = rng.normal(0, 0.03, runs)
        sides.append([_row(f"{p:03d}-p", seed=p, runs={f"r{k + 1}": 0.2 * factor * load[k, p] * np.exp(
            offsets[k] + rng.normal(0, 0.02, 12)) for k in range(runs)}) for p in range(points)])
    return sides


@pytest.mark.parametrize("seed", range(3))
def test_runs_that_took_turns_side_by_side_are_paired_and_see_through_drifting_load(seed):
    base, cand = _drifting_pairs(0.3, seed)
    key = _key(base, cand)
    thresholds = Thresholds(max_latency_rise=0.1, max_throughput_drop=None, max_sweep_latency_rise=0.1,
                            max_clip_drop=None)
    unpaired = compare_points(match_points(base, cand, key), key, thresholds, "b", "c")
    paired = compare_points(match_points(base, cand, key), key, thresholds, "b", "c", paired=True)
    # Between independent runs the drift (up to 3x) blurs the 30 % slowdown; within pairs it cancels.
    assert paired.sweep.p_value < unpaired.sweep.p_value / 10
    assert paired.paired and paired.sweep.verdict == REGRESSION and paired.sweep.test.name == PAIRED
    assert paired.sweep.change == pytest.approx(0.3, abs=0.05)
    assert all(p.gate("latency_p50_s").test.name == PAIRED for p in paired.points)
    assert "process k of each side is paired" in markdown(paired)
    same, again = _drifting_pairs(0.0, seed)
    assert compare_points(match_points(same, again, key), key, thresholds, "b", "c", paired=True).passed


def test_pairing_needs_one_ring_ordered_by_repeat():
    def run(**session):
        return {"repeats": 3, "sessions": [{"turn_order": "by repeat", "interleave": "/tmp/turns.json",
                                            "environment": {"host": {"hostname": "h"}}, **session}]}

    assert took_turns_side_by_side(run(), run())
    assert not took_turns_side_by_side(run(), run(interleave="/tmp/other.json"))
    assert not took_turns_side_by_side(run(), run(interleave=None))
    assert not took_turns_side_by_side(run(), run(turn_order=None))  # joined in any order: not pairs
    assert not took_turns_side_by_side(run(), {**run(), "repeats": 2})
    assert not took_turns_side_by_side({**run(), "repeats": 1}, {**run(), "repeats": 1})
    resumed = run()
    resumed["sessions"] *= 2
    assert not took_turns_side_by_side(run(), resumed)
    assert not took_turns_side_by_side(run(), run(environment={"host": {"hostname": "elsewhere"}}))


def test_the_ring_orders_repeats_of_both_sides_side_by_side():
    # Joined: base r2, cand r3, cand r1, base r1, cand r2, base r3, then a member without a slot.
    members = {"b2": {"slot": 2, "side": "base"}, "c3": {"slot": 3, "side": "cand"}, "c1": {"slot": 1, "side": "cand"},
               "b1": {"slot": 1, "side": "base"}, "c2": {"slot": 2, "side": "cand"},
               "b3": {"slot": 3, "side": "base"}, "x": {}}
    # Pairs in repeat order; within a pair the sides take turns going first (A B, B A, A B).
    assert ring_order(members) == ["b1", "c1", "c2", "b2", "b3", "c3", "x"]
    # Without sides (older runs), joining order breaks ties.
    assert ring_order({"c1": {"slot": 1}, "b1": {"slot": 1}, "b0": {}}) == ["c1", "b1", "b0"]


# --- quality gates on counts and means ---------------------------------------------------------

@pytest.mark.parametrize("passed", range(2, 41))
def test_an_adherence_drop_of_exactly_the_threshold_is_ok(passed):
    # 2 of 40 fewer is a drop of 0.05: float means said 0.050000000000000044 for 16 of these counts.
    comparison = _compare([_row(adherence=passed / 40, num_prompts=40, num_images=1)],
                          [_row(adherence=(passed - 2) / 40, num_prompts=40, num_images=1)])
    assert comparison.points[0].gate("adherence").verdict == OK


def test_adherence_is_decided_on_pass_counts():
    broken = adherence_test(23, 40, 0, 40, 0.05)
    assert broken.p_value < 1e-6 and broken.name == NEWCOMB
    assert broken.low > 0.05 and broken.estimate == pytest.approx(0.575)
    # 3 of 40 fewer (0.075 > 0.05) from 40 images is within noise: Newcomb's interval reaches below 0.05.
    assert adherence_test(23, 40, 20, 40, 0.05).p_value > 0.05
    comparison = _compare([_row(adherence=23 / 40, num_prompts=40, num_images=1)],
                          [_row(adherence=20 / 40, num_prompts=40, num_images=1)])
    assert comparison.points[0].gate("adherence").verdict == NOISE
    assert exceeds(Fraction(3, 40), 0.05) and not exceeds(Fraction(2, 40), 0.05)


def test_newcomb_interval_matches_newcombs_published_example():
    # Newcomb (1998), Table II, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339.
    low, high = newcomb_drop_interval(56, 70, 48, 80, 1.959964)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_the_clip_score_gate_is_a_one_sided_welch_test():
    sure = clip_score_test(30.0, 1.0, 40, 28.0, 1.0, 40, 1.0)
    assert sure.p_value < 1e-4 and sure.estimate == pytest.approx(2.0)
    assert clip_score_test(30.0, 3.0, 4, 28.0, 3.0, 4, 1.0).p_value > 0.05  # 4 images a side: within noise
    assert not clip_score_test(30.0, None, 40, 28.0, 1.0, 40, 1.0).decided
    # Its level at the threshold: a true drop of exactly 1 point is rejected in about α of draws.
    rng = np.random.default_rng(0)
    rejected = []
    for _ in range(3000):
        a, b = rng.normal(30, 2, 20), rng.normal(29, 2, 20)
        rejected.append(clip_score_test(a.mean(), a.std(ddof=1), 20, b.mean(), b.std(ddof=1), 20, 1.0).p_value < 0.05)
    assert 0.035 < np.mean(rejected) < 0.065


def _compare(base_rows, cand_rows, **thresholds):
    key = _key(base_rows, cand_rows)
    return compare_points(match_points(base_rows, cand_rows, key), key, Thresholds(**thresholds), "base", "cand")


def _verdicts(comparison) -> dict:
    return {(p.baseline_id, g.metric): g.verdict for p in comparison.points for g in p.gates}


def test_clip_score_uses_its_test_fid_and_pipeline_clip_the_threshold_alone():
    comparison = _compare(
        [_row("000-a", seed=0), _row("001-b", seed=1)],
        [_row("000-a", seed=0, clip_score=28.0, clip_score_std=6.0),  # 2 points lower, 6 points spread, 4 images
         _row("001-b", seed=1, clip_score=27.0, clip_score_std=0.5, num_prompts=40,  # 3 lower, tight
              clip_score_mean=18.5, fid=12.5)], max_sweep_latency_rise=None)
    verdicts = _verdicts(comparison)
    assert verdicts[("000-a", "clip_score")] == NOISE and verdicts[("001-b", "clip_score")] == REGRESSION
    assert verdicts[("001-b", "clip_score_mean")] == REGRESSION  # 1.5 points > 1
    assert verdicts[("001-b", "fid")] == REGRESSION  # 2.5 > 2
    assert verdicts[("000-a", "fid")] == OK and verdicts[("000-a", "compile_s")] == OFF  # compile: off by default
    assert verdicts[("000-a", "latency_p90_s")] == "info"


def test_a_p90_its_calls_cannot_support_is_marked_undecided():
    comparison = _compare([_row(runs=_runs(0.1, 2, calls=5))], [_row(runs=_runs(0.1, 2, calls=5, seed=1))])
    gate = comparison.points[0].gate("latency_p90_s")
    assert gate.note.startswith("undecided: 5 calls a run < 10")
    text = markdown(comparison)
    assert "| undecided |" in text and "latency p90: undecided: 5 calls a run < 10" in text


def test_gates_can_be_switched_off_and_missing_values_are_not_regressions():
    comparison = _compare([_row()], [_row(latencies=_calls(1.0), fid=None, compile_s=30.0)],
                          max_throughput_drop=None, max_latency_rise=None, max_compile_rise=0.5)
    verdicts = _verdicts(comparison)
    assert verdicts[("000-aaaaaaaa", "images_per_s")] == INFO and verdicts[("000-aaaaaaaa", "latency_p50_s")] == OFF
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
    assert int(root.get("tests")) == 2 * gated + 1  # + the sweep-level gate
    assert any(case.get("classname") == "compare.sweep" for case in root.iter("testcase"))
    assert data["family"] == {"method": "Holm–Bonferroni", "tests": comparison.tests, "alpha": 0.05}
    assert data["sweep"]["metric"] == "sweep_latency" and data["sweep"]["verdict"] == UNDECIDED
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
    sweeps = [step["run"] for step in workflow["jobs"]["gate"]["steps"] if "sweep $SWEEP" in step.get("run", "")]
    assert sweeps and all(run.count("--repeat 10") == 2 and run.count("--interleave") == 2 for run in sweeps)


REPEATS = 3  # processes a side in the suite's A/B (docs/compare.md recommends 10 for CI)
# The A/B pair's sweep: two tiny points (two programs), few calls; each side `--repeat 3`.
AB_ARGS = ["--preset", "tiny", "-n", "1", "--iters", "8", "--warmup", "1", "--no-stages", "--cond-scale", "1,3",
           "--parallel", "sharded", "--repeat", str(REPEATS)]


def _env(tiny_cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({"DALLE_BENCH_CACHE": str(tiny_cache), "TRANSFORMERS_VERBOSITY": "error"})
    return env


def _measure_ab(out: Path, tiny_cache: Path) -> tuple[Path, Path]:
    """An A/B pair into `out`, as CI runs the base branch's checkout and the candidate's: each side
    `--repeat 3`, all six processes taking turns point by point (`--interleave`)."""
    out.mkdir(parents=True, exist_ok=True)
    # One names the turn file absolutely, the other relative to its checkout, as docs/ci-example.yml does.
    turn_files = {"base-now": str(out / "turns.json"), "fresh": os.path.relpath(out / "turns.json", REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "bench", "sweep", *AB_ARGS, *QUIET, "--out", str(out),
                               "--run-id", name, "--interleave", turn_file],
                              cwd=REPO, env=_env(tiny_cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
             for name, turn_file in turn_files.items()]
    try:
        for proc in procs:
            output, _ = proc.communicate(timeout=1800)
            assert proc.returncode == 0, output[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out / "base-now", out / "fresh"


@pytest.fixture(scope="module")
def ab_runs(tmp_path_factory, tiny_cache) -> tuple[Path, Path]:
    """The A/B pair, measured now (read-only)."""
    return _measure_ab(tmp_path_factory.mktemp("ab"), tiny_cache)


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory, tiny_cache) -> Path:
    """The stored baseline's sweep run again now, one process: the candidate of the CI gate (read-only)."""
    out = tmp_path_factory.mktemp("fresh")
    proc = subprocess.run([sys.executable, "-m", "bench", "sweep", *SWEEP_ARGS, *QUIET, "--out", str(out),
                           "--run-id", "fresh"], cwd=REPO, env=_env(tiny_cache), capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "fresh"


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


def test_ci_gate_against_the_stored_tiny_baseline(fresh_run, cli_inprocess):
    """The project's own regression gate against stored figures: what is deterministic (tokens,
    quality, statuses); throughput is not gated against figures from another day or machine."""
    stored, fresh = (json.loads((run / "run.json").read_text()) for run in (BASELINE, fresh_run))
    assert fresh["definition"] == stored["definition"], "the Makefile's baseline sweep and this test's differ"
    assert not list(BASELINE.rglob("*.png"))
    proc = cli_inprocess("compare", BASELINE, fresh_run, "--thresholds", CI_THRESHOLDS, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["verdict"] == "pass" and result["matched_points"] == 3 and not result["only_candidate"]
    for point in result["points"]:
        gates = {g["metric"]: g for g in point["gates"]}
        assert gates["images_per_s"]["verdict"] == INFO and gates["latency_p50_s"]["verdict"] == OFF
        # The CLIP gate can only fail when the scores can move: positive, one per image.
        scores = np.load(BASELINE / "images" / point["baseline_point"] / "clip_scores.npy")
        assert (scores > 0).all() and len(np.unique(scores)) == scores.size, scores
        assert gates["clip_score_mean"]["verdict"] == OK
        assert gates["clip_score_mean"]["change"] == pytest.approx(0.0, abs=0.01)
        tokens = [np.load(run / "images" / point[f"{side}_point"] / "tokens.npy")
                  for run, side in ((BASELINE, "baseline"), (fresh_run, "candidate"))]
        assert np.array_equal(*tokens), f"tokens of {point['baseline_point']} changed: regenerate with make baseline?"


def _copy_with_latencies(run_dir: Path, dest: Path, factor: float = 1.0, repeats: int | None = None) -> Path:
    """A copy of a run without its PNGs, every timed call `factor` times as long (its first `repeats`
    processes' calls only)."""
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("*.png", "report", "repeats"))
    for path in dest.glob("images/*/latencies.npy"):
        calls = np.load(path)
        np.save(path, (calls[:repeats] if calls.ndim == 2 else calls) * factor)
    return dest


@pytest.mark.integration
def test_every_call_twice_as_slow_fails_the_gate_an_unchanged_copy_passes(ab_runs, cli_inprocess, tmp_path):
    """The summary columns of the copies are untouched: the gate reads every process's timed calls.
    Twice, not 30 %: with 3 runs a side the test can only see what the runs' own spread allows, and
    beside the suite's other worker that spread reached 0.2 (log) in a point (docs/compare.md).
    Integration tier (the A/B pair is six sweep processes); in `make test` the gate's maths on every
    process's calls are test_a_process_offset_counts_once_not_once_per_call and
    test_a_side_reads_repeats_and_pools_folders_of_runs, and real `--repeat` runs tests/test_repeat.py."""
    fresh = ab_runs[1]
    assert np.load(next(fresh.glob("images/*/latencies.npy"))).shape == (REPEATS, 8)
    same = _copy_with_latencies(fresh, tmp_path / "same")
    slower = _copy_with_latencies(fresh, tmp_path / "slower", factor=2.0)
    proc = cli_inprocess("compare", fresh, same, "--format", "json", "--require-decided")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["undecided"] == 0
    proc = cli_inprocess("compare", fresh, slower, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["significance_level"] == 0.05 and result["family"]["method"] == "Holm–Bonferroni"
    assert result["runs"] == [REPEATS, REPEATS] and "runs are the unit" in result["test"]
    slow = {(p["baseline_point"], g["metric"]): g for p in result["points"] for g in p["gates"]
            if g["verdict"] == REGRESSION}
    assert {metric for _, metric in slow} == {"latency_p50_s"} and len(slow) == 2  # once per point
    assert all(g["change"] == pytest.approx(1.0) and g["p_value"] < 0.05 and g["runs"] == [REPEATS, REPEATS]
               and g["calls"] == [8 * REPEATS] * 2 for g in slow.values())
    assert result["sweep"]["verdict"] == REGRESSION and result["sweep"]["change"] == pytest.approx(1.0)
    assert result["family"]["tests"] == 3  # two points and the sweep


def test_one_run_a_side_is_undecided_and_require_decided_fails(fresh_run, cli_inprocess, tmp_path):
    one = _copy_with_latencies(fresh_run, tmp_path / "one", factor=1.3)
    proc = cli_inprocess("compare", fresh_run, one)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 gates undecided" in proc.stdout.splitlines()[0]  # 3 points and the sweep
    assert "run-to-run variance unknown: 1 run in the baseline, 1 in the candidate" in proc.stdout
    proc = cli_inprocess("compare", one, fresh_run, "--require-decided", "--format", "junit")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    messages = [f.get("message") for f in ET.fromstring(proc.stdout).iter("failure")]
    assert len(messages) == 4 and all("what would decide it" in m for m in messages)


@pytest.mark.integration
def test_ab_gate_passes_the_same_code_and_catches_a_threefold_slowdown(ab_runs, cli_inprocess, tmp_path):
    """The CI recipe's A/B speed gate: the baseline's version measured in the same job, both sides
    `--repeat`, taking turns point by point. Same code on both sides must pass, with no retry (the
    test is against the threshold, so an unchanged pair fails far less often than α); every call
    three times slower must fail, whatever the machine's load did to the runs' spread.
    Integration tier (six sweep processes); in `make test` the paired gate's maths are
    test_runs_that_took_turns_side_by_side_are_paired_and_see_through_drifting_load and
    test_pairing_needs_one_ring_ordered_by_repeat, the turns of two `--repeat --interleave` sides
    tests/test_repeat.py::test_repeats_of_two_sides_take_turns_side_by_side_from_the_first_round, and
    pooling a folder of runs test_a_side_reads_repeats_and_pools_folders_of_runs."""
    base_now, fresh = ab_runs
    gate = ("--thresholds", AB_THRESHOLDS, "--require-decided", "--format", "json")
    proc = cli_inprocess("compare", base_now, fresh, *gate)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["undecided"] == 0 and result["matched_points"] == 2 and result["runs"] == [REPEATS, REPEATS]
    assert result["paired"] and "process k of each side is paired" in result["test"]
    assert {g["verdict"] for p in result["points"] for g in p["gates"] if g["metric"] == "latency_p50_s"} <= {OK, NOISE}
    slower = _copy_with_latencies(fresh, tmp_path / "slower", factor=3.0)
    proc = cli_inprocess("compare", base_now, slower, *gate)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["sweep"]["verdict"] == REGRESSION
    # The runs of one side pooled from a folder of runs decide as the run with repeats does.
    pooled = tmp_path / "pooled"
    pooled.mkdir()
    for k in range(REPEATS):
        (pooled / f"r{k + 1}").symlink_to(fresh / "repeats" / f"r{k + 1}")
    proc = cli_inprocess("compare", base_now, pooled, *gate)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["runs"] == [REPEATS, REPEATS] and not json.loads(proc.stdout)["paired"]


@pytest.fixture(scope="module")
def evaluated_candidate(fresh_run, tmp_path_factory, cli_inprocess, torch_clip) -> Path:
    """The fresh run evaluated with the fixture's CLIP: three of evaluated_sweep's points."""
    run_dir = tmp_path_factory.mktemp("candidate") / "candidate"
    shutil.copytree(fresh_run, run_dir)
    cli_inprocess("eval", run_dir, "--metrics", "clip", "--clip", torch_clip, check=True)
    return run_dir


def test_a_real_candidate_passes_loose_thresholds(evaluated_sweep, evaluated_candidate, cli_inprocess, tmp_path):
    proc = cli_inprocess("compare", evaluated_sweep, evaluated_candidate, "--max-throughput-drop", "60%",
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
    np.save(slow_calls, np.load(slow_calls) * 3.0)  # one run a side: undecided, however slow

    def edit(rows):
        worse = rows[1]  # CLIP score far below: beyond noise even among the family's tests
        drop = 3 * (worse["clip_score_ci_high"] - worse["clip_score_ci_low"]) + 2.0
        for column in ("clip_score", "clip_score_ci_low", "clip_score_ci_high"):
            worse[column] -= drop
        noisy = rows[4]  # 1.5 points lower (beyond the 1-point threshold) with its spread: within noise
        noisy["clip_score"] -= 1.5
        rows[2]["fid"] += 5.0
        rows[3].update(status="failed", error="XlaRuntimeError: something broke")

    _edit_points(run_dir, edit)
    expected = {(ids[1], "clip_score"), (ids[2], "fid"), (ids[3], "status")}
    return run_dir, {"expected": expected, "noisy": ids[4], "slow": ids[0]}


@pytest.mark.parametrize("fmt", ["markdown", "json", "junit"])
def test_regressions_exit_1_and_are_named(fmt, evaluated_sweep, regressed, cli_inprocess):
    run_dir, info = regressed
    proc = cli_inprocess("compare", evaluated_sweep, run_dir, "--format", fmt)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expected = info["expected"]
    if fmt == "markdown":
        assert proc.stdout.startswith("**FAIL**: 3 regressions in 8 matched points")
        section = proc.stdout.split("### Regressions")[1].split("###")[0]  # not the Undecided table after it
        named = {(line.split(" | ")[0].strip("| "), line.split(" | ")[1]) for line in section.splitlines()
                 if line.startswith("| 0")}
        assert named == expected
        assert "something broke" in section
    elif fmt == "json":
        result = json.loads(proc.stdout)
        assert result["verdict"] == "fail" and result["regressions"] == 3
        assert {(p["baseline_point"], g["metric"]) for p in result["points"] for g in p["gates"]
                if g["verdict"] == REGRESSION} == expected
        noisy = next(p for p in result["points"] if p["baseline_point"] == info["noisy"])
        assert {g["metric"]: g["verdict"] for g in noisy["gates"]}["clip_score"] == NOISE
        slow = next(p for p in result["points"] if p["baseline_point"] == info["slow"])
        assert {g["metric"]: g["verdict"] for g in slow["gates"]}["latency_p50_s"] == UNDECIDED
    else:
        root = ET.fromstring(proc.stdout)
        assert root.tag == "testsuites" and root.get("failures") == "3"
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
    empty = tmp / "empty"
    empty.mkdir()
    (tmp / "pooled").mkdir()
    (tmp / "pooled" / "a").symlink_to(evaluated_sweep)
    (tmp / "pooled" / "b").symlink_to(mini)
    (tmp / "unknown.yaml").write_text("max_throughput_drop: 5%\nmax_clip_dorp: 1\n")
    return {
        "no shared points": ([other_seed], "the runs share no points"),
        "different models": ([mini], "different models (preset 'tiny' vs 'mini')"),
        "no results": ([no_results], "has no results"),
        "missing column": ([no_column], "lacks column images_per_s"),
        "not a run": ([empty], "is not a dalle-bench run"),
        "a folder of runs of different models": ([tmp / "pooled"], "different models"),
        "thresholds file does not parse": ([evaluated_sweep, "--thresholds", tmp / "broken.toml"],
                                           "does not parse"),
        "thresholds file unknown key": ([evaluated_sweep, "--thresholds", tmp / "unknown.yaml"],
                                        "unknown key 'max_clip_dorp'"),
        "bad threshold flag": ([evaluated_sweep, "--max-clip-drop", "5%"], "not a percentage"),
    }


def test_bad_input_is_a_one_line_error_with_exit_status_2(evaluated_sweep, cli_inprocess, tmp_path):
    for case, (args, message) in _bad_inputs(evaluated_sweep, tmp_path).items():
        proc = cli_inprocess("compare", evaluated_sweep, *args)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, f"{case}: {proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr and not proc.stdout, case
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], f"{case}: {lines}"


def test_a_side_reads_repeats_and_pools_folders_of_runs(tmp_path):
    """A 2-D latencies.npy (sweep --repeat) is one process a row; a folder of runs pools them all."""
    one = _copy_with_latencies(BASELINE, tmp_path / "runs" / "a")
    for path in one.glob("images/*/latencies.npy"):
        calls = np.load(path)
        np.save(path, np.stack([calls, calls * 1.01, np.concatenate([calls[:-2] * 0.99, [np.nan, np.nan]])]))
    _copy_with_latencies(BASELINE, tmp_path / "runs" / "b")
    side = load_side(one, "baseline")
    assert all(list(row["runs"]) == ["r1", "r2", "r3"] for row in side.rows)
    assert all(np.isfinite(row["runs"]["r3"]).sum() == row["runs"]["r1"].size - 2 for row in side.rows)
    pooled = load_side(tmp_path / "runs", "baseline")
    assert pooled.name == "runs" and all(list(row["runs"]) == ["a/r1", "a/r2", "a/r3", "b/"] for row in pooled.rows)
    comparison = _compare(list(side.rows), list(pooled.rows))
    gate = comparison.points[0].gate("latency_p50_s")
    assert gate.test.name == WELCH and (gate.test.baseline_runs, gate.test.candidate_runs) == (3, 4)


def test_the_error_rate_script_resamples_recorded_runs(tmp_path):
    """docs/gate_error_rates.py on two recorded processes (the stored baseline and a copy 3 % slower):
    it prints one line per factor, and a slowdown fails more draws than the unchanged candidate."""
    slower = tmp_path / "runs" / "b"
    _copy_with_latencies(BASELINE, tmp_path / "runs" / "a")
    _copy_with_latencies(BASELINE, slower, factor=1.03)
    proc = subprocess.run([sys.executable, str(REPO / "docs" / "gate_error_rates.py"), str(tmp_path / "runs"),
                           "--repeats", "3", "--draws", "10"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("2 processes, 3 points; 3 processes a side, 10 draws") and len(lines) == 5
    shares = [float(line.split("fails in ")[1].split("%")[0]) for line in lines[1:]]
    assert lines[1].strip().startswith("unchanged") and shares[3] > shares[0]
    proc = subprocess.run([sys.executable, str(REPO / "docs" / "gate_error_rates.py"), "--paired",
                           f"{BASELINE}:{slower}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"Error: {BASELINE}:{slower}: these runs did not take turns side by side (sweep --repeat --interleave)")
