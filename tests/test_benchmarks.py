"""Seconds per image of the whole pipeline (sample -> decode -> CLIP) on one
device. Run with `make bench`; in CI they run once each, untimed (tiny only).

The figure is the median batch latency divided by the batch size; compile
time is excluded (compiled ahead of time, before the timed rounds)."""

from __future__ import annotations

import time

import jax
import numpy as np
import pytest

from bench.core.batching import plan_batches
from bench.core.models.loading import ModelSpec, load_models
from bench.core.parallel import ParallelConfig, Runner
from bench.core.pipeline import PromptTable, build_program
from bench.core.sampling import SamplingConfig

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_benchmarks")

PROMPTS = ["Dog wearing clothes", "Earth from space"]
SAMPLING = SamplingConfig(cond_scale=10.0)


def bench_pipeline(benchmark, models, batch: int, rounds: int):
    parallel = ParallelConfig("single", 1, batch)
    runner = Runner(build_program(models, SAMPLING.structure), models.params, jax.devices()[:1],
                    parallel)
    plan = plan_batches(len(PROMPTS), batch, batch)[0]
    host = PromptTable(models, PROMPTS).batch(plan.prompt_index, plan.sample_index, seed=0, sampling=SAMPLING)
    compile_seconds = runner.compile(host)
    device_batch = runner.put(host)
    benchmark.pedantic(lambda: jax.block_until_ready(runner(device_batch)), rounds=rounds, warmup_rounds=1)
    benchmark.extra_info.update(batch=batch, compile_seconds=compile_seconds, random_weights=models.random_weights)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["seconds_per_image"] = benchmark.stats.stats.median / batch


@pytest.mark.benchmark(group="pipeline-tiny")
# Batch 1 runs in `make bench` only: in CI, batch 8 keeps the benchmark's code from rotting.
@pytest.mark.parametrize("batch", [pytest.param(1, marks=pytest.mark.slow), 8])
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


def test_plain_dalle_mini_loop_makes_the_same_images(tiny_models):
    """The baseline computes what the pipeline computes (so the speed-up is
    like for like): the same tokens from the same keys."""
    from bench.core.reference_loop import PlainLoop

    sampling = SamplingConfig(top_k=1, cond_scale=3.0)
    plan = plan_batches(len(PROMPTS), 2, 4)[0]
    host = PromptTable(tiny_models, PROMPTS).batch(plan.prompt_index, plan.sample_index, seed=0, sampling=sampling)
    runner = Runner(build_program(tiny_models, sampling.structure), tiny_models.params, jax.devices()[:1],
                    ParallelConfig("single", 1, 4))
    runner.compile(host)
    ours = runner.to_host(runner(runner.put(host)))
    plain = PlainLoop(tiny_models, sampling)(host)
    np.testing.assert_array_equal(plain["tokens"], ours["tokens"])
    np.testing.assert_allclose(plain["images"], ours["images"], atol=1e-5)


def _medians_interleaved(calls: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each callable, alternating them round by round so
    drift in the machine's speed affects both alike."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(call())
    return {name: float(np.median(t)) for name, t in times.items()}


@pytest.mark.benchmark(group="harness-overhead")
def test_harness_overhead_against_a_bare_call(benchmark, tiny_models):
    """The latency the harness reports against a bare jitted call of the same
    compiled program on the same device inputs (target: within 2 %)."""
    from bench.measure.timing import TimingPolicy, time_calls

    sampling = SamplingConfig(cond_scale=3.0)
    runner = Runner(build_program(tiny_models, sampling.structure), tiny_models.params,
                    jax.devices()[:1], ParallelConfig("single", 1, 2))
    plan = plan_batches(len(PROMPTS), 1, 2)[0]
    device_batch = runner.put(PromptTable(tiny_models, PROMPTS).batch(plan.prompt_index, plan.sample_index, 0,
                                                                     sampling))
    runner.compile_for(device_batch)
    compiled, params = runner.compiled, runner.params

    def bare() -> float:
        start = time.perf_counter()
        jax.block_until_ready(compiled(params, device_batch))
        return time.perf_counter() - start

    def harness() -> float:
        return time_calls(lambda i: runner(device_batch), TimingPolicy(warmup=0, iters=1))[0]

    bare(), harness()
    rounds = 3 if benchmark.disabled else 30
    medians = _medians_interleaved({"bare": bare, "harness": harness}, rounds)
    overhead = medians["harness"] / medians["bare"] - 1
    benchmark.extra_info.update(bare_median_s=medians["bare"], harness_median_s=medians["harness"],
                                overhead=overhead)
    benchmark.pedantic(harness, rounds=1, iterations=1)
    print(f"harness {medians['harness']:.4f} s vs bare {medians['bare']:.4f} s: overhead {100 * overhead:+.2f} %")


@pytest.mark.slow
@pytest.mark.benchmark(group="plain-loop-vs-pipeline")
def test_mini_pipeline_against_plain_dalle_mini_loop(benchmark, tiny_cache, mini_random):
    """Images per second at batch 16, cond-scale 3, float32: the pipeline
    against the plain dalle-mini loop (target: at least 3x), one call each
    after a warm-up call, in the same run."""
    from bench.core.reference_loop import PlainLoop

    batch, sampling = 16, SamplingConfig(cond_scale=3.0)
    plan = plan_batches(len(PROMPTS), batch // len(PROMPTS), batch)[0]
    host = PromptTable(mini_random, PROMPTS).batch(plan.prompt_index, plan.sample_index, seed=0, sampling=sampling)
    runner = Runner(build_program(mini_random, sampling.structure), mini_random.params, jax.devices()[:1],
                    ParallelConfig("single", 1, batch))
    device_batch = runner.put(host)
    runner.compile_for(device_batch)
    plain = PlainLoop(mini_random, sampling)

    def timed(call) -> float:
        start = time.perf_counter()
        jax.block_until_ready(call())
        return time.perf_counter() - start

    calls = {"pipeline": lambda: timed(lambda: runner(device_batch)), "plain": lambda: timed(lambda: plain(host))}
    for call in calls.values():
        call()  # warm-up (and the plain loop's compilation)
    medians = _medians_interleaved(calls, 1 if benchmark.disabled else 2)
    speedup = medians["plain"] / medians["pipeline"]
    benchmark.extra_info.update(batch=batch, pipeline_s_per_image=medians["pipeline"] / batch,
                                plain_s_per_image=medians["plain"] / batch, speedup=speedup)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print(f"pipeline {medians['pipeline'] / batch:.2f} s/image, plain loop {medians['plain'] / batch:.2f} s/image: "
          f"{speedup:.2f}x")


@pytest.fixture(scope="module")
def eval_images():
    return np.random.default_rng(0).integers(0, 255, size=(32, 256, 256, 3), dtype=np.uint8)


@pytest.mark.benchmark(group="eval-throughput")
def test_clip_score_throughput(benchmark, eval_images, tmp_path_factory, tiny_cache):
    """Images per second of the CLIP scorer at batch 32 on CPU, with the
    published ViT-B/32 architecture (random weights cost what trained ones do)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from bench.core.models.tiny import tiny_folder
    from evals.clip_score import clip_scores

    model = CLIPModel(CLIPConfig()).eval()
    # ViT-B/32's 224-pixel preprocessing; the project's small tokenizer (ids fit the published vocabulary).
    tokenizer = CLIPProcessor.from_pretrained(tiny_folder() / "clip").tokenizer
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer)
    prompts = ["a photograph of a cat"] * len(eval_images)
    benchmark.pedantic(lambda: clip_scores(model, processor, eval_images, prompts, batch_size=32),
                       rounds=1 if benchmark.disabled else 3, warmup_rounds=0 if benchmark.disabled else 1)
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_second"] = len(eval_images) / benchmark.stats.stats.median


@pytest.mark.benchmark(group="eval-throughput")
def test_inception_feature_throughput(benchmark, eval_images, inception_weights):
    """Images per second of the Inception features (FID/KID/IS/PRC share them) at batch 32 on CPU."""
    from evals.inception import inception_features, load_extractor

    extractor = load_extractor(inception_weights)
    benchmark.pedantic(lambda: inception_features(extractor, eval_images, batch_size=32),
                       rounds=1 if benchmark.disabled else 3, warmup_rounds=0 if benchmark.disabled else 1)
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_second"] = len(eval_images) / benchmark.stats.stats.median


def _folded(program, settings: dict):
    """`program` with the sampling settings closed over as constants: what XLA
    saw when every setting was a compile-time constant (the static era)."""
    return lambda params, batch: program(params, {**batch, **settings})  # numpy arrays: HLO constants


@pytest.mark.slow
@pytest.mark.benchmark(group="traced-vs-static-settings")
@pytest.mark.parametrize("sampling", [SamplingConfig(cond_scale=10.0),
                                      SamplingConfig(temperature=0.7, top_k=50, top_p=0.9, cond_scale=3.0)],
                         ids=["default", "filtered"])
def test_traced_settings_cost_per_step_at_mini_batch_16(benchmark, tiny_cache, mini_random, sampling):
    """Seconds per decoder step of the token program (encode + 256 sampling
    steps) at mini size, batch 16, float32: settings as traced per-row inputs
    against the same program with them folded in as constants (target:
    within 3 %). Calls alternate, medians of 3 rounds each after a warm-up."""
    from bench.core.pipeline import build_token_program

    batch = 16
    plan = plan_batches(len(PROMPTS), batch // len(PROMPTS), batch)[0]
    host = PromptTable(mini_random, PROMPTS).batch(plan.prompt_index, plan.sample_index, seed=0, sampling=sampling)
    settings = sampling.rows(batch)
    program = build_token_program(mini_random.dalle, mini_random.geometry, sampling.structure,
                                  mini_random.processor.input_ids_uncond, mini_random.processor.attention_mask_uncond)
    parallel = ParallelConfig("single", 1, batch)
    traced = Runner(program, mini_random.params["dalle"], jax.devices()[:1], parallel)
    static = Runner(_folded(program, settings), traced.params, jax.devices()[:1], parallel, placed=True)
    static_batch = static.put({k: v for k, v in host.items() if k not in settings})
    traced_batch = traced.put(host)
    traced.compile_for(traced_batch)
    static.compile_for(static_batch)
    np.testing.assert_array_equal(traced.to_host(traced(traced_batch)), static.to_host(static(static_batch)))

    def timed(call) -> float:
        start = time.perf_counter()
        jax.block_until_ready(call())
        return time.perf_counter() - start

    steps = mini_random.geometry.image_length
    calls = {"traced": lambda: timed(lambda: traced(traced_batch)), "static": lambda: timed(lambda: static(static_batch))}
    medians = _medians_interleaved(calls, 1 if benchmark.disabled else 3)
    ratio = medians["traced"] / medians["static"]
    benchmark.extra_info.update(batch=batch, traced_s_per_step=medians["traced"] / steps,
                                static_s_per_step=medians["static"] / steps, traced_over_static=ratio)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    print(f"traced {1e3 * medians['traced'] / steps:.2f} ms/step, static {1e3 * medians['static'] / steps:.2f} "
          f"ms/step: traced / static = {ratio:.3f}")
