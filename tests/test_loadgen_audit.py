"""`dalle-bench loadgen --audit test01|caching` (bench/jobs/loadgen/audit.py) and `loadgen check`'s audit
rule (bench/jobs/loadgen/check.py) on real audited runs: short Offline runs of the `shapes` benchmark
definition, made once per module through the CLI (test01: accuracy, then performance with LoadGen
logging a sampled share of its responses; caching: performance with distinct samples, one sample,
distinct samples). The FAIL cases are copies of those runs whose logged responses or records are
changed, judged by the same code; the caching verdict's maths is a pure test (the real caching run's
record is checked against that maths on its own figures, not for PASS: a speed ratio on shared cores)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.base.errors import BenchError
from bench.commands.loadgen_check import read_run
from bench.jobs.loadgen.audit import AUDITS, CACHING_THRESHOLD, caching_speedup, judge_caching, judge_test01
from bench.jobs.loadgen.check import audits_passed, check
from bench.jobs.loadgen.logs import ACCURACY, DETAIL, read_accuracy_log
from bench.jobs.loadgen.responses import ResponseLayout
from bench.jobs.loadgen.settings import mlperf_conf_seeds


def logged_responses(path: Path) -> list[tuple[int, bytes]]:
    return read_accuracy_log(path, keep_repeats=True)

pytestmark = pytest.mark.xdist_group("test_loadgen_audit")
needs_run = pytest.mark.integration  # a LoadGen run: the integration tier (make test-integration)


@pytest.fixture(scope="module")
def audited(tmp_path_factory, run_cli) -> Path:
    out = tmp_path_factory.mktemp("audit")
    proc = run_cli("loadgen", "--benchmark", "shapes", "--scenario", "offline", "--audit", "test01",
                   "--batch-per-device", "4", "--min-duration", "0.5", "--min-queries", "8", "--out", out,
                   "--run-id", "test01", check=True)
    assert "audit test01 (Offline): PASS" in proc.stderr
    return out / "test01"


@pytest.fixture(scope="module")
def caching(tmp_path_factory, run_cli) -> Path:
    out = tmp_path_factory.mktemp("caching")
    run_cli("loadgen", "--benchmark", "shapes", "--scenario", "offline", "--audit", "caching", "--batch-per-device",
            "4", "--min-duration", "0.5", "--min-queries", "8", "--out", out, "--run-id", "caching", check=True)
    return out / "caching"


def _verdict(run_dir: Path):
    """TEST01's verdict recomputed from a run folder's two accuracy logs."""
    run = json.loads((run_dir / "run.json").read_text())
    tokens = run["response_layout"]["tokens"]
    logs = run_dir / "loadgen"
    return judge_test01("Offline", logged_responses(logs / "offline-performance" / ACCURACY),
                          ResponseLayout(tokens, None), logged_responses(logs / "offline-accuracy" / ACCURACY),
                          ResponseLayout(tokens, tuple(run["response_layout"]["image_shape"])))


@needs_run
def test_test01_passes_on_the_real_pipeline(audited):
    run = json.loads((audited / "run.json").read_text())
    (record,) = run["audits"]
    assert record["name"] == "test01" and record["scenario"] == "Offline" and record["verdict"] == "PASS"
    assert record["compared"] >= 1 and record["differ"] == 0
    assert run["loadgen"]["audit"] == "test01" and run["loadgen"]["mode"] == "both"
    # What was recorded is what the logs say: every response logged in performance mode, tokens only.
    logged = logged_responses(audited / "loadgen" / "offline-performance" / ACCURACY)
    assert len(logged) == record["compared"]
    assert {len(data) for _, data in logged} == {4 * run["response_layout"]["tokens"]}
    assert _verdict(audited).to_json() == record


@needs_run
def test_test01_fails_when_a_logged_response_differs(audited, tmp_path):
    broken = Path(shutil.copytree(audited, tmp_path / "broken"))
    log = broken / "loadgen" / "offline-performance" / ACCURACY
    entries = json.loads(log.read_text())
    data = bytearray.fromhex(entries[0]["data"])
    data[0] ^= 1  # one token changed: a response that is not accuracy mode's
    entries[0]["data"] = data.hex().upper()
    log.write_text(json.dumps(entries))
    result = _verdict(broken)
    assert result.verdict == "FAIL" and result.differ == 1 and result.compared == len(entries)
    assert f"1 of {len(entries)} responses logged in performance mode differ" in result.reason
    assert f"sample {entries[0]['qsl_idx']}: 1 of " in result.reason
    log.write_text("[]")  # nothing logged: nothing shows the system honest
    assert _verdict(broken).verdict == "FAIL" and "no performance-mode response" in _verdict(broken).reason


@needs_run
def test_the_caching_audit_records_its_verdict_from_loadgens_figures(caching):
    """Three performance tests of LoadGen (distinct, same sample, distinct); the record is the verdict of
    judge_caching on the figures LoadGen gave those tests (whether one sample ran faster than 1.1x on
    these shared cores is not asserted: the PASS/FAIL maths is test_caching_verdict_maths)."""
    run = json.loads((caching / "run.json").read_text())
    (record,) = run["audits"]
    assert record["name"] == "caching" and record["scenario"] == "Offline", record
    rows = {row.row["scenario_id"]: row.row for row in read_run(caching).tests}
    assert record == judge_caching("Offline", [rows["offline-performance"]["result_value"],
                                              rows["offline-caching-distinct"]["result_value"]],
                                   rows["offline-caching-same"]["result_value"]).to_json()
    assert list(rows) == ["offline-performance", "offline-caching-same", "offline-caching-distinct"]
    assert {row["mode"] for row in rows.values()} == {"performance"}
    assert record["figures"]["same"] == rows["offline-caching-same"]["result_value"]
    assert record["figures"]["distinct_runs"] == [rows["offline-performance"]["result_value"],
                                                  rows["offline-caching-distinct"]["result_value"]]
    # LoadGen issued one sample for every query of the same-sample test, distinct ones otherwise.
    details = {test.name: test.detail for test in read_run(caching).tests}
    assert details["offline-caching-same"].get("effective_performance_issue_same") is True
    assert details["offline-performance"].get("effective_performance_issue_same") is False
    # `loadgen check` tells the audit's one-sample test from the plain ones by that record.
    assert {test.name: test.audit for test in read_run(caching).tests} == {
        "offline-performance": None, "offline-caching-same": "caching", "offline-caching-distinct": None}


def test_caching_verdict_maths():
    """Offline: samples/s, higher is faster; SingleStream: latency, lower is faster. FAIL past 1.1x faster
    than the fastest distinct-sample test; equal figures are 1.0x."""
    assert CACHING_THRESHOLD == 1.10
    assert caching_speedup("Offline", 2.0, 3.0) == pytest.approx(1.5)
    assert caching_speedup("SingleStream", 3.0, 2.0) == pytest.approx(1.5)
    assert judge_caching("Offline", [2.0, 2.0], 2.0).verdict == "PASS"
    assert judge_caching("Offline", [2.0, 1.8], 2.2).verdict == "PASS"  # 1.1x: at the bound, allowed
    assert judge_caching("Offline", [2.0, 1.8], 2.21).verdict == "FAIL"  # 1.105x
    assert judge_caching("Offline", [1.8, 2.0], 2.1).verdict == "PASS"  # 1.05x the faster distinct, 1.17x the slower
    failed = judge_caching("SingleStream", [1.0, 1.2], 0.5)
    assert failed.verdict == "FAIL" and failed.figures["speedup"] == pytest.approx(2.0)
    assert "2.000x, faster than the 1.1x allowed" in failed.reason
    assert judge_caching("SingleStream", [1.0, 1.2], 0.95).verdict == "PASS"  # one sample a little slower: fine
    assert judge_caching("Offline", [2.0], 1.0).verdict == "PASS"
    for distinct, same in (([2.0, None], 2.0), ([], 2.0), ([2.0], None), ([0.0], 2.0)):
        assert judge_caching("Offline", distinct, same).verdict == "FAIL"  # a figure missing is never a pass
    with pytest.raises(ValueError):
        caching_speedup("Offline", 0.0, 1.0)


@needs_run
def test_check_reads_the_audit_records(audited, caching, tmp_path):
    # Both audits passed among the folders given: the rule passes; either alone leaves the other missing.
    assert audits_passed([read_run(audited), read_run(caching)]) == []
    messages = [f.message for f in audits_passed([read_run(audited)])]
    assert messages == ["no caching audit among the folders given (loadgen --audit caching)"]
    assert [f.message for f in audits_passed([read_run(caching)])] == [
        "no TEST01 audit of Offline among the folders given (loadgen --audit test01)"]
    failed = Path(shutil.copytree(audited, tmp_path / "failed"))
    run = json.loads((failed / "run.json").read_text())
    run["audits"][0].update(verdict="FAIL", reason="2 of 8 responses differ")
    (failed / "run.json").write_text(json.dumps(run))
    failures = audits_passed([read_run(failed), read_run(caching)])
    assert [(f.where, f.message) for f in failures] == [
        (str(failed), "TEST01 audit of Offline FAIL: 2 of 8 responses differ")]
    # An audit folder given with a plain run clears its TEST01 need; without it, the need stands. (The
    # copy's performance test made plain: LoadGen's record of the audit's response logging set to none.)
    plain = Path(shutil.copytree(audited, tmp_path / "plain"))
    run["audits"] = []
    (plain / "run.json").write_text(json.dumps(run))
    _set_detail(plain / "loadgen" / "offline-performance" / DETAIL, effective_accuracy_log_probability=0.0,
                effective_accuracy_log_sampling_target=0)
    assert read_run(plain).tests[1].audit is None
    assert "no TEST01 audit of Offline among the folders given (loadgen --audit test01)" in [
        f.message for f in audits_passed([read_run(plain)])]
    assert audits_passed([read_run(plain), read_run(audited), read_run(caching)]) == []


REPO = Path(__file__).resolve().parents[1]


@needs_run
def test_test01_fails_on_a_system_that_answers_timed_queries_from_a_cache(run_cli, tmp_path):
    """A test copy of the repository whose system, in performance mode only, answers every sample of a
    batch with the batch's first response (a cache that ignores which sample was asked): the accuracy
    test is honest, so only the audit can catch it, and it does — FAIL, exit 1, recorded."""
    copy = tmp_path / "repo"
    copy.mkdir()
    # bench/data is linked, not copied (7 MB, only read): the prompts, the checkpoints and the definition's
    # reference run, whose results/baselines/shapes is not in this copy and so resolves to the package data
    shutil.copytree(REPO / "bench", copy / "bench",
                    ignore=lambda folder, names: {"data"} if folder == str(REPO / "bench") else set())
    (copy / "bench" / "data").symlink_to(REPO / "bench" / "data")
    for name in ("evals", "pyproject.toml"):
        (copy / name).symlink_to(REPO / name)
    system = copy / "bench" / "jobs" / "loadgen" / "system.py"
    honest = "                   for i in range(len(batch))]\n"
    assert system.read_text().count(honest) == 1
    system.write_text(system.read_text().replace(honest, honest + (
        "        if self.layout.image_shape is None:  # performance mode: the batch's first response for all\n"
        "            buffers = [buffers[0]] * len(buffers)\n")))
    proc = run_cli("loadgen", "--benchmark", "shapes", "--scenario", "offline", "--audit", "test01",
                   "--batch-per-device", "4", "--min-duration", "0.5", "--min-queries", "8", "--out", tmp_path,
                   "--run-id", "cached", cwd=copy)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (record,) = json.loads((tmp_path / "cached" / "run.json").read_text())["audits"]
    assert record["verdict"] == "FAIL" and record["compared"] >= 2 and record["differ"] >= 1, record
    assert "responses logged in performance mode differ from accuracy mode's" in record["reason"]
    assert f"audit FAIL: audit test01 (Offline): FAIL: {record['differ']} of {record['compared']}" in proc.stderr


def test_audit_refuses_another_mode_before_loading(cli_inprocess, tmp_path):
    proc = cli_inprocess("loadgen", "--preset", "tiny", "--scenario", "offline", "--audit", "test01", "--mode",
                         "performance", "--out", tmp_path)
    assert proc.returncode == 2 and "--audit test01 runs accuracy and performance (--mode both)" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not list(tmp_path.iterdir())
    server = cli_inprocess("loadgen", "--preset", "tiny", "--scenario", "server", "--audit", "caching",
                           "--out", tmp_path)
    assert server.returncode == 2 and "--audit caching: scenarios Offline and SingleStream only" in server.stderr
    unknown = cli_inprocess("loadgen", "--scenario", "offline", "--audit", "test02", "--out", tmp_path)
    assert unknown.returncode == 2 and "test02" in unknown.stderr


def _set_detail(log: Path, **values) -> None:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith(":::MLLOG "):
            record = json.loads(line[len(":::MLLOG "):])
            if record["key"] in values:
                line = ":::MLLOG " + json.dumps({**record, "value": values[record["key"]]})
        lines.append(line)
    log.write_text("\n".join(lines) + "\n")


@needs_run
def test_test01s_performance_test_is_an_audit_not_the_submissions_performance_test(audited, caching):
    """TEST01's performance test logs responses (LoadGen's accuracy_log_probability): an audit's test,
    not a submission figure, so a TEST01 folder alone has no performance test; the caching folder's
    distinct-sample tests are plain ones."""
    tests = read_run(audited).tests
    assert [(test.name, test.audit, test.timed) for test in tests] == [
        ("offline-accuracy", None, False), ("offline-performance", "test01", False)]
    assert tests[1].detail["effective_accuracy_log_probability"] > 0
    failures = check([read_run(audited)], mlperf_conf_seeds())
    assert [f.message for f in failures if f.rule == "valid"] == ["no performance test in the folders given"]
    assert not [f for f in check([read_run(audited), read_run(caching)], mlperf_conf_seeds()) if f.rule == "valid"]


def test_test01_counts_a_response_of_the_wrong_length_as_differing():
    """A logged response whose length is not the layout's cannot be compared: it differs, with the
    reason, and the audit FAILs instead of raising."""
    import numpy as np

    performance, accuracy = ResponseLayout(2, None), ResponseLayout(2, (1, 1, 3))
    image = np.zeros((1, 1, 3), np.float32)
    reference = [(i, accuracy.encode(np.array([i, i + 1]), image).tobytes()) for i in range(3)]
    good = [(i, performance.encode(np.array([i, i + 1]), None).tobytes()) for i in range(3)]
    assert judge_test01("Offline", good, performance, reference, accuracy).verdict == "PASS"
    result = judge_test01("Offline", [*good[:2], (2, good[2][1][:-1])], performance, reference, accuracy)
    assert (result.verdict, result.compared, result.differ) == ("FAIL", 3, 1)
    assert "sample 2: the performance-mode response: a response holds 7 bytes, the layout 8" in result.reason
    damaged_reference = [*reference[:2], (2, reference[2][1] + b"x")]
    result = judge_test01("Offline", good, performance, damaged_reference, accuracy)
    assert (result.verdict, result.differ) == ("FAIL", 1)
    assert "sample 2: accuracy mode's response: a response holds 12 bytes, the layout 11" in result.reason


@pytest.mark.parametrize("text, says", [
    ("[{", "JSONDecodeError"), ('{"qsl_idx": 0}', "not a list of responses"), ('[{"qsl_idx": 0}]', "KeyError"),
    ('[{"qsl_idx": 0, "data": "zz"}]', "ValueError"), ('[{"qsl_idx": "0", "data": "00"}]', "not a sample index"),
    ('[5]', "TypeError")])
def test_a_damaged_accuracy_log_is_one_bench_error_naming_it(tmp_path, text, says):
    log = tmp_path / ACCURACY
    log.write_text(text)
    for keep_repeats in (False, True):
        with pytest.raises(BenchError, match="damaged LoadGen accuracy log") as error:
            read_accuracy_log(log, keep_repeats=keep_repeats)
        assert str(log) in str(error.value) and says in str(error.value) and "\n" not in str(error.value)


def test_the_accuracy_log_reader_keeps_repeats_only_when_asked(tmp_path):
    log = tmp_path / ACCURACY
    log.write_text(json.dumps([{"seq_id": 0, "qsl_idx": 3, "data": "01"}, {"seq_id": 1, "qsl_idx": 1, "data": "02"},
                               {"seq_id": 2, "qsl_idx": 3, "data": "03"}]))
    assert read_accuracy_log(log) == [(1, b"\x02"), (3, b"\x01")]
    assert read_accuracy_log(log, keep_repeats=True) == [(3, b"\x01"), (1, b"\x02"), (3, b"\x03")]


def test_the_audit_option_offers_every_audit(cli_inprocess):
    help_text = " ".join(cli_inprocess("loadgen", "--help", check=True).stdout.split())
    assert f"--audit [{'|'.join(AUDITS)}]" in help_text
