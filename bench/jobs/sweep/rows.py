"""A point's row of results, built by process 0 from every process's report:
the settings, the timing columns (latencies taken call by call from the
slowest process), the roofline columns, memory, and the published images;
and the line the progress bar prints for it."""

from __future__ import annotations

import datetime
import shutil
from typing import TYPE_CHECKING

import jax
import numpy as np

from bench.base.errors import RunWriteError, first_line
from bench.core.batching import padded_rows
from bench.core.models.loading import Models
from bench.core.parallel import ParallelConfig
from bench.core.sampling import SamplingConfig
from bench.measure.peak import device_peak, shared_by_devices
from bench.measure.roofline import ClipShape, DalleBartShape, VQGANShape, pipeline_cost
from bench.measure.stats import LatencyStats
from bench.results.store import RunStore

from .context import point_configs, structure_of
from .merge import timing_columns
from .shares import publish_shares
from .spec import Point

if TYPE_CHECKING:
    from .context import Context


def base_row(store: RunStore, context: Context, point: Point) -> dict:
    definition, s = context.definition, point.settings
    processes = context.cluster.process_count
    return {
        "run_id": store.run_id, "point_id": point.point_id, "point_index": point.index,
        "preset": definition.preset, "dtype": s["dtype"], "parallel": s["parallel"], "devices": s["devices"],
        "processes": processes, "local_devices": s["devices"] // processes,
        "batch_per_device": s["batch_per_device"], "global_batch": s["devices"] * s["batch_per_device"],
        "temperature": s["temperature"], "top_k": s["top_k"], "top_p": s["top_p"], "cond_scale": s["cond_scale"],
        "seed": s["seed"], "structure": structure_of(s).key, "prompts": definition.prompts_source,
        "num_prompts": len(context.prompts),
        "num_images": definition.num_images, "repeats": 1,
    }


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def combine_reports(store: RunStore, context: Context, point: Point, reports: list[dict]) -> dict:
    """Process 0: one row from every process's report, and the point's images
    folder from their shares. Latencies are taken call by call from the
    slowest process: a global batch is done when its last rows are."""
    row = base_row(store, context, point)
    rss = [r["host_peak_rss_bytes"] for r in reports if "host_peak_rss_bytes" in r]  # none for invalid points
    row["host_peak_rss_bytes"] = max(rss) if rss else None
    bad = [(k, r) for k, r in enumerate(reports) if r["status"] != "ok"]
    if bad:
        k, report = bad[0]
        shutil.rmtree(store.staging_dir(point.point_id), ignore_errors=True)
        where = f"process {k}: " if len(reports) > 1 and report["status"] != "invalid" else ""
        return {**row, "status": report["status"], "error": where + report["error"], "finished_at": utc_now()}
    try:
        return _combine_measured(store, context, point, reports, row)
    except RunWriteError:
        raise  # the run folder cannot be written: the run stops, this point is measured again on resume
    except Exception as e:  # e.g. a share missing from the images: the point failed, the sweep goes on
        shutil.rmtree(store.staging_dir(point.point_id), ignore_errors=True)
        return {**row, "status": "failed", "error": f"{type(e).__name__}: {first_line(e)}"[:500],
                "finished_at": utc_now()}


def _combine_measured(store: RunStore, context: Context, point: Point, reports: list[dict], row: dict) -> dict:
    calls = min(len(r["latencies"]) for r in reports)
    per_process = np.array([r["latencies"][:calls] for r in reports])
    latencies = per_process.max(axis=0)
    process_p50 = np.median(per_process, axis=1)
    sampling, parallel = point_configs(point)
    dtype = point.settings["dtype"]
    models = context.models_for(dtype)
    images_dir = publish_shares(store, point, len(context.prompts), context.definition.num_images, len(reports),
                                latencies)
    timing = timing_columns(LatencyStats.of(list(latencies)), parallel.global_batch, parallel.devices,
                            models.geometry.image_length)
    stage_names = reports[0]["stages"]
    memory = [r["peak_device_memory_bytes"] for r in reports if r["peak_device_memory_bytes"] is not None]
    clip_scores = np.load(images_dir / "clip_scores.npy")
    return {
        **row, "status": "ok", "finished_at": utc_now(), "random_weights": reports[0]["random_weights"],
        "compile_s": max(r["compile_s"] for r in reports), "compiled": any(r["compiled"] for r in reports),
        "compile_concurrency": max((r["compile_concurrency"] for r in reports if r["compile_concurrency"]),
                                   default=None),
        "stage_compile_s": max(r["stage_compile_s"] for r in reports), "warmup": max(r["warmup"] for r in reports),
        "timed_s": float(latencies.sum()), **timing,
        "padded_rows": padded_rows(len(context.prompts), context.definition.num_images, parallel.global_batch),
        "process_latency_p50_s": [float(v) for v in process_p50], "slowest_process": int(np.argmax(process_p50)),
        "repeat_latency_p50_s": [timing["latency_p50_s"]],
        **{f"stage_{name}_s": max(r["stages"][name] for r in reports) for name in stage_names},
        **roofline_columns(context, models, sampling, parallel, dtype, timing["seconds_per_image"]),
        "peak_device_memory_bytes": max(memory) if memory else None,
        "images_dir": str(images_dir.relative_to(store.run_dir)), "clip_score_mean": float(np.mean(clip_scores)),
    }


def roofline_columns(context: Context, models: Models, sampling: SamplingConfig, parallel: ParallelConfig,
                      dtype: str, seconds_per_image: float) -> dict:
    cost = pipeline_cost(DalleBartShape.of(models.dalle.config), VQGANShape.of(models.vqgan.config),
                         ClipShape.of(models.clip.config, models.clip_prep.text_length),
                         unconditioned_pass=sampling.unconditioned_pass, batch=parallel.batch_per_device,
                         itemsize=jax.numpy.dtype(dtype).itemsize)
    device = jax.local_devices()[0]
    # Per-image time counts every device working together; emulated CPU devices share their host's peak.
    scale = context.cluster.hosts if shared_by_devices(device.platform) else parallel.devices
    peak = device_peak(device, dtype, cache=context.peaks).times(scale)
    measured = peak if peak.source == "measured" else None
    if measured is None and context.definition.measure_peak:
        measured = device_peak(device, dtype, measure=True, cache=context.peaks).times(scale)
    roofline_s = cost.seconds(peak)
    return {
        "flops_per_image": cost.total.flops, "bytes_per_image": cost.total.bytes, "peak_flops": peak.flops,
        "peak_bandwidth": peak.bandwidth, "peak_source": peak.source, "roofline_s_per_image": roofline_s,
        "roofline_fraction": roofline_s / seconds_per_image,
        "measured_peak_flops": measured.flops if measured else None,
        "measured_peak_bandwidth": measured.bandwidth if measured else None,
        "roofline_fraction_measured": cost.seconds(measured) / seconds_per_image if measured else None,
        "achieved_flops": cost.total.flops / seconds_per_image,
    }
