"""Measuring the points of a sweep, one after another, each written to the
store as soon as it finishes. A point that cannot run (a bad combination of
settings, out of memory, a compile error) is recorded with its status and
error, and the sweep goes on."""

from __future__ import annotations

import datetime
import gc
from dataclasses import dataclass

import jax
import numpy as np
from PIL import Image
from tqdm import tqdm

from ..batching import plan_batches
from ..errors import BenchError, first_line
from ..memory import host_peak_rss_bytes, peak_device_bytes
from ..models.loading import ModelSpec, Models, load_models
from ..outputs import image_name, to_uint8
from ..parallel import ParallelConfig, Runner, place_params
from ..peak import device_peak, shared_by_devices
from ..pipeline import PromptTable, Stages, build_program, build_stages
from ..roofline import ClipShape, DalleBartShape, VQGANShape, pipeline_cost
from ..sampling import SamplingConfig
from ..stats import LatencyStats
from ..timing import TimingPolicy, time_calls
from .spec import Point, SweepDefinition
from .store import RunStore



def stage_policy(policy: TimingPolicy) -> TimingPolicy:
    """Stage programs are timed for the breakdown only: at most 3 calls, no minimum duration."""
    return TimingPolicy(warmup=min(policy.warmup, 1), iters=min(policy.iters, 3), min_seconds=0.0)


@dataclass
class Context:
    """What points share: models per dtype, the last placement of the
    weights on devices, and measured peaks."""

    definition: SweepDefinition
    prompts: list[str]
    models: dict
    placed: dict
    peaks: dict

    def models_for(self, dtype: str) -> Models:
        if dtype not in self.models:
            d = self.definition
            self.models.clear()  # one model in memory at a time: points are usually grouped by dtype
            gc.collect()
            self.models[dtype] = load_models(ModelSpec(preset=d.preset, weights=d.weights, model=d.model,
                                                       vqgan=d.vqgan, clip=d.clip, dtype=dtype))
        return self.models[dtype]

    def placed_params(self, dtype: str, parallel: ParallelConfig, devices: list, models: Models) -> dict:
        """The weights laid out for (dtype, mode, devices), reused by the next
        point with the same layout; only the latest layout is kept."""
        key = (dtype, parallel.mode, parallel.devices)
        if key not in self.placed:
            self.placed.clear()
            gc.collect()
            self.placed[key] = place_params(models.params, devices, parallel.mode)
        return self.placed[key]


def run_points(store: RunStore, definition: SweepDefinition, prompts: list[str], points: list[Point],
               progress: bool = True, after_point=None) -> None:
    context = Context(definition, prompts, {}, {}, {})
    bar = tqdm(points, desc="points", unit="point", disable=not progress, dynamic_ncols=True)
    for point in bar:
        row = measure_point(store, context, point, progress)
        store.append(row)
        bar.write(summary_line(row, len(store.finished_ids()), len(definition.points())))
        if after_point is not None:
            after_point()


def base_row(store: RunStore, definition: SweepDefinition, prompts: list[str], point: Point) -> dict:
    s = point.settings
    return {
        "run_id": store.run_id, "point_id": point.point_id, "point_index": point.index,
        "preset": definition.preset, "dtype": s["dtype"], "parallel": s["parallel"], "devices": s["devices"],
        "batch_per_device": s["batch_per_device"], "global_batch": s["devices"] * s["batch_per_device"],
        "temperature": s["temperature"], "top_k": s["top_k"], "top_p": s["top_p"], "cond_scale": s["cond_scale"],
        "seed": s["seed"], "prompts": definition.prompts_source, "num_prompts": len(prompts),
        "num_images": definition.num_images,
    }


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def measure_point(store: RunStore, context: Context, point: Point, progress: bool) -> dict:
    definition, prompts = context.definition, context.prompts
    row = base_row(store, definition, prompts, point)
    s = point.settings
    try:
        sampling = SamplingConfig(temperature=s["temperature"], top_k=s["top_k"], top_p=s["top_p"],
                                  cond_scale=s["cond_scale"])
        parallel = ParallelConfig(mode=s["parallel"], devices=s["devices"], batch_per_device=s["batch_per_device"])
    except ValueError as e:
        return {**row, "status": "invalid", "error": str(e), "finished_at": _now()}
    try:
        row.update(_measure(store, context, point, sampling, parallel, progress))
        row.update(status="ok", finished_at=_now())
    except BenchError:
        raise  # unusable models are the run's problem, not this point's: stop, keeping what is written
    except Exception as e:  # a failed point must not stop the sweep; its message is recorded
        message = first_line(e)
        oom = "RESOURCE_EXHAUSTED" in str(e) or "out of memory" in str(e).lower() or isinstance(e, MemoryError)
        row.update(status="oom" if oom else "failed", error=f"{type(e).__name__}: {message}"[:500],
                   finished_at=_now())
    finally:
        row["host_peak_rss_bytes"] = host_peak_rss_bytes()
    return row


def _measure(store: RunStore, context: Context, point: Point, sampling: SamplingConfig, parallel: ParallelConfig,
             progress: bool) -> dict:
    definition, prompts = context.definition, context.prompts
    dtype = point.settings["dtype"]
    models = context.models_for(dtype)
    devices = jax.devices()[:parallel.devices]
    if len(devices) < parallel.devices:
        raise RuntimeError(f"{parallel.devices} devices requested, {len(devices)} available")
    weights = context.placed_params(dtype, parallel, devices, models)

    def runner_of(program) -> Runner:
        return Runner(program, weights, devices, parallel, placed=True)

    table = PromptTable(models, prompts)
    batches = plan_batches(len(prompts), definition.num_images, parallel.global_batch)
    runner = runner_of(build_program(models, sampling))
    device_batches = [runner.put(table.batch(b.prompt_index, b.sample_index, point.settings["seed"]))
                      for b in batches]
    compile_s = runner.compile_for(device_batches[0])

    outputs: list = [None] * len(batches)

    def keep(index: int, result) -> None:
        if index < len(batches) and outputs[index] is None:
            host = runner.to_host(result)
            outputs[index] = {k: v[:batches[index].valid] for k, v in host.items()}
        inner.update()

    policy = TimingPolicy(warmup=definition.warmup, iters=definition.iters, min_seconds=definition.min_seconds)
    with tqdm(total=max(policy.iters, len(batches)), desc="  batches", unit="batch", leave=False,
              disable=not progress, dynamic_ncols=True) as inner:
        # Cycling over the batches: the first pass produces every image, later ones only time.
        latencies = time_calls(lambda i: runner(device_batches[i % len(batches)]), policy,
                               minimum=len(batches), on_result=keep)
    peak_memory = peak_device_bytes(devices)
    stages = (time_stages(build_stages(models, sampling), runner_of, device_batches[0], stage_policy(policy))
              if definition.stages else {})
    merged = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    images_dir = write_images(store, point, merged, len(prompts), definition.num_images, latencies)

    timing = _timing_columns(LatencyStats.of(latencies), parallel, models.geometry.image_length)
    return {
        "random_weights": models.random_weights, "compile_s": compile_s, "warmup": policy.warmup,
        "timed_s": float(sum(latencies)), **timing,
        **{f"stage_{name}_s": seconds for name, seconds in stages.items()},
        **_roofline_columns(context, models, sampling, parallel, devices, dtype, timing["seconds_per_image"]),
        "peak_device_memory_bytes": peak_memory, "images_dir": str(images_dir.relative_to(store.run_dir)),
        "clip_score_mean": float(np.mean(merged["clip_scores"])),
    }


def _timing_columns(stats: LatencyStats, parallel: ParallelConfig, image_tokens: int) -> dict:
    images_per_s = parallel.global_batch / stats.p50
    return {
        "iterations": stats.count, "latency_min_s": stats.min, "latency_p50_s": stats.p50,
        "latency_p90_s": stats.p90, "latency_p99_s": stats.p99, "latency_mean_s": stats.mean,
        "latency_std_s": stats.std, "latency_p50_ci_low_s": stats.p50_ci_low,
        "latency_p50_ci_high_s": stats.p50_ci_high, "p90_supported": stats.p90_supported,
        "p99_supported": stats.p99_supported, "images_per_s": images_per_s,
        "images_per_s_per_device": images_per_s / parallel.devices, "image_tokens_per_s": images_per_s * image_tokens,
        "seconds_per_image": stats.p50 / parallel.global_batch,
    }


def _roofline_columns(context: Context, models: Models, sampling: SamplingConfig, parallel: ParallelConfig,
                      devices: list, dtype: str, seconds_per_image: float) -> dict:
    cost = pipeline_cost(DalleBartShape.of(models.dalle.config), VQGANShape.of(models.vqgan.config),
                         ClipShape.of(models.clip.config, models.clip_prep.text_length),
                         unconditioned_pass=sampling.unconditioned_pass, batch=parallel.batch_per_device,
                         itemsize=jax.numpy.dtype(dtype).itemsize)
    peak = device_peak(devices[0], dtype, measure=context.definition.measure_peak, cache=context.peaks)
    if not shared_by_devices(devices[0].platform):
        peak = peak.times(parallel.devices)  # per-image time counts all devices working together
    roofline_s = cost.seconds(peak)
    return {
        "flops_per_image": cost.total.flops, "bytes_per_image": cost.total.bytes, "peak_flops": peak.flops,
        "peak_bandwidth": peak.bandwidth, "peak_source": peak.source, "roofline_s_per_image": roofline_s,
        "roofline_fraction": roofline_s / seconds_per_image,
        "achieved_flops": cost.total.flops / seconds_per_image,
    }


def time_stages(stages: Stages, runner_of, device_batch: dict, policy: TimingPolicy) -> dict[str, float]:
    """Median seconds per batch of each stage, each its own compiled program,
    fed the previous stage's outputs (already on device)."""
    results: dict[str, float] = {}
    inputs = device_batch
    for name in Stages.NAMES:
        runner = runner_of(getattr(stages, name))
        if name == "score":
            inputs = {"images": inputs, "clip_ids": device_batch["clip_ids"], "clip_mask": device_batch["clip_mask"]}
        runner.compile_for(inputs)
        outputs = []
        latencies = time_calls(lambda i, r=runner, x=inputs: r(x), policy,
                               on_result=lambda i, out: outputs.append(out) if not outputs else None)
        results[name] = LatencyStats.of(latencies).p50
        inputs = outputs[0]
    return results


def write_images(store: RunStore, point: Point, merged: dict, num_prompts: int, num_images: int,
                 latencies: list[float]):
    """PNGs, tokens.npy (int32 [prompts, n, 256]), clip_scores.npy ([prompts, n])
    and latencies.npy (every timed call, seconds, in call order), staged then
    moved into images/<point-id>/ in one rename."""
    staging = store.staging_dir(point.point_id)
    images = merged["images"].reshape(num_prompts, num_images, *merged["images"].shape[1:])
    for p in range(num_prompts):
        for s in range(num_images):
            Image.fromarray(to_uint8(images[p, s])).save(staging / image_name(p, s))
    np.save(staging / "tokens.npy", merged["tokens"].reshape(num_prompts, num_images, -1).astype(np.int32))
    np.save(staging / "clip_scores.npy", merged["clip_scores"].reshape(num_prompts, num_images).astype(np.float32))
    np.save(staging / "latencies.npy", np.asarray(latencies, dtype=np.float64))
    return store.publish_images(staging, point.point_id)


def summary_line(row: dict, finished: int, total: int) -> str:
    s = (f"[{finished}/{total}] {row['point_id']} {row['parallel']} devices={row['devices']} "
         f"batch/device={row['batch_per_device']} T={row['temperature']:g} top_k={row['top_k']} "
         f"top_p={row['top_p']:g} cond={row['cond_scale']:g} {row['dtype']}")
    if row.get("status") != "ok":
        return f"{s}: {row['status']}: {row.get('error')}"
    return (f"{s}: {row['images_per_s']:.3f} images/s, p50 {row['latency_p50_s']:.3f} s/batch, "
            f"compile {row['compile_s']:.1f} s, roofline {100 * row['roofline_fraction']:.1f} %")
