"""The results store of one run: `run.json` (command line, definition,
environment), `points.parquet` (one row per finished point, rewritten
atomically after each), and `images/<point-id>/`.

Every write goes to a temporary file in the same folder and is renamed over
the old one (bench/results/files.py), so a process killed at any instant
leaves either the old file or the new one: a killed sweep loses at most the
point in flight."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from bench.base.errors import BenchError, RunWriteError, first_line
from bench.core.sampling.config import SamplingStructure

from .files import RUN_FILE, read_table, write_rows_atomic
from .outputs import write_json_atomic
from .points_schema import (
    COMPILE_COLUMNS,
    CONCURRENCY_COLUMNS,
    LATER_COLUMNS,
    MEASURED_PEAK_COLUMNS,
    MULTI_PROCESS_COLUMNS,
    NAMES,
    QUALITY_COLUMNS,
    REPEAT_COLUMNS,
    SCHEMA,
    check_row,
    implied_compile_concurrency,
)

POINTS_FILE, IMAGES_DIR = "points.parquet", "images"


@contextmanager
def writing(path: Path):
    """An OSError while writing `path` (disk full, file-size limit, no
    permission) as a one-line RunWriteError that stops the run."""
    try:
        yield
    except OSError as e:
        raise RunWriteError(f"cannot write {path}: {e.strerror or first_line(e)}") from None


class RunStore:
    def __init__(self, run_dir: Path, run: dict, rows: list[dict]):
        self.run_dir = run_dir
        self.run = run
        self._rows = rows

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @classmethod
    def create(cls, run_dir: Path, run: dict) -> "RunStore":
        with writing(run_dir / RUN_FILE):
            run_dir.mkdir(parents=True, exist_ok=False)
            write_json_atomic(run_dir / RUN_FILE, run)
        return cls(run_dir, run, [])

    @classmethod
    def open(cls, run_dir: Path) -> "RunStore":
        """An existing run; a one-line BenchError if it is not one or is damaged."""
        return cls(run_dir, read_run_file(run_dir), read_points(run_dir))

    def discard_staging(self) -> None:
        """Remove image folders a killed point left half-written (they were never published)."""
        images = self.run_dir / IMAGES_DIR
        if images.is_dir():
            for staging in images.glob(".*"):
                shutil.rmtree(staging, ignore_errors=True)

    def rows(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=list(NAMES))

    def finished_ids(self) -> set[str]:
        return {row["point_id"] for row in self._rows}

    def update_run(self, **fields) -> None:
        self.run.update(fields)
        with writing(self.run_dir / RUN_FILE):
            write_json_atomic(self.run_dir / RUN_FILE, self.run)

    def append(self, row: dict) -> None:
        """Add a finished point and rewrite points.parquet atomically (rows in point order)."""
        # Points run grouped by program; the file keeps them in definition order.
        rows = sorted([*self._rows, check_row(row)], key=lambda r: r["point_index"])
        _write_parquet_atomic(self.run_dir / POINTS_FILE, rows)
        self._rows = rows

    def replace_rows(self, rows: list[dict]) -> None:
        """Rewrite every row (same points, new values: evaluation results) atomically."""
        if [r["point_id"] for r in rows] != [r["point_id"] for r in self._rows]:
            raise ValueError("replace_rows must keep the same points in the same order")
        rows = [check_row(row) for row in rows]
        _write_parquet_atomic(self.run_dir / POINTS_FILE, rows)
        self._rows = rows

    def forget(self, status: str) -> list[str]:
        """Drop the rows of points with `status` (lost with a process, or
        skipped for the budget), so that a resumed run measures them again;
        returns their ids."""
        lost = [row["point_id"] for row in self._rows if row["status"] == status]
        if lost:
            rows = [row for row in self._rows if row["status"] != status]
            _write_parquet_atomic(self.run_dir / POINTS_FILE, rows)
            self._rows = rows
        return lost

    def images_dir(self, point_id: str) -> Path:
        return self.run_dir / IMAGES_DIR / point_id

    def staging_dir(self, point_id: str) -> Path:
        """The folder a point's images are written to before `publish_images`
        moves it into place. Its name is fixed so that every process of a
        multi-process run writes its share into the same one; stale ones are
        removed by `discard_staging` when a session starts."""
        staging = self.run_dir / IMAGES_DIR / f".{point_id}.staging"
        with writing(staging):
            staging.mkdir(parents=True, exist_ok=True)
        return staging

    def publish_images(self, staging: Path, point_id: str) -> Path:
        final = self.images_dir(point_id)
        with writing(final):
            if final.exists():  # left by a point killed after its images, before its row: it is re-run
                shutil.rmtree(final)
            os.replace(staging, final)
        return final


def read_run_file(run_dir: Path) -> dict:
    """A run folder's run.json; a one-line BenchError when it is missing, corrupt or not a sweep's."""
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise BenchError(f"{run_dir} is not a dalle-bench run (no {RUN_FILE})")
    try:
        run = json.loads(run_file.read_text())
    except (OSError, ValueError) as e:
        raise BenchError(f"{run_file} is corrupt: {first_line(e)}") from None
    if not isinstance(run, dict) or not isinstance(run.get("definition"), dict):
        raise BenchError(f"{run_file} is not a sweep's run file (no definition)")
    return run


def read_points(run_dir: Path) -> list[dict]:
    path = run_dir / POINTS_FILE
    if not path.exists():
        return []
    table = read_table(path)
    missing = set(NAMES) - set(table.column_names)
    optional = {*QUALITY_COLUMNS, *MULTI_PROCESS_COLUMNS, *COMPILE_COLUMNS, *LATER_COLUMNS, *CONCURRENCY_COLUMNS,
                *REPEAT_COLUMNS, *MEASURED_PEAK_COLUMNS}
    if missing - optional:
        raise BenchError(f"{path} lacks columns {', '.join(sorted(missing))}: written by another version?")
    # Quality columns came in schema 2 (older files were simply not evaluated),
    # process columns in schema 3 (older files ran in one process).
    rows = [check_row(row) for row in table.select([n for n in NAMES if n not in missing]).to_pylist()]
    if "processes" in missing:
        for row in rows:
            row.update(processes=1, local_devices=row["devices"])
    if "compiled" in missing:  # schema 3 and before compiled every point
        for row in rows:
            structure = SamplingStructure.of(row["cond_scale"], row["top_k"], row["top_p"])
            row.update(compiled=row["status"] == "ok", structure=structure.key)
    if "compile_concurrency" in missing:  # schema 5 and before compiled one program at a time
        for row in rows:
            row.update(compile_concurrency=implied_compile_concurrency(row))
    if "repeats" in missing:  # schema 6 and before: one process measured each point
        for row in rows:
            p50 = row.get("latency_p50_s")
            row.update(repeats=1, repeat_latency_p50_s=[p50] if row["status"] == "ok" and p50 is not None else None)
    return rows


def _write_parquet_atomic(path: Path, rows: list[dict]) -> None:
    with writing(path):
        write_rows_atomic(path, rows, SCHEMA)
