"""A loadgen run folder: `run.json`, `scenarios.parquet` (rewritten
atomically after each test), `loadgen/<scenario-id>/` (LoadGen's logs) and
`images/<scenario-id>/` (accuracy mode's images)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.base.errors import BenchError, first_line

from .files import RUN_FILE, read_table, write_rows_atomic
from .outputs import write_json_atomic
from .scenarios_schema import NAMES, SCHEMA, check_row

SCENARIOS_FILE, LOGS_DIR, IMAGES_DIR = "scenarios.parquet", "loadgen", "images"
KIND = "loadgen"


def is_loadgen_run(run_dir: Path) -> bool:
    return (run_dir / SCENARIOS_FILE).is_file() or _kind(run_dir) == KIND


def _kind(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / RUN_FILE).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


class ScenarioStore:
    def __init__(self, run_dir: Path, run: dict, rows: list[dict]):
        self.run_dir, self.run, self._rows = run_dir, run, rows

    @classmethod
    def create(cls, run_dir: Path, run: dict) -> "ScenarioStore":
        run_dir.mkdir(parents=True, exist_ok=False)
        write_json_atomic(run_dir / RUN_FILE, {"kind": KIND, **run})
        return cls(run_dir, {"kind": KIND, **run}, [])

    @classmethod
    def open(cls, run_dir: Path) -> "ScenarioStore":
        run_file = run_dir / RUN_FILE
        try:
            run = json.loads(run_file.read_text())
        except OSError:
            raise BenchError(f"{run_dir} is not a dalle-bench run (no {RUN_FILE})") from None
        except ValueError as e:
            raise BenchError(f"{run_file} is corrupt: {first_line(e)}") from None
        return cls(run_dir, run, read_scenarios(run_dir))

    def rows(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=list(NAMES))

    def append(self, row: dict) -> None:
        rows = [*self._rows, check_row(row)]
        write_rows_atomic(self.run_dir / SCENARIOS_FILE, rows, SCHEMA)
        self._rows = rows

    def update_last(self, **columns) -> None:
        rows = [*self._rows[:-1], check_row({**self._rows[-1], **columns})]
        write_rows_atomic(self.run_dir / SCENARIOS_FILE, rows, SCHEMA)
        self._rows = rows

    def update_run(self, **fields) -> None:
        self.run.update(fields)
        write_json_atomic(self.run_dir / RUN_FILE, self.run)

    def log_dir(self, scenario_id: str) -> Path:
        return self.run_dir / LOGS_DIR / scenario_id

    def images_dir(self, scenario_id: str) -> Path:
        return self.run_dir / IMAGES_DIR / scenario_id


def read_scenarios(run_dir: Path) -> list[dict]:
    path = run_dir / SCENARIOS_FILE
    if not path.exists():
        return []
    table = read_table(path)
    present = [n for n in NAMES if n in table.column_names]
    return [check_row(row) for row in table.select(present).to_pylist()]
