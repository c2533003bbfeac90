"""`dalle-bench sweep`: build (or, with --resume, reload) the definition,
validate everything before writing anything, then measure the points not yet
in the store."""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from ..devices import emulate_host_devices
from ..errors import BenchError
from ..prompts import load_prompt_set
from .spec import AXES, SpecError, SweepDefinition, parse_list, read_sweep_file

# Options that are part of the definition (a resumed run must not change them).
SCALAR_FIELDS = {"preset": "preset", "weights": "weights", "model": "model", "vqgan": "vqgan",
                 "clip_source": "clip", "num_images": "num_images", "warmup": "warmup", "iters": "iters",
                 "min_seconds": "min_seconds", "measure_peak": "measure_peak", "host_devices": "host_devices"}


def _axes(options: dict, explicit: set[str], base: SweepDefinition) -> tuple[dict, tuple]:
    """Grid and zip groups from --sweep FILE and the axis options."""
    touched = "sweep" in explicit or any(name in explicit for name in AXES)
    if not touched:
        return dict(base.grid), base.zip
    grid, groups = read_sweep_file(Path(options["sweep"])) if options.get("sweep") else ({}, ())
    zipped = {name for group in groups for name in group}
    for name in AXES:
        text = options.get(name)
        if text is None:
            continue
        if name in zipped:
            raise SpecError(f"--{AXES[name].option}: axis '{name}' is zipped in the sweep file; "
                            "give it in one place only")
        grid[name] = parse_list(name, text)
    return grid, groups


def build_definition(options: dict, explicit: set[str], base: SweepDefinition) -> SweepDefinition:
    grid, groups = _axes(options, explicit, base)
    changes = {field: options[name] for name, field in SCALAR_FIELDS.items() if name in explicit}
    if "no_stages" in explicit:
        changes["stages"] = not options["no_stages"]
    if "prompts" in explicit or not base.prompts:
        changes["prompts_source"] = options["prompts"]
        prompt_set = load_prompt_set(options["prompts"])
        changes["prompts"] = prompt_set.prompts
        changes["prompt_categories"] = prompt_set.categories or ()
        changes["prompt_challenges"] = prompt_set.challenges or ()
    definition = replace(base, grid=grid, zip=groups, **changes)
    for name, minimum in (("num_images", 1), ("iters", 1), ("warmup", 0)):
        if getattr(definition, name) < minimum:
            raise BenchError(f"--{name.replace('_', '-')} must be >= {minimum}, got {getattr(definition, name)}")
    if definition.min_seconds < 0:
        raise BenchError(f"--min-seconds must be >= 0, got {definition.min_seconds}")
    if definition.host_devices is not None and definition.host_devices < 1:
        raise BenchError(f"--host-devices must be >= 1, got {definition.host_devices}")
    definition.points()  # raises on an empty grid
    return definition


def _check_eval_inputs(evaluation, definition: SweepDefinition) -> None:
    """What can be checked before the first point: files exist, point references name earlier points."""
    if evaluation.inception_weights is not None and not evaluation.inception_weights.is_file():
        raise BenchError(f"--inception-weights: file not found: {evaluation.inception_weights}")
    reference = evaluation.fid_ref
    if reference and reference.startswith("point:"):
        ids = [p.point_id for p in definition.points()]
        if reference.removeprefix("point:") not in ids:
            raise BenchError(f"--fid-ref {reference}: not a point of this sweep (points: {', '.join(ids)})")
    elif reference and reference != "shapes" and not Path(reference).expanduser().exists():
        raise BenchError(f"--fid-ref: not found: {reference}")
    if "adherence" in evaluation.metrics:
        from evals.adherence import check_world_prompts

        check_world_prompts(definition.prompts)
    clip = Path(evaluation.clip).expanduser()
    if evaluation.clip.startswith((".", "/", "~")) and not clip.is_dir():
        raise BenchError(f"--eval-clip: checkpoint not found: {evaluation.clip}")


def _default_run_id(definition: SweepDefinition) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{definition.fingerprint()[:6]}"


def run_sweep(options: dict, explicit: set[str]) -> None:
    from .store import RunStore

    try:
        if options.get("resume"):
            store = RunStore.open(Path(options["resume"]))
            stored = SweepDefinition.from_json(store.run["definition"])
            definition = build_definition(options, explicit, stored)
            differences = definition.differences(stored)
            if differences:
                raise BenchError(f"--resume {options['resume']}: that run was made by another sweep definition "
                                 f"(differs in: {', '.join(differences)})")
        else:
            store = None
            definition = build_definition(options, explicit | set(SCALAR_FIELDS) | {"prompts"}, SweepDefinition())
    except SpecError as e:
        raise BenchError(str(e)) from None

    points = definition.points()
    evaluation = None
    if options.get("eval_metrics"):
        from evals.evaluate import EvalSettings

        evaluation = EvalSettings(metrics=tuple(m.strip() for m in options["eval_metrics"].split(",") if m.strip()),
                                  clip=options["eval_clip"], fid_ref=options.get("fid_ref"),
                                  inception_weights=Path(options["inception_weights"])
                                  if options.get("inception_weights") else None)
        _check_eval_inputs(evaluation, definition)
        # torch evaluates in this process: JAX must not claim the accelerator's memory up front.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    from ..models.loading import ModelSpec, check_spec  # no JAX work: safe before XLA_FLAGS is set

    for dtype in sorted({p.settings["dtype"] for p in points}):
        check_spec(ModelSpec(preset=definition.preset, weights=definition.weights, model=definition.model,
                             vqgan=definition.vqgan, clip=definition.clip, dtype=dtype))
    devices_needed = definition.max_devices()
    config = distributed_config(options)
    processes = config.num_processes or 1
    if config.enabled and definition.min_seconds > 0:
        raise BenchError("--min-seconds is not supported across processes (they must agree on every call): "
                         "use --iters")
    if definition.host_devices is not None:
        emulate_host_devices(definition.host_devices)
    elif devices_needed > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        # Only the CPU backend reads this flag: on GPU/TPU it changes nothing. Across
        # processes --devices counts global devices, so each process emulates its share.
        emulate_host_devices(-(-devices_needed // processes))

    # JAX starts here, after XLA_FLAGS is final.
    from ..distributed import start

    cluster = start(config)
    import jax

    available = jax.devices()
    if devices_needed > len(available):
        hint = " (use --host-devices to emulate more CPU devices)" if available[0].platform == "cpu" else ""
        raise BenchError(f"--devices {devices_needed}: only {len(available)} {available[0].platform} "
                         f"device(s) available{hint}")
    cache_state = _compilation_cache(options.get("compilation_cache"))

    from ..environment import device_info, git_commit, host_info, package_versions
    from ..outputs import RANDOM_WEIGHTS_NOTE
    from .execute import run_points
    from .schema import SCHEMA_VERSION

    hosts = cluster.gather("host", {**host_info(), "local_devices": jax.local_device_count()})
    session = {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": sys.argv, "compilation_cache": cache_state,
               "environment": {"versions": package_versions(), "host": host_info(), "git": git_commit(),
                               "devices": device_info(available), "processes": hosts}}
    if not cluster.is_main:
        pass  # process 0 alone writes run.json and points.parquet
    elif store is None:
        run_dir = Path(options["out"]) / (options.get("run_id") or _default_run_id(definition))
        if run_dir.exists():
            cluster.share("run_dir", {"error": f"{run_dir} already exists"})
            raise BenchError(f"{run_dir} already exists; use --resume {run_dir} to continue it")
        store = RunStore.create(run_dir, {
            "schema_version": SCHEMA_VERSION, "run_id": run_dir.name, "command": sys.argv,
            "created_at": session["started_at"], "definition": definition.to_json(),
            "fingerprint": definition.fingerprint(), "environment": session["environment"],
            "compilation_cache": cache_state, "sessions": [session]})
    else:
        store.discard_staging()
        lost = store.forget_lost()
        if lost:
            click.echo(f"Measuring again the point(s) lost with a process: {', '.join(lost)}", err=True)
        store.update_run(sessions=[*store.run.get("sessions", []), session])
    # The run folder and its remaining points are process 0's word: the others
    # may have started at another second, or read the store before it changed.
    shared = cluster.share("run_dir", {"run_dir": str(store.run_dir), "done": sorted(store.finished_ids())}
                           if cluster.is_main else None)
    if "error" in shared:
        raise BenchError(f"process 0 refused the run: {shared['error']}")
    if not cluster.is_main:
        store = RunStore.open(Path(shared["run_dir"]))
    done = set(shared["done"])
    todo = [p for p in points if p.point_id not in done]
    echo = click.echo if cluster.is_main else (lambda *args, **kwargs: None)
    echo(f"Run {store.run_dir}: {len(points)} points, {len(points) - len(todo)} already done "
         f"(resume with: dalle-bench sweep --resume {store.run_dir})", err=True)
    if cluster.process_count > 1:
        echo(f"{cluster.process_count} processes on {cluster.hosts} host(s), {len(available)} devices "
             f"({jax.local_device_count()} on this process)", err=True)
    if definition.weights == "random" or definition.preset == "tiny":
        echo(f"Note: {RANDOM_WEIGHTS_NOTE}.", err=True)
    after_point = None
    if evaluation is not None and cluster.is_main:
        from evals.evaluate import Evaluator

        evaluator = Evaluator(store, evaluation, echo=lambda line: click.echo(f"  eval {line}", err=True))
        after_point = lambda: evaluator.evaluate_missing()  # noqa: E731
    run_points(store, definition, list(definition.prompts), todo, progress=not options.get("no_progress"),
               after_point=after_point, cluster=cluster)
    cluster.goodbye()
    if not cluster.is_main:
        click.echo(f"{cluster.describe()}: done; results in {store.run_dir}", err=True)
        return

    from ..report import key_table, write_report

    click.echo(key_table(store.rows()).to_string(index=False))
    if options.get("report", True):
        _, report_dir = write_report(store.run_dir)
        if options.get("html"):
            from ..report_html import write_html_report

            click.echo(f"Results in {store.run_dir}; report: {write_html_report(store.run_dir)} "
                       f"(and report.md, CSVs)", err=True)
        else:
            click.echo(f"Results in {store.run_dir}; report: {report_dir / 'report.md'} (and CSVs; "
                       f"a page with plots: dalle-bench report {store.run_dir} --html)", err=True)
    else:
        click.echo(f"Results in {store.run_dir}; report with: dalle-bench report {store.run_dir}", err=True)


def distributed_config(options: dict):
    from ..distributed import DistributedConfig

    return DistributedConfig(coordinator=options.get("coordinator"), num_processes=options.get("num_processes"),
                             process_id=options.get("process_id"),
                             timeout_s=300.0 if options.get("distributed_timeout") is None
                             else options["distributed_timeout"])


def _compilation_cache(directory: str | None) -> dict:
    """Turn on JAX's persistent compilation cache when asked; record its state
    either way, since a warm cache makes compile times incomparable."""
    import jax

    directory = directory or os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if not directory:
        return {"enabled": False}
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return {"enabled": True, "dir": str(path), "entries_before": sum(1 for _ in path.iterdir())}
