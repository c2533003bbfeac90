"""The noise rule: when a change counts as a regression. Pure.

A gate compares how much worse the candidate is (`worsening`, in the
threshold's unit: a fraction of the baseline for relative gates, the
metric's own points for absolute ones; negative when it is better) with its
threshold:

1. gate off (threshold None): `off`;
2. a value missing on either side: `n/a`;
3. the metric has a test that cannot decide with what was measured (one run
   a side for latency, fewer than two images for the CLIP score): `undecided`,
   whatever the change (counted apart; `--require-decided` fails on it);
4. worsening <= threshold: `ok`;
5. worsening > threshold, and the test cannot reject "worse by at most the
   threshold" (after the family-wise correction, `family.py`): `noise`;
6. otherwise (rejected, or the metric has no test: FID, compile time,
   memory, the in-pipeline CLIP score): `regression`.

Every test here is one-sided and tests the threshold itself: the null
hypothesis is "the candidate is worse by at most the threshold", so at a true
change exactly at the threshold a gate fails with probability α, and an
unchanged candidate far less often. (Testing "no change" and then comparing
the estimate with the threshold, as before, fails about half the candidates
that sit at the threshold.)

**Latency: runs are the unit.** A process carries its own speed offset
(memory placement, thread scheduling, what the host did that minute), so the
calls of one run are correlated and say little about the next run. Each
run's figure is the median of its timed calls; a point's change is the ratio
of the geometric means of the two sides' run medians, and the test is
Welch's t-test on the log run medians (one-sided, shifted by the
threshold). With so few runs (3-10 a side) a bootstrap over runs
underestimates the spread (it sees R runs' variance as (R-1)/R of itself and
has few distinct resamples), while the t-test's level holds for
log-normal-ish run offsets. One run a side carries no run-to-run spread:
`undecided`, unless the baseline has `MIN_CALIBRATION_RUNS` or more runs;
then a single candidate run is judged against the baseline's run-level
distribution (a prediction interval: Student's t with the baseline's spread
and R - 1 degrees of freedom).

**Runs that took turns side by side are paired.** Two `sweep --repeat R
--interleave FILE` runs form one ring ordered by repeat number, so repeat k
of the baseline and repeat k of the candidate measure every point back to
back, under the same load (bench/jobs/sweep/interleave.py). On a shared machine the load
drifts by tens of percent within minutes and moves neighbouring turns
together; the difference of a pair's log medians cancels it. Such runs are
decided by the paired t-test on those differences (one-sided against the
threshold, R - 1 degrees of freedom): still one observation per pair of
processes, never per call."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

OK, NOISE, REGRESSION, OFF, NA, INFO = "ok", "noise", "regression", "off", "n/a", "info"
UNDECIDED = "undecided"
HIGHER, LOWER = "higher", "lower"

ALPHA = 0.05  # family-wise significance level of one compare call
CONFIDENCE = 0.95  # of the intervals shown beside a change
MIN_CALIBRATION_RUNS = 5  # baseline runs that can judge a single candidate run

WELCH = "Welch's t-test on the log run medians (one-sided, against the threshold)"
PREDICTION = ("prediction test: the single candidate run against the baseline's run-to-run spread "
              "(Student's t, one-sided, against the threshold)")
PAIRED = ("paired t-test on the log run medians of the processes that took turns side by side "
          "(one-sided, against the threshold)")
CLIP_WELCH = "Welch's t-test on the mean CLIP scores (one-sided, against the threshold)"
NEWCOMB = "Newcomb's hybrid score interval for a difference of proportions (one-sided, against the threshold)"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class ShiftTest:
    """A one-sided test of H0 "the candidate is worse by at most `margin`" on some scale
    (log latency, CLIP points, a share of images). `estimate`, `low` and `high` are the
    worsening and its two-sided `CONFIDENCE` interval on that scale; `p_value` None: undecided."""

    name: str
    estimate: float | None
    low: float | None
    high: float | None
    p_value: float | None
    reason: str = ""  # why undecided

    @property
    def decided(self) -> bool:
        return self.p_value is not None


def _undecided(name: str, estimate: float | None, reason: str) -> ShiftTest:
    return ShiftTest(name, estimate, None, None, None, reason)


def _t_test(estimate: float, se: float, df: float, margin: float, name: str) -> ShiftTest:
    if se == 0.0 or not math.isfinite(se):
        # Identical figures on each side (copies of one run): no spread to weigh the change against.
        p = 0.0 if estimate > margin else 1.0
        return ShiftTest(name, estimate, estimate, estimate, p)
    half = float(student_t.ppf(1.0 - (1.0 - CONFIDENCE) / 2.0, df)) * se
    p = float(student_t.sf((estimate - margin) / se, df))
    return ShiftTest(name, estimate, estimate - half, estimate + half, p)


def _welch(estimate: float, base_var: float, nb: int, cand_var: float, nc: int, margin: float,
           name: str) -> ShiftTest:
    """Welch's t-test of a difference of means from each side's sample variance and size
    (Welch–Satterthwaite degrees of freedom)."""
    vb, vc = base_var / nb, cand_var / nc
    denominator = vb ** 2 / (nb - 1) + vc ** 2 / (nc - 1)
    df = (vb + vc) ** 2 / denominator if denominator > 0 else nb + nc - 2
    return _t_test(estimate, math.sqrt(vb + vc), df, margin, name)


def welch_shift(base: np.ndarray, cand: np.ndarray, margin: float, name: str = WELCH) -> ShiftTest:
    """Welch's one-sided t-test of mean(cand) - mean(base) <= margin (both sides >= 2 values);
    with one candidate value and >= MIN_CALIBRATION_RUNS baseline values, the prediction test."""
    base, cand = np.asarray(base, np.float64), np.asarray(cand, np.float64)
    nb, nc = base.size, cand.size
    if nb == 0 or nc == 0:
        return _undecided(name, None, f"nothing measured in the {'baseline' if nb == 0 else 'candidate'}")
    estimate = float(cand.mean() - base.mean())
    if nb >= 2 and nc >= 2:
        return _welch(estimate, base.var(ddof=1), nb, cand.var(ddof=1), nc, margin, name)
    if nc == 1 and nb >= MIN_CALIBRATION_RUNS and name == WELCH:
        se = float(base.std(ddof=1)) * math.sqrt(1.0 + 1.0 / nb)
        return _t_test(estimate, se, nb - 1, margin, PREDICTION)
    return _undecided(name, estimate, f"run-to-run variance unknown: {nb} run{'s' if nb != 1 else ''} in the "
                                      f"baseline, {nc} in the candidate; {DECIDE_HINT}")


DECIDE_HINT = (f"what would decide it: at least 2 runs a side (sweep --repeat 2 or more; 10 to see a 10 % change), or a "
               f"baseline of {MIN_CALIBRATION_RUNS} or more runs for a single candidate run")


def paired_shift(differences: np.ndarray, margin: float) -> ShiftTest:
    """The one-sided paired t-test of mean(differences) <= margin (at least 2 pairs)."""
    differences = np.asarray(differences, np.float64)
    n = differences.size
    if n < 2:
        return _undecided(PAIRED, float(differences.mean()) if n else None,
                          f"{n} pair{'s' if n != 1 else ''} of runs; {DECIDE_HINT}")
    return _t_test(float(differences.mean()), float(differences.std(ddof=1)) / math.sqrt(n), n - 1, margin, PAIRED)


def run_medians(runs: Sequence[np.ndarray]) -> np.ndarray:
    """Each run's figure: the median of its timed calls (NaN padding ignored)."""
    return np.asarray([float(np.nanmedian(r)) for r in runs if np.isfinite(r).any()], np.float64)


@dataclass(frozen=True)
class LatencyTest:
    """What the run-level test says about a point's latency: the ratio of the geometric means of
    the run medians (candidate / baseline), its interval, and the one-sided p-value."""

    baseline_runs: int
    candidate_runs: int
    baseline_calls: int
    candidate_calls: int
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None  # None: undecided
    name: str = WELCH
    undecided_reason: str = ""

    @property
    def decided(self) -> bool:
        return self.p_value is not None


def as_ratio(test: ShiftTest, baseline_runs: int, candidate_runs: int, baseline_calls: int,
             candidate_calls: int) -> LatencyTest:
    """A test on the log latencies as a ratio of latencies (candidate / baseline) with its interval."""
    def ratio(value):
        return None if value is None else math.exp(value)

    return LatencyTest(baseline_runs, candidate_runs, baseline_calls, candidate_calls, ratio(test.estimate),
                       ratio(test.low), ratio(test.high), test.p_value, test.name, test.reason)


def latency_test(baseline_runs: Sequence[np.ndarray], candidate_runs: Sequence[np.ndarray],
                 max_rise: float) -> LatencyTest:
    """The latency test of one point, against a rise of `max_rise` (a fraction)."""
    base, cand = run_medians(baseline_runs), run_medians(candidate_runs)
    calls = [int(sum(np.isfinite(r).sum() for r in runs)) for runs in (baseline_runs, candidate_runs)]
    if base.size == 0 or cand.size == 0:
        side = "baseline" if base.size == 0 else "candidate"
        return LatencyTest(base.size, cand.size, *calls, None, None, None, None,
                           undecided_reason=f"no per-call latencies in the {side} (images/<point-id>/latencies.npy)")
    return as_ratio(welch_shift(np.log(base), np.log(cand), math.log1p(max_rise)), base.size, cand.size, *calls)


def paired_latency_test(baseline_runs: dict, candidate_runs: dict, max_rise: float) -> LatencyTest:
    """The latency test of one point whose runs took turns side by side: process k of the
    baseline paired with process k of the candidate (the runs' common process names)."""
    names = [name for name in baseline_runs if name in candidate_runs]
    base = run_medians([baseline_runs[name] for name in names])
    cand = run_medians([candidate_runs[name] for name in names])
    calls = [int(sum(np.isfinite(r).sum() for r in runs.values())) for runs in (baseline_runs, candidate_runs)]
    if base.size != len(names) or cand.size != len(names) or not names:
        return latency_test(list(baseline_runs.values()), list(candidate_runs.values()), max_rise)
    test = paired_shift(np.log(cand) - np.log(base), math.log1p(max_rise))
    return as_ratio(test, len(names), len(names), *calls)


def clip_score_test(base_mean, base_std, base_n, cand_mean, cand_std, cand_n, max_drop: float) -> ShiftTest:
    """Welch's one-sided t-test of a drop of the mean CLIP score by more than `max_drop` points,
    from each side's mean, sample standard deviation and image count."""
    values = (base_mean, base_std, base_n, cand_mean, cand_std, cand_n)
    if any(_missing(v) for v in values):
        return _undecided(CLIP_WELCH, None if _missing(base_mean) or _missing(cand_mean) else base_mean - cand_mean,
                          "no per-image spread recorded (clip_score_std, images): run `dalle-bench eval` again")
    if min(base_n, cand_n) < 2:
        return _undecided(CLIP_WELCH, base_mean - cand_mean, "fewer than 2 images on a side")
    return _welch(float(base_mean - cand_mean), base_std ** 2, base_n, cand_std ** 2, cand_n, max_drop, CLIP_WELCH)


def wilson(passed: int, total: int, z: float) -> tuple[float, float]:
    """Wilson score interval of passed / total at normal quantile z."""
    share = passed / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcomb_drop_interval(base_passed: int, base_total: int, cand_passed: int, cand_total: int,
                          z: float) -> tuple[float, float]:
    """Newcomb's hybrid score interval (his method 10) of base share - candidate share."""
    p1, p2 = base_passed / base_total, cand_passed / cand_total
    l1, u1 = wilson(base_passed, base_total, z)
    l2, u2 = wilson(cand_passed, cand_total, z)
    drop = p1 - p2
    return drop - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), drop + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def exceeds(drop: Fraction, threshold: float) -> bool:
    """drop > threshold, exactly: a threshold typed as 0.05 means 1/20, not 0.05000000000000000277."""
    return drop > Fraction(threshold).limit_denominator(10 ** 9)


def adherence_test(base_passed: int, base_total: int, cand_passed: int, cand_total: int,
                   max_drop: float) -> ShiftTest:
    """One-sided test of an adherence drop by more than `max_drop` from pass counts: the p-value is
    the smallest level at which Newcomb's interval's lower end lies above the threshold."""
    if min(base_total, cand_total) < 1:
        return _undecided(NEWCOMB, None, "no images checked on a side")
    drop = Fraction(base_passed, base_total) - Fraction(cand_passed, cand_total)
    two_sided = norm.ppf(1.0 - (1.0 - CONFIDENCE) / 2.0)
    low, high = newcomb_drop_interval(base_passed, base_total, cand_passed, cand_total, two_sided)
    if not exceeds(drop, max_drop):
        return ShiftTest(NEWCOMB, float(drop), low, high, 1.0)

    def lower_end(level: float) -> float:
        return newcomb_drop_interval(base_passed, base_total, cand_passed, cand_total, norm.isf(level))[0]

    # The lower end rises with the level; bisect on log10(level) for where it crosses the threshold.
    lo, hi = -15.0, math.log10(0.5)
    if lower_end(10 ** lo) > max_drop:
        return ShiftTest(NEWCOMB, float(drop), low, high, 10 ** lo)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if lower_end(10 ** mid) > max_drop else (mid, hi)
    return ShiftTest(NEWCOMB, float(drop), low, high, 10 ** hi)


def verdict(worsening: float | None, threshold: float | None, rejected: bool | None,
            decided: bool = True) -> str:
    """The rule above. `rejected`: True when the test rejects "worse by at most the threshold"
    (after the family-wise correction), False when it does not, None when the metric has no test
    (threshold only). `decided`: False when the metric's test cannot decide with what was measured."""
    if threshold is None:
        return OFF
    if _missing(worsening):
        return NA
    if not decided:
        return UNDECIDED
    if not worsening > threshold:
        return OK
    if rejected is False:
        return NOISE
    return REGRESSION
