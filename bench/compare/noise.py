"""The noise rule: when a change counts as a regression. Pure.

A gate compares how much worse the candidate is (`worsening`, in the
threshold's unit: a fraction of the baseline for relative gates, the
metric's own points for absolute ones; negative when it is better) with its
threshold:

1. gate off (threshold None): `off`;
2. a value missing on either side: `n/a`;
3. worsening <= threshold: `ok`;
4. worsening > threshold and the metric has a measured interval on both
   sides that overlap (the candidate's does not lie entirely on the worse
   side of the baseline's): `noise`, not a regression;
5. otherwise (intervals apart, or no interval: FID, compile time, memory,
   the in-pipeline CLIP score): `regression`.

Throughput and median latency use the 95 % bootstrap interval of the median
latency (throughput is global batch / median latency, and matched points
have the same global batch); the evaluated CLIP score uses its 95 %
Student-t interval. Touching intervals count as overlapping."""

from __future__ import annotations

import math

OK, NOISE, REGRESSION, OFF, NA, INFO = "ok", "noise", "regression", "off", "n/a", "info"
HIGHER, LOWER = "higher", "lower"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def apart(base_low, base_high, cand_low, cand_high, worse: str) -> bool | None:
    """Whether the candidate's interval lies entirely on the worse side of the
    baseline's (`worse`: 'higher' or 'lower' values are worse); None when a
    bound is missing (fewer than two latencies or images)."""
    if any(_missing(v) for v in (base_low, base_high, cand_low, cand_high)):
        return None
    if worse == HIGHER:
        return cand_low > base_high
    if worse == LOWER:
        return cand_high < base_low
    raise ValueError(f"worse must be '{HIGHER}' or '{LOWER}', got {worse!r}")


def verdict(worsening: float | None, threshold: float | None, intervals_apart: bool | None) -> str:
    """The rule above. `intervals_apart`: `apart(...)`, or None when the metric has no interval."""
    if threshold is None:
        return OFF
    if _missing(worsening):
        return NA
    if not worsening > threshold:
        return OK
    if intervals_apart is False:
        return NOISE
    return REGRESSION
