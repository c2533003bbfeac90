"""Every command's arguments and options, with their help texts, declared once:
bench/cli.py puts one stack on each command, so it reads as a table of commands. Nothing here
imports JAX (`--host-devices` must set XLA_FLAGS before JAX starts)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.base.choices import DTYPES, PARALLEL_MODES, WEIGHTS
from bench.core.models.presets import PRESETS
from bench.core.sampling.config import SamplingConfig
from bench.jobs.loadgen.audit import AUDITS

# One help text for every command's --preset, listing the registry as it is.
PRESET_HELP = (f"Model configuration: {', '.join(PRESETS)} (tiny: random, built on first use; shapes: trained on "
               "the shapes world, committed; mini/mega: the published models).")
CACHE_HELP = "Reference features cache (default: $DALLE_BENCH_CACHE/fid-stats)."


def given_on_command_line(ctx: click.Context, options: dict) -> set[str]:
    """The options the user typed (not defaults): sweep and loadgen keep a resumed run's or a benchmark
    definition's value unless the option was given."""
    from click.core import ParameterSource

    return {name for name in options if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}


def stacked(*options):
    """One decorator of several options, listed in --help in the order given
    (click lists the decorator nearest the function first)."""
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


# Where the three models come from: every command that loads them takes these.
source_options = stacked(
    click.option("--preset", default="tiny", show_default=True, help=PRESET_HELP),
    click.option("--weights", type=click.Choice(WEIGHTS), default=None,
                 help="pretrained (default for mini/mega) or random: same architecture, random weights, "
                      "for throughput-only runs."),
    click.option("--model", default=None, help="DalleBart: Hub id, local folder or wandb artifact "
                                               "(overrides the preset's)."),
    click.option("--vqgan", default=None, help="VQGAN: Hub id or local folder (overrides the preset's)."),
    click.option("--clip", "clip_source", default=None, help="CLIP: Hub id or local folder "
                                                             "(overrides the preset's)."),
)

# The models' sources and one dtype (`sweep` has dtype as one of its axes instead).
model_options = stacked(
    source_options,
    click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
                 help="Parameter and compute dtype."),
)

device_options = stacked(
    click.option("--parallel", type=click.Choice(PARALLEL_MODES), default=None,
                 help="single (one device), pmap (the notebook's way) or sharded (jit over a device mesh). "
                      "Default: single for one device, sharded for more."),
    click.option("--devices", type=int, default=1, show_default=True, help="Use the first N devices."),
    click.option("--host-devices", type=int, default=None,
                 help="Emulate M CPU devices (sets XLA_FLAGS before JAX starts)."),
    click.option("--batch-per-device", type=int, default=1, show_default=True,
                 help="Images per device per program call."),
)


def distributed_options(f):
    """Joining a multi-process run (jax.distributed); each also read from its environment variable."""
    from bench.core.distributed import ENV_VARS

    return stacked(
        click.option("--coordinator", envvar=ENV_VARS["coordinator"], default=None, metavar="HOST:PORT|auto",
                     help="Process 0's address: run across processes with jax.distributed ('auto': JAX's "
                          "detection on Cloud TPU, SLURM, Open MPI)."),
        click.option("--num-processes", envvar=ENV_VARS["num_processes"], type=int, default=None,
                     help="Processes in the run (with --coordinator HOST:PORT)."),
        click.option("--process-id", envvar=ENV_VARS["process_id"], type=int, default=None,
                     help="This process's index, 0 to num-processes - 1 (0 writes the results)."),
        click.option("--distributed-timeout", envvar=ENV_VARS["timeout_s"], type=float, default=300.0,
                     show_default=True, help="Seconds a process waits for another before the run fails."),
    )(f)


sampling_options = stacked(
    click.option("--temperature", type=float, default=1.0, show_default=True,
                 help=SamplingConfig.help("temperature")),
    click.option("--top-k", type=int, default=0, show_default=True, help=SamplingConfig.help("top_k")),
    click.option("--top-p", type=float, default=1.0, show_default=True, help=SamplingConfig.help("top_p")),
    click.option("--cond-scale", type=float, default=10.0, show_default=True,
                 help=SamplingConfig.help("cond_scale")),
)


def axis_options(f):
    """One --option per sweep axis, from the axes' own help."""
    from bench.jobs.sweep.spec import AXES

    for axis in reversed(list(AXES.values())):
        f = click.option(f"--{axis.option}", axis.name, default=None, metavar="V1,V2,...",
                         help=f"{axis.help} Comma list; default {axis.default}.")(f)
    return f


def threshold_options(f):
    """One --max-... option per compare gate, from the Thresholds fields' own help."""
    from bench.jobs.compare.thresholds import Thresholds, describe, option

    for name in reversed(Thresholds.names()):
        default = describe(name, getattr(Thresholds(), name))
        f = click.option(option(name), name, default=None, metavar="VALUE",
                         help=f"{Thresholds.help(name)} 'off' disables it. Default {default}.")(f)
    return f


dinov2_option = click.option("--dinov2", "dinov2", default="facebook/dinov2-large", show_default=True,
                             help="DINOv2 network: Hub id or local folder (images resized as dgm-eval does).")
cache_option = click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help=CACHE_HELP)


sweep_options = stacked(
    click.option("--sweep", "sweep", type=click.Path(dir_okay=False), default=None,
                 help="Sweep file (TOML or YAML) with [grid] and [zip] tables of axis = [values]."),
    axis_options,
    source_options,
    click.option("--prompts", default="demo", show_default=True, help="Prompt set name (prompts/) or text file."),
    click.option("-n", "--num-images", type=int, default=2, show_default=True, help="Images per prompt per point."),
    click.option("--warmup", type=int, default=1, show_default=True, help="Untimed calls before timing."),
    click.option("--iters", type=int, default=10, show_default=True,
                 help="Fewest timed calls per point (compare's test needs at least 4 a side to decide; 10 detect a "
                      "10 %% slowdown at a few %% of noise)."),
    click.option("--min-seconds", type=float, default=0.0, show_default=True,
                 help="Fewest seconds of timed calls per point."),
    click.option("--no-stages", is_flag=True, help="Skip the per-stage breakdown (saves its four programs' compilation and calls)."),
    click.option("--measure-peak", is_flag=True, help="Also measure peak FLOP/s and bandwidth on known accelerators "
                 "(columns measured_peak_*, roofline_fraction_measured); roofline_fraction stays against the "
                 "published peak."),
    click.option("--host-devices", type=int, default=None,
                 help="Emulate M CPU devices (default: the largest --devices value)."),
    click.option("--compilation-cache", default=None, type=click.Path(file_okay=False),
                 help="Persistent compilation cache folder (default: $JAX_COMPILATION_CACHE_DIR, else "
                      "xla-cache/ in the dalle-bench cache folder, ~/.cache/dalle-bench)."),
    click.option("--no-compilation-cache", is_flag=True,
                 help="Compile every program afresh: no persistent compilation cache."),
    click.option("--compile-workers", type=click.IntRange(min=1), default=None,
                 help="Programs of one layout (their sampling structures) compiled at once, before its first "
                      "point is timed (default on the CPU backend: the usable cores, at most 4; on GPU and TPU: "
                      "1; one process only). 1: each program when its first point runs, alone."),
    click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True,
                 help="Folder for the run folder."),
    click.option("--run-id", default=None, help="Name of the run folder (default: time and definition hash)."),
    click.option("--resume", type=click.Path(), default=None, help="Continue the run in this folder."),
    click.option("--eval", "eval_metrics", default=None, metavar="METRICS",
                 help="Evaluate each point as it finishes: comma list of clip, rerank, adherence (shapes world prompts), "
                      "fid, kid, isc, prc, cmmd, fd_dinov2, prdc (see `eval`)."),
    click.option("--eval-clip", default="openai/clip-vit-base-patch32", show_default=True,
                 help="With --eval: the CLIP that scores the images (Hub id or folder)."),
    click.option("--eval-cmmd-clip", default="openai/clip-vit-large-patch14-336", show_default=True,
                 help="With --eval cmmd: the CLIP image tower (Hub id or folder)."),
    click.option("--eval-dinov2", default="facebook/dinov2-large", show_default=True,
                 help="With --eval fd_dinov2/prdc: the DINOv2 network (Hub id or folder)."),
    click.option("--fid-ref", "--ref", "fid_ref", default=None,
                 help="With --eval: reference of fid, kid, prc, cmmd, fd_dinov2, prdc (folder, .npz, point:<id>, or shapes: "
                      "images the shapes world renders)."),
    click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
                 help="With --eval: Inception weights file."),
    click.option("--report/--no-report", default=True, show_default=True,
                 help="Write the run's report (as `dalle-bench report`) when the sweep ends."),
    click.option("--html", "html", is_flag=True,
                 help="With --report: also write the self-contained HTML page (as `dalle-bench report --html`)."),
    click.option("--no-progress", is_flag=True, help="Hide the progress bars."),
    click.option("--interleave", default=None, type=click.Path(dir_okay=False), metavar="FILE",
                 help="Take turns call by call with another sweep started with the same FILE (another checkout or "
                      "installed version): their timed calls alternate under the same machine load, for an A/B "
                      "`compare` (docs/compare.md)."),
    click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Measure every point in R separate fresh processes (the unit of replication: a process has "
                      "its own speed offset), taking turns point by point and sharing the compilation cache; "
                      "the run's rows pool their calls (docs/sweeps.md). With --interleave, both sweeps' "
                      "processes take turns point by point."),
    click.option("--budget-s", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                 help="Wall-clock budget of the sweep, from its start: a point whose estimated cost (compile time and "
                      "calls, from the points measured so far) would overrun it is recorded as skipped, with the "
                      "estimate, and the sweep goes on; --resume tries skipped points again. Not with --repeat or "
                      "--coordinator."),
    click.option("--turn-file", hidden=True, type=click.Path(dir_okay=False), default=None,
                 help="A process of --repeat: take turns point by point through this file."),
    click.option("--turn-members", hidden=True, type=click.IntRange(min=1), default=None,
                 help="A process of --repeat: processes taking turns through --turn-file."),
    distributed_options,
)

loadgen_options = stacked(
    click.option("--scenario", default=None, help="MLPerf scenario: offline, server, singlestream or multistream; a comma list runs each in turn "
                      "on the same compiled pipeline. Required unless a command (check) is given."),
    click.option("--benchmark", default=None, metavar="NAME",
                 help="Benchmark definition (bench/jobs/loadgen/benchmarks/NAME.toml, or a .toml file): the model, prompt set "
                      "and sample count, sampling and each scenario's latency constraint are taken from it; an option "
                      "that changes one makes the run 'not a benchmark run' (docs/load-scenarios.md)."),
    click.option("--mode", default="performance", show_default=True,
                 help="performance, accuracy (every sample once; images saved and scored) or both."),
    click.option("--audit", type=click.Choice(list(AUDITS)), default=None,
                 help="Compliance audit (docs/load-scenarios.md#compliance-audits): test01 runs accuracy, then "
                      "performance with LoadGen logging a sampled share of its responses, and checks they equal "
                      "accuracy mode's; caching runs performance with distinct samples, one sample for every query, "
                      "then distinct again, and fails if one sample is over 1.1x faster. The verdict goes to run.json's audits "
                      "(exit 1 on FAIL)."),
    click.option("--target-qps", type=float, default=None,
                 help="Server: arrival rate (default: half the warm-up rate); Offline: expected rate (default: the "
                      "warm-up rate)."),
    click.option("--target-latency-ms", type=float, default=None,
                 help="Server: the latency bound (default: 5 warm-up batch latencies); SingleStream/MultiStream: "
                      "the expected latency."),
    click.option("--target-latency-percentile", type=float, default=None,
                 help="Percentile of the latency bound, e.g. 0.99 (LoadGen's default per scenario)."),
    click.option("--find-peak", is_flag=True, help="Server: LoadGen's FindPeakPerformance, the highest rate that "
                                                   "meets the latency bound."),
    click.option("--min-duration", "min_duration_s", type=float, default=10.0, show_default=True,
                 help="Minimum test duration, seconds (MLPerf's rules: 600)."),
    click.option("--min-queries", type=int, default=100, show_default=True, help="Minimum query count."),
    click.option("--max-batch-wait-ms", type=float, default=0.0, show_default=True,
                 help="The dispatcher's batching window: how long the oldest queued sample may wait for a "
                      "batch to fill (0: run what is queued when the device is free)."),
    click.option("--samples-per-query", type=int, default=None, help="MultiStream: samples per query (default 8)."),
    click.option("--user-conf", type=click.Path(dir_okay=False), default=None,
                 help="LoadGen settings file in its own format (user.conf: 'dalle-mini.Server.target_qps = 2'); "
                      "options given here override it."),
    click.option("--trace", is_flag=True,
                 help="Write LoadGen's trace (mlperf_log_trace.json: every sample's issue and completion, for "
                      "report --html's latency-over-time plot); off by default, as in MLPerf's references, "
                      "which turn it on only to debug: it is logged while the test runs."),
    click.option("--prompts", default="demo", show_default=True, help="Prompt set name (prompts/) or text file."),
    click.option("-n", "--num-images", type=int, default=2, show_default=True,
                 help="Images per prompt: the query sample library is every (prompt, sample) pair."),
    click.option("--seed", type=int, default=0, show_default=True),
    sampling_options,
    model_options,
    device_options,
    click.option("--eval-clip", default=None,
                 help="Accuracy mode: the CLIP that scores the images (Hub id or folder); default: no CLIP score."),
    click.option("--fid-ref", default=None, help="Accuracy mode: FID/KID reference (image folder or .npz)."),
    click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
                 help="Accuracy mode: Inception weights file."),
    click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True,
                 help="Folder for the run folder."),
    click.option("--run-id", default=None, help="Name of the run folder (default: time and scenario)."),
    distributed_options,
)

loadgen_check_options = click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True,
                                       type=click.Path(file_okay=False, path_type=Path))

generate_options = stacked(
    click.argument("prompts", nargs=-1),
    click.option("-n", "--num-images", type=int, default=4, show_default=True, help="Images per prompt."),
    click.option("--seed", type=int, default=0, show_default=True),
    sampling_options,
    model_options,
    device_options,
    click.option("--out", type=click.Path(path_type=Path), default=Path("results/generate"), show_default=True),
    click.option("--no-progress", is_flag=True, help="Hide the progress bar."),
    distributed_options,
)

compare_options = stacked(
    click.argument("baseline_run", type=click.Path(file_okay=False, path_type=Path)),
    click.argument("candidate_run", type=click.Path(file_okay=False, path_type=Path)),
    threshold_options,
    click.option("--thresholds", "thresholds_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Thresholds file (TOML or YAML; keys as the options, e.g. max_throughput_drop = \"5%\"); "
                      "options given here override it."),
    click.option("--format", "fmt", type=click.Choice(["markdown", "json", "junit"]), default="markdown",
                 show_default=True, help="markdown (a pull-request comment), json, or junit (XML, a test per gate)."),
    click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Also write the output to this file."),
    click.option("--require-decided", is_flag=True,
                 help="Fail (exit 1) when a gate is undecided: one run a side for latency (run-to-run variance "
                      "unknown), no latencies.npy, or no per-image spread for the CLIP score."),
)

eval_options = stacked(
    click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path)),
    click.option("--metrics", default="clip", show_default=True,
                 help="Comma list of clip, rerank (needs clip), adherence (shapes world prompts), fid, kid, isc, prc, cmmd, "
                      "fd_dinov2, prdc."),
    click.option("--clip", "clip_source", default="openai/clip-vit-base-patch32", show_default=True,
                 help="CLIP for clip_score: Hub id or local folder."),
    click.option("--fid-ref", "--ref", "fid_ref", default=None,
                 help="Reference of fid, kid, prc, cmmd, fd_dinov2, prdc: image folder, .npz with mu/sigma (fid only), "
                      "point:<id>, or shapes (images the shapes world renders)."),
    click.option("--inception-weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Inception weights file (torch state dict) instead of torch-fidelity's download."),
    click.option("--cmmd-clip", default="openai/clip-vit-large-patch14-336", show_default=True,
                 help="CLIP image tower for cmmd: Hub id or local folder."),
    click.option("--dinov2", default="facebook/dinov2-large", show_default=True,
                 help="DINOv2 for fd_dinov2 and prdc: Hub id or local folder."),
)

train_shapes_options = stacked(
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("checkpoints/shapes"),
                 show_default=True, help="Folder for dallebart/, vqgan/, clip/ and training.json. --preset shapes "
                 "loads bench/data/checkpoints/shapes, which checkpoints/shapes links to in a checkout (run from its "
                 "root, the default replaces them); load another with --model OUT/dallebart --vqgan OUT/vqgan "
                 "--clip OUT/clip."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data and of every model."),
    click.option("--stage", "stages", multiple=True, type=click.Choice(["vqgan", "dallebart", "clip", "assemble"]),
                 help="Run only these stages (repeatable); the training stages are independent processes' work."),
)

accelerator_options = stacked(
    click.option("--budget-s", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                 help="Wall-clock budget of the whole run, planned against and never exceeded (default: the matrix's, "
                      "480 s; with --smoke 60 s)."),
    click.option("--smoke", is_flag=True, help="The CPU dry run: the matrix's [smoke] part (tiny preset, 2 emulated "
                                               "devices, one block of each kind)."),
    click.option("--matrix", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Matrix file (default: bench/jobs/accelerator/matrix.toml)."),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/accelerators"),
                 show_default=True, help="Results go to OUT/<device-kind>/<run-id>/."),
    click.option("--run-id", default=None, help="Name of the run folder (default: UTC time)."),
    click.option("--only", default=None, metavar="BLOCK,...",
                 help="Run only these blocks of the matrix (comma list of names), e.g. for a short lease."),
)

report_options = stacked(
    click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path)),
    click.option("--html", "html", is_flag=True,
                 help="Also write RUN_DIR/report/report.html, one self-contained page with plots and image grids, "
                      "and print its path instead of the Markdown."),
)

# `metrics`: every one scores IMAGES_DIR, all but clip-score against a REFERENCE.
images_argument = click.argument("images_dir", type=click.Path(path_type=Path))
reference_argument = click.argument("reference")

clip_score_options = stacked(
    images_argument,
    click.option("--prompts", "prompts_file", required=True, type=click.Path(path_type=Path),
                 help="One prompt per image (in file-name order), or per prompt for promptPPP_sampleSSS.png files."),
    click.option("--clip", "clip_source", default="openai/clip-vit-base-patch32", show_default=True),
)

fid_options = stacked(
    images_argument,
    reference_argument,
    click.option("--metrics", default="fid,kid,isc,prc", show_default=True, help="Comma list of fid, kid, isc, prc."),
    click.option("--inception-weights", type=click.Path(dir_okay=False, path_type=Path), default=None),
    click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Reference statistics cache (default: $DALLE_BENCH_CACHE/fid-stats)."),
)

cmmd_options = stacked(
    images_argument,
    reference_argument,
    click.option("--clip", "clip_source", default="openai/clip-vit-large-patch14-336", show_default=True,
                 help="CLIP image tower (Hub id or local folder): embeddings, resized bicubically to its input size."),
    cache_option,
)

dinov2_options = stacked(images_argument, reference_argument, dinov2_option, cache_option)

prompts_show_options = click.argument("name")
