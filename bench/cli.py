"""The `dalle-bench` command line, a table of commands: each declares its options (bench/commands/options.py)
and hands them to its module in bench/commands/, which turns them into one checked request and runs it. JAX is
imported only inside commands, because `--host-devices` must set XLA_FLAGS before JAX starts."""

from __future__ import annotations

import os
import sys

import click

from bench.base.errors import BenchError, Terminated, one_line
from bench.commands import options as declared


@click.group()
@click.version_option(package_name="dalle-bench")
def cli():
    """Benchmark and evaluate DALL·E Mini on JAX."""


@cli.command()
@declared.generate_options
def generate(**options):
    """Generate NUM_IMAGES images for each PROMPT, as the original notebook does."""
    from bench.commands.generate import GenerateRequest, run
    run(GenerateRequest.from_options(**options))


@cli.command()
@declared.sweep_options
@click.pass_context
def sweep(ctx, **options):
    """Measure the pipeline over a grid of settings; results go to OUT/RUN-ID/."""
    from bench.commands.sweep import run_sweep

    run_sweep(options, declared.given_on_command_line(ctx, options))


@cli.group(invoke_without_command=True, subcommand_metavar="[check RUN_DIR...]")
@declared.loadgen_options
@click.pass_context
def loadgen(ctx, **options):
    """MLPerf load scenarios on MLPerf's LoadGen; results go to OUT/RUN-ID/.

    `dalle-bench loadgen check RUN_DIR...` checks run folders as MLPerf's submission checker would."""
    from bench.commands.loadgen import run_command

    run_command(ctx, options, declared.given_on_command_line(ctx, options))


@loadgen.command("check")
@declared.loadgen_check_options
def loadgen_check(run_dirs):
    """Check loadgen run folders as MLPerf's submission checker reads a submission: one line per failed rule;
    exit 0 when every rule passes (submittable), 1 when one fails (a short run that LoadGen called VALID:
    "valid but not submittable"), 2 when a folder cannot be read. Give the performance, accuracy and audit
    runs of one submission together (docs/load-scenarios.md#checking-a-run)."""
    from bench.commands.loadgen_check import run_command

    run_command(run_dirs)


@cli.command()
@declared.accelerator_options
def accelerator(**options):
    """The fixed accelerator benchmark on whatever backend JAX finds: mini and mega, bfloat16 and float32,
    batches up to the first out-of-memory one, 1 to all devices, top-k and the stage breakdown at one
    batch, LoadGen's Offline and SingleStream; within a wall-clock budget (docs/accelerators.md)."""
    from bench.commands.accelerator import AcceleratorRequest, run
    run(AcceleratorRequest.from_options(**options))


@cli.command()
@declared.report_options
def report(**options):
    """Tables of a sweep run: Markdown here and CSVs in RUN_DIR/report/ (with --html: a page with plots)."""
    from bench.commands.report import ReportRequest, run
    run(ReportRequest.from_options(**options))


@cli.command()
@declared.compare_options
def compare(**options):
    """Gate CANDIDATE_RUN against BASELINE_RUN: exit 0 when every gate holds, 1 on a regression, 2 on bad input.

    Each side is a run folder (with its `sweep --repeat` processes) or a folder of run folders of the
    same sweep, pooled. Latency is decided on runs, not calls: one run a side is undecided."""
    from bench.commands.compare import CompareRequest, run
    sys.exit(run(CompareRequest.from_options(**options)))  # not ctx.exit, as in `loadgen check`


@cli.command("eval")
@declared.eval_options
def evaluate(**options):
    """Add quality columns (CLIP score and re-ranking, FID, KID, IS, precision/recall, CMMD, FD-DINOv2,
    density/coverage) to a run's points."""
    from bench.commands.evaluate import EvalRequest, run
    run(EvalRequest.from_options(**options))


@cli.command("train-shapes")
@declared.train_shapes_options
def train_shapes_command(**options):
    """Train the shapes preset's VQGAN, DalleBart and CLIP on the shapes world (optax, deterministic from --seed)."""
    from bench.commands.train_shapes import TrainShapesRequest, run
    run(TrainShapesRequest.from_options(**options))


@cli.group()
def metrics():
    """Score any folder of images (from any generator); prints JSON."""


@metrics.command("clip-score")
@declared.clip_score_options
def metrics_clip_score(**options):
    """CLIP score of the images in IMAGES_DIR against their prompts."""
    from bench.commands.metrics import ClipScoreRequest, run
    run(ClipScoreRequest.from_options(**options))


@metrics.command("fid")
@declared.fid_options
def metrics_fid(**options):
    """FID (and KID, IS, precision/recall) of IMAGES_DIR against REFERENCE (folder or .npz)."""
    from bench.commands.metrics import FidRequest, run
    run(FidRequest.from_options(**options))


@metrics.command("cmmd")
@declared.cmmd_options
def metrics_cmmd(clip_source, **options):
    """CMMD of IMAGES_DIR against REFERENCE (a folder of images): RBF-kernel MMD on CLIP embeddings."""
    from bench.commands.metrics import RegisteredMetricRequest, run
    run(RegisteredMetricRequest.from_options("cmmd", cmmd_clip=clip_source, **options))


@metrics.command("fd-dinov2")
@declared.dinov2_options
def metrics_fd_dinov2(**options):
    """Fréchet distance on DINOv2 features of IMAGES_DIR against REFERENCE (a folder of images)."""
    from bench.commands.metrics import RegisteredMetricRequest, run
    run(RegisteredMetricRequest.from_options("fd_dinov2", **options))


@metrics.command("prdc")
@declared.dinov2_options
def metrics_prdc(**options):
    """Precision, recall, density and coverage (k=5, DINOv2 features) of IMAGES_DIR against REFERENCE."""
    from bench.commands.metrics import RegisteredMetricRequest, run
    run(RegisteredMetricRequest.from_options("prdc", **options))


@cli.group()
def prompts():
    """Prompt sets shipped in prompts/ (and the file formats --prompts reads)."""


@prompts.command("list")
def prompts_list():
    """Every shipped set: name, prompts, labels, file."""
    from bench.commands.prompts import run_list
    run_list()


@prompts.command("show")
@declared.prompts_show_options
def prompts_show(**options):
    """The prompts of a set (or file), one a line, with their labels."""
    from bench.commands.prompts import ShowRequest, run_show
    run_show(ShowRequest.from_options(**options))


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2."""
    # transformers warns on every Flax import that v5 drops Flax; we pin <5 on purpose.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from bench.core.distributed import leave

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
