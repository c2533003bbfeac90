"""`dalle-bench compare`: its options checked into one CompareRequest; then
read both runs, check they can be compared, compare, render. The exit status
is 0 on a pass, 1 on a regression; bad input raises BenchError (one line,
exit status 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from bench.base.errors import BenchError
from bench.jobs.compare.formats import FORMATS
from bench.jobs.compare.gates import compare_points
from bench.jobs.compare.load import load_side
from bench.jobs.compare.match import key_columns, match_points
from bench.jobs.compare.runs import check_same_models, machine_warnings, took_turns_side_by_side
from bench.jobs.compare.thresholds import Thresholds, build_thresholds, parse_threshold_flags, read_thresholds_file


@dataclass(frozen=True)
class CompareRequest:
    baseline: Path
    candidate: Path
    thresholds: Thresholds
    fmt: str
    output: Path | None
    require_decided: bool = False

    @classmethod
    def from_options(cls, baseline_run: Path, candidate_run: Path, thresholds_file: Path | None, fmt: str,
                     output: Path | None, require_decided: bool, **flags: str | None) -> CompareRequest:
        """`flags`: the --max-... options as typed (None: not given); they override the file's."""
        if output is not None:  # before any work: nothing is written into a run this command does not own
            from bench.results.runlock import check_not_in_a_run

            check_not_in_a_run(output, "--output")
        file_values = read_thresholds_file(thresholds_file) if thresholds_file else {}
        thresholds = build_thresholds(file_values, parse_threshold_flags(flags))
        return cls(baseline_run, candidate_run, thresholds, fmt, output, require_decided)


def run(request: CompareRequest) -> int:
    """Prints the comparison (its warnings on stderr); returns the exit status."""
    text, status, warnings = run_compare(request)
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(text, nl=False)
    return status


def run_compare(request: CompareRequest):
    """(text, exit status, warnings)."""
    baseline, candidate, thresholds = request.baseline, request.candidate, request.thresholds
    from bench.results.scenario_store import is_loadgen_run

    if is_loadgen_run(baseline) or is_loadgen_run(candidate):
        return _compare_loadgen(baseline, candidate, thresholds, request.fmt, request.output)
    base, cand = load_side(baseline, "baseline"), load_side(candidate, "candidate")
    check_same_models(base.run, cand.run)
    key = key_columns(base.columns, cand.columns)
    match = match_points(list(base.rows), list(cand.rows), key)
    warnings = machine_warnings(base.run, cand.run)
    paired = not base.pooled and not cand.pooled and took_turns_side_by_side(base.run, cand.run)
    comparison = compare_points(match, key, thresholds, base.name, cand.name, warnings, request.require_decided,
                                paired=paired)
    text = FORMATS[request.fmt](comparison)
    _write(request.output, text)
    return text, (0 if comparison.passed else 1), warnings


def _write(output: Path | None, text: str) -> None:
    if output is not None:
        from bench.results.runlock import check_not_in_a_run

        check_not_in_a_run(output, "--output")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text)
        except OSError as e:
            raise BenchError(f"--output: cannot write {output}: {e.strerror}") from None


def _compare_loadgen(baseline: Path, candidate: Path, thresholds, fmt: str, output: Path | None):
    """Two `loadgen` runs: their scenario tests, by scenario id."""
    from bench.jobs.loadgen.compare import compare_scenarios, passed, render
    from bench.results.scenario_store import is_loadgen_run, read_scenarios

    for side, path in (("baseline", baseline), ("candidate", candidate)):
        if not is_loadgen_run(path):
            raise BenchError(f"{side} {path} is not a loadgen run: compare a loadgen run with another loadgen run")
    base_rows, cand_rows = read_scenarios(baseline), read_scenarios(candidate)
    if not base_rows:
        raise BenchError(f"baseline {baseline} has no results (no scenarios.parquet rows)")
    if fmt == "junit":
        raise BenchError("--format junit is not available for loadgen runs yet: use markdown or json")
    try:
        gates = compare_scenarios(base_rows, cand_rows, thresholds)
    except ValueError as e:  # a baseline figure not finite or not > 0: nothing to measure a change against
        raise BenchError(f"baseline {baseline / 'scenarios.parquet'}: {e}") from None
    text = render(gates, baseline.name, candidate.name, fmt)
    _write(output, text)
    return text, (0 if passed(gates) else 1), []
