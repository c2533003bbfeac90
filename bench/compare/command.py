"""`dalle-bench compare`: read both runs, check they can be compared, compare,
render. Returns the text and the exit status (0 pass, 1 regression); bad
input raises BenchError (one line, exit status 2)."""

from __future__ import annotations

from pathlib import Path

from ..errors import BenchError
from .formats import FORMATS
from .gates import compare_points
from .load import load_run
from .match import key_columns, match_points
from .runs import check_same_models, machine_warnings
from .thresholds import build_thresholds, read_thresholds_file


def run_compare(baseline: Path, candidate: Path, flags: dict[str, str | None], thresholds_file: Path | None,
                fmt: str, output: Path | None, require_decided: bool = False):
    """(text, exit status, warnings)."""
    thresholds = build_thresholds(read_thresholds_file(thresholds_file) if thresholds_file else {}, flags)
    base, cand = load_run(baseline, "baseline"), load_run(candidate, "candidate")
    check_same_models(base.run, cand.run)
    key = key_columns(base.columns, cand.columns)
    match = match_points(list(base.rows), list(cand.rows), key)
    warnings = machine_warnings(base.run, cand.run)
    comparison = compare_points(match, key, thresholds, base.name, cand.name, warnings, require_decided)
    text = FORMATS[fmt](comparison)
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text)
        except OSError as e:
            raise BenchError(f"--output: cannot write {output}: {e.strerror}") from None
    return text, (0 if comparison.passed else 1), warnings
