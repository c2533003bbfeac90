"""The schema of `dalle-bench loadgen`'s result rows (`scenarios.parquet`):
one row per LoadGen test (scenario and mode), documented column by column
like the sweep's points (schema.py). The columns both tables have are
defined once (bench/results/columns.py); where a LoadGen test means
something else by one, its doc here says so. The latency and validity
columns are LoadGen's own figures, read from its detail log."""

from __future__ import annotations

import pyarrow as pa

from bench.base.column import Column, arrow_schema, complete_row
from evals.registry import quality_column as metric

from . import columns as shared

SCENARIO_SCHEMA_VERSION = 1
PERCENTILES = ("50", "90", "95", "97", "99", "99.9")


COLUMNS: tuple[Column, ...] = (
    # Identity and outcome
    shared.RUN_ID,
    Column("scenario_id", pa.string(), "<scenario>-<mode>, e.g. server-performance; names the LoadGen log folder."),
    Column("scenario", pa.string(), "MLPerf scenario: Offline, Server, SingleStream or MultiStream."),
    Column("mode", pa.string(), "performance, accuracy, or find-peak (LoadGen's FindPeakPerformance, Server only)."),
    shared.STATUS.documented("ok (LoadGen finished), interrupted (Ctrl-C: logs kept as far as they got) or "
                             "failed."),
    shared.ERROR,
    shared.FINISHED_AT.documented("UTC time the test finished, ISO 8601."),
    Column("log_dir", pa.string(), "Folder of LoadGen's logs (mlperf_log_summary.txt, mlperf_log_detail.txt, "
           "mlperf_log_accuracy.json, mlperf_log_trace.json), relative to the run."),
    Column("loadgen_version", pa.string(), "LoadGen's version, as it logs it."),
    # Settings
    shared.PRESET.documented("Model preset: tiny, mini or mega."),
    shared.RANDOM_WEIGHTS,
    shared.DTYPE,
    shared.PARALLEL,
    shared.DEVICES.documented("Devices the system under test ran on."),
    shared.BATCH_PER_DEVICE.documented("Images per device per program call (the compiled batch)."),
    shared.GLOBAL_BATCH.documented("Images per program call: devices x batch_per_device; a batch the "
                                   "dispatcher forms with fewer queued samples is padded to it."),
    Column("max_batch_wait_ms", pa.float64(), "The dispatcher's batching window: how long the oldest queued sample "
           "may wait for others before a partial batch runs."),
    shared.TEMPERATURE,
    shared.TOP_K,
    shared.TOP_P,
    shared.COND_SCALE,
    shared.SEED.documented("Base PRNG seed: each sample keeps its (seed, prompt, sample) key, so its tokens "
                           "equal `generate`'s."),
    shared.PROMPTS.documented("Prompt set or file."),
    shared.NUM_PROMPTS,
    shared.NUM_IMAGES.documented("Images per prompt: the query sample library is every (prompt, sample) pair."),
    Column("min_duration_s", pa.float64(), "Minimum test duration LoadGen enforced, seconds (MLPerf: 600)."),
    Column("min_query_count", pa.int64(), "Minimum query count LoadGen enforced."),
    Column("target_qps", pa.float64(), "Target rate LoadGen scheduled for (Server: Poisson arrivals at this rate; "
           "Offline: the expected rate that sizes its one query)."),
    Column("target_latency_s", pa.float64(), "Latency bound (Server) or expected latency (SingleStream/"
           "MultiStream) LoadGen used, seconds."),
    Column("target_latency_percentile", pa.float64(), "Percentile the latency bound applies to, e.g. 0.99."),
    Column("samples_per_query", pa.int32(), "Samples per query (MultiStream: 8 by default; 1 otherwise; Offline: "
           "the whole query)."),
    Column("user_conf", pa.string(), "The --user-conf file read with LoadGen's own configuration format, if any."),
    # LoadGen's results
    Column("result_metric", pa.string(), "The scenario's MLPerf metric: samples_per_s (Offline, Server) or "
           "latency_s (SingleStream: the 90th percentile, MultiStream: the 99th percentile per query; LoadGen's "
           "early-stopping estimate when it gives one)."),
    Column("result_value", pa.float64(), "Value of result_metric (samples/s or seconds)."),
    Column("peak_qps", pa.float64(), "find-peak: the highest Server rate LoadGen found to meet the latency bound."),
    Column("validity", pa.string(), "LoadGen's verdict: VALID or INVALID."),
    Column("invalid_reason", pa.string(), "Why INVALID: the unmet constraints and LoadGen's own words."),
    Column("min_duration_met", pa.bool_(), "LoadGen: the test ran at least min_duration."),
    Column("min_queries_met", pa.bool_(), "LoadGen: the test issued at least min_query_count queries."),
    Column("early_stopping_met", pa.bool_(), "LoadGen: enough queries for its early-stopping estimate of the tail "
           "percentile."),
    Column("perf_constraints_met", pa.bool_(), "Server: the latency bound held at the target percentile (null "
           "elsewhere)."),
    Column("early_stopping_result", pa.string(), "LoadGen's early-stopping message."),
    Column("early_stopping_latency_s", pa.float64(), "LoadGen's early-stopping estimate of the tail latency, "
           "seconds (SingleStream, MultiStream; null when it gave none)."),
    Column("query_count", pa.int64(), "Queries LoadGen issued in the timed test."),
    Column("achieved_qps", pa.float64(), "Completed samples per second (Offline: LoadGen's samples per second; "
           "SingleStream: its QPS with LoadGen overhead)."),
    Column("scheduled_qps", pa.float64(), "Server: samples per second LoadGen scheduled."),
    shared.LATENCY_MIN_S.documented("Fastest sample latency (issue to QuerySamplesComplete), seconds."),
    shared.LATENCY_MEAN_S.documented("Mean sample latency, seconds."),
    Column("latency_max_s", pa.float64(), "Slowest sample latency, seconds."),
    *(shared.latency_percentile(p, f"{p}th percentile sample latency, seconds (LoadGen's).") for p in PERCENTILES),
    # The system under test
    shared.COMPILE_S.documented("Ahead-of-time compilation of the pipeline, before LoadGen started."),
    Column("batches", pa.int64(), "Program calls the dispatcher made."),
    Column("mean_batch_fill", pa.float64(), "Mean queued samples per program call, over global_batch (1: never "
           "padded)."),
    # Accuracy mode
    Column("accuracy_images", pa.int32(), "Images in LoadGen's accuracy log (each sample once)."),
    shared.IMAGES_DIR.documented("Folder of the accuracy log's images as PNGs (and tokens.npy), relative to "
                                 "the run."),
    # The metrics' own columns (evals/metrics/*.py), over the accuracy log's images
    metric("clip_model").documented("CLIP checkpoint of the clip_score columns."),
    metric("clip_score").documented("Mean CLIP score of the accuracy images, torchmetrics' definition."),
    metric("clip_score_std").documented("Sample standard deviation of the per-image CLIP scores."),
    metric("clip_score_ci_low").documented("Lower end of the 95 % Student-t interval of the mean CLIP score."),
    metric("clip_score_ci_high").documented("Upper end of the 95 % Student-t interval of the mean CLIP score."),
    metric("fid_reference").documented("FID reference: a folder or a .npz statistics file."),
    metric("fid").documented("Fréchet Inception Distance of the accuracy images to the reference."),
    metric("fid_biased"),
    metric("kid_mean"),
    metric("kid_std"),
    Column("accuracy_verdict", pa.string(), "`--benchmark` accuracy check: PASS when every metric of the "
           "definition's [accuracy] table is inside reference +- tolerance, else FAIL; null when not checked "
           "(no --benchmark, performance mode, or no metric in the definition)."),
    Column("accuracy_detail", pa.string(), "JSON of the check: verdict, benchmark_run (false: options changed "
           "fixed fields, not_benchmark_reason lists them), per metric the measured figure, reference, tolerance, "
           "low, high, passed, the reference's source and why a null figure is null; and every column measured."),
)

SCHEMA = arrow_schema(COLUMNS, "dalle_bench_scenario_schema_version", SCENARIO_SCHEMA_VERSION)
NAMES = tuple(c.name for c in COLUMNS)


def check_row(row: dict) -> dict:
    """The row with every column present (missing ones null); unknown keys are a bug."""
    return complete_row(row, NAMES, "scenario row")
