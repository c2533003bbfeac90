"""Every quality metric, by name, and the result-row columns they fill. Adding
one: a module under evals/metrics/ defining its `Metric` and documenting its
columns, and one line here; its columns join the sweep's schema after the
others'."""

from __future__ import annotations

from bench.base.column import Column
from bench.base.errors import BenchError, did_you_mean
from evals.metric import NOTES, Metric
from evals.metrics import adherence, clip, cmmd, dinov2, inception, rerank

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

# points.parquet's quality columns are in the order schema 8 wrote them, which is older than the registry's
# order: these metrics' columns, then the driver's notes, then these; a column shared by metrics (the
# extractor, the reference, the image counts) where it first appears. A metric added later appends its columns.
_BEFORE_NOTES = ("clip", "adherence", "fid", "kid", "isc", "prc")
_AFTER_NOTES = ("rerank", "cmmd", "fd_dinov2", "prdc")


def quality_columns() -> tuple[Column, ...]:
    """The columns of points.parquet that the metrics and their driver fill, in schema order."""
    later = tuple(name for name in METRICS if name not in _BEFORE_NOTES + _AFTER_NOTES)
    ordered = [*_filled_by(_BEFORE_NOTES), NOTES, *_filled_by(_AFTER_NOTES + later)]
    columns: dict[str, Column] = {}
    for column in ordered:
        if columns.setdefault(column.name, column) != column:
            raise ValueError(f"metrics define column {column.name} twice, differently")
    return tuple(columns.values())


def _filled_by(names: tuple[str, ...]) -> list[Column]:
    return [column for name in names for column in METRICS[name].fills]


def quality_column(name: str) -> Column:
    """One metric column, for a table that reports the same figure (a LoadGen test's accuracy)."""
    return {column.name: column for column in quality_columns()}[name]


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


def run_torch(names: tuple[str, ...] | list[str]) -> bool:
    """Whether computing the metrics named (none: False) runs a PyTorch network: a command that runs
    none starts without torch (bench/base/torch_free.py). Names that do not resolve answer True: the
    command's own checks, in their order, say what is wrong with them."""
    if not names:
        return False
    from evals.features import needs_torch  # the feature networks' modules: only when asked

    try:
        return needs_torch(resolve(names))
    except BenchError:
        return True


def reference_metrics() -> list[Metric]:
    return [m for m in METRICS.values() if m.needs_reference]


def reference_only_columns() -> set[str]:
    """Columns that only reference metrics fill: cleared when the reference changes."""
    others = {c for m in METRICS.values() if not m.needs_reference for c in m.columns}
    return {c for m in reference_metrics() for c in m.columns} - others - {"fid_reference"}
