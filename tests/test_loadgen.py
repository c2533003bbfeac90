"""`dalle-bench loadgen` as a user runs it: a subprocess on the tiny preset
driving the real MLPerf LoadGen, with short minimum durations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from bench.jobs.loadgen.logs import DETAIL, SUMMARY, TRACE, read_detail, read_summary, read_trace_latencies
from bench.results.columns import percentile_column
from bench.results.scenarios_schema import NAMES, SCHEMA

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("test_loadgen")]

# Short tests: LoadGen judges them against these settings (and says they are too short for MLPerf).
SHORT = ["--min-duration", "0.5", "--min-queries", "4"]
# LoadGen's own settings format. The Server rate is far above what the tiny model can serve on a CPU,
# within a bound it cannot meet: LoadGen must call the Server test INVALID.
USER_CONF = """\
*.*.min_duration = 500
*.*.min_query_count = 4
dalle-mini.Server.target_qps = 50
dalle-mini.Server.target_latency = 100
"""


@pytest.fixture(scope="module")
def every_scenario(tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("loadgen")
    conf = out / "user.conf"
    conf.write_text(USER_CONF)
    proc = run_cli("loadgen", "--scenario", "offline,server,singlestream,multistream", "--user-conf", conf,
                   "--batch-per-device", "2", "--samples-per-query", "2", "-n", "2", "--out", out,
                   "--run-id", "all", check=True)
    run_dir = out / "all"
    return run_dir, pd.read_parquet(run_dir / "scenarios.parquet"), proc


def test_every_scenario_has_a_row_parsed_from_loadgens_logs(every_scenario):
    run_dir, rows, proc = every_scenario
    assert list(rows.scenario) == ["Offline", "Server", "SingleStream", "MultiStream"]
    assert list(rows["mode"]) == ["performance"] * 4 and (rows.status == "ok").all()
    assert pq.read_schema(run_dir / "scenarios.parquet").names == list(NAMES) == SCHEMA.names
    for row in rows.itertuples():
        logs = run_dir / row.log_dir
        for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json"):
            assert (logs / name).is_file()
        summary = (logs / "mlperf_log_summary.txt").read_text()
        assert f"Scenario : {row.scenario}" in summary
        assert f"Result is : {row.validity}" in summary
        assert row.result_value > 0 and row.query_count >= 1 and row.batches >= 1
        assert row.latency_p50_s <= row.latency_p90_s <= row.latency_p99_s <= row.latency_p99_9_s
        assert row.loadgen_version.startswith("6.0.17")
    # The user.conf was read by LoadGen itself.
    # (Offline's query count is LoadGen's own: mlperf.conf's *.Offline line is more specific than *.*.)
    assert (rows.min_duration_s == 0.5).all() and (rows.min_query_count[1:] == 4).all()
    assert list(rows.result_metric) == ["samples_per_s", "samples_per_s", "latency_s", "latency_s"]
    assert rows.samples_per_query.iloc[3] == 2
    assert "too short to be VALID by MLPerf's rules" in proc.stderr


def test_offline_result_is_loadgens_samples_per_second(every_scenario):
    run_dir, rows, _ = every_scenario
    offline = rows.iloc[0]
    summary = (run_dir / offline.log_dir / "mlperf_log_summary.txt").read_text()
    line = next(l for l in summary.splitlines() if l.startswith("Samples per second"))
    assert float(line.split(":")[1]) == pytest.approx(offline.result_value, rel=1e-3)


def test_server_far_above_capacity_is_invalid_with_loadgens_reason(every_scenario):
    _, rows, proc = every_scenario
    server = rows.iloc[1]
    assert server.target_qps == 50 and server.target_latency_s == pytest.approx(0.1)
    assert server.validity == "INVALID" and not server.perf_constraints_met
    assert "latency bound not met" in server.invalid_reason
    assert "INVALID" in proc.stderr


def test_report_shows_the_scenarios_table(every_scenario, run_cli):
    run_dir, _, _ = every_scenario
    proc = run_cli("report", run_dir, check=True)
    for scenario in ("offline-performance", "server-performance", "singlestream-performance",
                     "multistream-performance"):
        assert scenario in proc.stdout
    html = run_cli("report", run_dir, "--html", check=True)
    page = Path(html.stdout.strip()).read_text()
    # No --trace: no latency-over-time plot, and the page says how to get one.
    assert "server-performance" in page and "No trace" in page and "--trace" in page
    # Short tests: too few latencies for LoadGen's tail percentiles, shown undecided with the count
    # (Offline's are over the samples of its one query, the others' over queries).
    rows = pd.read_parquet(run_dir / "scenarios.parquet")
    csv = pd.read_csv(run_dir / "report" / "scenarios.csv")
    for row, saved in zip(rows.itertuples(), csv.itertuples()):
        count, unit = ((row.query_count * row.samples_per_query, "samples") if row.scenario == "Offline"
                       else (row.query_count, "queries"))
        assert count < 100 and f"n/a ({count} {unit} < 100)" in proc.stdout
        assert f"n/a ({count} {unit} &lt; 100)" in page
        assert (saved.p90_supported, saved.p99_supported) == (count >= 10, False)
        assert saved.latency_p99_s == pytest.approx(row.latency_p99_s)  # the CSV keeps the value
    assert "too few observations" in proc.stdout and "too few observations" in page


# mlperf.conf's seeds (its `*.*` lines, loadgen/mlperf.conf in LoadGen 6.0.17): 0 without mlperf.conf.
MLPERF_SEEDS = {"qsl_rng_seed": 2085463073848966840, "sample_index_rng_seed": 2747215439041700203,
                "schedule_rng_seed": 16159082839903944936}


def _assert_mlperf_conf_in_force(run_dir: Path, rows: pd.DataFrame) -> None:
    for row in rows.itertuples():
        text = (run_dir / row.log_dir / DETAIL).read_text()
        detail = read_detail(run_dir / row.log_dir / DETAIL)
        for name, seed in MLPERF_SEEDS.items():
            assert detail[f"effective_{name}"] == seed, (row.scenario_id, name)
        assert "Multiple conf files" not in text, row.scenario_id
        assert detail["num_errors"] == 0 and detail["errors"] == [], (row.scenario_id, detail["errors"])


def test_every_test_runs_with_mlperf_conf_under_the_user_conf(every_scenario):
    """Four tests in one process, each with mlperf.conf's seeds and the user.conf on top (its
    min_duration), and no "Multiple conf files" error (LoadGen logs it from its second user.conf on)."""
    run_dir, rows, _ = every_scenario
    _assert_mlperf_conf_in_force(run_dir, rows)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["loadgen"]["mlperf_conf_model"] == "dalle-mini"


def test_trace_is_off_by_default(every_scenario):
    run_dir, rows, _ = every_scenario
    assert json.loads((run_dir / "run.json").read_text())["loadgen"]["trace"] is False
    for row in rows.itertuples():
        trace = run_dir / row.log_dir / TRACE
        assert not trace.is_file() or trace.stat().st_size == 0  # LoadGen leaves an empty file


# The summary's name for each row figure (read from the detail log), and its unit in the row.
SUMMARY_FIGURES = {
    "latency_min_s": ("Min latency (ns)", 1e-9), "latency_mean_s": ("Mean latency (ns)", 1e-9),
    "latency_max_s": ("Max latency (ns)", 1e-9),
    **{percentile_column(p): (f"{float(p):.2f} percentile latency (ns)", 1e-9)
       for p in ("50", "90", "95", "97", "99", "99.9")},
    "min_duration_s": ("min_duration (ms)", 1e-3), "min_query_count": ("min_query_count", 1),
    "target_qps": ("target_qps", 1), "target_latency_s": ("target_latency (ns)", 1e-9),
    "samples_per_query": ("samples_per_query", 1),
}
# Rates: the row's result_value and achieved_qps, the summary's line for them.
RATES = {"Offline": "Samples per second", "Server": "Completed samples per second",
         "SingleStream": "QPS w/ loadgen overhead"}
FLAGS = {"min_duration_met": "Min duration satisfied", "min_queries_met": "Min queries satisfied",
         "early_stopping_met": "Early stopping satisfied"}


def _as_printed(printed: str, value, unit=1.0) -> bool:
    """`value` (row unit) equals the summary's `printed` figure to the digits printed."""
    if value is None or pd.isna(value):
        return False
    if "e" in printed.lower():
        return float(printed) * unit == pytest.approx(value, rel=1e-5)
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(float(printed) - value / unit) <= 0.5 * 10 ** -decimals * (1 + 1e-9) + 1e-12 * abs(float(printed))


def _early_stopping_text(summary_text: str) -> str | None:
    lines = summary_text.split("Early Stopping Result:")
    if len(lines) < 2:
        return None
    return " ".join(lines[1].split("=====")[0].split()) or None


def test_every_row_figure_is_loadgens_and_its_summary_agrees(every_scenario):
    """Each figure of a row, read from the detail log, is what LoadGen's summary prints for the same
    test, to the digits it prints (latencies and settings exactly; rates to 2 decimals or 6 digits)."""
    run_dir, rows, _ = every_scenario
    for row in rows.itertuples():
        where = row.scenario_id
        text = (run_dir / row.log_dir / SUMMARY).read_text()
        summary = read_summary(run_dir / row.log_dir / SUMMARY)
        detail = read_detail(run_dir / row.log_dir / DETAIL)
        assert summary["Scenario"] == row.scenario and summary["Mode"] == "PerformanceOnly", where
        assert summary["Result is"] == row.validity and summary["errors"] == detail["num_errors"] == 0, where
        for column, name in FLAGS.items():
            assert (summary[name].lower() == "yes") == getattr(row, column), (where, column)
        if row.scenario == "Server":
            assert (summary["Performance constraints satisfied"].lower() == "yes") == row.perf_constraints_met
            assert _as_printed(summary["Scheduled samples per second"], row.scheduled_qps), where
        # (MultiStream's latencies are per query, printed under the same names after "Per-query latency:".)
        for column, (name, unit) in SUMMARY_FIGURES.items():
            value = getattr(row, column)
            if value is None or pd.isna(value):  # the row's None: LoadGen's 0 for "no bound"
                assert column == "target_latency_s" and float(summary[name]) == 0, (where, column)
                continue
            assert float(summary[name]) * unit == pytest.approx(value, rel=1e-12), (where, column)
        if row.scenario in RATES:
            assert _as_printed(summary[RATES[row.scenario]], row.achieved_qps), where
        if row.result_metric == "samples_per_s":
            assert _as_printed(summary[RATES[row.scenario]], row.result_value), where
        else:  # the early-stopping estimate when LoadGen has one, else the tail percentile it prints
            percentile = 90 if row.scenario == "SingleStream" else 99
            tail = summary[f"{percentile:.1f}th percentile latency (ns)"]
            assert float(tail) * 1e-9 == pytest.approx(getattr(row, percentile_column(str(percentile))), rel=1e-12)
            estimate = re.search(r"percentile estimate: (\d+)", text)
            has_estimate = not pd.isna(row.early_stopping_latency_s)
            assert (estimate is not None) == has_estimate, where
            expected = estimate.group(1) if has_estimate else tail
            assert float(expected) * 1e-9 == pytest.approx(row.result_value, rel=1e-12), where
        stored = row.early_stopping_result if isinstance(row.early_stopping_result, str) else None
        assert stored == _early_stopping_text(text), where
        assert row.query_count == detail["result_query_count"] >= 1, where


@pytest.fixture(scope="module")
def traced_run(tmp_path_factory, run_cli):
    """No --user-conf: mlperf.conf still under the options; --trace on."""
    out = tmp_path_factory.mktemp("traced")
    proc = run_cli("loadgen", "--scenario", "singlestream", "--trace", *SHORT, "--batch-per-device", "1",
                   "-n", "1", "--out", out, "--run-id", "traced", check=True)
    run_dir = out / "traced"
    return run_dir, pd.read_parquet(run_dir / "scenarios.parquet"), proc


def test_without_user_conf_mlperf_conf_seeds_and_trace_on(traced_run, run_cli):
    run_dir, rows, _ = traced_run
    _assert_mlperf_conf_in_force(run_dir, rows)
    assert json.loads((run_dir / "run.json").read_text())["loadgen"]["trace"] is True
    row = rows.iloc[0]
    samples = read_trace_latencies(run_dir / row.log_dir / TRACE)
    assert len(samples) == row.query_count  # one sample a SingleStream query, every one traced
    assert samples[:, 1].max() == pytest.approx(row.latency_max_s, rel=1e-6)
    page = Path(run_cli("report", run_dir, "--html", check=True).stdout.strip()).read_text()
    assert "data:image/png" in page and "No trace" not in page


# A system under test that reports the first sample's first token twice: LoadGen logs
# "Attempted to complete a sample twice." (loadgen/logging.cc RecordTokenCompletion) and counts it.
COMPLETE = """        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, b.ctypes.data, b.nbytes)
                                 for q, b in zip(batch, buffers)])"""
TWICE = """        if not getattr(self, "_twice", False):
            self._twice = True
            first = [lg.QuerySampleResponse(batch[0].id, buffers[0].ctypes.data, buffers[0].nbytes)]
            lg.FirstTokenComplete(first)
            lg.FirstTokenComplete(first)
""" + COMPLETE


def test_a_test_in_which_loadgen_counts_an_error_is_invalid(run_cli, tmp_path):
    import shutil

    from tests.conftest import REPO

    broken = tmp_path / "broken-repo"
    shutil.copytree(REPO, broken, ignore=shutil.ignore_patterns(
        ".git", ".venv", "results", ".benchmarks", ".hypothesis", ".pytest_cache", "__pycache__", "*.egg-info"))
    system = broken / "bench" / "jobs" / "loadgen" / "system.py"
    source = system.read_text()
    assert source.count(COMPLETE) == 1, "bench/jobs/loadgen/system.py changed: update the mutation"
    system.write_text(source.replace(COMPLETE, TWICE))
    proc = run_cli("loadgen", "--scenario", "offline", *SHORT, "--batch-per-device", "2", "-n", "1",
                   "--out", tmp_path, "--run-id", "error", cwd=broken)
    assert proc.returncode == 0, proc.stderr  # an INVALID test is a result, as today
    run_dir = tmp_path / "error"
    row = pd.read_parquet(run_dir / "scenarios.parquet").iloc[0]
    assert "1 ERROR encountered" in (run_dir / row.log_dir / SUMMARY).read_text()
    assert row.validity == "INVALID" and row.status == "ok"
    assert row.invalid_reason.startswith("LoadGen reported 1 error: error_runtime: Attempted to complete a "
                                         "sample twice."), row.invalid_reason
    assert "INVALID (LoadGen reported 1 error" in proc.stderr
    report = run_cli("report", run_dir, check=True)
    assert "LoadGen reported 1 error" in report.stdout and "INVALID" in report.stdout


@pytest.mark.slow  # minutes on a loaded 2-core machine (README: --find-peak)
def test_find_peak_converges_on_tiny(every_scenario, tmp_path, run_cli):
    # The bound: 2.5 batch latencies (SingleStream's median above: one batch of this same program). Twelve
    # queries arriving at once take six batches, so above some rate the bound breaks whatever the
    # machine's speed: the doubling of the rate stops, and the binary search ends in a few tests
    # (loadgen refuses fewer queries than 1.5 x the bound needs: bench.jobs.loadgen.settings).
    _, rows, _ = every_scenario
    bound_ms = 2500 * rows.latency_p50_s[2]
    proc = run_cli("loadgen", "--scenario", "server", "--find-peak", "--batch-per-device", "2", "-n", "1",
                   "--min-duration", "0", "--min-queries", "12", "--target-latency-ms", f"{bound_ms:.0f}",
                   "--out", tmp_path, "--run-id", "peak", check=True)
    row = pd.read_parquet(tmp_path / "peak" / "scenarios.parquet").iloc[0]
    assert row["mode"] == "find-peak" and row.peak_qps > 0
    detail = (tmp_path / "peak" / row.log_dir / "mlperf_log_detail.txt").read_text()
    assert "Found peak performance field" in detail
    assert "peak" in proc.stderr


@pytest.fixture(scope="module")
def accuracy_run(tmp_path_factory, run_cli, torch_clip, inception_weights):
    out = tmp_path_factory.mktemp("accuracy")
    reference = out / "reference"
    reference.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(reference / f"{i}.png")
    run_cli("loadgen", "--scenario", "offline", "--mode", "accuracy", "--batch-per-device", "2", "-n", "2",
            "--seed", "7", "--eval-clip", torch_clip, "--fid-ref", reference,
            "--inception-weights", inception_weights, "--out", out, "--run-id", "acc", check=True)
    run_cli("generate", "sunset over a lake in the mountains", "the Eiffel tower landing on the moon",
            "-n", "2", "--seed", "7", "--batch-per-device", "2", "--out", out / "generated",
            "--no-progress", check=True)
    return out


def test_accuracy_mode_writes_log_images_and_quality_columns(accuracy_run):
    run_dir = accuracy_run / "acc"
    row = pd.read_parquet(run_dir / "scenarios.parquet").iloc[0]
    assert row["mode"] == "accuracy" and row.accuracy_images == 4
    entries = json.loads((run_dir / row.log_dir / "mlperf_log_accuracy.json").read_text())
    assert sorted({e["qsl_idx"] for e in entries}) == [0, 1, 2, 3]
    images = run_dir / row.images_dir
    assert sorted(p.name for p in images.glob("*.png")) == [f"prompt{p:03d}_sample{s:03d}.png"
                                                           for p in range(2) for s in range(2)]
    assert np.isfinite(row.clip_score) and row.clip_model
    assert np.isfinite(row.fid) and row.fid_biased and np.isfinite(row.kid_mean)


def test_accuracy_images_equal_generates_for_the_same_keys(accuracy_run):
    run_dir = accuracy_run / "acc"
    row = pd.read_parquet(run_dir / "scenarios.parquet").iloc[0]
    generated = accuracy_run / "generated"
    np.testing.assert_array_equal(np.load(run_dir / row.images_dir / "tokens.npy"),
                                  np.load(generated / "tokens.npy"))
    for png in sorted((generated).glob("prompt*_sample*.png")):
        ours = np.asarray(Image.open(run_dir / row.images_dir / png.name))
        np.testing.assert_array_equal(ours, np.asarray(Image.open(png)))


@pytest.mark.parametrize("args, message", [
    (["--scenario", "ofline"], "unknown scenario 'ofline'"),
    (["--scenario", "server", "--target-qps", "0"], "--target-qps must be > 0"),
    (["--scenario", "server", "--target-latency-ms", "-5"], "--target-latency-ms must be > 0"),
    (["--scenario", "offline", "--max-batch-wait-ms", "-1"], "--max-batch-wait-ms must be >= 0"),
    (["--scenario", "offline", "--find-peak"], "--find-peak"),
    (["--scenario", "offline", "--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "0"],
     "multi-process loadgen"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run_cli, tmp_path, args, message):
    proc = run_cli("loadgen", *args, "--out", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_find_peak_that_could_not_stop_is_refused_before_anything_is_written(run_cli, tmp_path):
    """Checked after the warm-up (the bound comes from it): 2 queries at once fit the default bound
    of 5 batches, so LoadGen would double the rate without end."""
    proc = run_cli("loadgen", "--scenario", "server", "--find-peak", "--min-queries", "2", "--out", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and errors[0].startswith("Error: --find-peak: 2 queries arriving at once"), proc.stderr
    assert "use --min-queries" in errors[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unreadable_user_conf_and_too_many_devices(run_cli, tmp_path):
    bad = tmp_path / "user.conf"
    bad.write_text("this is not a setting\n")
    for args, message in ((["--user-conf", bad], "LoadGen could not read"),
                          (["--user-conf", tmp_path / "missing.conf"], "file not found"),
                          (["--devices", "64", "--host-devices", "2"], "--devices 64: only 2")):
        proc = run_cli("loadgen", "--scenario", "offline", *args, "--out", tmp_path / "out")
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (tmp_path / "out").exists()


def _copy_with(run_dir: Path, dest: Path, **changes) -> Path:
    """A copy of a loadgen run whose first scenario row has `changes`."""
    import shutil

    shutil.copytree(run_dir, dest)
    rows = pd.read_parquet(dest / "scenarios.parquet")
    for column, value in changes.items():
        rows[column] = rows[column].astype(object)
        rows.at[0, column] = value
    import pyarrow as pa

    pq.write_table(pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False), dest / "scenarios.parquet")
    return dest


def test_compare_fails_a_candidate_invalid_where_the_baseline_was_valid(every_scenario, run_cli, tmp_path):
    run_dir, rows, _ = every_scenario
    base = _copy_with(run_dir, tmp_path / "base", validity="VALID", invalid_reason=None)
    same = run_cli("compare", base, base)
    assert same.returncode == 0, same.stdout + same.stderr
    worse = _copy_with(run_dir, tmp_path / "worse", validity="INVALID", invalid_reason="min duration not met")
    proc = run_cli("compare", base, worse)
    assert proc.returncode == 1 and "INVALID where the baseline was VALID: min duration not met" in proc.stdout
    slower = _copy_with(run_dir, tmp_path / "slower", validity="VALID", result_value=rows.result_value[0] * 0.5)
    proc = run_cli("compare", base, slower, "--format", "json")
    gates = json.loads(proc.stdout)["gates"]
    assert proc.returncode == 1
    assert [g["verdict"] for g in gates if g["scenario_id"] == "offline-performance"] == ["ok", "regression"]


def test_ctrl_c_keeps_loadgens_logs_and_says_the_run_is_incomplete(tiny_cache, tmp_path):
    import signal
    import time

    from tests.conftest import start_long_loadgen

    proc, lines = start_long_loadgen(tiny_cache, tmp_path, "--batch-per-device", "2")
    time.sleep(3)  # a few samples into the test
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    stderr = "".join(lines) + rest
    assert proc.returncode == 130, stderr
    assert "Interrupted: the run is incomplete" in stderr
    run_dir = tmp_path / "stopped"
    row = pd.read_parquet(run_dir / "scenarios.parquet").iloc[0]
    assert row.status == "interrupted" and "incomplete" in row.error
    assert (run_dir / row.log_dir / "mlperf_log_detail.txt").is_file()
