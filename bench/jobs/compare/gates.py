"""The metrics a comparison shows, and the comparison of matched points. Pure.

Each matched point gets a `status` gate (a point ok in the baseline but not
in the candidate is a regression of its own) and, when it is ok on both
sides, one gate per metric. A metric without a threshold field is shown but
never gated (`info`). One effect is tested once: the point's speed is gated
on its median latency, run by run (`noise.latency_test`), against the
tighter of the latency and throughput thresholds (images/s falls by x when
the latency rises by 1 / (1 - x) - 1); images/s is shown beside it. Tested
gates get their verdict only when every p-value of the comparison is known
(`family.py`); the sweep-level gate joins them."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from .family import METHOD, holm, holm_adjusted
from .match import KeyColumn, Match, settings_of
from .noise import (
    ALPHA,
    HIGHER,
    INFO,
    LOWER,
    NA,
    NOISE,
    OK,
    REGRESSION,
    UNDECIDED,
    LatencyTest,
    ShiftTest,
    adherence_test,
    as_ratio,
    clip_score_test,
    latency_test,
    paired_latency_test,
    paired_shift,
    run_medians,
    verdict,
    welch_shift,
)
from .thresholds import ABSOLUTE, Thresholds, describe


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    better: str  # HIGHER or LOWER
    threshold: str | None  # the Thresholds field that gates it; None: shown, never gated
    test: str | None = None  # "latency", "clip" or "adherence": a test decides beyond the threshold
    required: bool = True  # False for quality columns: runs that were never evaluated lack them
    same: tuple[str, ...] = ()  # columns that must be equal for the values to be comparable (the CLIP model)

    @property
    def relative(self) -> bool:
        return self.threshold is None or Thresholds.unit(self.threshold) != ABSOLUTE


METRICS: tuple[Metric, ...] = (
    Metric("images_per_s", "images/s", HIGHER, None),
    Metric("latency_p50_s", "latency p50", LOWER, "max_latency_rise", test="latency"),
    Metric("latency_p90_s", "latency p90", LOWER, None),
    Metric("compile_s", "compile", LOWER, "max_compile_rise", same=("compile_concurrency",)),
    Metric("peak_device_memory_bytes", "device memory", LOWER, "max_memory_rise"),
    Metric("host_peak_rss_bytes", "host RSS", LOWER, "max_memory_rise"),
    Metric("clip_score", "CLIP score", HIGHER, "max_clip_drop", test="clip", required=False, same=("clip_model",)),
    Metric("clip_score_mean", "CLIP (pipeline)", HIGHER, "max_clip_drop"),
    Metric("fid", "FID", LOWER, "max_fid_rise", required=False, same=("fid_reference", "feature_extractor")),
    Metric("adherence", "adherence", HIGHER, "max_adherence_drop", test="adherence", required=False,
           same=("adherence_checker",)),
)
STATUS = "status"
SWEEP = "sweep_latency"
P90_MIN_CALLS = 10  # below it the "p90" of a run is its slowest call (bench/stats.min_samples_for)


def required_columns() -> tuple[str, ...]:
    """Columns a run must have for its metrics to be compared."""
    names = ["point_id", "status"]
    names += [m.column for m in METRICS if m.required]
    return tuple(dict.fromkeys(names))


def latency_margin(thresholds: Thresholds) -> float | None:
    """The latency rise the speed gate allows: the tighter of --max-latency-rise and the latency
    rise that --max-throughput-drop amounts to; None when both are off."""
    margins = [m for m in (thresholds.max_latency_rise,
                           None if thresholds.max_throughput_drop is None
                           else 1.0 / (1.0 - thresholds.max_throughput_drop) - 1.0) if m is not None]
    return min(margins) if margins else None


@dataclass(frozen=True)
class Gate:
    metric: str  # a column, "status" or "sweep_latency"
    label: str
    baseline: float | str | None
    candidate: float | str | None
    change: float | None  # candidate - baseline: a fraction of the baseline when `relative`, else absolute
    relative: bool
    threshold: float | None
    verdict: str  # ok, noise, regression, undecided, off, n/a, info
    reason: str
    test: LatencyTest | ShiftTest | None = None  # tested gates: the test's figures
    adjusted_p: float | None = None  # Holm-adjusted p-value, once the family is known
    note: str = ""  # shown beside the value (a percentile its calls cannot support)

    @property
    def p_value(self) -> float | None:
        return None if self.test is None else self.test.p_value

    @property
    def tested(self) -> bool:
        """Decided by a test: one of the family's hypotheses (those within their threshold too)."""
        return self.verdict in (OK, PENDING) and self.test is not None and self.test.decided

    def interval(self) -> tuple[float, float] | None:
        """The change's interval, on the change's own scale (a fraction, or points)."""
        t = self.test
        if isinstance(t, LatencyTest):
            if t.ratio_low is None:
                return None
            if self.metric == "images_per_s":
                return 1.0 / t.ratio_high - 1.0, 1.0 / t.ratio_low - 1.0
            return t.ratio_low - 1.0, t.ratio_high - 1.0
        if isinstance(t, ShiftTest) and t.low is not None:
            return -t.high, -t.low  # the test's scale is the drop; a change is candidate - baseline
        return None


PENDING = "pending"  # a tested gate beyond its threshold, before the family is decided


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
    sweep: Gate | None = None  # the sweep-level gate: the geometric mean of the points' latency ratios
    tests: int = 0  # hypotheses in the family (Holm)
    runs: tuple[int, int] = (1, 1)  # processes measured on each side (most of any point)
    paired: bool = False  # the sides' processes took turns side by side: process k paired with process k

    def all_gates(self) -> list[tuple[PointComparison | None, Gate]]:
        gates = [(p, g) for p in self.points for g in p.gates]
        return gates + ([(None, self.sweep)] if self.sweep is not None else [])

    def regressions(self) -> list[tuple[PointComparison | None, Gate]]:
        return [(p, g) for p, g in self.all_gates() if g.verdict == REGRESSION]

    def undecided(self) -> list[tuple[PointComparison | None, Gate]]:
        return [(p, g) for p, g in self.all_gates() if g.verdict == UNDECIDED]

    def count(self, verdict_name: str) -> int:
        return sum(g.verdict == verdict_name for _, g in self.all_gates())

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


def _global_batch(row: dict) -> float | None:
    batch = _value(row, "global_batch")
    if batch is None:  # older runs: images/s = global batch / median latency
        ips, p50 = _value(row, "images_per_s"), _value(row, "latency_p50_s")
        batch = None if ips is None or p50 is None else ips * p50
    return batch


def _run_figure(metric: Metric, row: dict) -> float | None:
    """The point's latency (or images/s) from its runs: the geometric mean of the run medians."""
    medians = run_medians(list((row.get("runs") or {}).values()))
    if medians.size == 0:
        return _value(row, metric.column)
    latency = float(np.exp(np.mean(np.log(medians))))
    if metric.better == LOWER:
        return latency
    batch = _global_batch(row)
    return None if batch is None else batch / latency


def _images(row: dict) -> int | None:
    prompts, per_prompt = _value(row, "num_prompts"), _value(row, "num_images")
    return None if prompts is None or per_prompt is None else int(prompts) * int(per_prompt)


def _latency(base: dict, cand: dict, threshold: float, paired: bool) -> LatencyTest:
    if paired:
        return paired_latency_test(base.get("runs") or {}, cand.get("runs") or {}, threshold)
    return latency_test(list((base.get("runs") or {}).values()), list((cand.get("runs") or {}).values()), threshold)


def _test(metric: Metric, base: dict, cand: dict, threshold: float, paired: bool = False):
    if metric.test == "latency":
        return _latency(base, cand, threshold, paired)
    if metric.test == "clip":
        return clip_score_test(_value(base, "clip_score"), _value(base, "clip_score_std"), _images(base),
                               _value(cand, "clip_score"), _value(cand, "clip_score_std"), _images(cand), threshold)
    n_base, n_cand = _images(base), _images(cand)
    b, c = _value(base, "adherence"), _value(cand, "adherence")
    if None in (n_base, n_cand, b, c):
        return None
    return adherence_test(round(b * n_base), n_base, round(c * n_cand), n_cand, threshold)


def _p90_note(row: dict) -> str:
    runs = list((row.get("runs") or {}).values())
    calls = [int(np.isfinite(r).sum()) for r in runs]
    if calls and min(calls) < P90_MIN_CALLS:
        return f"undecided: {min(calls)} calls a run < {P90_MIN_CALLS}, p90 is the slowest call"
    return ""


def metric_gate(metric: Metric, base: dict, cand: dict, thresholds: Thresholds, paired: bool = False) -> Gate:
    if metric.column in ("images_per_s", "latency_p50_s"):
        b, c = _run_figure(metric, base), _run_figure(metric, cand)
    else:
        b, c = _value(base, metric.column), _value(cand, metric.column)
    change = change_of(b, c, metric.relative)
    if metric.test == "adherence" and None not in (b, c, _images(base), _images(cand)):
        # Exactly, from the counts: 2 of 40 fewer is a drop of 0.05, not 0.050000000000000044.
        change = float(Fraction(round(c * _images(cand)), _images(cand)) - Fraction(round(b * _images(base)),
                                                                                      _images(base)))
    if metric.threshold is None:
        note = _p90_note(base) or _p90_note(cand) if metric.column == "latency_p90_s" else ""
        test = _latency(base, cand, 0.0, paired) if metric.column == "images_per_s" else None
        if metric.column == "images_per_s" and test is not None and test.ratio is not None:
            change = 1.0 / test.ratio - 1.0
        return Gate(metric.column, metric.label, b, c, change, True, None, INFO, "shown, not gated (the latency "
                    "gate decides the point's speed)" if metric.column == "images_per_s" else "shown, not gated",
                    test, note=note)
    threshold = latency_margin(thresholds) if metric.test == "latency" else getattr(thresholds, metric.threshold)
    differing = [name for name in metric.same if base.get(name) != cand.get(name)]
    if differing and threshold is not None and b is not None and c is not None:
        what = "; ".join(f"{name} {base.get(name)} vs {cand.get(name)}" for name in differing)
        return Gate(metric.column, metric.label, b, c, change, metric.relative, threshold, NA,
                    f"not comparable: {what}")
    test = None
    if metric.test is not None and threshold is not None and b is not None and c is not None:
        test = _test(metric, base, cand, threshold, paired)
        if isinstance(test, LatencyTest) and test.ratio is not None:
            change = test.ratio - 1.0
    worsening = None if change is None else (-change if metric.better == HIGHER else change)
    decided = test is None or test.decided
    outcome = verdict(worsening, threshold, None, decided)
    if outcome == REGRESSION and test is not None:
        outcome = PENDING  # the family decides
    gate = Gate(metric.column, metric.label, b, c, change, metric.relative, threshold, outcome, "", test)
    return replace(gate, reason=_reason(metric.threshold, metric.better, gate, thresholds))


def _threshold_text(name: str | None, gate: Gate, thresholds: Thresholds) -> str:
    if gate.metric == "latency_p50_s" and gate.threshold is not None:
        return f"{gate.threshold * 100:.3g} %"
    return describe(name, gate.threshold)


def _test_text(gate: Gate) -> str:
    t = gate.test
    if t is None or not t.decided:
        return ""
    sides = (f", {t.baseline_runs} vs {t.candidate_runs} runs ({t.baseline_calls} vs {t.candidate_calls} calls)"
             if isinstance(t, LatencyTest) else "")
    adjusted = "" if gate.adjusted_p is None else f", Holm-adjusted p = {gate.adjusted_p:.3g}"
    return f"{t.name}: p = {t.p_value:.3g}{adjusted}{sides}"


def _reason(threshold_name: str | None, better: str, gate: Gate, thresholds: Thresholds) -> str:
    limit = _threshold_text(threshold_name, gate, thresholds)
    word = "drop" if better == HIGHER else "rise"
    tested = _test_text(gate)
    if gate.verdict == NA:
        return "not measured in both runs"
    if gate.verdict == UNDECIDED:
        return f"undecided: {gate.test.undecided_reason if isinstance(gate.test, LatencyTest) else gate.test.reason}"
    if gate.verdict == OK:
        return f"{word} within {limit}" + (f" ({tested})" if tested else "")
    if gate.verdict == PENDING:
        return f"{word} beyond {limit}; {tested}"
    if gate.verdict == NOISE:
        return f"{word} beyond {limit}; {tested}: within noise at family-wise α"
    if gate.verdict == REGRESSION:
        if tested:
            return f"{word} beyond {limit}; {tested}: not noise at family-wise α"
        return f"{word} beyond {limit}; threshold only (no test)"
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


def _log_medians(runs: list[dict], names: list[str]) -> np.ndarray:
    """(processes, points): each process's log median latency at each point."""
    return np.asarray([[math.log(float(np.nanmedian(r[name]))) for r in runs] for name in names], np.float64)


def sweep_gate(points: list[tuple[dict, dict]], thresholds: Thresholds, paired: bool = False) -> Gate | None:
    """The sweep-level gate: the geometric mean of the points' latency ratios, tested on one figure per
    run (the mean over points of the run's log medians), so a process's offset, shared by all its
    points, counts once (paired runs: one difference per pair of processes). Only the runs that
    measured every compared point take part; None with fewer than two points (the point's own gate
    is then the sweep's)."""
    if len(points) < 2:
        return None
    threshold = thresholds.max_sweep_latency_rise
    label = f"sweep ({len(points)} points, geometric mean)"
    if threshold is None:
        return Gate(SWEEP, label, None, None, None, True, None, "off", "gate off")
    sides = [[pair[side].get("runs") or {} for pair in points] for side in (0, 1)]
    common = [sorted(set(runs[0]).intersection(*runs[1:])) for runs in sides]
    if paired:
        names = sorted(set(common[0]) & set(common[1]))
        common = [names, names]
    figures = [_log_medians(runs, names) for runs, names in zip(sides, common)]
    if figures[0].size == 0 or figures[1].size == 0:
        return Gate(SWEEP, label, None, None, None, True, threshold, NA,
                    "no run measured every compared point on both sides")
    base, cand = figures[0].mean(axis=1), figures[1].mean(axis=1)
    margin = math.log1p(threshold)
    test = paired_shift(cand - base, margin) if paired else welch_shift(base, cand, margin)
    calls = [int(sum(np.isfinite(r[name]).sum() for r in runs for name in names))
             for runs, names in zip(sides, common)]
    latency = as_ratio(test, base.size, cand.size, *calls)
    change = latency.ratio - 1.0
    outcome = verdict(change, threshold, None, latency.decided)
    outcome = PENDING if outcome == REGRESSION else outcome
    gate = Gate(SWEEP, label, float(np.exp(base.mean())), float(np.exp(cand.mean())), change, True,
                threshold, outcome, "", latency)
    return replace(gate, reason=_reason("max_sweep_latency_rise", LOWER, gate, thresholds))


def decide_family(gates: list[Gate], alpha: float, thresholds: Thresholds) -> tuple[list[Gate], int]:
    """Every tested gate's final verdict under Holm's procedure over all of them; the family's size."""
    family = [i for i, g in enumerate(gates) if g.tested]
    p_values = [gates[i].p_value for i in family]
    rejected, adjusted = holm(p_values, alpha), holm_adjusted(p_values)
    decided = list(gates)
    for i, reject, p in zip(family, rejected, adjusted):
        g = replace(gates[i], adjusted_p=p)
        if g.verdict == PENDING:
            g = replace(g, verdict=REGRESSION if reject else NOISE)
        name = next((m.threshold for m in METRICS if m.column == g.metric), "max_sweep_latency_rise")
        better = next((m.better for m in METRICS if m.column == g.metric), LOWER)
        decided[i] = replace(g, reason=_reason(name, better, g, thresholds))
    return decided, len(family)


def compare_points(match: Match, key: tuple[KeyColumn, ...], thresholds: Thresholds, baseline: str,
                   candidate: str, warnings: tuple[str, ...] = (), require_decided: bool = False,
                   alpha: float = ALPHA, paired: bool = False) -> Comparison:
    """Every matched point's gates and the sweep-level gate, decided as one family at `alpha`.
    `paired`: the sides' processes took turns side by side (bench.jobs.compare.runs.took_turns_side_by_side)."""
    point_gates, compared = [], []
    for base, cand in match.pairs:
        gates = [status_gate(base, cand)]
        if base.get("status") == "ok" and cand.get("status") == "ok":
            gates += [metric_gate(m, base, cand, thresholds, paired) for m in METRICS]
            if base.get("runs") and cand.get("runs"):
                compared.append((base, cand))
        point_gates.append(gates)
    sweep = sweep_gate(compared, thresholds, paired)
    flat = [g for gates in point_gates for g in gates] + ([sweep] if sweep is not None else [])
    decided, tests = decide_family(flat, alpha, thresholds)
    points, position = [], 0
    for (base, cand), gates in zip(match.pairs, point_gates):
        points.append(PointComparison(settings_of(base, key), base["point_id"], cand["point_id"],
                                      tuple(decided[position:position + len(gates)])))
        position += len(gates)
    runs = tuple(max((len(pair[side].get("runs") or {}) for pair in match.pairs), default=0) for side in (0, 1))
    return Comparison(baseline, candidate, tuple(c.name for c in key), thresholds, tuple(points),
                      tuple(r["point_id"] for r in match.only_baseline),
                      tuple(r["point_id"] for r in match.only_candidate), tuple(warnings), require_decided, alpha,
                      decided[-1] if sweep is not None else None, tests, runs, paired)


FAMILY_METHOD = METHOD
