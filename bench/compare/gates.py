"""The metrics a comparison shows, and the comparison of matched points. Pure.

Each matched point gets a `status` gate (a point ok in the baseline but not
in the candidate is a regression of its own) and, when it is ok on both
sides, one gate per metric. A metric without a threshold field is shown but
never gated (`info`). Throughput and median latency are compared on the
points' per-call latencies (a row's `latencies`: `load` reads them from
`latencies.npy`), not on their summary columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .match import KeyColumn, Match, settings_of
from .noise import (ALPHA, HIGHER, INFO, LOWER, NA, NOISE, OK, REGRESSION, UNDECIDED, LatencyTest, apart,
                    latency_test, verdict)
from .thresholds import ABSOLUTE, Thresholds, describe

@dataclass(frozen=True)
class Interval:
    """The measured spread that decides whether a change is noise."""

    name: str
    low: str  # columns of its ends
    high: str
    worse: str  # HIGHER or LOWER: the side of the baseline's interval where the candidate's is worse


CLIP_CI = Interval("CLIP score", "clip_score_ci_low", "clip_score_ci_high", LOWER)


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    better: str  # HIGHER or LOWER
    threshold: str | None  # the Thresholds field that gates it; None: shown, never gated
    interval: Interval | None = None  # None: the threshold alone decides (unless per_call)
    per_call: bool = False  # decided by the latency test on every timed call of both points
    required: bool = True  # False for quality columns: runs that were never evaluated lack them
    same: tuple[str, ...] = ()  # columns that must be equal for the values to be comparable (the CLIP model)

    @property
    def relative(self) -> bool:
        return self.threshold is None or Thresholds.unit(self.threshold) != ABSOLUTE


METRICS: tuple[Metric, ...] = (
    Metric("images_per_s", "images/s", HIGHER, "max_throughput_drop", per_call=True),
    Metric("latency_p50_s", "latency p50", LOWER, "max_latency_rise", per_call=True),
    Metric("latency_p90_s", "latency p90", LOWER, None),
    Metric("compile_s", "compile", LOWER, "max_compile_rise", same=("compile_concurrency",)),
    Metric("peak_device_memory_bytes", "device memory", LOWER, "max_memory_rise"),
    Metric("host_peak_rss_bytes", "host RSS", LOWER, "max_memory_rise"),
    Metric("clip_score", "CLIP score", HIGHER, "max_clip_drop", CLIP_CI, required=False, same=("clip_model",)),
    Metric("clip_score_mean", "CLIP (pipeline)", HIGHER, "max_clip_drop"),
    Metric("fid", "FID", LOWER, "max_fid_rise", required=False, same=("fid_reference", "feature_extractor")),
    Metric("adherence", "adherence", HIGHER, "max_adherence_drop", required=False, same=("adherence_checker",)),
)
STATUS = "status"


def required_columns() -> tuple[str, ...]:
    """Columns a run must have for its metrics to be compared (interval columns included)."""
    names = ["point_id", "status"]
    for m in METRICS:
        if m.required:
            names += [m.column, *((m.interval.low, m.interval.high) if m.interval else ())]
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Gate:
    metric: str  # a column, or "status"
    label: str
    baseline: float | str | None
    candidate: float | str | None
    change: float | None  # candidate - baseline: a fraction of the baseline when `relative`, else absolute
    relative: bool
    threshold: float | None
    verdict: str  # ok, noise, regression, undecided, off, n/a, info
    reason: str
    test: LatencyTest | None = None  # per-call metrics: calls, p-value, ratio interval


@dataclass(frozen=True)
class PointComparison:
    settings: dict  # the key columns' values
    baseline_id: str
    candidate_id: str
    gates: tuple[Gate, ...]  # the status gate first

    def gate(self, metric: str) -> Gate | None:
        return next((g for g in self.gates if g.metric == metric), None)


@dataclass(frozen=True)
class Comparison:
    baseline: str  # run names (their folders)
    candidate: str
    key: tuple[str, ...]
    thresholds: Thresholds
    points: tuple[PointComparison, ...]
    only_baseline: tuple[str, ...]  # point ids without a match
    only_candidate: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    require_decided: bool = False  # an undecided gate fails the comparison
    alpha: float = ALPHA
    paired: bool = False  # the runs took turns: per-call metrics paired by turn

    def regressions(self) -> list[tuple[PointComparison, Gate]]:
        return [(p, g) for p in self.points for g in p.gates if g.verdict == REGRESSION]

    def undecided(self) -> list[tuple[PointComparison, Gate]]:
        return [(p, g) for p in self.points for g in p.gates if g.verdict == UNDECIDED]

    def count(self, verdict_name: str) -> int:
        return sum(g.verdict == verdict_name for p in self.points for g in p.gates)

    @property
    def passed(self) -> bool:
        return not self.regressions() and not (self.require_decided and self.undecided())


def _value(row: dict, column: str):
    value = row.get(column)
    return None if value is None or value != value else value  # NaN reads as missing


def change_of(base, cand, relative: bool) -> float | None:
    if base is None or cand is None:
        return None
    if relative:
        return (cand - base) / base if base else None
    return cand - base


def _per_call_values(metric: Metric, row: dict, latencies) -> float | None:
    """The metric from the point's own latencies: their median, or global batch / median."""
    if latencies is None or len(latencies) == 0:
        return _value(row, metric.column)
    median = float(np.median(latencies))
    if metric.better == LOWER:
        return median
    batch = _value(row, "global_batch")
    if batch is None:  # older runs: images/s = global batch / median latency
        ips, p50 = _value(row, "images_per_s"), _value(row, "latency_p50_s")
        batch = None if ips is None or p50 is None else ips * p50
    return None if batch is None else batch / median


def metric_gate(metric: Metric, base: dict, cand: dict, thresholds: Thresholds, alpha: float = ALPHA,
                paired: bool = False) -> Gate:
    test = None
    if metric.per_call:
        test = latency_test(base.get("latencies"), cand.get("latencies"), alpha, paired)
        b = _per_call_values(metric, base, base.get("latencies"))
        c = _per_call_values(metric, cand, cand.get("latencies"))
    else:
        b, c = _value(base, metric.column), _value(cand, metric.column)
    change = change_of(b, c, metric.relative)
    if test is not None and test.paired and change is not None:
        # Paired turns: the change is the median per-turn ratio's, which the load's drift does not move.
        change = test.ratio - 1.0 if metric.better == LOWER else 1.0 / test.ratio - 1.0
    threshold = getattr(thresholds, metric.threshold) if metric.threshold else None
    if metric.threshold is None:
        return Gate(metric.column, metric.label, b, c, change, True, None, INFO, "shown, not gated")
    differing = [name for name in metric.same if base.get(name) != cand.get(name)]
    if differing and threshold is not None and b is not None and c is not None:
        what = "; ".join(f"{name} {base.get(name)} vs {cand.get(name)}" for name in differing)
        return Gate(metric.column, metric.label, b, c, change, metric.relative, threshold, NA,
                    f"not comparable: {what}")
    worsening = None if change is None else (-change if metric.better == HIGHER else change)
    not_noise, decided = None, True
    if test is not None:
        not_noise, decided = test.significant, test.decided
    elif metric.interval:
        i = metric.interval
        not_noise = apart(base.get(i.low), base.get(i.high), cand.get(i.low), cand.get(i.high), i.worse)
    outcome = verdict(worsening, threshold, not_noise, decided)
    return Gate(metric.column, metric.label, b, c, change, metric.relative, threshold, outcome,
                _reason(metric, outcome, threshold, not_noise, test), test)


def _reason(metric: Metric, outcome: str, threshold: float | None, not_noise: bool | None,
            test: LatencyTest | None) -> str:
    limit = describe(metric.threshold, threshold)
    word = "drop" if metric.better == HIGHER else "rise"
    if outcome == NA:
        return "not measured in both runs"
    if outcome == UNDECIDED:
        return f"undecided: {test.undecided_reason}"
    tested = (f"{test.name}: p = {test.p_value:.3g} {'<' if test.significant else '>='} α = {test.alpha:g}, "
              f"{test.baseline_calls} vs {test.candidate_calls} calls") if test is not None else ""
    if outcome == OK:
        return f"{word} within {limit}" + (f" ({tested})" if tested else "")
    if outcome in (NOISE, REGRESSION):
        if test is not None:
            why = f"{tested}: {'within noise' if outcome == NOISE else 'not noise'}"
        else:
            what = metric.interval.name if metric.interval else ""
            why = (f"{what} intervals overlap: within noise" if outcome == NOISE else
                   f"{what} intervals apart" if not_noise else
                   "one side has no interval: threshold only" if metric.interval else "no interval: threshold only")
        return f"{word} beyond {limit}; {why}"
    return "gate off"


def status_gate(base: dict, cand: dict) -> Gate:
    b, c = base.get("status"), cand.get("status")
    if b == "ok" and c == "ok":
        outcome, reason = OK, "ok in both runs"
    elif b == "ok":
        outcome, reason = REGRESSION, f"ok in the baseline, {c} in the candidate: {cand.get('error') or 'no error'}"
    elif c == "ok":
        outcome, reason = INFO, f"{b} in the baseline, ok in the candidate: fixed, metrics not compared"
    else:
        outcome, reason = INFO, f"{b} in the baseline, {c} in the candidate: not compared"
    return Gate(STATUS, "status", b, c, None, False, None, outcome, reason)


def compare_points(match: Match, key: tuple[KeyColumn, ...], thresholds: Thresholds, baseline: str,
                   candidate: str, warnings: tuple[str, ...] = (), require_decided: bool = False,
                   alpha: float = ALPHA, paired: bool = False) -> Comparison:
    """`paired`: the runs took turns call by call (bench.compare.runs.took_turns)."""
    points = []
    for base, cand in match.pairs:
        status = status_gate(base, cand)
        gates = [status]
        if base.get("status") == "ok" and cand.get("status") == "ok":
            gates += [metric_gate(m, base, cand, thresholds, alpha, paired) for m in METRICS]
        points.append(PointComparison(settings_of(base, key), base["point_id"], cand["point_id"], tuple(gates)))
    return Comparison(baseline, candidate, tuple(c.name for c in key), thresholds, tuple(points),
                      tuple(r["point_id"] for r in match.only_baseline),
                      tuple(r["point_id"] for r in match.only_candidate), tuple(warnings), require_decided, alpha,
                      paired)
