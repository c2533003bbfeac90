"""One row from the rows R separate processes wrote for the same point
(`sweep --repeat R`): pure functions of those rows and their per-call
latencies, no JAX (the parent process that merges stays light).

The latency columns pool every repeat's timed calls; the settings, status,
images, compile and CLIP columns come from repeat r1; memory peaks are the
highest of the repeats, stage times their median. A point is ok only when it
is ok in every repeat."""

from __future__ import annotations

import math

import numpy as np

from bench.measure.stats import LatencyStats

# The columns of a row that say what the point is (its settings), common to every repeat.
SETTINGS_COLUMNS = ("point_id", "point_index", "preset", "dtype", "parallel", "devices", "processes", "local_devices",
                    "batch_per_device", "global_batch", "temperature", "top_k", "top_p", "cond_scale", "seed",
                    "structure", "prompts", "num_prompts", "num_images")
# Taken from r1 when every repeat is ok (the same programs, the same images).
FIRST_REPEAT_COLUMNS = ("random_weights", "compile_s", "compiled", "compile_concurrency", "stage_compile_s",
                        "warmup", "padded_rows", "flops_per_image", "bytes_per_image", "peak_flops", "peak_bandwidth",
                        "peak_source", "roofline_s_per_image", "measured_peak_flops", "measured_peak_bandwidth",
                        "clip_score_mean")
STAGE_COLUMNS = ("stage_encode_s", "stage_sample_s", "stage_decode_s", "stage_score_s")
MEMORY_COLUMNS = ("peak_device_memory_bytes", "host_peak_rss_bytes")


def timing_columns(stats: LatencyStats, global_batch: int, devices: int, image_tokens: int) -> dict:
    """The timing columns of a row from its latency statistics."""
    images_per_s = global_batch / stats.p50
    return {
        "iterations": stats.count, "latency_min_s": stats.min, "latency_p50_s": stats.p50,
        "latency_p90_s": stats.p90, "latency_p99_s": stats.p99, "latency_mean_s": stats.mean,
        "latency_std_s": stats.std, "latency_p50_ci_low_s": stats.p50_ci_low,
        "latency_p50_ci_high_s": stats.p50_ci_high, "p90_supported": stats.p90_supported,
        "p99_supported": stats.p99_supported, "images_per_s": images_per_s,
        "images_per_s_per_device": images_per_s / devices, "image_tokens_per_s": images_per_s * image_tokens,
        "seconds_per_image": stats.p50 / global_batch,
    }


def stack_latencies(per_repeat: list) -> np.ndarray:
    """The repeats' per-call latencies as one (R, calls) float64 array, row k
    repeat k+1's calls in call order, NaN-padded on the right where a repeat
    made fewer calls (--min-seconds)."""
    arrays = [np.asarray(a, np.float64).ravel() for a in per_repeat]
    stacked = np.full((len(arrays), max((a.size for a in arrays), default=0)), np.nan)
    for k, a in enumerate(arrays):
        stacked[k, :a.size] = a
    return stacked


def pooled(latencies: np.ndarray) -> np.ndarray:
    """Every measured call of a latencies array (1-D: one repeat; 2-D: one row a repeat), NaN padding dropped."""
    values = np.asarray(latencies, np.float64).ravel()
    return values[~np.isnan(values)]


def _median(values) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.median(values)) if values else None


def _latest(values) -> str | None:
    values = [v for v in values if v]
    return max(values) if values else None


def merged_row(rows: list[dict], run_id: str, latencies: np.ndarray | None = None,
               disagreement: str | None = None) -> dict:
    """The point's row from its repeats' rows (repeat order) and, when every
    one is ok, their (R, calls) latencies. `disagreement` (repeats that made
    other tokens) fails the point."""
    first = rows[0]
    row = {"run_id": run_id, **{c: first[c] for c in SETTINGS_COLUMNS}, "repeats": len(rows),
           "finished_at": _latest(r.get("finished_at") for r in rows),
           **{c: _max(r.get(c) for r in rows) for c in MEMORY_COLUMNS}}
    bad = [(k, r) for k, r in enumerate(rows) if r["status"] != "ok"]
    if bad:
        k, failed = bad[0]
        return {**row, "status": failed["status"], "error": f"repeat r{k + 1}: {failed.get('error')}"}
    if disagreement:
        return {**row, "status": "failed", "error": disagreement}
    if latencies is None:
        raise ValueError("an ok point needs its repeats' latencies")
    stats = LatencyStats.of(pooled(latencies))
    image_tokens = round(first["image_tokens_per_s"] / first["images_per_s"])
    timing = timing_columns(stats, first["global_batch"], first["devices"], image_tokens)
    seconds_per_image = timing["seconds_per_image"]
    return {
        **row, "status": "ok", **{c: first.get(c) for c in FIRST_REPEAT_COLUMNS},
        "timed_s": float(pooled(latencies).sum()), **timing,
        "process_latency_p50_s": [stats.p50], "slowest_process": 0,
        "repeat_latency_p50_s": [float(r["latency_p50_s"]) for r in rows],
        **{c: _median(r.get(c) for r in rows) for c in STAGE_COLUMNS},
        "roofline_fraction": first["roofline_s_per_image"] / seconds_per_image,
        # r1's fraction against the measured peak, rescaled from its own latency to the pooled one.
        "roofline_fraction_measured": (first["roofline_fraction_measured"] * first["seconds_per_image"]
                                       / seconds_per_image if first.get("roofline_fraction_measured") else None),
        "achieved_flops": first["flops_per_image"] / seconds_per_image,
        "images_dir": first["images_dir"],
    }


def _max(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return max(values) if values else None
