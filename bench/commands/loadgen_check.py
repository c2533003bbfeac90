"""`dalle-bench loadgen check RUN_DIR...`: read each run folder (run.json, its
scenario rows, each test's detail log, the benchmark definition it names) and
print the rules it fails (bench/jobs/loadgen/check.py). Exit 0: every rule passes
(submittable); 1: a rule fails; 2: a folder that cannot be read (BenchError)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bench.base.errors import BenchError, first_line
from bench.jobs.loadgen.check import LoadGenTest, Run, check
from bench.jobs.loadgen.logs import DETAIL, read_detail
from bench.results.scenario_store import is_loadgen_run, read_scenarios
from bench.results.store import RUN_FILE

# Detail-log keys the rules read as numbers (a damaged log with text there is refused, not a traceback).
NUMERIC_DETAIL_KEYS = ("num_errors", "effective_target_latency_ns", "effective_target_latency_percentile",
                       "effective_samples_per_query", "effective_performance_sample_count",
                       "effective_min_duration_ms", "effective_min_query_count", "effective_min_sample_count",
                       "effective_accuracy_log_probability", "effective_accuracy_log_sampling_target")


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
    problem = run_record_problem(run)
    if problem:
        raise BenchError(f"{path / RUN_FILE} is damaged: {problem}")
    tests = []
    for row in read_scenarios(path):
        log = path / str(row.get("log_dir")) / DETAIL
        finished = row.get("status") == "ok"
        if not finished and not log.is_file():  # interrupted before LoadGen logged: the valid rule says so
            tests.append(LoadGenTest(row=row, detail={"messages": [], "errors": []}))
            continue
        try:
            detail = read_detail(log)
        except OSError as e:
            raise BenchError(f"{log}: LoadGen's detail log of {row.get('scenario_id')} cannot be read: "
                             f"{e.strerror or first_line(e)}") from None
        if len(detail) <= 2 and finished:  # only the empty "messages" and "errors": no record at all
            raise BenchError(f"{log}: LoadGen's detail log of {row.get('scenario_id')} holds no :::MLLOG record")
        wrong = next((key for key in NUMERIC_DETAIL_KEYS if key in detail and detail[key] is not None
                      and not _number(detail[key])), None)
        if wrong:
            raise BenchError(f"{log}: LoadGen's detail log of {row.get('scenario_id')} is damaged: {wrong} is "
                             f"{detail[wrong]!r}, not a number")
        tests.append(LoadGenTest(row=row, detail=detail))
    definition, problem = _definition(run.get("benchmark"))
    bands, bands_problem = _bands(definition)
    return Run(path=str(path), run=run, tests=tuple(tests), definition=definition, definition_problem=problem,
               bands=bands, bands_problem=bands_problem)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_record_problem(run: dict) -> str | None:
    """What in a run.json the rules cannot read (a field of the wrong type), or None."""
    benchmark, environment, model = run.get("benchmark"), run.get("environment"), run.get("model")
    if benchmark is not None:
        if not isinstance(benchmark, dict):
            return f"benchmark is {type(benchmark).__name__}, not an object"
        for key in ("name", "file"):
            if benchmark.get(key) is not None and not isinstance(benchmark[key], str):
                return f"benchmark.{key} is not a string"
        overrides = benchmark.get("overrides")
        if overrides is not None and not (isinstance(overrides, list) and all(isinstance(o, str) for o in overrides)):
            return "benchmark.overrides is not a list of strings"
    if environment is not None:
        if not isinstance(environment, dict):
            return f"environment is {type(environment).__name__}, not an object"
        git = environment.get("git")
        if git is not None:
            if not isinstance(git, dict):
                return f"environment.git is {type(git).__name__}, not an object"
            if git.get("commit") is not None and not isinstance(git["commit"], str):
                return "environment.git.commit is not a string"
    if model is not None and not isinstance(model, dict):
        return f"model is {type(model).__name__}, not an object"
    if run.get("audits") is not None and not isinstance(run["audits"], list):
        return "audits is not a list"
    return None


def _bands(definition) -> tuple[tuple | None, str | None]:
    """The definition's accuracy band as it is now (its reference figures read again), for judging a stored
    verdict again; (None, None) when it has no metric, (None, why) when the band cannot be read."""
    if definition is None:
        return None, None
    from bench.jobs.loadgen.accuracy_check import metric_columns, reference_bands

    if not metric_columns(definition.accuracy):
        return None, None
    try:
        return tuple(reference_bands(definition)), None
    except BenchError as e:
        return None, str(e)


def _definition(record) -> tuple[object | None, str | None]:
    """The definition a run names: the file it was run with when it is still there, else the shipped one
    of that name."""
    if not record:
        return None, None
    from bench.jobs.loadgen.benchmark import load_benchmark

    file = str(record.get("file") or "")
    try:
        return load_benchmark(file if file.endswith(".toml") and Path(file).is_file()
                              else str(record.get("name"))), None
    except BenchError as e:
        return None, str(e)


def run_check(paths: list[Path]) -> tuple[list[str], int]:
    """(the lines to print, the exit status)."""
    from bench.jobs.loadgen.settings import mlperf_conf_seeds

    runs = [read_run(path) for path in paths]
    failures = check(runs, mlperf_conf_seeds())
    if not failures:
        tests = sum(len(run.tests) for run in runs)
        return [f"submittable: every rule passes ({len(runs)} run folder(s), {tests} LoadGen test(s))"], 0
    return [failure.line() for failure in failures], 1


def run_command(run_dirs) -> None:
    """`dalle-bench loadgen check`: one line per failed rule, then the exit status."""
    lines, status = run_check(list(run_dirs))
    for line in lines:
        click.echo(line)
    sys.exit(status)  # not ctx.exit: `main` runs click with standalone_mode=False, which drops Exit's status
