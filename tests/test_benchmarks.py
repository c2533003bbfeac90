"""Seconds per image of the whole pipeline (sample -> decode -> CLIP) on one
device. Run with `make bench`; in CI they run once each, untimed (tiny only).

The figure is the median batch latency divided by the batch size; compile
time is excluded (compiled ahead of time, before the timed rounds)."""

from __future__ import annotations

import jax
import pytest

from bench.batching import plan_batches
from bench.models.loading import ModelSpec, load_models
from bench.parallel import ParallelConfig, Runner
from bench.pipeline import PromptTable, build_program
from bench.sampling import SamplingConfig

PROMPTS = ["Dog wearing clothes", "Earth from space"]


def bench_pipeline(benchmark, models, batch: int, rounds: int):
    parallel = ParallelConfig("single", 1, batch)
    runner = Runner(build_program(models, SamplingConfig(cond_scale=10.0)), models.params, jax.devices()[:1],
                    parallel)
    plan = plan_batches(len(PROMPTS), batch, batch)[0]
    host = PromptTable(models, PROMPTS).batch(plan.prompt_index, plan.sample_index, seed=0)
    compile_seconds = runner.compile(host)
    device_batch = runner.put(host)
    benchmark.pedantic(lambda: jax.block_until_ready(runner(device_batch)), rounds=rounds, warmup_rounds=1)
    benchmark.extra_info.update(batch=batch, compile_seconds=compile_seconds, random_weights=models.random_weights)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["seconds_per_image"] = benchmark.stats.stats.median / batch


@pytest.mark.benchmark(group="pipeline-tiny")
@pytest.mark.parametrize("batch", [1, 8])
def test_tiny_pipeline(benchmark, tiny_cache, batch):
    bench_pipeline(benchmark, load_models(ModelSpec(preset="tiny")), batch, rounds=5)


@pytest.fixture(scope="module")
def mini_random():
    return load_models(ModelSpec(preset="mini", weights="random"))


@pytest.mark.slow
@pytest.mark.benchmark(group="pipeline-mini-random")
@pytest.mark.parametrize("batch", [1, 8])
def test_mini_random_pipeline(benchmark, tiny_cache, mini_random, batch):
    bench_pipeline(benchmark, mini_random, batch, rounds=3)
