"""Every quality metric, by name. Adding one: a module under evals/metrics/
defining its `Metric`, one line here, its columns in bench/sweep/schema.py."""

from __future__ import annotations

from bench.errors import BenchError, did_you_mean

from .metric import Metric
from .metrics import adherence, clip, cmmd, dinov2, inception, rerank

METRICS: dict[str, Metric] = {m.name: m for m in (
    clip.METRIC,
    rerank.METRIC,
    adherence.METRIC,
    inception.FID,
    inception.KID,
    inception.ISC,
    inception.PRC,
    cmmd.METRIC,
    dinov2.FD_DINOV2,
    dinov2.PRDC,
)}


def resolve(names: tuple[str, ...] | list[str]) -> list[Metric]:
    """The metrics asked for, in registry order; unknown names and missing companions are errors."""
    names = list(dict.fromkeys(names))
    if not names:
        raise BenchError(f"--metrics: no metric given (known: {', '.join(METRICS)})")
    for name in names:
        if name not in METRICS:
            raise BenchError(f"--metrics: unknown metric(s) {name}{did_you_mean(name, METRICS)} "
                             f"(known: {', '.join(METRICS)})")
    for name in names:
        missing = [r for r in METRICS[name].requires if r not in names]
        if missing:
            raise BenchError(f"--metrics {name} needs {', '.join(missing)} too (it reuses its per-image scores)")
    return [m for m in METRICS.values() if m.name in names]


def reference_metrics() -> list[Metric]:
    return [m for m in METRICS.values() if m.needs_reference]


def reference_only_columns() -> set[str]:
    """Columns that only reference metrics fill: cleared when the reference changes."""
    others = {c for m in METRICS.values() if not m.needs_reference for c in m.columns}
    return {c for m in reference_metrics() for c in m.columns} - others - {"fid_reference"}
