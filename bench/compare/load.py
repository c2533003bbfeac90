"""Reading a run folder for a comparison: `run.json` and `points.parquet`.
Compare reads the columns it needs and no more, so a run written by another
schema version compares as long as it has them (quality columns may be
absent: the run was never evaluated). PNG images are not needed; each
point's per-call latencies (`images/<point-id>/latencies.npy`) are, for the
throughput and latency gates: a row gets them as `latencies` (None when the
file is absent, and those gates read undecided)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..errors import BenchError, first_line
from ..sweep.schema import implied_compile_concurrency
from ..sweep.store import POINTS_FILE, read_run_file
from .gates import required_columns
from .match import required_key_columns

LATENCIES_FILE = "latencies.npy"  # written by the sweep (bench/sweep/shares.py)


@dataclass(frozen=True)
class Run:
    path: Path
    run: dict  # run.json
    rows: tuple[dict, ...]
    columns: frozenset[str]

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
        table = pq.read_table(points_file)
    except Exception as e:  # pyarrow raises several error types for one cause: an unreadable file
        raise BenchError(f"{side} {points_file} is corrupt: {first_line(e)}") from None
    if table.num_rows == 0:
        raise BenchError(f"{side} {path} has no results ({POINTS_FILE} has no rows)")
    missing = [c for c in (*required_columns(), *required_key_columns()) if c not in table.column_names]
    if missing:
        raise BenchError(f"{side} {points_file} lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                         f"not a dalle-bench result file, or from another version")
    rows = tuple({**row, "latencies": _latencies(path, row, side)} for row in table.to_pylist())
    if "compile_concurrency" not in table.column_names:  # written before schema 6
        rows = tuple({**row, "compile_concurrency": implied_compile_concurrency(row)} for row in rows)
    return Run(path, run, rows, frozenset(table.column_names))


def _latencies(run_dir: Path, row: dict, side: str) -> np.ndarray | None:
    folder = row.get("images_dir")
    if not folder or row.get("status") != "ok":
        return None
    path = run_dir / folder / LATENCIES_FILE
    if not path.is_file():
        return None
    try:
        values = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises several error types for one cause: an unreadable file
        raise BenchError(f"{side} {path} is corrupt: {first_line(e)}") from None
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.floating) or not np.all(values > 0):
        raise BenchError(f"{side} {path} is not a list of latencies in seconds (shape {values.shape}, {values.dtype})")
    return values.astype(np.float64)
