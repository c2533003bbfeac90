"""`dalle-bench compare`: read both runs, check they can be compared, compare,
render. Returns the text and the exit status (0 pass, 1 regression); bad
input raises BenchError (one line, exit status 2)."""

from __future__ import annotations

from pathlib import Path

from ..compare.formats import FORMATS
from ..compare.gates import compare_points
from ..compare.load import load_side
from ..compare.match import key_columns, match_points
from ..compare.runs import check_same_models, machine_warnings, took_turns_side_by_side
from ..compare.thresholds import build_thresholds, read_thresholds_file
from ..errors import BenchError


def run_compare(baseline: Path, candidate: Path, flags: dict[str, str | None], thresholds_file: Path | None,
                fmt: str, output: Path | None, require_decided: bool = False):
    """(text, exit status, warnings)."""
    if output is not None:  # before any work: nothing is written into a run this command does not own
        from ..runlock import check_not_in_a_run

        check_not_in_a_run(output, "--output")
    thresholds = build_thresholds(read_thresholds_file(thresholds_file) if thresholds_file else {}, flags)
    from ..loadgen.store import is_loadgen_run

    if is_loadgen_run(baseline) or is_loadgen_run(candidate):
        return _compare_loadgen(baseline, candidate, thresholds, fmt, output)
    base, cand = load_side(baseline, "baseline"), load_side(candidate, "candidate")
    check_same_models(base.run, cand.run)
    key = key_columns(base.columns, cand.columns)
    match = match_points(list(base.rows), list(cand.rows), key)
    warnings = machine_warnings(base.run, cand.run)
    paired = not base.pooled and not cand.pooled and took_turns_side_by_side(base.run, cand.run)
    comparison = compare_points(match, key, thresholds, base.name, cand.name, warnings, require_decided,
                                paired=paired)
    text = FORMATS[fmt](comparison)
    _write(output, text)
    return text, (0 if comparison.passed else 1), warnings


def _write(output: Path | None, text: str) -> None:
    if output is not None:
        from ..runlock import check_not_in_a_run

        check_not_in_a_run(output, "--output")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text)
        except OSError as e:
            raise BenchError(f"--output: cannot write {output}: {e.strerror}") from None


def _compare_loadgen(baseline: Path, candidate: Path, thresholds, fmt: str, output: Path | None):
    """Two `loadgen` runs: their scenario tests, by scenario id."""
    from ..loadgen.compare import compare_scenarios, passed, render
    from ..loadgen.store import is_loadgen_run, read_scenarios

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
