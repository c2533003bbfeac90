"""Reading one side of a comparison: a run folder, or a folder of run folders
(several runs of the same sweep, pooled). Compare reads the columns it needs
and no more, so a run written by another schema version compares as long as
it has them (quality columns may be absent: the run was never evaluated).
PNG images are not needed; each point's per-call latencies
(`images/<point-id>/latencies.npy`) are, for the latency gates: a row gets
them as `runs`, {process: its timed calls}, one entry per process that
measured the point (a `sweep --repeat R` run stores R rows in that file; a
1-D file is one process). Without the file the row's `runs` is empty and
the latency gates read undecided."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.base.errors import BenchError, first_line
from bench.results.points_schema import implied_compile_concurrency
from bench.results.files import read_table
from bench.results.store import POINTS_FILE, read_run_file

from .gates import required_columns
from .match import key_columns, point_key, required_key_columns

LATENCIES_FILE = "latencies.npy"  # written by the sweep (bench/jobs/sweep/shares.py)


@dataclass(frozen=True)
class Run:
    path: Path
    run: dict  # run.json
    rows: tuple[dict, ...]
    columns: frozenset[str]
    pooled: bool = False  # a folder of runs: its processes come from several runs

    @property
    def name(self) -> str:
        return self.path.name


def load_run(path: Path, side: str) -> Run:
    """A run with its rows; a one-line error when it is not one, has no results or lacks columns."""
    points_file = path / POINTS_FILE
    try:
        run = read_run_file(path)
    except BenchError as e:
        raise BenchError(f"{side} {e}") from None
    if not points_file.is_file():
        raise BenchError(f"{side} {path} has no results (no {POINTS_FILE}): no point of its sweep finished")
    try:
        table = read_table(points_file)
    except BenchError as e:
        raise BenchError(f"{side} {e}") from None
    if table.num_rows == 0:
        raise BenchError(f"{side} {path} has no results ({POINTS_FILE} has no rows)")
    missing = [c for c in (*required_columns(), *required_key_columns()) if c not in table.column_names]
    if missing:
        raise BenchError(f"{side} {points_file} lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                         f"not a dalle-bench result file, or from another version")
    rows = tuple({**row, "runs": _runs(path, row, side)} for row in table.to_pylist())
    for row in rows:
        _check_measured(row, points_file, side)
    if "compile_concurrency" not in table.column_names:  # written before schema 6
        rows = tuple({**row, "compile_concurrency": implied_compile_concurrency(row)} for row in rows)
    return Run(path, run, rows, frozenset(table.column_names))


def load_side(path: Path, side: str) -> Run:
    """A run, or the runs in a folder of runs pooled as one: a row for every setting any of them
    measured (as the first run by name that has it wrote it), its `runs` gathering every run's
    processes for those settings; a point that failed in one run has that run's status."""
    if (path / "run.json").exists() or not path.is_dir():
        return load_run(path, side)
    folders = sorted(child for child in path.iterdir() if (child / "run.json").is_file())
    if not folders:
        return load_run(path, side)  # its own error: not a run
    runs = [load_run(folder, side) for folder in folders]
    from .runs import check_same_models

    first = runs[0]
    for other in runs[1:]:
        try:
            check_same_models(first.run, other.run)
        except BenchError as e:
            raise BenchError(f"{side} {path}: {other.name} and {first.name}: {e}") from None
    key = key_columns(first.columns, first.columns)
    pooled: dict[tuple, dict] = {}
    for run in runs:
        for row in run.rows:
            target = pooled.setdefault(point_key(row, key), {**row, "runs": {}})
            if row.get("status") != "ok" and target.get("status") == "ok":
                target.update(status=row.get("status"), error=f"{run.name}: {row.get('error')}")
            target["runs"].update({f"{run.name}/{name}": calls for name, calls in row["runs"].items()})
    return Run(path, first.run, tuple(pooled.values()), first.columns, pooled=True)


# The measured figures of a finished point: an infinite or missing one is not a measurement, and a
# regression gate must never pass on it (issue 29: a candidate whose latencies were all inf passed).
MEASURED_COLUMNS = ("latency_min_s", "latency_p50_s", "latency_p90_s", "latency_p99_s", "latency_mean_s",
                    "images_per_s")
REQUIRED_MEASURED = ("latency_p50_s", "images_per_s")  # every finished point has these


def _check_measured(row: dict, points_file: Path, side: str) -> None:
    if row.get("status") != "ok":
        return
    for column in MEASURED_COLUMNS:
        value = row.get(column)
        if column not in row or (value is None or np.isnan(value)) and column not in REQUIRED_MEASURED:
            continue  # not recorded (an older schema, or a figure too few calls cannot give)
        if value is None or not np.isfinite(value) or value <= 0:
            raise BenchError(f"{side} {points_file}: point {row.get('point_id')} has {column} = {value}, not a "
                             "measured figure (finite, > 0): refusing to compare")


def _runs(run_dir: Path, row: dict, side: str) -> dict[str, np.ndarray]:
    """{process: its timed calls} of a point; empty when not measured or not recorded."""
    folder = row.get("images_dir")
    if not folder or row.get("status") != "ok":
        return {}
    path = run_dir / folder / LATENCIES_FILE
    if not path.is_file():
        return {}
    try:
        values = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several error types for one cause: an unreadable file
        raise BenchError(f"{side} {path} is corrupt: {first_line(e)}") from None
    finite = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values
    if np.issubdtype(values.dtype, np.floating) and np.isinf(values).any():
        raise BenchError(f"{side} {path} holds {int(np.isinf(values).sum())} infinite latencies of "
                         f"{values.size}: not a list of latencies in seconds, refusing to compare")
    if values.ndim not in (1, 2) or not np.issubdtype(values.dtype, np.floating) or finite.size == 0 \
            or not np.all(finite > 0):
        raise BenchError(f"{side} {path} is not a list of latencies in seconds (shape {values.shape}, {values.dtype})")
    if values.ndim == 1:
        return {"": values.astype(np.float64)}
    # One row per repeat (sweep --repeat), NaN-padded on the right.
    return {f"r{k + 1}": calls.astype(np.float64) for k, calls in enumerate(values) if np.isfinite(calls).any()}
