"""LoadGen against the sweep's closed loop, measured in the same process,
alternating, so that the load of a shared machine falls on both alike:

- Offline samples/s against the closed loop's images/s (global batch / median
  batch latency, as `sweep` reports it), same settings and batch: the
  dispatcher must not be the bottleneck (target: within 5 %).
- SingleStream 90th-percentile latency against the closed loop's batch-1 p90
  (target: within 5 %).

Marked slow: run with `pytest tests/test_loadgen_benchmarks.py -m slow -s`.
Figures are printed and kept in the benchmark's extra_info; nothing is
asserted about speed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest

from bench.core.models.loading import ModelSpec, load_models
from bench.core.parallel import ParallelConfig
from bench.core.sampling import SamplingConfig
from bench.jobs.loadgen.logs import DETAIL, read_detail, result_columns
from bench.jobs.loadgen.pipeline import CompiledPipeline
from bench.jobs.loadgen.responses import ResponseLayout
from bench.jobs.loadgen.system import SystemUnderTest
from bench.measure.stats import LatencyStats
from bench.measure.timing import TimingPolicy, time_calls

PROMPTS = ["sunset over a lake in the mountains", "the Eiffel tower landing on the moon"]
PRESET = os.environ.get("LOADGEN_BENCH_PRESET", "tiny")  # mini: random weights, slow
BATCH = int(os.environ.get("LOADGEN_BENCH_BATCH", "4"))
ROUNDS = int(os.environ.get("LOADGEN_BENCH_ROUNDS", "3"))
CALLS = int(os.environ.get("LOADGEN_BENCH_CALLS", "8"))  # batches per measurement


def _pipeline(models, batch: int) -> CompiledPipeline:
    pipeline = CompiledPipeline(models, PROMPTS, 4, 0, SamplingConfig(cond_scale=10.0),
                                ParallelConfig("single", 1, batch), jax.devices()[:1])
    pipeline.compile()
    pipeline.warm_up()
    return pipeline


def closed_loop(pipeline: CompiledPipeline, calls: int) -> np.ndarray:
    """Batch latencies as `sweep` measures them: a device batch put once, each call blocked on."""
    runner = pipeline.runner
    device_batch = runner.put(pipeline._batch(list(range(pipeline.global_batch))))
    return np.asarray(time_calls(lambda i: runner(device_batch), TimingPolicy(warmup=1, iters=calls)))


def loadgen_test(pipeline: CompiledPipeline, scenario: str, queries: int, expected: float) -> dict:
    import mlperf_loadgen as lg

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = 0
    settings.min_query_count = queries
    if scenario == "Offline":
        settings.offline_expected_qps = expected
    else:
        settings.single_stream_expected_latency_ns = int(expected * 1e9)
    system = SystemUnderTest(pipeline, len(PROMPTS) * 4, 0.0, ResponseLayout(pipeline.image_length, None))
    with tempfile.TemporaryDirectory() as logs:
        system.run_test(settings, Path(logs), trace=False)
        return result_columns(read_detail(Path(logs) / DETAIL))


@pytest.mark.slow
def test_offline_and_singlestream_against_the_closed_loop(tiny_cache, benchmark):
    models = load_models(ModelSpec(preset=PRESET, weights="random" if PRESET != "tiny" else None))
    batched, single = _pipeline(models, BATCH), _pipeline(models, 1)
    figures = {"offline": [], "sweep_images_per_s": [], "singlestream_p90": [], "sweep_p90_batch1": []}
    for _ in range(ROUNDS):
        loop = LatencyStats.of(closed_loop(batched, CALLS))
        figures["sweep_images_per_s"].append(BATCH / loop.p50)
        offline = loadgen_test(batched, "Offline", CALLS * BATCH, CALLS * BATCH / loop.mean / CALLS)
        figures["offline"].append(offline["result_value"])
        loop1 = LatencyStats.of(closed_loop(single, CALLS * 2))
        figures["sweep_p90_batch1"].append(loop1.p90)
        stream = loadgen_test(single, "SingleStream", CALLS * 2, loop1.p50)
        figures["singlestream_p90"].append(stream["latency_p90_s"])
    medians = {k: float(np.median(v)) for k, v in figures.items()}
    medians["offline_over_sweep"] = medians["offline"] / medians["sweep_images_per_s"]
    medians["singlestream_over_sweep_p90"] = medians["singlestream_p90"] / medians["sweep_p90_batch1"]
    benchmark.extra_info.update(preset=PRESET, batch=BATCH, rounds=ROUNDS, calls=CALLS, **medians,
                                **{f"{k}_all": v for k, v in figures.items()})
    benchmark.pedantic(lambda: None, rounds=1)
    print(f"\n{PRESET} batch {BATCH}, medians of {ROUNDS} alternating rounds: {medians}")
