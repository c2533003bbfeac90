"""The noise rule: when a change counts as a regression. Pure.

A gate compares how much worse the candidate is (`worsening`, in the
threshold's unit: a fraction of the baseline for relative gates, the
metric's own points for absolute ones; negative when it is better) with its
threshold:

1. gate off (threshold None): `off`;
2. a value missing on either side: `n/a`;
3. the metric is decided by a test that cannot reach its significance level
   with the calls measured (too few, or no per-call latencies): `undecided`,
   whatever the change (counted apart; `--require-decided` fails on it);
4. worsening <= threshold: `ok`;
5. worsening > threshold and the test says the difference may be noise:
   `noise`, not a regression;
6. otherwise (the test says it is not noise, or the metric has no test: FID,
   compile time, memory, the in-pipeline CLIP score): `regression`.

Throughput and median latency are decided from every timed call of both
points (`images/<point-id>/latencies.npy`) with the Mann–Whitney U test,
two-sided, at `ALPHA`, as Google Benchmark's `compare.py` does: the change is
noise when p >= ALPHA. Beside it the 95 % percentile-bootstrap interval of
the ratio of medians (candidate / baseline, both sides resampled, fixed
seed) says how large the change is.

Two runs that took turns call by call (`sweep --interleave`) are paired:
call i of the candidate ran right after call i of the baseline, under the
same load. On a shared runner the load drifts by tens of percent within a
run, which widens both samples until an unpaired test cannot see a 30 %
slowdown; the per-turn ratio cancels the drift. Paired points are decided
by the Wilcoxon signed-rank test (two-sided) on the log of the per-turn
ratios, and the change is the median per-turn ratio, with a bootstrap
interval over turns. The evaluated CLIP score, whose
per-image values are not kept by `eval`, uses its 95 % Student-t interval:
the change is noise when the intervals overlap (touching counts)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import mannwhitneyu, wilcoxon

OK, NOISE, REGRESSION, OFF, NA, INFO = "ok", "noise", "regression", "off", "n/a", "info"
UNDECIDED = "undecided"
HIGHER, LOWER = "higher", "lower"

ALPHA = 0.05  # significance level of the latency test
TEST = "Mann–Whitney U test (two-sided)"
PAIRED_TEST = "Wilcoxon signed-rank test (two-sided) on the per-turn ratios"
RATIO_CONFIDENCE = 0.95
RATIO_RESAMPLES = 2000
RATIO_SEED = 0


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def apart(base_low, base_high, cand_low, cand_high, worse: str) -> bool | None:
    """Whether the candidate's interval lies entirely on the worse side of the
    baseline's (`worse`: 'higher' or 'lower' values are worse); None when a
    bound is missing (fewer than two images)."""
    if any(_missing(v) for v in (base_low, base_high, cand_low, cand_high)):
        return None
    if worse == HIGHER:
        return cand_low > base_high
    if worse == LOWER:
        return cand_high < base_low
    raise ValueError(f"worse must be '{HIGHER}' or '{LOWER}', got {worse!r}")


@lru_cache(maxsize=None)
def smallest_p(baseline_calls: int, candidate_calls: int) -> float:
    """The smallest p-value the test can give with these sample sizes (every
    candidate call slower than every baseline call)."""
    if baseline_calls < 1 or candidate_calls < 1:
        return 1.0
    separated = mannwhitneyu(np.arange(baseline_calls), np.arange(candidate_calls) + baseline_calls,
                             alternative="two-sided")
    return float(separated.pvalue)


@lru_cache(maxsize=None)
def smallest_paired_p(turns: int) -> float:
    """The smallest p-value the paired test can give with this many turns (every turn slower)."""
    if turns < 1:
        return 1.0
    return float(wilcoxon(np.arange(1.0, turns + 1), alternative="two-sided").pvalue)


def decidable(baseline_calls: int, candidate_calls: int, alpha: float = ALPHA, paired: bool = False) -> bool:
    if paired:
        return smallest_paired_p(min(baseline_calls, candidate_calls)) < alpha
    return smallest_p(baseline_calls, candidate_calls) < alpha


@lru_cache(maxsize=None)
def minimum_calls(alpha: float = ALPHA, paired: bool = False) -> int:
    """Fewest calls a side (as many on both) with which the test can reach `alpha`: 4 at 0.05
    (two-sided exact p of complete separation: 2 / C(2n, n) = 0.029 for 4, 0.1 for 3); paired,
    6 turns (2 / 2^n = 0.031 for 6, 0.063 for 5)."""
    n = 1
    while not decidable(n, n, alpha, paired):
        n += 1
    return n


def _resampled_medians(values: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    return np.median(values[rng.integers(0, values.size, (resamples, values.size))], axis=1)


def _percentile_interval(estimates: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def ratio_interval(baseline, candidate, confidence: float = RATIO_CONFIDENCE, resamples: int = RATIO_RESAMPLES,
                   seed: int = RATIO_SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of median(candidate) / median(baseline), both sides
    resampled with one seeded generator: the same latencies always give the same interval."""
    base, cand = np.asarray(baseline, np.float64), np.asarray(candidate, np.float64)
    rng = np.random.default_rng(seed)
    base_medians = _resampled_medians(base, rng, resamples)
    cand_medians = _resampled_medians(cand, rng, resamples)
    return _percentile_interval(cand_medians / base_medians, confidence)


def paired_ratio_interval(baseline, candidate, confidence: float = RATIO_CONFIDENCE,
                          resamples: int = RATIO_RESAMPLES, seed: int = RATIO_SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median per-turn ratio, turns resampled."""
    ratios = np.asarray(candidate, np.float64) / np.asarray(baseline, np.float64)
    return _percentile_interval(_resampled_medians(ratios, np.random.default_rng(seed), resamples), confidence)


@dataclass(frozen=True)
class LatencyTest:
    """What the test says about two points' per-call latencies."""

    baseline_calls: int
    candidate_calls: int
    ratio: float | None  # median(candidate) / median(baseline)
    ratio_low: float | None  # its bootstrap interval
    ratio_high: float | None
    p_value: float | None  # None: undecided
    alpha: float = ALPHA
    paired: bool = False  # calls paired by turn (interleaved runs): ratio is the median per-turn ratio

    @property
    def name(self) -> str:
        return PAIRED_TEST if self.paired else TEST

    @property
    def decided(self) -> bool:
        return self.p_value is not None

    @property
    def significant(self) -> bool | None:
        """True: not noise; False: may be noise; None: undecided."""
        return None if self.p_value is None else self.p_value < self.alpha

    @property
    def undecided_reason(self) -> str:
        if self.baseline_calls == 0 or self.candidate_calls == 0:
            side = "baseline" if self.baseline_calls == 0 else "candidate"
            return f"no per-call latencies in the {side} (images/<point-id>/latencies.npy)"
        return (f"{self.baseline_calls} vs {self.candidate_calls} calls; at least "
                f"{minimum_calls(self.alpha, self.paired)} a side needed for the {self.name} to reach α = {self.alpha:g}")


def latency_test(baseline, candidate, alpha: float = ALPHA, paired: bool = False) -> LatencyTest:
    """The Mann–Whitney U test and the ratio interval of two latency samples (None: not recorded);
    `paired` (the runs took turns): the paired test when both have as many calls, else unpaired."""
    base = np.asarray([] if baseline is None else baseline, np.float64)
    cand = np.asarray([] if candidate is None else candidate, np.float64)
    n, m = base.size, cand.size
    if n == 0 or m == 0:
        return LatencyTest(n, m, None, None, None, None, alpha)
    if paired and n == m:
        return _paired_test(base, cand, alpha)
    ratio = float(np.median(cand) / np.median(base))
    low, high = ratio_interval(base, cand)
    # The documented rule is "at least minimum_calls a side": 12 vs 3 calls can reach alpha on paper,
    # but three calls say nothing about the candidate's spread.
    if min(n, m) < minimum_calls(alpha) or not decidable(n, m, alpha):
        return LatencyTest(n, m, ratio, low, high, None, alpha)
    p = float(mannwhitneyu(cand, base, alternative="two-sided").pvalue)
    return LatencyTest(n, m, ratio, low, high, p, alpha)


def verdict(worsening: float | None, threshold: float | None, not_noise: bool | None,
            decided: bool = True) -> str:
    """The rule above. `not_noise`: True when the test (or the intervals) says the difference
    is real, False when it may be noise, None when the metric has no test (threshold only).
    `decided`: False when the metric has a test that cannot decide at these sample sizes."""
    if threshold is None:
        return OFF
    if _missing(worsening):
        return NA
    if not decided:
        return UNDECIDED
    if not worsening > threshold:
        return OK
    if not_noise is False:
        return NOISE
    return REGRESSION


def _paired_test(base: np.ndarray, cand: np.ndarray, alpha: float) -> LatencyTest:
    n = base.size
    ratio = float(np.median(cand / base))
    low, high = paired_ratio_interval(base, cand)
    if n < minimum_calls(alpha, paired=True):
        return LatencyTest(n, n, ratio, low, high, None, alpha, paired=True)
    differences = np.log(cand) - np.log(base)
    # Every turn exactly equal (a copy of the same run): no difference at all, not an error.
    p = 1.0 if not np.any(differences) else float(wilcoxon(differences, alternative="two-sided").pvalue)
    return LatencyTest(n, n, ratio, low, high, p, alpha, paired=True)
