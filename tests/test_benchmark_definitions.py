"""Benchmark definitions (`loadgen --benchmark NAME`, bench/jobs/loadgen/benchmark.py): the shipped files
parse, their fixed fields fill the options, and an option that changes one is recorded as making the
run not a benchmark run."""

from __future__ import annotations

import json

import pytest

from bench.base.errors import BenchError
from bench.jobs.loadgen.benchmark import apply_benchmark, known_benchmarks, load_benchmark, sample_library


def test_shipped_definitions_fix_model_library_sampling_and_latency_bounds():
    assert {"shapes", "mini", "mega"} <= set(known_benchmarks())
    for name in ("shapes", "mini", "mega"):
        benchmark = load_benchmark(name)
        assert benchmark.fixed["preset"] == name and benchmark.fixed["weights"] == "pretrained"
        assert benchmark.scenarios["Server"]["target_latency_ms"] > 0
        assert benchmark.scenarios["Server"]["target_latency_percentile"] == 0.99
        assert benchmark.scenarios["SingleStream"]["target_latency_percentile"] == 0.90
        assert benchmark.accuracy["reference"]
    assert load_benchmark("shapes").performance_sample_count == 40
    assert load_benchmark("mini").performance_sample_count == 5000


def test_definition_fills_what_was_not_given_and_keeps_the_systems_choices():
    shapes = load_benchmark("shapes")
    options = {"preset": "tiny", "dtype": "bfloat16", "batch_per_device": 4, "cond_scale": 10.0}
    merged, per_scenario, overrides = apply_benchmark(shapes, options, {"batch_per_device", "dtype"},
                                                      ["Server", "Offline"])
    assert merged["preset"] == "shapes" and merged["cond_scale"] == 3.0 and merged["prompts"] == "shapes"
    assert merged["dtype"] == "bfloat16" and merged["batch_per_device"] == 4  # the system's choices
    assert per_scenario["Server"] == {"target_latency_ms": 2000, "target_latency_percentile": 0.99}
    assert per_scenario["Offline"] == {}
    assert overrides == []


def test_an_option_that_changes_a_fixed_field_makes_it_not_a_benchmark_run():
    shapes = load_benchmark("shapes")
    options = {"preset": "tiny", "weights": "random", "target_latency_ms": 50000.0}
    merged, per_scenario, overrides = apply_benchmark(shapes, options, {"preset", "weights", "target_latency_ms"},
                                                      ["Server"])
    assert merged["preset"] == "tiny" and per_scenario["Server"]["target_latency_ms"] == 50000.0
    assert overrides == ["--preset tiny (definition: shapes)",
                         "--target-latency-ms 50000.0 (Server's definition: 2000)",
                         "--weights random (definition: pretrained)"]
    assert shapes.record(overrides)["benchmark_run"] is False
    assert shapes.record([])["benchmark_run"] is True


def test_a_scenario_outside_the_definition_and_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(BenchError, match="unknown benchmark 'shape'.*did you mean 'shapes'"):
        load_benchmark("shape")
    text = (load_benchmark("shapes").source).read_text()
    no_server = tmp_path / "offline_only.toml"
    no_server.write_text(text.split("[scenarios.server]")[0] + "\n[accuracy]\nreference = 'x'\n")
    benchmark = load_benchmark(str(no_server))
    with pytest.raises(BenchError, match="scenario Server is not part of it"):
        apply_benchmark(benchmark, {}, set(), ["Server"])
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace('preset = "shapes"\n', ""))
    with pytest.raises(BenchError, match=r"missing field \[model\] preset"):
        load_benchmark(str(missing))
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("target_latency_ms = 2000", "target_latency_ms = -1"))
    with pytest.raises(BenchError, match="target_latency_ms must be > 0"):
        load_benchmark(str(bad))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(text.replace("[scenarios.offline]", "[scenarios.offline]\ntarget_qps = 3"))
    with pytest.raises(BenchError, match="unknown field target_qps"):
        load_benchmark(str(unknown))


def test_sample_library_is_the_definitions_count():
    shapes = load_benchmark("shapes")
    prompts = [f"p{i}" for i in range(50)]
    assert sample_library(prompts, shapes, 1) == prompts[:40]
    with pytest.raises(BenchError, match="needs 40"):
        sample_library(prompts[:10], shapes, 1)


def test_loadgen_takes_the_bound_from_the_definition_and_marks_an_overridden_run(run_cli, cli_inprocess, tmp_path):
    """Through the CLI: the definition's Server bound and percentile reach LoadGen (its detail log),
    and a run with options that change fixed fields (tiny instead of shapes) says it is not a
    benchmark run, in run.json, on stderr and in the report."""
    proc = run_cli("loadgen", "--benchmark", "shapes", "--scenario", "server", "--preset", "tiny", "--weights",
                   "random", "--prompts", "demo", "--min-duration", "1", "--min-queries", "4", "--target-qps", "2",
                   "--out", tmp_path, "--run-id", "lg")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((tmp_path / "lg" / "run.json").read_text())
    assert run["benchmark"]["name"] == "shapes" and run["benchmark"]["benchmark_run"] is False
    assert "--preset tiny (definition: shapes)" in run["benchmark"]["overrides"]
    assert "Not a benchmark run of `shapes`" in proc.stderr
    detail = (tmp_path / "lg" / "loadgen" / "server-performance" / "mlperf_log_detail.txt").read_text()
    assert '"key": "requested_server_target_latency_ns", "value": 2000000000' in detail
    assert '"key": "requested_server_target_latency_percentile", "value": 0.99' in detail
    report = cli_inprocess("report", tmp_path / "lg")
    assert report.returncode == 0 and "Not a benchmark run of `shapes`: options changed fixed fields" in report.stdout


def test_unknown_benchmark_and_a_scenario_it_does_not_allow_are_one_line(cli_inprocess, tmp_path):
    proc = cli_inprocess("loadgen", "--benchmark", "shape", "--scenario", "server", "--out", tmp_path)
    assert proc.returncode == 2 and "did you mean 'shapes'" in proc.stderr and proc.stderr.count("\n") == 1
    text = load_benchmark("shapes").source.read_text()
    offline_only = tmp_path / "offline_only.toml"
    offline_only.write_text(text.split("[scenarios.server]")[0])
    proc = cli_inprocess("loadgen", "--benchmark", offline_only, "--scenario", "server", "--out", tmp_path)
    assert proc.returncode == 2 and "scenario Server is not part of it" in proc.stderr
    assert not any(tmp_path.iterdir()) or all(p.suffix == ".toml" for p in tmp_path.iterdir())


def test_official_minimums_are_mlperfs_and_a_bad_one_is_refused(tmp_path):
    """Each shipped scenario holds MLPerf's minimums for an official run (`loadgen check` reads them):
    600 s everywhere; queries as LoadGen's built-in mlperf.conf; Offline the sample library."""
    from bench.jobs.loadgen.settings import mlperf_minimums

    for name in ("shapes", "mini", "mega"):
        benchmark = load_benchmark(name)
        assert set(benchmark.official) == set(benchmark.scenarios)
        for scenario, minimums in benchmark.official.items():
            duration_s, queries = mlperf_minimums(scenario)
            assert minimums["min_duration_ms"] == duration_s * 1000 == 600_000
            expected = min(benchmark.performance_sample_count, 24_576) if scenario == "Offline" else queries
            assert minimums["min_query_count"] == expected, (name, scenario)
    text = load_benchmark("shapes").source.read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("official_min_query_count = 662", "official_min_query_count = 0"))
    with pytest.raises(BenchError, match=r"\[scenarios.multistream\] official_min_query_count must be a whole"):
        load_benchmark(str(bad))
