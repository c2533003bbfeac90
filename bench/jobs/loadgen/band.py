"""The accuracy band of a benchmark definition (pure: figures in, verdict out).

As MLPerf's text-to-image benchmark (SDXL: CLIP score and FID each inside a
range around its float32 reference), every metric the definition names must
land inside reference ± tolerance, both ways: a figure far better than the
reference is as much a sign of a different computation as one far worse. A
metric that could not be computed (null, with its reason) fails the band."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

EDGE = 1e-9


@dataclass(frozen=True)
class Band:
    metric: str  # the figure's row column (evals' value_column): adherence, clip_score, fid
    reference: float  # the reference run's figure
    tolerance: float  # absolute, in the metric's unit
    source: str  # where the reference figure was read (run folder and row, or the definition)

    @property
    def low(self) -> float:
        return self.reference - self.tolerance

    @property
    def high(self) -> float:
        return self.reference + self.tolerance


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    measured: float | None
    reference: float
    tolerance: float
    low: float
    high: float
    passed: bool
    source: str
    reason: str | None = None  # why the measured figure is null

    def line(self) -> str:
        figure = "null" if self.measured is None else f"{self.measured:.4g}"
        why = f" ({self.reason})" if self.reason else ""
        return (f"{self.metric} {figure}{why} {'in' if self.passed else 'outside'} [{self.low:.4g}, {self.high:.4g}] "
                f"(reference {self.reference:.4g} ± {self.tolerance:g})")


@dataclass(frozen=True)
class AccuracyVerdict:
    checks: tuple[MetricCheck, ...]
    benchmark_run: bool
    not_benchmark_reason: str | None = None  # the overrides, when not a benchmark run

    @property
    def verdict(self) -> str:
        return "PASS" if all(c.passed for c in self.checks) else "FAIL"

    def line(self) -> str:
        head = f"accuracy {self.verdict}"
        if not self.benchmark_run:
            head += f" (not a benchmark run: {self.not_benchmark_reason})"
        return f"{head}: " + "; ".join(c.line() for c in self.checks)

    def detail(self) -> dict:
        return {"verdict": self.verdict, "benchmark_run": self.benchmark_run,
                "not_benchmark_reason": self.not_benchmark_reason, "metrics": [asdict(c) for c in self.checks]}


def check_bands(measured: dict, bands: list[Band], reasons: dict[str, str] | None = None,
                benchmark_run: bool = True, not_benchmark_reason: str | None = None) -> AccuracyVerdict:
    """Each band against the measured figure of its metric (`measured`: column -> value; a missing,
    null or non-finite figure fails, with `reasons[metric]` when given)."""
    if not bands:
        raise ValueError("no accuracy band to check")
    checks = []
    for band in bands:
        value = measured.get(band.metric)
        value = None if value is None or not math.isfinite(float(value)) else float(value)
        # The edges belong to the band; 1e-9 absorbs decimal figures' rounding (0.575 + 0.1 > 0.675).
        passed = value is not None and abs(value - band.reference) <= band.tolerance + EDGE
        reason = None if value is not None else (reasons or {}).get(band.metric, "not computed")
        checks.append(MetricCheck(band.metric, value, band.reference, band.tolerance, band.low, band.high, passed,
                                  band.source, reason))
    return AccuracyVerdict(tuple(checks), benchmark_run, not_benchmark_reason)


def verdict_from_detail(detail: dict) -> AccuracyVerdict:
    """The verdict stored in a scenario row's accuracy_detail (JSON, as AccuracyVerdict.detail writes it)."""
    return AccuracyVerdict(tuple(MetricCheck(**m) for m in detail["metrics"]), bool(detail["benchmark_run"]),
                           detail.get("not_benchmark_reason"))


# --- A stored accuracy_detail, read back: one guarded parser for every reader (the report, `loadgen check`, a
# loadgen run used as a definition's reference). A damaged one is None (or no figure), never an exception.

def stored_detail(text) -> dict | None:
    """A scenario row's accuracy_detail as a JSON object; None when absent, not JSON or not an object."""
    if not isinstance(text, str):
        return None
    try:
        detail = json.loads(text)
    except ValueError:
        return None
    return detail if isinstance(detail, dict) else None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _well_formed(check: MetricCheck) -> bool:
    return (isinstance(check.metric, str) and (check.measured is None or _number(check.measured))
            and all(_number(getattr(check, name)) for name in ("reference", "tolerance", "low", "high"))
            and isinstance(check.passed, bool) and isinstance(check.source, str)
            and (check.reason is None or isinstance(check.reason, str)))


def stored_verdict(text) -> AccuracyVerdict | None:
    """The verdict a row's accuracy_detail holds; None when it is absent or not what AccuracyVerdict.detail
    writes (damaged)."""
    detail = stored_detail(text)
    if detail is None:
        return None
    try:
        verdict = verdict_from_detail(detail)
    except (KeyError, TypeError, ValueError):
        return None
    reason = verdict.not_benchmark_reason
    if not all(_well_formed(check) for check in verdict.checks) or not (reason is None or isinstance(reason, str)):
        return None
    return verdict


def stored_figures(text) -> dict[str, float]:
    """Every finite figure a row's accuracy_detail records as measured (its `measured` object and each
    metric's check), by column; {} when it is absent or damaged."""
    detail = stored_detail(text) or {}
    verdict = stored_verdict(text)
    figures = {check.metric: float(check.measured) for check in (verdict.checks if verdict else ())
               if check.measured is not None and math.isfinite(check.measured)}
    measured = detail.get("measured")
    if isinstance(measured, dict):
        figures.update({key: float(value) for key, value in measured.items()
                        if isinstance(key, str) and _number(value) and math.isfinite(value)})
    return figures
