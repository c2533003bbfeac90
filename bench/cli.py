"""The `dalle-bench` command line. Kept thin: it parses, validates and hands
over. JAX is imported only inside commands, because `--host-devices` must set
XLA_FLAGS before JAX starts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .choices import DTYPES, PARALLEL_MODES, WEIGHTS
from .errors import BenchError, Terminated, one_line
from .loadgen.audit import AUDITS
from .models.presets import PRESETS
from .sampling.config import SamplingConfig

# One help text for every command's --preset, listing the registry as it is.
PRESET_HELP = (f"Model configuration: {', '.join(PRESETS)} (tiny: random, built on first use; shapes: trained on "
               "the shapes world, committed; mini/mega: the published models).")


def source_options(f):
    """Where the three models come from: every command that loads them takes these."""
    options = [
        click.option("--preset", default="tiny", show_default=True, help=PRESET_HELP),
        click.option("--weights", type=click.Choice(WEIGHTS), default=None,
                     help="pretrained (default for mini/mega) or random: same architecture, random weights, "
                          "for throughput-only runs."),
        click.option("--model", default=None, help="DalleBart: Hub id, local folder or wandb artifact "
                                                   "(overrides the preset's)."),
        click.option("--vqgan", default=None, help="VQGAN: Hub id or local folder (overrides the preset's)."),
        click.option("--clip", "clip_source", default=None, help="CLIP: Hub id or local folder "
                                                                 "(overrides the preset's)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def model_options(f):
    """The models' sources and one dtype (`sweep` has dtype as one of its axes instead)."""
    f = click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
                     help="Parameter and compute dtype.")(f)
    return source_options(f)


def device_options(f):
    options = [
        click.option("--parallel", type=click.Choice(PARALLEL_MODES), default=None,
                     help="single (one device), pmap (the notebook's way) or sharded (jit over a device mesh). "
                          "Default: single for one device, sharded for more."),
        click.option("--devices", type=int, default=1, show_default=True, help="Use the first N devices."),
        click.option("--host-devices", type=int, default=None,
                     help="Emulate M CPU devices (sets XLA_FLAGS before JAX starts)."),
        click.option("--batch-per-device", type=int, default=1, show_default=True,
                     help="Images per device per program call."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def distributed_options(f):
    """Joining a multi-process run (jax.distributed); each also read from its environment variable."""
    from .distributed import ENV_VARS

    options = [
        click.option("--coordinator", envvar=ENV_VARS["coordinator"], default=None, metavar="HOST:PORT|auto",
                     help="Process 0's address: run across processes with jax.distributed ('auto': JAX's "
                          "detection on Cloud TPU, SLURM, Open MPI)."),
        click.option("--num-processes", envvar=ENV_VARS["num_processes"], type=int, default=None,
                     help="Processes in the run (with --coordinator HOST:PORT)."),
        click.option("--process-id", envvar=ENV_VARS["process_id"], type=int, default=None,
                     help="This process's index, 0 to num-processes - 1 (0 writes the results)."),
        click.option("--distributed-timeout", envvar=ENV_VARS["timeout_s"], type=float, default=300.0,
                     show_default=True, help="Seconds a process waits for another before the run fails."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def sampling_options(f):
    options = [
        click.option("--temperature", type=float, default=1.0, show_default=True,
                     help=SamplingConfig.help("temperature")),
        click.option("--top-k", type=int, default=0, show_default=True, help=SamplingConfig.help("top_k")),
        click.option("--top-p", type=float, default=1.0, show_default=True, help=SamplingConfig.help("top_p")),
        click.option("--cond-scale", type=float, default=10.0, show_default=True,
                     help=SamplingConfig.help("cond_scale")),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group()
@click.version_option(package_name="dalle-bench")
def cli():
    """Benchmark and evaluate DALL·E Mini on JAX."""


@cli.command()
@click.argument("prompts", nargs=-1)
@click.option("-n", "--num-images", type=int, default=4, show_default=True, help="Images per prompt.")
@click.option("--seed", type=int, default=0, show_default=True)
@sampling_options
@model_options
@device_options
@click.option("--out", type=click.Path(path_type=Path), default=Path("results/generate"), show_default=True)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@distributed_options
def generate(prompts, num_images, seed, temperature, top_k, top_p, cond_scale, preset, weights, model, vqgan,
             clip_source, dtype, parallel, devices, host_devices, batch_per_device, out, no_progress, coordinator,
             num_processes, process_id, distributed_timeout):
    """Generate NUM_IMAGES images for each PROMPT, as the original notebook does."""
    options = dict(locals())
    from .commands.generate import run_generate

    run_generate(**options)


def _axis_options(f):
    from .sweep.spec import AXES

    for axis in reversed(list(AXES.values())):
        f = click.option(f"--{axis.option}", axis.name, default=None, metavar="V1,V2,...",
                         help=f"{axis.help} Comma list; default {axis.default}.")(f)
    return f


@cli.command()
@click.option("--sweep", "sweep", type=click.Path(dir_okay=False), default=None,
              help="Sweep file (TOML or YAML) with [grid] and [zip] tables of axis = [values].")
@_axis_options
@source_options
@click.option("--prompts", default="demo", show_default=True, help="Prompt set name (prompts/) or text file.")
@click.option("-n", "--num-images", type=int, default=2, show_default=True, help="Images per prompt per point.")
@click.option("--warmup", type=int, default=1, show_default=True, help="Untimed calls before timing.")
@click.option("--iters", type=int, default=10, show_default=True,
              help="Fewest timed calls per point (compare's test needs at least 4 a side to decide; 10 detect a "
                   "10 %% slowdown at a few %% of noise).")
@click.option("--min-seconds", type=float, default=0.0, show_default=True,
              help="Fewest seconds of timed calls per point.")
@click.option("--no-stages", is_flag=True, help="Skip the per-stage breakdown (saves its four programs' compilation and calls).")
@click.option("--measure-peak", is_flag=True, help="Also measure peak FLOP/s and bandwidth on known accelerators "
              "(columns measured_peak_*, roofline_fraction_measured); roofline_fraction stays against the "
              "published peak.")
@click.option("--host-devices", type=int, default=None,
              help="Emulate M CPU devices (default: the largest --devices value).")
@click.option("--compilation-cache", default=None, type=click.Path(file_okay=False),
              help="Persistent compilation cache folder (default: $JAX_COMPILATION_CACHE_DIR, else "
                   "xla-cache/ in the dalle-bench cache folder, ~/.cache/dalle-bench).")
@click.option("--no-compilation-cache", is_flag=True,
              help="Compile every program afresh: no persistent compilation cache.")
@click.option("--compile-workers", type=click.IntRange(min=1), default=None,
              help="Programs of one layout (their sampling structures) compiled at once, before its first "
                   "point is timed (default on the CPU backend: the usable cores, at most 4; on GPU and TPU: "
                   "1; one process only). 1: each program when its first point runs, alone.")
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True,
              help="Folder for the run folder.")
@click.option("--run-id", default=None, help="Name of the run folder (default: time and definition hash).")
@click.option("--resume", type=click.Path(), default=None, help="Continue the run in this folder.")
@click.option("--eval", "eval_metrics", default=None, metavar="METRICS",
              help="Evaluate each point as it finishes: comma list of clip, rerank, adherence (shapes world prompts), "
                   "fid, kid, isc, prc, cmmd, fd_dinov2, prdc (see `eval`).")
@click.option("--eval-clip", default="openai/clip-vit-base-patch32", show_default=True,
              help="With --eval: the CLIP that scores the images (Hub id or folder).")
@click.option("--eval-cmmd-clip", default="openai/clip-vit-large-patch14-336", show_default=True,
              help="With --eval cmmd: the CLIP image tower (Hub id or folder).")
@click.option("--eval-dinov2", default="facebook/dinov2-large", show_default=True,
              help="With --eval fd_dinov2/prdc: the DINOv2 network (Hub id or folder).")
@click.option("--fid-ref", "--ref", "fid_ref", default=None,
              help="With --eval: reference of fid, kid, prc, cmmd, fd_dinov2, prdc (folder, .npz, point:<id>, or shapes: "
                   "images the shapes world renders).")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="With --eval: Inception weights file.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write the run's report (as `dalle-bench report`) when the sweep ends.")
@click.option("--html", "html", is_flag=True,
              help="With --report: also write the self-contained HTML page (as `dalle-bench report --html`).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@click.option("--interleave", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Take turns call by call with another sweep started with the same FILE (another checkout or "
                   "installed version): their timed calls alternate under the same machine load, for an A/B "
                   "`compare` (docs/compare.md).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Measure every point in R separate fresh processes (the unit of replication: a process has "
                   "its own speed offset), taking turns point by point and sharing the compilation cache; "
                   "the run's rows pool their calls (docs/sweeps.md). With --interleave, both sweeps' "
                   "processes take turns point by point.")
@click.option("--budget-s", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Wall-clock budget of the sweep, from its start: a point whose estimated cost (compile time and "
                   "calls, from the points measured so far) would overrun it is recorded as skipped, with the "
                   "estimate, and the sweep goes on; --resume tries skipped points again. Not with --repeat or "
                   "--coordinator.")
@click.option("--turn-file", hidden=True, type=click.Path(dir_okay=False), default=None,
              help="A process of --repeat: take turns point by point through this file.")
@click.option("--turn-members", hidden=True, type=click.IntRange(min=1), default=None,
              help="A process of --repeat: processes taking turns through --turn-file.")
@distributed_options
@click.pass_context
def sweep(ctx, **options):
    """Measure the pipeline over a grid of settings; results go to OUT/RUN-ID/."""
    from click.core import ParameterSource

    from .commands.sweep import run_sweep

    explicit = {name for name in options if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    run_sweep(options, explicit)


@cli.group(invoke_without_command=True, subcommand_metavar="[check RUN_DIR...]")
@click.option("--scenario", default=None, help="MLPerf scenario: offline, server, singlestream or multistream; a comma list runs each in turn "
                   "on the same compiled pipeline. Required unless a command (check) is given.")
@click.option("--benchmark", default=None, metavar="NAME",
              help="Benchmark definition (bench/loadgen/benchmarks/NAME.toml, or a .toml file): the model, prompt set "
                   "and sample count, sampling and each scenario's latency constraint are taken from it; an option "
                   "that changes one makes the run 'not a benchmark run' (docs/load-scenarios.md).")
@click.option("--mode", default="performance", show_default=True,
              help="performance, accuracy (every sample once; images saved and scored) or both.")
@click.option("--audit", type=click.Choice(list(AUDITS)), default=None,
              help="Compliance audit (docs/load-scenarios.md#compliance-audits): test01 runs accuracy, then "
                   "performance with LoadGen logging a sampled share of its responses, and checks they equal "
                   "accuracy mode's; caching runs performance with distinct samples, one sample for every query, "
                   "then distinct again, and fails if one sample is over 1.1x faster. The verdict goes to run.json's audits "
                   "(exit 1 on FAIL).")
@click.option("--target-qps", type=float, default=None,
              help="Server: arrival rate (default: half the warm-up rate); Offline: expected rate (default: the "
                   "warm-up rate).")
@click.option("--target-latency-ms", type=float, default=None,
              help="Server: the latency bound (default: 5 warm-up batch latencies); SingleStream/MultiStream: "
                   "the expected latency.")
@click.option("--target-latency-percentile", type=float, default=None,
              help="Percentile of the latency bound, e.g. 0.99 (LoadGen's default per scenario).")
@click.option("--find-peak", is_flag=True, help="Server: LoadGen's FindPeakPerformance, the highest rate that "
                                                "meets the latency bound.")
@click.option("--min-duration", "min_duration_s", type=float, default=10.0, show_default=True,
              help="Minimum test duration, seconds (MLPerf's rules: 600).")
@click.option("--min-queries", type=int, default=100, show_default=True, help="Minimum query count.")
@click.option("--max-batch-wait-ms", type=float, default=0.0, show_default=True,
              help="The dispatcher's batching window: how long the oldest queued sample may wait for a "
                   "batch to fill (0: run what is queued when the device is free).")
@click.option("--samples-per-query", type=int, default=None, help="MultiStream: samples per query (default 8).")
@click.option("--user-conf", type=click.Path(dir_okay=False), default=None,
              help="LoadGen settings file in its own format (user.conf: 'dalle-mini.Server.target_qps = 2'); "
                   "options given here override it.")
@click.option("--trace", is_flag=True,
              help="Write LoadGen's trace (mlperf_log_trace.json: every sample's issue and completion, for "
                   "report --html's latency-over-time plot); off by default, as in MLPerf's references, "
                   "which turn it on only to debug: it is logged while the test runs.")
@click.option("--prompts", default="demo", show_default=True, help="Prompt set name (prompts/) or text file.")
@click.option("-n", "--num-images", type=int, default=2, show_default=True,
              help="Images per prompt: the query sample library is every (prompt, sample) pair.")
@click.option("--seed", type=int, default=0, show_default=True)
@sampling_options
@model_options
@device_options
@click.option("--eval-clip", default=None,
              help="Accuracy mode: the CLIP that scores the images (Hub id or folder); default: no CLIP score.")
@click.option("--fid-ref", default=None, help="Accuracy mode: FID/KID reference (image folder or .npz).")
@click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
              help="Accuracy mode: Inception weights file.")
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True,
              help="Folder for the run folder.")
@click.option("--run-id", default=None, help="Name of the run folder (default: time and scenario).")
@distributed_options
@click.pass_context
def loadgen(ctx, **options):
    """MLPerf load scenarios on MLPerf's LoadGen; results go to OUT/RUN-ID/.

    `dalle-bench loadgen check RUN_DIR...` checks run folders as MLPerf's submission checker would."""
    from click.core import ParameterSource

    from .commands.loadgen import run_loadgen

    explicit = {name for name in options if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    if ctx.invoked_subcommand is not None:  # `loadgen check ...`: the options are the test's, not the command's
        if explicit:
            raise click.UsageError(f"loadgen {ctx.invoked_subcommand} takes none of loadgen's options (got "
                                   f"--{sorted(explicit)[0].replace('_', '-')})")
        return
    if options.get("scenario") is None:
        raise click.MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "scenario"))
    if options.get("benchmark"):
        options, explicit = _with_benchmark(options, explicit)
    run_loadgen(options, explicit)


@loadgen.command("check")
@click.argument("run_dirs", metavar="RUN_DIR...", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
def loadgen_check(run_dirs):
    """Check loadgen run folders as MLPerf's submission checker reads a submission: one line per failed rule;
    exit 0 when every rule passes (submittable), 1 when one fails (a short run that LoadGen called VALID:
    "valid but not submittable"), 2 when a folder cannot be read. Give the performance, accuracy and audit
    runs of one submission together (docs/load-scenarios.md#checking-a-run)."""
    from .commands.loadgen_check import run_check

    lines, status = run_check(list(run_dirs))
    for line in lines:
        click.echo(line)
    sys.exit(status)  # not ctx.exit: `main` runs click with standalone_mode=False, which drops Exit's status


def _with_benchmark(options: dict, explicit: set[str]) -> tuple[dict, set[str]]:
    """The options with the definition's fixed fields (bench/loadgen/benchmark.py); the fields it
    fills count as given on the command line, so a --user-conf cannot change them silently."""
    from .loadgen.benchmark import apply_benchmark, load_benchmark
    from .loadgen.settings import SCENARIOS

    benchmark = load_benchmark(options["benchmark"])
    keys = [name.strip().lower().replace("-", "").replace("_", "") for name in options["scenario"].split(",")]
    scenarios = [SCENARIOS[key] for key in keys if key in SCENARIOS]  # an unknown one is check_inputs' error
    merged, per_scenario, overrides = apply_benchmark(benchmark, options, explicit, scenarios)
    merged.update(benchmark_definition=benchmark, benchmark_record=benchmark.record(overrides),
                  scenario_fields=per_scenario)
    filled = {name for name in benchmark.fixed if merged.get(name) == benchmark.fixed[name]}
    return merged, explicit | filled | {name for fields in per_scenario.values() for name in fields}


@cli.command()
@click.option("--budget-s", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Wall-clock budget of the whole run, planned against and never exceeded (default: the matrix's, "
                   "480 s; with --smoke 60 s).")
@click.option("--smoke", is_flag=True, help="The CPU dry run: the matrix's [smoke] part (tiny preset, 2 emulated "
                                            "devices, one block of each kind).")
@click.option("--matrix", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Matrix file (default: bench/accelerator/matrix.toml).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/accelerators"),
              show_default=True, help="Results go to OUT/<device-kind>/<run-id>/.")
@click.option("--run-id", default=None, help="Name of the run folder (default: UTC time).")
@click.option("--only", default=None, metavar="BLOCK,...",
              help="Run only these blocks of the matrix (comma list of names), e.g. for a short lease.")
def accelerator(budget_s, smoke, matrix, out, run_id, only):
    """The fixed accelerator benchmark on whatever backend JAX finds: mini and mega, bfloat16 and float32,
    batches up to the first out-of-memory one, 1 to all devices, top-k and the stage breakdown at one
    batch, LoadGen's Offline and SingleStream; within a wall-clock budget (docs/accelerators.md)."""
    from .accelerator.plan import MATRIX_FILE, load_matrix
    from .accelerator.run import run_accelerator
    from .runlock import check_run_id

    if run_id is not None:
        check_run_id(run_id)
    if matrix is not None and not matrix.is_file():
        raise BenchError(f"--matrix: file not found: {matrix}")
    plan = load_matrix(matrix or MATRIX_FILE, smoke=smoke)
    if only:
        plan = plan.only([name.strip() for name in only.split(",") if name.strip()])
    folder = run_accelerator(plan, budget_s or plan.run.budget_s, out, run_id, smoke,
                             echo=lambda line: click.echo(line, err=True))
    click.echo((folder / "summary.md").read_text(), nl=False)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--html", "html", is_flag=True,
              help="Also write RUN_DIR/report/report.html, one self-contained page with plots and image grids, "
                   "and print its path instead of the Markdown.")
def report(run_dir, html):
    """Tables of a sweep run: Markdown here and CSVs in RUN_DIR/report/ (with --html: a page with plots)."""
    from .loadgen.store import is_loadgen_run

    if is_loadgen_run(run_dir):  # a `loadgen` run: its scenarios table (and latency-over-time plot)
        from .loadgen.report import write_scenario_html, write_scenario_report

        markdown, out = write_scenario_report(run_dir)
        click.echo(write_scenario_html(run_dir) if html else markdown)
        return
    from .report import write_report
    from .runlock import run_lock

    from .sweep.store import RunStore

    RunStore.open(run_dir)  # a one-line error for a folder that is not a run or is damaged, before any lock file
    with run_lock(run_dir):
        markdown, out = write_report(run_dir)
        if html:
            from .report_html import write_html_report

            html_path = write_html_report(run_dir, echo=lambda line: click.echo(line, err=True))
    if html:
        click.echo(html_path)
    else:
        click.echo(markdown)
        click.echo(f"Report written to {out / 'report.md'} (and CSVs; a page with plots: --html)", err=True)


def _threshold_options(f):
    from .compare.thresholds import Thresholds, describe, option

    for name in reversed(Thresholds.names()):
        default = describe(name, getattr(Thresholds(), name))
        f = click.option(option(name), name, default=None, metavar="VALUE",
                         help=f"{Thresholds.help(name)} 'off' disables it. Default {default}.")(f)
    return f


@cli.command()
@click.argument("baseline_run", type=click.Path(file_okay=False, path_type=Path))
@click.argument("candidate_run", type=click.Path(file_okay=False, path_type=Path))
@_threshold_options
@click.option("--thresholds", "thresholds_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Thresholds file (TOML or YAML; keys as the options, e.g. max_throughput_drop = \"5%\"); "
                   "options given here override it.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json", "junit"]), default="markdown",
              show_default=True, help="markdown (a pull-request comment), json, or junit (XML, a test per gate).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the output to this file.")
@click.option("--require-decided", is_flag=True,
              help="Fail (exit 1) when a gate is undecided: one run a side for latency (run-to-run variance "
                   "unknown), no latencies.npy, or no per-image spread for the CLIP score.")
def compare(baseline_run, candidate_run, thresholds_file, fmt, output, require_decided, **flags):
    """Gate CANDIDATE_RUN against BASELINE_RUN: exit 0 when every gate holds, 1 on a regression, 2 on bad input.

    Each side is a run folder (with its `sweep --repeat` processes) or a folder of run folders of the
    same sweep, pooled. Latency is decided on runs, not calls: one run a side is undecided."""
    from .commands.compare import run_compare

    text, status, warnings = run_compare(baseline_run, candidate_run, flags, thresholds_file, fmt, output,
                                         require_decided)
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(text, nl=False)
    sys.exit(status)  # not ctx.exit: `main` runs click with standalone_mode=False, which drops Exit's status


def _json_text(value, indent: int = 2) -> str:
    """JSON with null for NaN and infinities (json.dumps writes NaN, which is not JSON); numpy scalars
    become Python numbers."""
    import json
    import math

    import numpy as np

    def clean(v):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), indent=indent, allow_nan=False)


def _metrics_list(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


@cli.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--metrics", default="clip", show_default=True,
              help="Comma list of clip, rerank (needs clip), adherence (shapes world prompts), fid, kid, isc, prc, cmmd, "
                   "fd_dinov2, prdc.")
@click.option("--clip", "clip_source", default="openai/clip-vit-base-patch32", show_default=True,
              help="CLIP for clip_score: Hub id or local folder.")
@click.option("--fid-ref", "--ref", "fid_ref", default=None,
              help="Reference of fid, kid, prc, cmmd, fd_dinov2, prdc: image folder, .npz with mu/sigma (fid only), "
                   "point:<id>, or shapes (images the shapes world renders).")
@click.option("--inception-weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Inception weights file (torch state dict) instead of torch-fidelity's download.")
@click.option("--cmmd-clip", default="openai/clip-vit-large-patch14-336", show_default=True,
              help="CLIP image tower for cmmd: Hub id or local folder.")
@click.option("--dinov2", default="facebook/dinov2-large", show_default=True,
              help="DINOv2 for fd_dinov2 and prdc: Hub id or local folder.")
def evaluate(run_dir, metrics, clip_source, fid_ref, inception_weights, cmmd_clip, dinov2):
    """Add quality columns (CLIP score and re-ranking, FID, KID, IS, precision/recall, CMMD, FD-DINOv2,
    density/coverage) to a run's points."""
    from evals.evaluate import EvalSettings, evaluate_run

    settings = EvalSettings(metrics=_metrics_list(metrics), clip=clip_source, fid_ref=fid_ref,
                            inception_weights=inception_weights, cmmd_clip=cmmd_clip, dinov2=dinov2)
    evaluate_run(run_dir, settings, echo=lambda line: click.echo(line, err=True))
    click.echo(f"Quality columns written to {run_dir / 'points.parquet'}", err=True)


@cli.command("train-shapes")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("checkpoints/shapes"),
              show_default=True, help="Folder for dallebart/, vqgan/, clip/ and training.json. --preset shapes loads "
              "bench/data/checkpoints/shapes, which checkpoints/shapes links to in a checkout (run from its "
              "root, the default replaces them); load another with --model OUT/dallebart --vqgan OUT/vqgan "
              "--clip OUT/clip.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data and of every model.")
@click.option("--stage", "stages", multiple=True, type=click.Choice(["vqgan", "dallebart", "clip", "assemble"]),
              help="Run only these stages (repeatable); the training stages are independent processes' work.")
def train_shapes_command(out, seed, stages):
    """Train the shapes preset's VQGAN, DalleBart and CLIP on the shapes world (optax, deterministic from --seed)."""
    from .shapes.train.command import STAGES, TrainSettings, train_shapes

    train_shapes(out, TrainSettings(seed=seed), tuple(stages) or STAGES, echo=lambda line: click.echo(line, err=True))


@cli.group()
def metrics():
    """Score any folder of images (from any generator); prints JSON."""


@metrics.command("clip-score")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.option("--prompts", "prompts_file", required=True, type=click.Path(path_type=Path),
              help="One prompt per image (in file-name order), or per prompt for promptPPP_sampleSSS.png files.")
@click.option("--clip", "clip_source", default="openai/clip-vit-base-patch32", show_default=True)
def metrics_clip_score(images_dir, prompts_file, clip_source):
    """CLIP score of the images in IMAGES_DIR against their prompts."""
    from evals.commands import clip_score_of_folder

    click.echo(_json_text(clip_score_of_folder(images_dir, prompts_file, clip_source), indent=2))


@metrics.command("fid")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.argument("reference")
@click.option("--metrics", default="fid,kid,isc,prc", show_default=True, help="Comma list of fid, kid, isc, prc.")
@click.option("--inception-weights", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Reference statistics cache (default: $DALLE_BENCH_CACHE/fid-stats).")
def metrics_fid(images_dir, reference, metrics, inception_weights, cache_dir):
    """FID (and KID, IS, precision/recall) of IMAGES_DIR against REFERENCE (folder or .npz)."""
    from evals.commands import fid_of_folder

    click.echo(_json_text(fid_of_folder(images_dir, reference, _metrics_list(metrics), inception_weights,
                                        cache_dir), indent=2))


def _registered_metric(name: str, images_dir: Path, reference: str, cache_dir: Path | None, **networks) -> None:
    from evals.commands import registered_metric_of_folder
    from evals.metric import Networks

    click.echo(_json_text(registered_metric_of_folder(name, images_dir, reference, Networks(**networks), cache_dir),
                          indent=2))


_CACHE_HELP = "Reference features cache (default: $DALLE_BENCH_CACHE/fid-stats)."


@metrics.command("cmmd")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.argument("reference")
@click.option("--clip", "clip_source", default="openai/clip-vit-large-patch14-336", show_default=True,
              help="CLIP image tower (Hub id or local folder): embeddings, resized bicubically to its input size.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=_CACHE_HELP)
def metrics_cmmd(images_dir, reference, clip_source, cache_dir):
    """CMMD of IMAGES_DIR against REFERENCE (a folder of images): RBF-kernel MMD on CLIP embeddings."""
    _registered_metric("cmmd", images_dir, reference, cache_dir, cmmd_clip=clip_source)


def _dinov2_option(f):
    return click.option("--dinov2", "dinov2", default="facebook/dinov2-large", show_default=True,
                        help="DINOv2 network: Hub id or local folder (images resized as dgm-eval does).")(f)


@metrics.command("fd-dinov2")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.argument("reference")
@_dinov2_option
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=_CACHE_HELP)
def metrics_fd_dinov2(images_dir, reference, dinov2, cache_dir):
    """Fréchet distance on DINOv2 features of IMAGES_DIR against REFERENCE (a folder of images)."""
    _registered_metric("fd_dinov2", images_dir, reference, cache_dir, dinov2=dinov2)


@metrics.command("prdc")
@click.argument("images_dir", type=click.Path(path_type=Path))
@click.argument("reference")
@_dinov2_option
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=_CACHE_HELP)
def metrics_prdc(images_dir, reference, dinov2, cache_dir):
    """Precision, recall, density and coverage (k=5, DINOv2 features) of IMAGES_DIR against REFERENCE."""
    _registered_metric("prdc", images_dir, reference, cache_dir, dinov2=dinov2)


@cli.group()
def prompts():
    """Prompt sets shipped in prompts/ (and the file formats --prompts reads)."""


@prompts.command("list")
def prompts_list():
    """Every shipped set: name, prompts, labels, file."""
    from .prompts import prompt_sets, read_prompt_file

    for name, path in prompt_sets().items():
        prompt_set = read_prompt_file(path)
        labels = ", ".join(label for label, values in (("category", prompt_set.categories),
                                                       ("challenge", prompt_set.challenges)) if values)
        click.echo(f"{name}\t{len(prompt_set.prompts)} prompts\t{labels or 'no labels'}\t{path.name}")


@prompts.command("show")
@click.argument("name")
def prompts_show(name):
    """The prompts of a set (or file), one a line, with their labels."""
    from .prompts import load_prompt_set

    prompt_set = load_prompt_set(name)
    for i, prompt in enumerate(prompt_set.prompts):
        labels = [values[i] for values in (prompt_set.categories, prompt_set.challenges) if values]
        click.echo("\t".join([prompt, *labels]))


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    # transformers warns on every Flax import that v5 drops Flax; we pin <5 on purpose.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from .distributed import leave

    code = 0
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except click.UsageError as e:
        click.echo(f"Error: {one_line(e.format_message())}", err=True)
        code = 2
    except BenchError as e:
        click.echo(f"Error: {one_line(str(e))}", err=True)
        code = getattr(e, "exit_code", 2)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM where a command turned it into Terminated
        click.echo("Interrupted.", err=True)
        code = 143 if isinstance(e, Terminated) else 130
    leave(code)
    sys.exit(code)
