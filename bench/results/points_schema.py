"""The one schema of a sweep's result rows (`points.parquet`), documented
column by column. Rows are checked against it before they are written, and
the reference page docs/results-schema.md is generated from it (bench/docs.py).
The columns a LoadGen run's scenarios have too are defined once, in
bench/results/columns.py."""

from __future__ import annotations

import pyarrow as pa

from bench.base.column import Column, arrow_schema, complete_row
from evals.registry import quality_columns

from . import columns as shared

# 5: adherence_ci_low and adherence_ci_high. 6: compile_concurrency. 7: repeats and
# repeat_latency_p50_s (`sweep --repeat`; older files read as one repeat). Columns are only added:
# older files read with nulls there (or the value their version implies).
SCHEMA_VERSION = 8


COLUMNS: tuple[Column, ...] = (
    # Identity and outcome
    shared.RUN_ID,
    Column("point_id", pa.string(), "Index and settings hash of the point, e.g. 003-1a2b3c4d; names its images folder."),
    Column("point_index", pa.int32(), "Position of the point in the sweep definition."),
    shared.STATUS,
    shared.ERROR,
    shared.FINISHED_AT,
    # Settings
    shared.PRESET,
    shared.RANDOM_WEIGHTS,
    shared.DTYPE,
    shared.PARALLEL,
    shared.DEVICES,
    Column("processes", pa.int32(), "JAX processes (hosts) the point ran on: 1 unless run with --coordinator."),
    Column("local_devices", pa.int32(), "Devices of each process: devices / processes."),
    shared.BATCH_PER_DEVICE,
    shared.GLOBAL_BATCH,
    shared.TEMPERATURE,
    shared.TOP_K,
    shared.TOP_P,
    shared.COND_SCALE,
    shared.SEED,
    Column("structure", pa.string(), "Sampling structure, what of the settings shapes the compiled program: "
           "plain, uncond (condition scale not 1), filter (top-k or top-p on) or uncond+filter. The values "
           "are program inputs: points of one structure, dtype and layout share their programs."),
    shared.PROMPTS,
    shared.NUM_PROMPTS,
    shared.NUM_IMAGES,
    # Timing
    shared.COMPILE_S,
    Column("compiled", pa.bool_(), "True when this point compiled its whole-pipeline program (or loaded it from "
           "the persistent compilation cache); False when it reused the one an earlier point of the same "
           "structure, dtype and layout compiled in this session."),
    Column("compile_concurrency", pa.int32(), "Programs that compiled at the same time as this point's, itself "
           "included (`--compile-workers`: a layout's structures compile together): 1, alone; more, compile_s "
           "overlapped theirs and is longer than alone (compare gates compile_s only between equal values). "
           "Null when the point reused a program, and for failed and invalid points."),
    Column("stage_compile_s", pa.float64(), "Compilation of the stage-breakdown programs this point paid for, "
           "seconds (0 when all were reused)."),
    Column("warmup", pa.int32(), "Untimed calls before timing: `--warmup` when the point compiled its program "
           "(or loaded it from the persistent cache), 0 when it reused the program the previous point ran."),
    Column("iterations", pa.int32(), "Timed program calls (each one batch)."),
    Column("timed_s", pa.float64(), "Sum of the timed latencies, seconds."),
    shared.LATENCY_MIN_S,
    shared.latency_percentile("50", "Median batch latency, seconds."),
    shared.latency_percentile("90", "90th percentile batch latency, seconds."),
    shared.latency_percentile("99", "99th percentile batch latency, seconds."),
    shared.LATENCY_MEAN_S,
    Column("latency_std_s", pa.float64(), "Sample standard deviation of the batch latency, seconds."),
    Column("latency_p50_ci_low_s", pa.float64(), "Lower end of the 95 % bootstrap interval of the median."),
    Column("latency_p50_ci_high_s", pa.float64(), "Upper end of the 95 % bootstrap interval of the median."),
    Column("p90_supported", pa.bool_(), "False when fewer than 10 latencies: p90 is then only the maximum."),
    Column("p99_supported", pa.bool_(), "False when fewer than 100 latencies: p99 is then only the maximum."),
    Column("process_latency_p50_s", pa.list_(pa.float64()), "Median batch latency of each process, in process "
           "order; the latency columns above take, call by call, the slowest process."),
    Column("slowest_process", pa.int32(), "Process with the highest median batch latency."),
    Column("repeats", pa.int32(), "Separate sweep processes whose timed calls the row holds: R for `sweep --repeat "
           "R` (each repeat a fresh process, taking turns point by point; the latency columns pool every "
           "repeat's calls, images/latencies.npy holds them as an (R, calls) array), 1 for a plain sweep."),
    Column("repeat_latency_p50_s", pa.list_(pa.float64()), "Median batch latency of each repeat, in repeat order "
           "(one element for a plain sweep); null when the point is not ok."),
    Column("images_per_s", pa.float64(), "global_batch / median latency: the capacity of full batches, padding "
           "rows counted as images (see padded_rows)."),
    Column("padded_rows", pa.int32(), "Rows of the point's batches that carry no image: batches x global_batch - "
           "num_prompts x num_images (the last batch is padded to the compiled shape). When > 0, the images "
           "actually made per second are fewer than images_per_s."),
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
    Column("measured_peak_flops", pa.float64(), "Peak FLOP/s of the devices used as measured by this run (a large "
           "matrix product): always on CPU, with --measure-peak on accelerators; null otherwise."),
    Column("measured_peak_bandwidth", pa.float64(), "Peak memory bandwidth as measured by this run (a large "
           "reduction), bytes/s; null where not measured."),
    Column("roofline_fraction_measured", pa.float64(), "roofline_fraction against the measured peaks instead of "
           "peak_flops and peak_bandwidth; null where not measured."),
    Column("achieved_flops", pa.float64(), "flops_per_image x images_per_s."),
    # Memory
    Column("peak_device_memory_bytes", pa.int64(), "Allocator high-water mark of the devices so far in the sweep "
           "process (null on CPU); it never decreases, so read it in point order."),
    Column("host_peak_rss_bytes", pa.int64(), "Peak resident memory of the sweep process so far."),
    # Outputs
    shared.IMAGES_DIR,
    Column("clip_score_mean", pa.float64(), "Mean of the in-pipeline CLIP's per-image scores 100 x max(cosine, 0), "
           "each image clamped (the re-ranking score; clip_score clamps the mean instead); meaningless with "
           "random weights."),
    # Quality, added by `dalle-bench eval` (or `sweep --eval`); null until evaluated. Each metric documents
    # its own columns (evals/metrics/*.py); the registry puts them in this schema's order.
    *quality_columns(),
)


SCHEMA = arrow_schema(COLUMNS, "dalle_bench_schema_version", SCHEMA_VERSION)
NAMES = tuple(c.name for c in COLUMNS)
QUALITY_COLUMNS = tuple(column.name for column in quality_columns())
MULTI_PROCESS_COLUMNS = ("processes", "local_devices", "process_latency_p50_s", "slowest_process")
# Came in schema 4 (older runs compiled every point: read as compiled, structure from the settings).
COMPILE_COLUMNS = ("structure", "compiled", "stage_compile_s")
# Came in schema 4 too, null in files written before them.
LATER_COLUMNS = ("padded_rows",)
# Came in schema 6: earlier versions compiled one program at a time (read as 1 where a point compiled).
CONCURRENCY_COLUMNS = ("compile_concurrency",)
# Came in schema 7: earlier runs were one process each (read as 1 repeat).
REPEAT_COLUMNS = ("repeats", "repeat_latency_p50_s")
# Came in schema 8, null in files written before them.
MEASURED_PEAK_COLUMNS = ("measured_peak_flops", "measured_peak_bandwidth", "roofline_fraction_measured")


def implied_compile_concurrency(row: dict) -> int | None:
    """compile_concurrency of a row written before schema 6: 1 where the point
    compiled (schema 3 and before, without `compiled`: every ok point did)."""
    compiled = row.get("compiled", row.get("status") == "ok")
    return 1 if compiled else None
THROUGHPUT_DEFINITION = ("images_per_s = global_batch / median batch latency: the capacity of full batches "
                         "(padding rows of a last, partly filled batch count as images)")


def check_row(row: dict) -> dict:
    """The row with every column present (missing ones null); unknown keys are a bug."""
    return complete_row(row, NAMES, "result row")
