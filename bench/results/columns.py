"""The columns a sweep's points (points.parquet) and a LoadGen run's
scenarios (scenarios.parquet) both have, each defined once: name, type and
the meaning it has in a sweep's row. The scenario schema says, column by
column, where a LoadGen test means something else (`Column.documented`)."""

from __future__ import annotations

import pyarrow as pa

from bench.base.column import Column

# Identity and outcome
RUN_ID = Column("run_id", pa.string(), "The run's folder name under results/.")
STATUS = Column("status", pa.string(), "ok, invalid (a bad combination of settings), oom (out of memory), "
                "failed, lost (a process of a multi-process run died or hung; --resume runs the point again), or "
                "skipped (not run: it would overrun --budget-s, or a smaller batch of the same settings ran out of "
                "memory; the error column says which; --resume tries it again).")
ERROR = Column("error", pa.string(), "One-line error message when status is not ok.")
FINISHED_AT = Column("finished_at", pa.string(), "UTC time the point finished, ISO 8601.")

# Settings
PRESET = Column("preset", pa.string(), "Model preset: tiny, shapes, mini or mega.")
RANDOM_WEIGHTS = Column("random_weights", pa.bool_(),
                        "True when the weights are random: throughput is real, quality is not.")
DTYPE = Column("dtype", pa.string(), "Parameter and compute dtype.")
PARALLEL = Column("parallel", pa.string(), "single, pmap or sharded.")
DEVICES = Column("devices", pa.int32(), "Devices the point ran on, over all processes.")
BATCH_PER_DEVICE = Column("batch_per_device", pa.int32(), "Images per device per program call.")
GLOBAL_BATCH = Column("global_batch", pa.int32(), "Images per program call: devices x batch_per_device.")
TEMPERATURE = Column("temperature", pa.float64(), "Sampling temperature.")
TOP_K = Column("top_k", pa.int32(), "Top-k filter (0: off).")
TOP_P = Column("top_p", pa.float64(), "Nucleus filter (1: off).")
COND_SCALE = Column("cond_scale", pa.float64(), "Super-conditioning scale (1: no unconditioned pass).")
SEED = Column("seed", pa.int32(), "Base PRNG seed of the images.")
PROMPTS = Column("prompts", pa.string(), "Prompt set or file the images were generated for.")
NUM_PROMPTS = Column("num_prompts", pa.int32(), "Prompts in that set.")
NUM_IMAGES = Column("num_images", pa.int32(), "Images per prompt.")

# Timing: a sweep times program calls (batches), LoadGen times samples; the columns keep one name rule.
COMPILE_S = Column("compile_s", pa.float64(), "Ahead-of-time compilation of the whole pipeline (lower().compile()) "
                   "this point paid for, seconds: 0 when it reused the program of an earlier point (see compiled).")
LATENCY_MIN_S = Column("latency_min_s", pa.float64(), "Fastest batch, seconds.")
LATENCY_MEAN_S = Column("latency_mean_s", pa.float64(), "Mean batch latency, seconds.")


def percentile_column(percentile: str) -> str:
    """latency_p99_9_s for '99.9': the name of a latency percentile's column."""
    return f"latency_p{percentile.replace('.', '_')}_s"


def latency_percentile(percentile: str, doc: str) -> Column:
    return Column(percentile_column(percentile), pa.float64(), doc)


# Outputs
IMAGES_DIR = Column("images_dir", pa.string(), "Folder of the point's PNGs, tokens.npy, clip_scores.npy and "
                    "latencies.npy, relative to the run.")
