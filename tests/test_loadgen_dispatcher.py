"""The dynamic batcher on its own: batching decisions (pure), and the
threads with a stand-in program (the pipeline's part is tested end to end in
test_loadgen.py); and the response bytes' round trip."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from bench.jobs.loadgen.dispatcher import Dispatcher, wait_before_batch
from bench.jobs.loadgen.responses import ResponseLayout


def test_wait_before_batch():
    assert wait_before_batch(0, 4, 0.0, 0.01) == float("inf")
    assert wait_before_batch(4, 4, 0.0, 1.0) == 0.0  # full
    assert wait_before_batch(1, 4, 0.02, 0.01) == 0.0  # the oldest waited out the window
    assert wait_before_batch(1, 4, 0.0, 0.0) == 0.0  # no window: run what is queued
    assert wait_before_batch(2, 4, 0.004, 0.01) == pytest.approx(0.006)


def _samples(start, count):
    return [SimpleNamespace(id=1000 + i, index=i % 3) for i in range(start, start + count)]


def run_dispatcher(max_batch, window_s, arrivals, launch_seconds=0.0, gate=None):
    launched, completed = [], []
    done = threading.Event()
    total = sum(len(a) for a in arrivals)

    def launch(indices):
        if gate is not None:
            gate.wait()
        launched.append(list(indices))
        time.sleep(launch_seconds)
        return indices

    def complete(batch, outputs):
        assert outputs == [q.index for q in batch]
        completed.extend(q.id for q in batch)
        if len(completed) == total:
            done.set()

    dispatcher = Dispatcher(launch, lambda outputs: None, complete, max_batch, window_s).start()
    issue_seconds = []
    for samples in arrivals:
        start = time.perf_counter()
        dispatcher.issue(samples)
        issue_seconds.append(time.perf_counter() - start)
    if gate is not None:
        gate.set()
    assert done.wait(10)
    dispatcher.stop()
    return launched, completed, issue_seconds, dispatcher


def test_offline_burst_is_cut_into_full_batches_and_every_sample_completes_once():
    launched, completed, _, dispatcher = run_dispatcher(4, 0.0, [_samples(0, 10)])
    assert sorted(completed) == [1000 + i for i in range(10)]
    assert all(len(b) <= 4 for b in launched) and sum(map(len, launched)) == 10
    assert dispatcher.batches == len(launched) and dispatcher.error is None


def test_issue_never_waits_for_the_device():
    gate = threading.Event()  # the "device" is stuck until every query has been issued
    launched, completed, issue_seconds, _ = run_dispatcher(2, 0.0, [_samples(i, 1) for i in range(6)], gate=gate)
    assert max(issue_seconds) < 0.05 and len(completed) == 6


def test_samples_queued_while_the_device_is_busy_join_one_batch():
    # The first batch takes 0.2 s; the five samples issued meanwhile go out together, not one by one.
    launched, _, _, dispatcher = run_dispatcher(8, 0.0, [_samples(0, 1), *[_samples(i, 1) for i in range(1, 6)]],
                                                launch_seconds=0.2)
    assert len(launched) <= 3 and dispatcher.mean_fill is not None


def test_the_window_waits_for_a_batch_to_fill():
    launched, _, _, _ = run_dispatcher(4, 0.5, [_samples(0, 1), _samples(1, 1), _samples(2, 1)])
    assert [len(b) for b in launched] == [3]


def test_a_failing_program_still_completes_every_sample():
    completed = []

    def launch(indices):
        raise RuntimeError("device lost")

    dispatcher = Dispatcher(launch, lambda o: None, lambda batch, out: completed.extend(q.id for q in batch), 2,
                            0.0).start()
    dispatcher.issue(_samples(0, 5))
    deadline = time.time() + 5
    while len(completed) < 5 and time.time() < deadline:
        time.sleep(0.01)
    dispatcher.stop()
    assert sorted(completed) == [1000 + i for i in range(5)] and "device lost" in str(dispatcher.error)


def test_response_bytes_round_trip():
    layout = ResponseLayout(tokens=5, image_shape=(2, 3, 3))
    tokens = np.array([0, 1, 16383, 7, 2**20], np.int32)
    image = np.linspace(0, 1, 18, dtype=np.float32).reshape(2, 3, 3)
    back_tokens, back_image = layout.decode(layout.encode(tokens, image).tobytes())
    np.testing.assert_array_equal(back_tokens, tokens)
    np.testing.assert_array_equal(back_image, np.round(image * 255).astype(np.uint8))
    with pytest.raises(ValueError):
        layout.decode(b"\0" * 3)


def test_compare_gates_validity_and_the_result_metric():
    from bench.jobs.compare.thresholds import Thresholds
    from bench.jobs.loadgen.compare import compare_scenarios, passed

    def row(sid, metric, value, validity):
        return {"scenario_id": sid, "result_metric": metric, "result_value": value, "validity": validity,
                "status": "ok", "invalid_reason": None if validity == "VALID" else "early stopping not met"}

    base = [row("offline-performance", "samples_per_s", 10.0, "VALID"),
            row("singlestream-performance", "latency_s", 1.0, "INVALID")]
    same = compare_scenarios(base, base, Thresholds())
    assert passed(same) and [g.verdict for g in same] == ["ok", "ok", "ok", "ok"]
    # Slightly slower, within 5 %; a latency 20 % up; and the baseline's INVALID test stays ungated.
    cand = [row("offline-performance", "samples_per_s", 9.7, "VALID"),
            row("singlestream-performance", "latency_s", 1.2, "INVALID")]
    gates = compare_scenarios(base, cand, Thresholds())
    assert [g.verdict for g in gates] == ["ok", "ok", "ok", "regression"]
    lost = compare_scenarios(base, [row("offline-performance", "samples_per_s", 11.0, "INVALID")], Thresholds())
    assert [g.verdict for g in lost] == ["regression", "ok", "regression"]
    assert "VALID" in lost[0].reason and lost[2].reason == "missing from the candidate"


def test_compare_refuses_a_baseline_figure_it_cannot_measure_a_change_against():
    """A baseline inf would give a NaN change (not gated: a pass), one <= 0 a change of the wrong sign:
    refused; a candidate's finished test without a figure is a regression, not a pass."""
    from bench.jobs.compare.thresholds import Thresholds
    from bench.jobs.loadgen.compare import baseline_problem, compare_scenarios, passed

    def row(value, status="ok"):
        return {"scenario_id": "offline-performance", "result_metric": "samples_per_s", "result_value": value,
                "validity": "VALID", "status": status, "invalid_reason": None}

    assert baseline_problem([row(10.0), row(None), row(float("nan"))]) is None
    for bad in (float("inf"), float("-inf"), 0.0, -10.0):
        assert baseline_problem([row(bad)]) == f"offline-performance's samples_per_s is {bad}: not a measured figure"
        with pytest.raises(ValueError, match="not a measured figure"):
            compare_scenarios([row(bad)], [row(10.0)], Thresholds())
    gates = compare_scenarios([row(10.0)], [row(None)], Thresholds())
    assert not passed(gates) and gates[1].reason == "the candidate's test finished but has no samples_per_s figure"
    assert passed(compare_scenarios([row(10.0)], [row(10.0)], Thresholds()))
    assert passed(compare_scenarios([row(None)], [row(None)], Thresholds()))  # no figure on either side (accuracy)


def test_cli_compare_refuses_an_infinite_baseline_figure_in_one_line(cli_inprocess, tmp_path):
    from bench.results.scenario_store import ScenarioStore

    for name, value in (("base", float("inf")), ("cand", 10.0)):
        store = ScenarioStore.create(tmp_path / name, {"run_id": name})
        store.append({"run_id": name, "scenario_id": "offline-performance", "scenario": "Offline",
                      "mode": "performance", "status": "ok", "validity": "VALID", "result_metric": "samples_per_s",
                      "result_value": value})
    proc = cli_inprocess("compare", tmp_path / "base", tmp_path / "cand")
    assert proc.returncode == 2, proc.stderr
    assert (f"baseline {tmp_path / 'base' / 'scenarios.parquet'}: offline-performance's samples_per_s is inf: "
            f"not a measured figure") in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_the_scenarios_table_marks_tail_percentiles_its_latencies_cannot_support():
    import pandas as pd

    from bench.jobs.loadgen.report import scenario_table, with_support

    # As a `loadgen --scenario offline,server,singlestream,multistream --samples-per-query 2` run on the tiny
    # preset logs them: Offline's one query holds its 4 samples (LoadGen's percentiles are per sample there),
    # MultiStream's percentiles are per query.
    rows = pd.DataFrame([
        {"scenario_id": "offline-performance", "scenario": "Offline", "query_count": 1, "samples_per_query": 4,
         "latency_p50_s": 0.8795, "latency_p90_s": 0.8795, "latency_p99_s": 0.8795, "latency_p99_9_s": 0.8795},
        {"scenario_id": "server-performance", "scenario": "Server", "query_count": 25, "samples_per_query": 1,
         "latency_p50_s": 3.2939, "latency_p90_s": 5.298082, "latency_p99_s": 5.6809, "latency_p99_9_s": 5.7},
        {"scenario_id": "singlestream-performance", "scenario": "SingleStream", "query_count": 120,
         "samples_per_query": 1, "latency_p50_s": 0.4361, "latency_p90_s": 0.4601, "latency_p99_s": 0.4722,
         "latency_p99_9_s": 0.48},
        {"scenario_id": "multistream-performance", "scenario": "MultiStream", "query_count": 4, "samples_per_query": 2,
         "latency_p50_s": 0.4645, "latency_p90_s": 0.4783, "latency_p99_s": 0.4783, "latency_p99_9_s": 0.4783},
    ])
    table = scenario_table(rows)
    assert list(table["p90 s"]) == ["n/a (4 samples < 10)", "5.298", "0.4601", "n/a (4 queries < 10)"]
    assert list(table["p99 s"]) == ["n/a (4 samples < 100)", "n/a (25 queries < 100)", "0.4722",
                                    "n/a (4 queries < 100)"]
    assert list(table["p50 s"]) == list(rows.latency_p50_s)  # the median is not checked
    printed, markdown = table.to_string(index=False), table.to_markdown(index=False, floatfmt=".4g")
    assert "n/a (25 queries < 100)" in printed and "n/a (25 queries < 100)" in markdown
    csv = with_support(rows)  # the CSV keeps every value, with its verdict beside it
    assert list(csv.columns[csv.columns.get_loc("latency_p90_s"):][:2]) == ["latency_p90_s", "p90_supported"]
    assert list(csv.latency_p99_s) == list(rows.latency_p99_s)
    assert list(csv.p90_supported) == [False, True, True, False]
    assert list(csv.p99_supported) == [False, False, True, False]
    assert not csv.p99_9_supported.any()


def test_every_scenario_column_is_documented_in_the_schema_page():
    from bench.results.scenarios_schema import COLUMNS
    from tests.conftest import REPO

    page = (REPO / "docs" / "results-schema.md").read_text()
    section = page[page.index("## Scenario rows"):]
    assert all(column.doc for column in COLUMNS)
    assert not [c.name for c in COLUMNS if f"| `{c.name}` |" not in section]


def _fewest_queries_by_counting(bound_s, percentile, batch_seconds, global_batch, margin=1.5):
    """Add queries one at a time until the one at the percentile waits long enough."""
    import math

    queries = 1
    while math.ceil(math.ceil(percentile * queries - 1e-9) / global_batch) * batch_seconds < margin * bound_s - 1e-9:
        queries += 1
    return queries


@pytest.mark.parametrize("bound_s, percentile, batch_seconds, global_batch", [
    (1.25, 0.99, 0.25, 1), (2.5, 0.99, 1.0, 2), (2.5, 0.9, 1.0, 2), (10.0, 0.99, 1.0, 8), (0.1, 0.99, 1.0, 4),
    (5.0, 0.5, 1.0, 3), (2.71, 0.99, 0.25, 1),
])
def test_find_peak_needs_enough_queries_to_break_the_bound(bound_s, percentile, batch_seconds, global_batch):
    from bench.jobs.loadgen.settings import queries_to_break_bound

    assert queries_to_break_bound(bound_s, percentile, batch_seconds, global_batch) == \
        _fewest_queries_by_counting(bound_s, percentile, batch_seconds, global_batch)


def test_the_find_peak_that_never_stopped_is_refused():
    """Measured: tiny, 1 CPU device, 8 queries, bound 5 x the first warm-up call (2.71 s) while a
    steady batch took 0.25 s: 8 queries at once finish in 2 s, inside the bound, and LoadGen doubled
    the rate past 1e68 samples/s. With the steady batch behind the bound (1.25 s) 8 are enough."""
    from bench.base.errors import BenchError
    from bench.jobs.loadgen.settings import Capacity, check_find_peak_can_fail

    def settings(bound_s, queries):
        return SimpleNamespace(server_target_latency_ns=int(bound_s * 1e9), server_target_latency_percentile=0.99,
                               min_query_count=queries)

    steady = Capacity(batch_seconds=0.25, global_batch=1)
    with pytest.raises(BenchError, match="--find-peak: 8 queries arriving at once.*--min-queries 17 or more"):
        check_find_peak_can_fail(settings(2.71, 8), steady)
    check_find_peak_can_fail(settings(5 * 0.25, 8), steady)


LAYERING = """
import sys
import mlperf_loadgen as lg
from bench.jobs.loadgen.settings import MODEL_NAME, mlperf_conf_settings
conf, scenario = sys.argv[1], sys.argv[2]
ours = [mlperf_conf_settings(scenario, conf) for _ in range(3)]  # three tests of one process
reference = lg.TestSettings()
reference.FromConfig(conf, MODEL_NAME, scenario, 1)  # the references' one call: mlperf.conf, then the file
names = [n for n in dir(reference) if not n.startswith("_") and not callable(getattr(reference, n))]
for settings in ours:
    for name in names:
        assert getattr(settings, name) == getattr(reference, name), name
print(reference.qsl_rng_seed, reference.min_duration_ms, len(names))
"""


@pytest.mark.parametrize("scenario", ["Offline", "Server"])
def test_each_tests_settings_equal_the_references_one_user_conf_read(tmp_path, scenario):
    """mlperf_conf_settings (mlperf.conf, then the file with conf_type 2), called for every test,
    gives what LoadGen's first FromConfig(user.conf, type 1) of a process gives, every attribute."""
    import subprocess
    import sys

    from tests.conftest import REPO

    conf = tmp_path / "user.conf"
    conf.write_text("*.*.min_duration = 500\ndalle-mini.Server.target_qps = 3\n")
    proc = subprocess.run([sys.executable, "-c", LAYERING, str(conf), scenario], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seed, duration, count = proc.stdout.split()
    assert int(seed) == 2085463073848966840 and int(duration) == 500 and int(count) > 30
