"""The one schema of a sweep's result rows (`points.parquet`), documented
column by column. Rows are checked against it before they are written, and
the README's column list is tested against it."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str


COLUMNS: tuple[Column, ...] = (
    # Identity and outcome
    Column("run_id", pa.string(), "The run's folder name under results/."),
    Column("point_id", pa.string(), "Index and settings hash of the point, e.g. 003-1a2b3c4d; names its images folder."),
    Column("point_index", pa.int32(), "Position of the point in the sweep definition."),
    Column("status", pa.string(), "ok, invalid (a bad combination of settings), oom (out of memory), failed, or "
           "lost (a process of a multi-process run died or hung; --resume runs the point again)."),
    Column("error", pa.string(), "One-line error message when status is not ok."),
    Column("finished_at", pa.string(), "UTC time the point finished, ISO 8601."),
    # Settings
    Column("preset", pa.string(), "Model preset: tiny, mini or mega."),
    Column("random_weights", pa.bool_(), "True when the weights are random: throughput is real, quality is not."),
    Column("dtype", pa.string(), "Parameter and compute dtype."),
    Column("parallel", pa.string(), "single, pmap or sharded."),
    Column("devices", pa.int32(), "Devices the point ran on, over all processes."),
    Column("processes", pa.int32(), "JAX processes (hosts) the point ran on: 1 unless run with --coordinator."),
    Column("local_devices", pa.int32(), "Devices of each process: devices / processes."),
    Column("batch_per_device", pa.int32(), "Images per device per program call."),
    Column("global_batch", pa.int32(), "Images per program call: devices x batch_per_device."),
    Column("temperature", pa.float64(), "Sampling temperature."),
    Column("top_k", pa.int32(), "Top-k filter (0: off)."),
    Column("top_p", pa.float64(), "Nucleus filter (1: off)."),
    Column("cond_scale", pa.float64(), "Super-conditioning scale (1: no unconditioned pass)."),
    Column("seed", pa.int32(), "Base PRNG seed of the images."),
    Column("prompts", pa.string(), "Prompt set or file the images were generated for."),
    Column("num_prompts", pa.int32(), "Prompts in that set."),
    Column("num_images", pa.int32(), "Images per prompt."),
    # Timing
    Column("compile_s", pa.float64(), "Ahead-of-time compilation of the whole pipeline (lower().compile()), seconds."),
    Column("warmup", pa.int32(), "Untimed calls before timing."),
    Column("iterations", pa.int32(), "Timed program calls (each one batch)."),
    Column("timed_s", pa.float64(), "Sum of the timed latencies, seconds."),
    Column("latency_min_s", pa.float64(), "Fastest batch, seconds."),
    Column("latency_p50_s", pa.float64(), "Median batch latency, seconds."),
    Column("latency_p90_s", pa.float64(), "90th percentile batch latency, seconds."),
    Column("latency_p99_s", pa.float64(), "99th percentile batch latency, seconds."),
    Column("latency_mean_s", pa.float64(), "Mean batch latency, seconds."),
    Column("latency_std_s", pa.float64(), "Sample standard deviation of the batch latency, seconds."),
    Column("latency_p50_ci_low_s", pa.float64(), "Lower end of the 95 % bootstrap interval of the median."),
    Column("latency_p50_ci_high_s", pa.float64(), "Upper end of the 95 % bootstrap interval of the median."),
    Column("p90_supported", pa.bool_(), "False when fewer than 10 latencies: p90 is then only the maximum."),
    Column("p99_supported", pa.bool_(), "False when fewer than 100 latencies: p99 is then only the maximum."),
    Column("process_latency_p50_s", pa.list_(pa.float64()), "Median batch latency of each process, in process "
           "order; the latency columns above take, call by call, the slowest process."),
    Column("slowest_process", pa.int32(), "Process with the highest median batch latency."),
    Column("images_per_s", pa.float64(), "global_batch / median latency."),
    Column("images_per_s_per_device", pa.float64(), "images_per_s / devices."),
    Column("image_tokens_per_s", pa.float64(), "images_per_s x image tokens per image (256)."),
    Column("seconds_per_image", pa.float64(), "Median latency / global_batch."),
    # Stage breakdown (separately compiled programs, median seconds per batch)
    Column("stage_encode_s", pa.float64(), "Text encoder stage, median seconds per batch."),
    Column("stage_sample_s", pa.float64(), "Token sampling stage (256 decoder steps), median seconds per batch."),
    Column("stage_decode_s", pa.float64(), "VQGAN decode stage, median seconds per batch."),
    Column("stage_score_s", pa.float64(), "CLIP scoring stage, median seconds per batch."),
    # Roofline
    Column("flops_per_image", pa.float64(), "Analytic FLOPs per image, all stages."),
    Column("bytes_per_image", pa.float64(), "Analytic bytes moved per image (weights shared by the batch)."),
    Column("peak_flops", pa.float64(), "Peak FLOP/s of the devices used (CPU: the host's, shared by emulated devices)."),
    Column("peak_bandwidth", pa.float64(), "Peak memory bandwidth of the devices used, bytes/s."),
    Column("peak_source", pa.string(), "Where the peak came from: 'table: <device>' or 'measured'."),
    Column("roofline_s_per_image", pa.float64(), "Roofline time per image: each stage at its compute or memory bound."),
    Column("roofline_fraction", pa.float64(), "roofline_s_per_image / seconds_per_image (1 = at the roofline)."),
    Column("achieved_flops", pa.float64(), "flops_per_image x images_per_s."),
    # Memory
    Column("peak_device_memory_bytes", pa.int64(), "Allocator high-water mark of the devices so far in the sweep "
           "process (null on CPU); it never decreases, so read it in point order."),
    Column("host_peak_rss_bytes", pa.int64(), "Peak resident memory of the sweep process so far."),
    # Outputs
    Column("images_dir", pa.string(), "Folder of the point's PNGs, tokens.npy, clip_scores.npy and latencies.npy, "
           "relative to the run."),
    Column("clip_score_mean", pa.float64(), "Mean in-pipeline CLIP score (meaningless with random weights)."),
    # Quality, added by `dalle-bench eval` (or `sweep --eval`); null until evaluated
    Column("clip_model", pa.string(), "CLIP checkpoint of the clip_score columns (Hub id or folder)."),
    Column("clip_score", pa.float64(), "Mean CLIP score, torchmetrics' definition: 100 x max(cosine, 0)."),
    Column("clip_score_std", pa.float64(), "Sample standard deviation of the per-image CLIP scores."),
    Column("clip_score_ci_low", pa.float64(), "Lower end of the 95 % Student-t interval of the mean CLIP score."),
    Column("clip_score_ci_high", pa.float64(), "Upper end of the 95 % Student-t interval of the mean CLIP score."),
    Column("adherence", pa.float64(), "Shapes world only: share of images whose caption the checker passes "
                                      "(every object, count, relation, background right)."),
    Column("adherence_partial", pa.float64(), "Shapes world only: mean share of the caption's checks each image passes."),
    Column("feature_extractor", pa.string(), "Inception network and resizing behind fid/kid/isc/prc."),
    Column("fid_reference", pa.string(), "FID reference: a folder, a .npz statistics file, or point:<id>."),
    Column("fid_images", pa.int32(), "Images of the point fed to the Inception network."),
    Column("fid_reference_images", pa.int32(), "Images behind the reference statistics (-1: unknown, from a .npz)."),
    Column("fid_biased", pa.bool_(), "True when either side has fewer than 2,048 images: FID is biased upwards."),
    Column("fid", pa.float64(), "Fréchet Inception Distance to the reference."),
    Column("kid_mean", pa.float64(), "Kernel Inception Distance (mean over subsets); null for .npz references."),
    Column("kid_std", pa.float64(), "Standard deviation of KID over subsets."),
    Column("isc_mean", pa.float64(), "Inception Score (mean over splits)."),
    Column("isc_std", pa.float64(), "Standard deviation of the Inception Score over splits."),
    Column("precision", pa.float64(), "Precision (k=3 nearest neighbours on Inception pool features)."),
    Column("recall", pa.float64(), "Recall (same features)."),
)


SCHEMA = pa.schema([pa.field(c.name, c.type) for c in COLUMNS],
                   metadata={"dalle_bench_schema_version": str(SCHEMA_VERSION)})
NAMES = tuple(c.name for c in COLUMNS)
QUALITY_COLUMNS = NAMES[NAMES.index("clip_model"):]
MULTI_PROCESS_COLUMNS = ("processes", "local_devices", "process_latency_p50_s", "slowest_process")


def check_row(row: dict) -> dict:
    """The row with every column present (missing ones null); unknown keys are a bug."""
    unknown = set(row) - set(NAMES)
    if unknown:
        raise KeyError(f"result row has columns outside the schema: {', '.join(sorted(unknown))}")
    return {name: row.get(name) for name in NAMES}
