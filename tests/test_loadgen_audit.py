"""`dalle-bench loadgen --audit test01|caching` (bench/loadgen/audit.py) and `loadgen check`'s audit
rule (bench/loadgen/check.py) on real audited runs: short Offline runs of the `shapes` benchmark
definition, made once per module through the CLI (test01: accuracy, then performance with LoadGen
logging a sampled share of its responses; caching: performance with distinct samples, one sample,
distinct samples). The FAIL cases are copies of those runs whose logged responses or records are
changed, judged by the same code; the caching verdict's maths is a pure test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.commands.loadgen_check import read_run
from bench.loadgen.audit import (CACHING_THRESHOLD, caching_speedup, judge_caching, judge_test01,
                                 logged_responses)
from bench.loadgen.check import audits_passed
from bench.loadgen.logs import ACCURACY
from bench.loadgen.responses import ResponseLayout

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
def test_the_caching_audit_passes_on_the_real_pipeline(caching):
    """Three performance tests of LoadGen (distinct, same sample, distinct): the pipeline does the same work
    for any sample, so one sample is not faster beyond noise."""
    run = json.loads((caching / "run.json").read_text())
    (record,) = run["audits"]
    assert record["name"] == "caching" and record["scenario"] == "Offline", record
    assert record["verdict"] == "PASS", record["reason"]
    rows = {row.row["scenario_id"]: row.row for row in read_run(caching).tests}
    assert list(rows) == ["offline-performance", "offline-caching-same", "offline-caching-distinct"]
    assert {row["mode"] for row in rows.values()} == {"performance"}
    assert record["figures"]["same"] == rows["offline-caching-same"]["result_value"]
    assert record["figures"]["distinct_runs"] == [rows["offline-performance"]["result_value"],
                                                  rows["offline-caching-distinct"]["result_value"]]
    # LoadGen issued one sample for every query of the same-sample test, distinct ones otherwise.
    details = {test.name: test.detail for test in read_run(caching).tests}
    assert details["offline-caching-same"].get("effective_performance_issue_same") is True
    assert details["offline-performance"].get("effective_performance_issue_same") is False


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
    # An audit folder given with a plain run clears its TEST01 need; without it, the need stands.
    plain = Path(shutil.copytree(audited, tmp_path / "plain"))
    run["audits"] = []
    (plain / "run.json").write_text(json.dumps(run))
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
    shutil.copytree(REPO / "bench", copy / "bench")
    for name in ("prompts", "checkpoints", "evals", "pyproject.toml"):
        (copy / name).symlink_to(REPO / name)
    (copy / "results").mkdir()
    (copy / "results" / "baselines").symlink_to(REPO / "results" / "baselines")  # the definition's reference run
    system = copy / "bench" / "loadgen" / "system.py"
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


def test_audit_refuses_another_mode_before_loading(run_cli, tmp_path):
    proc = run_cli("loadgen", "--preset", "tiny", "--scenario", "offline", "--audit", "test01", "--mode",
                   "performance", "--out", tmp_path)
    assert proc.returncode == 2 and "--audit test01 runs accuracy and performance (--mode both)" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not list(tmp_path.iterdir())
    server = run_cli("loadgen", "--preset", "tiny", "--scenario", "server", "--audit", "caching", "--out", tmp_path)
    assert server.returncode == 2 and "--audit caching: scenarios Offline and SingleStream only" in server.stderr
    unknown = run_cli("loadgen", "--scenario", "offline", "--audit", "test02", "--out", tmp_path)
    assert unknown.returncode == 2 and "test02" in unknown.stderr
