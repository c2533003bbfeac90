"""`dalle-bench loadgen check RUN_DIR...`: read each run folder (run.json, its
scenario rows, each test's detail log, the benchmark definition it names) and
print the rules it fails (bench/loadgen/check.py). Exit 0: every rule passes
(submittable); 1: a rule fails; 2: a folder that cannot be read (BenchError)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BenchError, first_line
from ..loadgen.check import LoadGenTest, Run, check
from ..loadgen.logs import DETAIL, read_detail
from ..loadgen.store import is_loadgen_run, read_scenarios
from ..sweep.store import RUN_FILE


def read_run(path: Path) -> Run:
    """A run folder as the rules read it; a BenchError when it is not a loadgen run or a file is damaged."""
    if not path.is_dir():
        raise BenchError(f"{path}: not a folder")
    if not is_loadgen_run(path):
        raise BenchError(f"{path} is not a loadgen run folder (no {RUN_FILE} of kind loadgen)")
    try:
        run = json.loads((path / RUN_FILE).read_text())
    except OSError:
        raise BenchError(f"{path} is not a loadgen run folder (no {RUN_FILE})") from None
    except ValueError as e:
        raise BenchError(f"{path / RUN_FILE} is corrupt: {first_line(e)}") from None
    if not isinstance(run, dict) or run.get("kind") != "loadgen":
        raise BenchError(f"{path / RUN_FILE} is not a loadgen run record")
    tests = []
    for row in read_scenarios(path):
        log = path / str(row.get("log_dir")) / DETAIL
        try:
            detail = read_detail(log)
        except OSError as e:
            raise BenchError(f"{log}: LoadGen's detail log of {row.get('scenario_id')} cannot be read: "
                             f"{e.strerror or first_line(e)}") from None
        if len(detail) <= 2:  # only the empty "messages" and "errors": no record at all
            raise BenchError(f"{log}: LoadGen's detail log of {row.get('scenario_id')} holds no :::MLLOG record")
        tests.append(LoadGenTest(row=row, detail=detail))
    definition, problem = _definition(run.get("benchmark"))
    return Run(path=str(path), run=run, tests=tuple(tests), definition=definition, definition_problem=problem)


def _definition(record) -> tuple[object | None, str | None]:
    """The definition a run names: the file it was run with when it is still there, else the shipped one
    of that name."""
    if not record:
        return None, None
    from ..loadgen.benchmark import load_benchmark

    file = str(record.get("file") or "")
    try:
        return load_benchmark(file if file.endswith(".toml") and Path(file).is_file()
                              else str(record.get("name"))), None
    except BenchError as e:
        return None, str(e)


def run_check(paths: list[Path]) -> tuple[list[str], int]:
    """(the lines to print, the exit status)."""
    from ..loadgen.settings import mlperf_conf_seeds

    runs = [read_run(path) for path in paths]
    failures = check(runs, mlperf_conf_seeds())
    if not failures:
        tests = sum(len(run.tests) for run in runs)
        return [f"submittable: every rule passes ({len(runs)} run folder(s), {tests} LoadGen test(s))"], 0
    return [failure.line() for failure in failures], 1
