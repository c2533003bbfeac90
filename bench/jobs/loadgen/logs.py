"""Reading LoadGen's logs (pure: text in, values out). The detail log is one
`:::MLLOG {json}` record a line; the trace holds one `Sample` begin event per
sample (its issue time, and issue and completion in ns); the accuracy log is a JSON list
of {seq_id, qsl_idx, data (hex)}."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from bench.base.errors import BenchError, first_line
from bench.results.columns import percentile_column
from bench.results.scenarios_schema import PERCENTILES

DETAIL, SUMMARY, ACCURACY, TRACE = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json",
                                    "mlperf_log_trace.json")
_PEAK = re.compile(r"Found peak performance field: ([0-9.]+)")
_SAMPLE = re.compile(r'"name":"Sample".*?"ph":"b".*?"ts":([0-9.]+).*?"issue_start_ns":(\d+),"complete_ns":(\d+)')


def read_detail(path: Path) -> dict:
    """key -> value of the detail log's records; a key logged more than once
    (FindPeakPerformance runs several tests) keeps its last value, every
    `generic_message` is kept in order under "messages", and every record
    LoadGen flags as an error (`metadata.is_error`, as `error_invalid_config`
    and `error_runtime`) under "errors" as "key: value"."""
    values: dict = {"messages": [], "errors": []}
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith(":::MLLOG "):
            continue
        try:
            record = json.loads(line[len(":::MLLOG "):])
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("key"), str) or record["key"] in (
                "messages", "errors"):
            continue  # a damaged line (`:::MLLOG 5`): not one of LoadGen's records
        metadata = record.get("metadata")
        if isinstance(metadata, dict) and metadata.get("is_error"):
            values["errors"].append(f"{record.get('key')}: {record.get('value')}")
        if record.get("key") == "generic_message":
            values["messages"].append(record.get("value"))
        else:
            values[record.get("key")] = record.get("value")
    return values


def _seconds(ns) -> float | None:
    return None if ns is None else float(ns) / 1e9


def result_columns(detail: dict) -> dict:
    """The scenario row's LoadGen columns from a parsed detail log."""
    scenario = detail.get("effective_scenario")
    multi = scenario == "MultiStream"
    # MultiStream's figures are per query (its 8 samples complete together); the others per sample.
    key = "result_{}_percentile_per_query_latency_ns" if multi else "result_{}_percentile_latency_ns"
    percentiles = {percentile_column(p): _seconds(detail.get(key.format(f"{float(p):.2f}"))) for p in PERCENTILES}
    stats = {f"latency_{s}_s": _seconds(detail.get(f"result_{s}_query_latency_ns" if multi else f"result_{s}_latency_ns"))
             for s in ("min", "mean", "max")}
    early_ns = detail.get("early_stopping_latency_ss") if scenario == "SingleStream" else (
        detail.get("early_stopping_latency_ms") if multi else None)
    early = _seconds(early_ns) if early_ns else None  # LoadGen logs 0 when it has no estimate
    if scenario == "Offline":
        metric, value, achieved = "samples_per_s", detail.get("result_samples_per_second"), \
            detail.get("result_samples_per_second")
    elif scenario == "Server":
        metric, value, achieved = "samples_per_s", detail.get("result_completed_samples_per_sec"), \
            detail.get("result_completed_samples_per_sec")
    else:
        tail = percentiles[percentile_column("90" if scenario == "SingleStream" else "99")]
        metric, value = "latency_s", early if early is not None else tail
        achieved = detail.get("result_qps_with_loadgen_overhead")
    peaks = [float(m.group(1)) for message in detail["messages"] if (m := _PEAK.search(str(message)))]
    return {
        "loadgen_version": detail.get("loadgen_version"),
        "result_metric": metric, "result_value": None if value is None else float(value),
        "peak_qps": peaks[-1] if peaks else None,
        "validity": "INVALID" if error_count(detail) else detail.get("result_validity"),
        "invalid_reason": invalid_reason(detail),
        "min_duration_met": detail.get("result_min_duration_met"),
        "min_queries_met": detail.get("result_min_queries_met"),
        "early_stopping_met": detail.get("early_stopping_met"),
        "perf_constraints_met": detail.get("result_perf_constraints_met"),
        "early_stopping_result": " ".join(str(detail.get("early_stopping_result") or "").split()) or None,
        "early_stopping_latency_s": early,
        "query_count": detail.get("result_query_count"),
        "achieved_qps": None if achieved is None else float(achieved),
        "scheduled_qps": detail.get("result_scheduled_samples_per_sec"),
        **stats, **percentiles,
        "min_duration_s": _seconds((detail.get("effective_min_duration_ms") or 0) * 1e6)
        if "effective_min_duration_ms" in detail else None,
        "min_query_count": detail.get("effective_min_query_count"),
        "target_qps": detail.get("effective_target_qps"),
        # LoadGen logs 0 where the scenario has no bound (Offline, and SingleStream/MultiStream by default).
        "target_latency_s": _seconds(detail.get("effective_target_latency_ns")) or None,
        "target_latency_percentile": detail.get("effective_target_latency_percentile"),
        "samples_per_query": detail.get("effective_samples_per_query"),
    }


def error_count(detail: dict) -> int:
    """LoadGen's `num_errors` (the errors of the test, as its summary's "1 ERROR
    encountered"), or the error records when it did not get that far; as MLPerf's
    submission checker counts them (tools/submission/log_parser.py num_errors)."""
    logged = detail.get("num_errors")
    return int(logged) if logged is not None else len(detail.get("errors") or [])


def invalid_reason(detail: dict) -> str | None:
    """Why the test is INVALID, in LoadGen's words: the errors it logged (MLPerf's
    submission checker rejects a log with errors, whatever LoadGen's own
    result_validity), each unmet constraint, then its recommendation and
    early-stopping message."""
    errors = error_count(detail)
    if detail.get("result_validity") != "INVALID" and not errors:
        return None
    reasons = []
    if errors:
        logged = "; ".join(" ".join(str(e).split()) for e in detail.get("errors") or []) or "see its detail log"
        reasons.append(f"LoadGen reported {errors} error{'s' if errors != 1 else ''}: {logged}"
                       + (f" (its result: {detail['result_validity']})"
                          if detail.get("result_validity") not in (None, "INVALID") else ""))
    if detail.get("result_perf_constraints_met") is False:
        percentile = detail.get("effective_target_latency_percentile")
        bound = _seconds(detail.get("effective_target_latency_ns"))
        reasons.append(f"latency bound not met ({100 * percentile:g}th percentile latency over {bound:g} s)"
                       if percentile is not None and bound is not None else "latency bound not met")
    if detail.get("result_min_duration_met") is False:
        reasons.append("min duration not met")
    if detail.get("result_min_queries_met") is False:
        reasons.append("min queries not met")
    if detail.get("early_stopping_met") is False:
        reasons.append("early stopping not met")
    for text in (detail.get("result_invalid_reason"), detail.get("early_stopping_result")):
        text = " ".join(str(text or "").split())
        if text:
            reasons.append(text)
    return "; ".join(reasons) or "INVALID (no reason logged)"


_SUMMARY_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")


def read_summary(path: Path) -> dict:
    """`name : value` of each line of LoadGen's mlperf_log_summary.txt (names as
    it prints them, e.g. "Samples per second", "90.00 percentile latency (ns)",
    "min_duration (ms)"), the value as text; the error count of its closing
    line under "errors" (0 for "No errors encountered during test.")."""
    values: dict = {}
    for line in path.read_text(errors="replace").splitlines():
        if m := re.match(r"^(\d+) ERRORS? encountered", line.strip()):
            values["errors"] = int(m.group(1))
        elif line.strip().startswith("No errors encountered"):
            values["errors"] = 0
        elif (m := _SUMMARY_LINE.match(line)) and m.group(2):
            values.setdefault(m.group(1), m.group(2))
    return values


def read_trace_latencies(path: Path) -> np.ndarray:
    """(issue time s from the test's start, latency s) of every sample, from
    LoadGen's trace; empty when there is no trace."""
    if not path.is_file():
        return np.zeros((0, 2))
    rows = [(float(m.group(1)) / 1e6, (int(m.group(3)) - int(m.group(2))) / 1e9)
            for m in _SAMPLE.finditer(path.read_text(errors="replace"))]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def read_accuracy_log(path: Path, keep_repeats: bool = False) -> list[tuple[int, bytes]]:
    """(qsl index, response bytes) of the logged responses: the first per index, by index; with
    `keep_repeats`, every one in the log's order (a performance test may log one sample more than once).
    A BenchError naming the file when it cannot be read or is not LoadGen's accuracy log."""
    try:
        entries = json.loads(Path(path).read_text() or "[]")
        if not isinstance(entries, list):
            raise ValueError(f"a JSON {type(entries).__name__}, not a list of responses")
        logged = [(_qsl_index(entry), bytes.fromhex(entry["data"])) for entry in entries]
    except OSError as e:
        raise BenchError(f"{path}: LoadGen's accuracy log cannot be read: {e.strerror or first_line(e)}") from None
    except (ValueError, KeyError, TypeError) as e:  # not JSON, an entry without qsl_idx or data, data not hex
        raise BenchError(f"{path}: damaged LoadGen accuracy log: {type(e).__name__}: {first_line(e)}") from None
    if keep_repeats:
        return logged
    seen: dict[int, bytes] = {}
    for index, data in logged:
        seen.setdefault(index, data)
    return sorted(seen.items())


def _qsl_index(entry) -> int:
    index = entry["qsl_idx"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"qsl_idx {index!r} is not a sample index")
    return index
