"""Latency statistics: pure functions of a list of per-batch latencies.

A percentile is only reported as supported when the sample holds enough
observations beyond it to mean something: p90 needs at least 10, p99 at
least 100 (below that the "p99" is just the maximum); a table shows an
unsupported one as undecided, `percentile_cell`. The median's
uncertainty is a percentile bootstrap interval with a fixed seed, so the same
latencies always give the same interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def min_samples_for(percentile: float) -> int:
    """Fewest observations for which the `percentile`-th is not simply the maximum."""
    return math.ceil(100.0 / (100.0 - percentile) - 1e-9)


def unsupported_reason(percentile: float, count: int, unit: str = "calls") -> str | None:
    """None when `count` observations support the percentile; else what a table shows instead of
    its value: 'n/a (12 calls < 100)'."""
    needed = min_samples_for(percentile)
    return None if count >= needed else f"n/a ({count} {unit} < {needed})"


def percentile_cell(value: float | None, percentile: float, count: int | None, unit: str = "calls",
                    fmt: str = ".4g") -> str | None:
    """A percentile as a table shows it: the value, or 'n/a (...)' when `count` cannot support it;
    None (an empty cell) without a value; the value when the count is unknown."""
    if value is None or value != value:  # None or NaN
        return None
    reason = None if count is None or count != count else unsupported_reason(percentile, int(count), unit)
    return reason or format(value, fmt)


UNSUPPORTED_NOTE = ("n/a (k < m): too few observations for that percentile, which needs m of them to be more than "
                    "the largest (p90: 10, p99: 100); the CSV keeps the value, with a *_supported column.")


def bootstrap_median_ci(values, confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median; (nan, nan) for fewer than 2 values."""
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    medians = np.median(values[rng.integers(0, values.size, (resamples, values.size))], axis=1)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(medians, [tail, 100.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class LatencyStats:
    count: int
    min: float
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    p50_ci_low: float
    p50_ci_high: float
    p90_supported: bool
    p99_supported: bool

    @classmethod
    def of(cls, latencies, confidence: float = 0.95) -> "LatencyStats":
        values = np.asarray(latencies, np.float64)
        if values.size == 0:
            raise ValueError("no latencies to summarise")
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        low, high = bootstrap_median_ci(values, confidence)
        return cls(
            count=int(values.size), min=float(values.min()), p50=float(p50), p90=float(p90), p99=float(p99),
            mean=float(values.mean()), std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
            p50_ci_low=low, p50_ci_high=high,
            p90_supported=values.size >= min_samples_for(90), p99_supported=values.size >= min_samples_for(99),
        )
