"""`dalle-bench loadgen check RUN_DIR...` (bench/jobs/loadgen/check.py): the rules of a submittable run,
each shown to fail on a copy of a real run folder that breaks it. The run: a short Offline run of
the `shapes` benchmark definition (accuracy and performance), VALID for its settings and below the
official minimums, made once per module through the CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.commands.loadgen_check import read_run
from bench.jobs.loadgen.band import Band, check_bands
from bench.jobs.loadgen.benchmark import load_benchmark
from bench.jobs.loadgen.check import (
    LoadGenTest,
    accuracy_passed,
    audits_passed,
    benchmark_run,
    check,
    definition_in_force,
    mlperf_seeds,
    no_errors,
    official_minimums,
    same_code_and_settings,
    valid,
)
from bench.jobs.loadgen.logs import DETAIL
from bench.jobs.loadgen.settings import mlperf_conf_seeds

pytestmark = pytest.mark.xdist_group("test_loadgen_check")
# The tests that need the real run: LoadGen scenarios are the integration tier (make test-integration).
needs_run = pytest.mark.integration


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, run_cli) -> Path:
    out = tmp_path_factory.mktemp("check")
    run_cli("loadgen", "--benchmark", "shapes", "--scenario", "offline", "--mode", "both", "--batch-per-device", "4",
            "--min-duration", "0.5", "--min-queries", "8", "--out", out, "--run-id", "short", check=True)
    return out / "short"


@pytest.fixture
def copy(short_run, tmp_path):
    """A fresh copy of the run folder to break, named NAME under tmp_path."""
    def make(name: str = "copy") -> Path:
        return Path(shutil.copytree(short_run, tmp_path / name))

    return make


def _rules(failures) -> set[str]:
    return {failure.rule for failure in failures}


def _set_run(run_dir: Path, edit) -> None:
    run = json.loads((run_dir / "run.json").read_text())
    edit(run)
    (run_dir / "run.json").write_text(json.dumps(run))


def _set_rows(run_dir: Path, mode: str, **columns) -> None:
    table = pq.read_table(run_dir / "scenarios.parquet")
    rows = [{**row, **columns} if row["mode"] == mode else row for row in table.to_pylist()]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), run_dir / "scenarios.parquet")


def _set_detail(run_dir: Path, scenario_id: str, extra: list[dict] = (), **values) -> None:
    """Change records of a test's detail log (and append `extra` records), in LoadGen's own format."""
    log = run_dir / "loadgen" / scenario_id / DETAIL
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith(":::MLLOG "):
            record = json.loads(line[len(":::MLLOG "):])
            if record["key"] in values:
                record["value"] = values[record["key"]]
                line = ":::MLLOG " + json.dumps(record)
        lines.append(line)
    lines += [":::MLLOG " + json.dumps(record) for record in extra]
    log.write_text("\n".join(lines) + "\n")


@needs_run
def test_the_short_benchmark_run_is_valid_but_not_submittable(short_run):
    """Every test VALID (or finished, for accuracy), no error, mlperf.conf's seeds, a benchmark run with
    its definition in force; only the official minimums, the audits and (with this checkout's state)
    the accuracy verdict and uncommitted code can fail."""
    run = read_run(short_run)
    assert [t.row["mode"] for t in run.tests] == ["accuracy", "performance"]
    failures = check([run], mlperf_conf_seeds())
    assert not _rules(failures) & {"valid", "no errors", "mlperf.conf seeds", "benchmark run", "definition in force"}
    short = [f for f in failures if f.rule == "official minimums"]
    assert [f.where for f in short] == [f"{short_run}/offline-performance"]
    assert short[0].message == ("valid but not submittable: min duration 0.5 s < the official 600 s, "
                                "min samples 8 < the official 40 (a short run)")
    assert _rules(failures) <= {"official minimums", "audits", "accuracy", "same code and settings"}


@needs_run
def test_official_minimums_pass_at_the_definitions_figures_and_fail_below(copy):
    run_dir = copy()
    _set_detail(run_dir, "offline-performance", effective_min_duration_ms=600000, effective_min_sample_count=40)
    assert official_minimums(read_run(run_dir)) == []
    _set_detail(run_dir, "offline-performance", effective_min_duration_ms=599999)
    (failure,) = official_minimums(read_run(run_dir))
    assert failure.message == "valid but not submittable: min duration 599.999 s < the official 600 s (a short run)"
    # A definition without the minimums for the scenario: the rule fails, it does not pass by default.
    text = load_benchmark("shapes").source.read_text().replace("official_min_query_count = 40\n", "")
    bare = run_dir / "bare.toml"
    bare.write_text(text)
    run = dataclasses.replace(read_run(run_dir), definition=load_benchmark(str(bare)))
    (failure,) = official_minimums(run)
    assert "gives no official minimums for Offline" in failure.message


@needs_run
def test_an_invalid_or_unfinished_test_fails_valid(copy):
    run_dir = copy()
    assert valid(read_run(run_dir)) == []
    _set_rows(run_dir, "performance", validity="INVALID", invalid_reason="min duration not met")
    (failure,) = valid(read_run(run_dir))
    assert failure.where.endswith("/offline-performance") and failure.message == "INVALID: min duration not met"
    # The official-minimums line of an INVALID test no longer says "valid".
    assert official_minimums(read_run(run_dir))[0].message.startswith("below the minimums: ")
    _set_rows(run_dir, "accuracy", status="interrupted", error="interrupted (Ctrl-C)")
    assert [f.message for f in valid(read_run(run_dir))] == ["test interrupted: interrupted (Ctrl-C)",
                                                             "INVALID: min duration not met"]


@needs_run
def test_an_error_in_the_detail_log_fails_no_errors(copy):
    run_dir = copy()
    assert no_errors(read_run(run_dir)) == []
    error = {"key": "error_runtime", "value": "Attempted to complete a sample twice.", "time_ms": 1.0,
             "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME",
             "metadata": {"is_error": True, "is_warning": False, "file": "logging.cc", "line_no": 1}}
    _set_detail(run_dir, "offline-performance", extra=[error], num_errors=1)
    (failure,) = no_errors(read_run(run_dir))
    assert failure.message == "LoadGen logged 1 error: error_runtime: Attempted to complete a sample twice."


@needs_run
def test_seeds_other_than_mlperf_confs_fail(copy):
    run_dir = copy()
    seeds = mlperf_conf_seeds()
    assert seeds["qsl_rng_seed"] == 2085463073848966840  # mlperf.conf's `*.*.qsl_rng_seed`
    assert mlperf_seeds(read_run(run_dir), seeds) == []
    _set_detail(run_dir, "offline-accuracy", effective_qsl_rng_seed=0)
    (failure,) = mlperf_seeds(read_run(run_dir), seeds)
    assert failure.where.endswith("/offline-accuracy")
    assert failure.message == "not mlperf.conf's seeds: qsl_rng_seed 0 (mlperf.conf: 2085463073848966840)"


@needs_run
def test_a_run_not_of_a_benchmark_definition_fails(copy):
    run_dir = copy()
    assert benchmark_run(read_run(run_dir)) == []

    def overridden(run):
        run["benchmark"].update(benchmark_run=False, overrides=["--preset tiny (definition: shapes)"])

    _set_run(run_dir, overridden)
    (failure,) = benchmark_run(read_run(run_dir))
    assert failure.message == ("not a benchmark run of `shapes`: options changed fixed fields: "
                               "--preset tiny (definition: shapes)")
    _set_run(run_dir, lambda run: run.update(benchmark=None))
    (failure,) = benchmark_run(read_run(run_dir))
    assert failure.message == "not a benchmark run: no --benchmark definition"


@needs_run
def test_loadgen_settings_that_differ_from_the_definition_fail(copy):
    """What a user.conf can change (the detail log is what LoadGen ran with): named field by field."""
    run_dir = copy()
    assert definition_in_force(read_run(run_dir)) == []
    _set_detail(run_dir, "offline-performance", effective_performance_sample_count=20)
    (failure,) = definition_in_force(read_run(run_dir))
    assert failure.message == ("LoadGen's settings differ from the definition: performance sample count 20 "
                               "(definition: 40)")


@needs_run
def test_accuracy_must_be_checked_and_pass_for_each_timed_scenario(short_run):
    run = read_run(short_run)
    accuracy, performance = run.tests

    def with_verdict(verdict, detail=None):
        checked = LoadGenTest({**accuracy.row, "accuracy_verdict": verdict, "accuracy_detail": detail}, accuracy.detail)
        return dataclasses.replace(run, tests=(checked, performance))

    # A PASS is judged again, from its stored figures, against the definition's band as it is now.
    assert [band.metric for band in run.bands] == ["adherence", "clip_score"]
    inside = json.dumps(check_bands({"adherence": 0.575, "clip_score": 66.0}, list(run.bands)).detail())
    assert accuracy_passed([with_verdict("PASS", inside)]) == []
    assert [f.message for f in accuracy_passed([with_verdict("PASS")])] == [
        "accuracy PASS without its figures (accuracy_detail missing or damaged): it cannot be judged against the "
        "definition's band"]
    assert [f.message for f in accuracy_passed([with_verdict(None)])] == [
        "accuracy not checked (no PASS/FAIL verdict against the definition's band)"]
    assert [f.message for f in accuracy_passed([with_verdict("FAIL")])] == ["accuracy FAIL"]
    # With the band's figures (accuracy_detail, as bench/jobs/loadgen/band.py writes it): each one named.
    band = check_bands({"adherence": 0.0}, [Band("adherence", 0.575, 0.1, "results/baselines/shapes")])
    assert [f.message for f in accuracy_passed([with_verdict("FAIL", json.dumps(band.detail()))])] == [
        "accuracy FAIL: adherence 0 outside [0.475, 0.675] (reference 0.575 ± 0.1)"]
    assert [f.message for f in accuracy_passed([dataclasses.replace(run, tests=(performance,))])] == [
        "no accuracy test of Offline (loadgen --mode accuracy or both)"]
    # An accuracy-only folder is part of a submission, not a failure of its own, until no folder has a
    # performance test.
    only_accuracy = dataclasses.replace(run, tests=(accuracy,))
    assert valid(only_accuracy) == []
    assert [f.message for f in check([only_accuracy], mlperf_conf_seeds()) if f.rule == "valid"] == [
        "no performance test in the folders given"]
    assert not [f for f in check([only_accuracy, run], mlperf_conf_seeds()) if f.rule == "valid"]


@needs_run
def test_a_stored_pass_outside_the_definitions_band_as_it_is_now_fails(short_run):
    """The verdict string is not trusted: a PASS stored against an older band (here a band around 0.9)
    whose figures fall outside the definition's band today fails, with the figures."""
    run = read_run(short_run)
    accuracy, performance = run.tests
    old_band = check_bands({"adherence": 0.9, "clip_score": 66.0},
                           [Band("adherence", 0.9, 0.1, "an older reference"), *run.bands[1:]])
    assert old_band.verdict == "PASS"
    stored = LoadGenTest({**accuracy.row, "accuracy_verdict": "PASS", "accuracy_detail": json.dumps(
        old_band.detail() | {"measured": {"adherence": 0.9, "clip_score": 66.0}})}, accuracy.detail)
    (failure,) = accuracy_passed([dataclasses.replace(run, tests=(stored, performance))])
    assert failure.message == ("accuracy PASS as stored, but FAIL against the definition's band as it is now: "
                               "adherence 0.9 outside [0.475, 0.675] (reference 0.575 ± 0.1)")
    # A band that cannot be read now (its reference run gone) leaves a PASS unconfirmed: a failure with why.
    gone = dataclasses.replace(run, tests=(stored, performance), bands=None, bands_problem="reference run gone")
    assert [f.message for f in accuracy_passed([gone])] == [
        "accuracy PASS cannot be judged again: the definition's band: reference run gone"]


@needs_run
def test_a_run_without_audits_fails_the_audit_rule(short_run):
    """No --audit run among the folders: TEST01 of its timed scenario and the caching audit are missing
    (the rule passing on audited folders: tests/test_loadgen_audit.py)."""
    assert [f.message for f in audits_passed([read_run(short_run)])] == [
        "no TEST01 audit of Offline among the folders given (loadgen --audit test01)",
        "no caching audit among the folders given (loadgen --audit caching)"]


@needs_run
def test_folders_given_together_need_one_commit_and_the_same_settings(copy):
    first, second = copy("performance"), copy("accuracy")
    for run_dir in (first, second):
        _set_run(run_dir, lambda run: run["environment"].update(git={"commit": "a" * 40, "dirty": False}))
    assert same_code_and_settings([read_run(first), read_run(second)]) == []
    _set_run(second, lambda run: run["environment"].update(git={"commit": "b" * 40, "dirty": True}))
    _set_run(second, lambda run: run["model"].update(cond_scale=10.0, dtype="bfloat16"))
    messages = [f.message for f in same_code_and_settings([read_run(first), read_run(second)])]
    assert messages == ["run from uncommitted changes on bbbbbbbbbbbb",
                        f"different commits: {first} aaaaaaaaaaaa, {second} bbbbbbbbbbbb",
                        "different settings: dtype float32 vs bfloat16, cond_scale 3.0 vs 10.0"]
    # A folder without a commit is said once, for that: not also as a "different commit".
    _set_run(second, lambda run: run["environment"].update(git={"commit": None, "dirty": None}))
    failures = same_code_and_settings([read_run(first), read_run(second)])
    assert [(f.where, f.message) for f in failures if "commit" in f.message] == [
        (str(second), "no git commit recorded")]


@needs_run
def test_cli_short_run_exits_1_valid_but_not_submittable(short_run, run_cli):
    proc = run_cli("loadgen", "check", short_run)
    assert proc.returncode == 1, proc.stderr
    assert f"{short_run}/offline-performance: official minimums: valid but not submittable: " in proc.stdout
    assert "audits: no TEST01 audit of Offline" in proc.stdout and proc.stderr == ""


@needs_run
def test_cli_damaged_folders_exit_2_one_line(copy, run_cli):
    broken = copy("parquet")
    (broken / "scenarios.parquet").write_bytes(b"not parquet")
    no_log = copy("nolog")
    (no_log / "loadgen" / "offline-performance" / DETAIL).unlink()
    corrupt = copy("json")
    (corrupt / "run.json").write_text("{")
    for run_dir, message in ((broken, "scenarios.parquet is corrupt"), (no_log, "detail log of offline-performance"),
                             (corrupt, "run.json is corrupt")):
        proc = run_cli("loadgen", "check", run_dir)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and proc.stdout == ""


@needs_run
def test_cli_damaged_run_records_and_detail_logs_exit_2_one_line(copy, run_cli):
    """Fields of run.json of the wrong type, text where LoadGen writes a number: refused in one line
    naming the file, never a traceback."""
    cases = [
        (lambda run: run.update(benchmark="shapes"), "run.json is damaged: benchmark is str, not an object"),
        (lambda run: run.update(environment=[]), "run.json is damaged: environment is list, not an object"),
        (lambda run: run["environment"].update(git="abc"), "environment.git is str, not an object"),
        (lambda run: run["environment"].update(git={"commit": 5}), "environment.git.commit is not a string"),
        (lambda run: run.update(model="tiny"), "run.json is damaged: model is str, not an object"),
        (lambda run: run.update(audits={"name": "test01"}), "run.json is damaged: audits is not a list"),
        (lambda run: run["benchmark"].update(overrides="--preset tiny"), "benchmark.overrides is not a list"),
    ]
    for number, (edit, message) in enumerate(cases):
        run_dir = copy(f"run{number}")
        _set_run(run_dir, edit)
        proc = run_cli("loadgen", "check", run_dir)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and proc.stdout == ""
    for key, value in (("effective_min_duration_ms", "500"), ("effective_target_latency_ns", "x"),
                       ("num_errors", "0")):
        run_dir = copy(key)
        _set_detail(run_dir, "offline-performance", **{key: value})
        proc = run_cli("loadgen", "check", run_dir)
        assert proc.returncode == 2, proc.stderr
        assert f"offline-performance is damaged: {key} is {value!r}, not a number" in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@needs_run
def test_a_detail_log_line_that_is_not_a_record_is_skipped(copy):
    run_dir = copy()
    log = run_dir / "loadgen" / "offline-performance" / DETAIL
    log.write_text(log.read_text() + ":::MLLOG 5\n:::MLLOG [1, 2]\n:::MLLOG {\"key\": [1]}\n"
                   ":::MLLOG {\"key\": \"errors\", \"value\": 3}\n")
    run = read_run(run_dir)
    assert run.tests[1].detail["errors"] == [] and no_errors(run) == []


@needs_run
def test_cli_an_interrupted_test_without_its_detail_log_fails_valid_exit_1(copy, run_cli):
    """Ctrl-C before LoadGen logged anything: not bad input, a test that did not finish."""
    run_dir = copy()
    _set_rows(run_dir, "performance", status="interrupted", error="interrupted (Ctrl-C): the test is incomplete")
    shutil.rmtree(run_dir / "loadgen" / "offline-performance")
    run = read_run(run_dir)
    assert [f.message for f in valid(run)] == ["test interrupted: interrupted (Ctrl-C): the test is incomplete"]
    assert mlperf_seeds(run, mlperf_conf_seeds()) == [] and definition_in_force(run) == []
    proc = run_cli("loadgen", "check", run_dir)
    assert proc.returncode == 1, proc.stderr
    assert (f"{run_dir}/offline-performance: valid: test interrupted: interrupted (Ctrl-C): the test is "
            f"incomplete") in proc.stdout


@needs_run
def test_a_damaged_accuracy_detail_is_said_in_the_report_and_fails_check(copy, run_cli):
    run_dir = copy()
    _set_rows(run_dir, "accuracy", accuracy_verdict="PASS", accuracy_detail='{"metrics": "x"}')
    proc = run_cli("report", run_dir)
    assert proc.returncode == 0, proc.stderr
    assert "offline-accuracy: accuracy PASS: its accuracy_detail is damaged" in proc.stdout
    assert [f.message for f in accuracy_passed([read_run(run_dir)])] == [
        "accuracy PASS without its figures (accuracy_detail missing or damaged): it cannot be judged against the "
        "definition's band"]
    _set_rows(run_dir, "accuracy", accuracy_verdict="FAIL", accuracy_detail="{")
    assert [f.message for f in accuracy_passed([read_run(run_dir)])] == ["accuracy FAIL"]


def test_cli_a_folder_that_is_not_a_run_exits_2_one_line(cli_inprocess, tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    for target, message in ((tmp_path, "is not a loadgen run folder"), (tmp_path / "notes.txt", "is a file")):
        proc = cli_inprocess("loadgen", "check", target)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_loadgen_is_still_the_run_command_and_documents_check(cli_inprocess, tmp_path):
    help_text = cli_inprocess("loadgen", "--help", check=True).stdout
    assert "--scenario" in help_text and "--benchmark" in help_text and "check" in help_text
    assert "RUN_DIR" in cli_inprocess("loadgen", "check", "--help", check=True).stdout
    missing = cli_inprocess("loadgen", "--out", tmp_path)
    assert missing.returncode == 2 and "Missing option '--scenario'" in missing.stderr
    mixed = cli_inprocess("loadgen", "--scenario", "offline", "check", tmp_path)
    assert mixed.returncode == 2 and "takes none of loadgen's options" in mixed.stderr
