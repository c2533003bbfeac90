"""`dalle-bench sweep`: build (or, with --resume, reload) the definition,
validate everything before writing anything, then measure the points not yet
in the store."""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from ..devices import available_devices, check_emulated_count, emulate_host_devices
from ..errors import BenchError, Interrupted, RunWriteError
from ..prompts import load_prompt_set
from ..runlock import check_output_folder, check_writable
from ..shapes.reference import REFERENCE_NAME as SHAPES_REFERENCE
from ..signals import sigterm_as_interrupt, stopped_by
from ..sources import looks_local
from ..sweep.clock import summary_text
from ..sweep.spec import AXES, SpecError, SweepDefinition, parse_list, read_sweep_file

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
    if not (definition.min_seconds >= 0 and math.isfinite(definition.min_seconds)):
        raise BenchError(f"--min-seconds must be >= 0 and finite, got {definition.min_seconds}")
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
    elif reference and reference != SHAPES_REFERENCE and not Path(reference).expanduser().exists():
        raise BenchError(f"--fid-ref: not found: {reference}")
    if "adherence" in evaluation.metrics:
        from evals.adherence import check_world_prompts

        check_world_prompts(definition.prompts)
    for option, source in (("--eval-clip", evaluation.clip), ("--eval-cmmd-clip", evaluation.cmmd_clip),
                           ("--eval-dinov2", evaluation.dinov2)):
        if looks_local(source) and not Path(source).expanduser().is_dir():
            raise BenchError(f"{option}: checkpoint not found: {source}")
    from evals.evaluate import check_hub_networks

    check_hub_networks(evaluation, "--eval-")  # last, as it may ask the network: before the first point


def _default_run_id(definition: SweepDefinition) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{definition.fingerprint()[:6]}"


def run_sweep(options: dict, explicit: set[str]) -> None:
    """Process 0 holds the run folder's write lock from creating (or reopening) it to the end."""
    with contextlib.ExitStack() as locks:
        _run_sweep(options, explicit, locks)


def _run_sweep(options: dict, explicit: set[str], locks: contextlib.ExitStack) -> None:
    from ..runlock import check_run_id
    from ..sweep.clock import SweepClock

    from .repeat import check_repeat, run_repeats

    from ..sweep.budget import Budget

    environ = dict(os.environ)  # as the user started it: what the processes of --repeat inherit
    clock = SweepClock()
    budget = Budget(options.get("budget_s"))
    if options.get("run_id") is not None:
        check_run_id(options["run_id"])
    definition, resumed = _definition_and_store(options, explicit)
    repeats = check_repeat(options, explicit, resumed)
    if budget.budget_s is not None and (repeats > 1 or options.get("coordinator")):
        # Processes would each decide on their own clock and disagree on which points to run.
        raise BenchError("--budget-s: not with --repeat or --coordinator (each process would plan on its own clock)")
    points = definition.points()
    if not options.get("resume"):  # before any compiling: not under a file, nor in another run; writable
        check_output_folder(Path(options["out"]), "--out")
    config = distributed_config(options)
    emulated = _devices_to_emulate(definition, options, config)
    evaluation = _evaluation_settings(options, definition)
    from ..models.spec import ModelSpec, check_spec  # imports no JAX: safe before XLA_FLAGS is set

    for dtype in sorted({p.settings["dtype"] for p in points}):
        check_spec(ModelSpec(preset=definition.preset, weights=definition.weights, model=definition.model,
                             vqgan=definition.vqgan, clip=definition.clip, dtype=dtype))
    if repeats > 1:  # this process only starts, merges and closes: the repeats measure (and emulate devices)
        run_repeats(options, explicit, definition, resumed, repeats, evaluation, environ, locks)
        return
    if emulated is not None:
        emulate_host_devices(*emulated)

    # JAX starts here, after XLA_FLAGS is final.
    from ..distributed import start

    cluster = start(config)
    available = available_devices(definition.max_devices())
    cache_state = _compilation_cache(options.get("compilation_cache"), options.get("no_compilation_cache", False))
    from ..compile_log import CompileLog

    compile_log = CompileLog()
    options["compile_workers"] = _compile_workers(options, cluster)
    session = _session(options, cluster, available, cache_state)
    store = _open_store(resumed, options, definition, session, cluster, locks)
    store, done = _shared_store(store, cluster)
    todo = [p for p in points if p.point_id not in done]
    echo = click.echo if cluster.is_main else (lambda *args, **kwargs: None)
    _announce(echo, store, definition, points, todo, cluster, available)
    _measure(store, definition, todo, options, evaluation, cluster, clock, echo, budget)
    cluster.goodbye()
    if not cluster.is_main:
        click.echo(f"{cluster.describe()}: done; results in {store.run_dir}", err=True)
        return
    _record_time(store, clock, compile_log)
    rows = store.rows()
    _finish(store, rows, options, clock)
    click.echo(summary_text(_record_time(store, clock, compile_log)), err=True)
    failed = rows[rows.status.isin(FAILED_STATUSES)]
    if len(failed):  # after everything is written: the exit status tells CI, the files keep the results
        counts = ", ".join(f"{n} {status}" for status, n in failed.status.value_counts().sort_index().items())
        raise PointsFailed(f"{len(failed)} of {len(points)} points failed ({counts}): "
                           f"{', '.join(failed.point_id)}")


def _definition_and_store(options: dict, explicit: set[str]):
    """The sweep definition from the options (a resumed run's own, which the
    options may not change), and the resumed run's store (None for a new run)."""
    from ..sweep.store import RunStore

    try:
        if not options.get("resume"):
            return build_definition(options, explicit | set(SCALAR_FIELDS) | {"prompts"}, SweepDefinition()), None
        check_writable(Path(options["resume"]), "--resume")
        store = RunStore.open(Path(options["resume"]))
        stored = SweepDefinition.from_json(store.run["definition"])
        definition = build_definition(options, explicit, stored)
    except SpecError as e:
        raise BenchError(str(e)) from None
    differences = definition.differences(stored)
    if differences:
        raise BenchError(f"--resume {options['resume']}: that run was made by another sweep definition "
                         f"(differs in: {', '.join(differences)})")
    return definition, store


def _devices_to_emulate(definition: SweepDefinition, options: dict, config) -> tuple[int, str] | None:
    """The CPU device count to emulate and the option that asked for it (None:
    leave XLA_FLAGS alone), after refusing what a multi-process run cannot do."""
    if config.enabled and options.get("interleave"):
        raise BenchError("--interleave takes turns between two single-process sweeps on one host: "
                         "not with --num-processes")
    if config.enabled and definition.min_seconds > 0:
        raise BenchError("--min-seconds is not supported across processes (they must agree on every call): "
                         "use --iters")
    devices_needed = definition.max_devices()
    emulated = None
    if definition.host_devices is not None:
        emulated = (definition.host_devices, "--host-devices")
    elif devices_needed > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        # Only the CPU backend reads this flag: on GPU/TPU it changes nothing. Across
        # processes --devices counts global devices, so each process emulates its share.
        emulated = (-(-devices_needed // (config.num_processes or 1)), "--devices")
    if emulated is not None:
        check_emulated_count(*emulated)
    return emulated


def _evaluation_settings(options: dict, definition: SweepDefinition):
    """--eval's settings, checked before anything starts; None without --eval."""
    if not options.get("eval_metrics"):
        return None
    from evals.evaluate import EvalSettings

    evaluation = EvalSettings(metrics=tuple(m.strip() for m in options["eval_metrics"].split(",") if m.strip()),
                              clip=options["eval_clip"], fid_ref=options.get("fid_ref"),
                              inception_weights=Path(options["inception_weights"])
                              if options.get("inception_weights") else None,
                              cmmd_clip=options["eval_cmmd_clip"], dinov2=options["eval_dinov2"])
    _check_eval_inputs(evaluation, definition)
    # torch evaluates in this process: JAX must not claim the accelerator's memory up front.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return evaluation


def _compile_workers(options: dict, cluster) -> int:
    """Programs compiled at once (`bench/sweep/ahead.py`). Across processes
    each program is compiled when its first point runs, as every process
    reaches it: concurrent compilation is tried in one process only."""
    import jax

    from ..sweep.ahead import default_compile_workers

    if cluster.process_count > 1:
        return 1
    return options.get("compile_workers") or default_compile_workers(jax.default_backend())


def _session(options: dict, cluster, available: list, cache_state: dict) -> dict:
    """This invocation's entry of run.json's sessions: when, how, and on what."""
    import jax

    from ..environment import device_info, git_commit, host_info, package_versions

    hosts = cluster.gather("host", {**host_info(), "local_devices": jax.local_device_count()})
    # Absolute: two checkouts name the same turn file by different relative paths, and compare
    # pairs the runs' calls only when both name the same file (bench/compare/runs.took_turns).
    interleave = str(Path(options["interleave"]).resolve()) if options.get("interleave") else None
    return {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": sys.argv, "pid": os.getpid(), "compilation_cache": cache_state, "compile_workers": options["compile_workers"],
            "interleave": interleave, "turn_file": str(Path(options["turn_file"]).resolve())
            if options.get("turn_file") else None,
            "environment": {"versions": package_versions(), "host": host_info(), "git": git_commit(),
                            "devices": device_info(available), "processes": hosts}}


def _open_store(resumed, options: dict, definition: SweepDefinition, session: dict, cluster,
                locks: contextlib.ExitStack):
    """Process 0 creates the run folder (or reopens the resumed one) and takes
    its write lock; the other processes get None and learn the folder next."""
    from ..runlock import run_lock
    from ..sweep.schema import SCHEMA_VERSION
    from ..sweep.store import RunStore

    if not cluster.is_main:
        return None  # process 0 alone writes run.json and points.parquet
    if resumed is None:
        run_dir = Path(options["out"]) / (options.get("run_id") or _default_run_id(definition))
        if run_dir.exists():
            cluster.share("run_dir", {"error": f"{run_dir} already exists"})
            raise BenchError(f"{run_dir} already exists; use --resume {run_dir} to continue it")
        store = RunStore.create(run_dir, {
            "schema_version": SCHEMA_VERSION, "run_id": run_dir.name, "command": sys.argv,
            "created_at": session["started_at"], "definition": definition.to_json(),
            "fingerprint": definition.fingerprint(), "environment": session["environment"],
            "compilation_cache": session["compilation_cache"], "sessions": [session]})
        locks.enter_context(run_lock(run_dir))
        return store
    locks.enter_context(run_lock(resumed.run_dir))
    store = RunStore.open(resumed.run_dir)  # as the last writer left it, now that none other writes
    store.discard_staging()
    lost = store.forget("lost")
    if lost:
        click.echo(f"Measuring again the point(s) lost with a process: {', '.join(lost)}", err=True)
    skipped = store.forget("skipped")
    if skipped:
        click.echo(f"Trying again the point(s) skipped: {', '.join(skipped)}", err=True)
    store.update_run(sessions=[*store.run.get("sessions", []), session])
    return store


def _shared_store(store, cluster):
    """The run folder and its finished points, as process 0 says: the others
    may have started at another second, or read the store before it changed."""
    from ..sweep.store import RunStore

    shared = cluster.share("run_dir", {"run_dir": str(store.run_dir), "done": sorted(store.finished_ids())}
                           if cluster.is_main else None)
    if "error" in shared:
        raise BenchError(f"process 0 refused the run: {shared['error']}")
    if not cluster.is_main:
        store = RunStore.open(Path(shared["run_dir"]))
    return store, set(shared["done"])


def _announce(echo, store, definition: SweepDefinition, points: list, todo: list, cluster, available: list):
    import jax

    from ..outputs import RANDOM_WEIGHTS_NOTE

    echo(f"Run {store.run_dir}: {len(points)} points, {len(points) - len(todo)} already done "
         f"(resume with: dalle-bench sweep --resume {store.run_dir})", err=True)
    if cluster.process_count > 1:
        echo(f"{cluster.process_count} processes on {cluster.hosts} host(s), {len(available)} devices "
             f"({jax.local_device_count()} on this process)", err=True)
    if definition.weights == "random" or definition.preset == "tiny":
        echo(f"Note: {RANDOM_WEIGHTS_NOTE}.", err=True)


def _measure(store, definition: SweepDefinition, todo: list, options: dict, evaluation, cluster, clock, echo,
             budget=None):
    """Run the remaining points (evaluating each as it finishes, with --eval;
    taking turns with another sweep, with --interleave)."""
    from ..sweep.execute import run_points

    after_point = None
    if evaluation is not None and cluster.is_main:
        from evals.evaluate import Evaluator

        evaluator = Evaluator(store, evaluation, echo=lambda line: click.echo(f"  eval {line}", err=True))
        after_point = lambda: evaluator.evaluate_missing()  # noqa: E731
    turns = None
    if options.get("interleave"):
        from ..interleave import Turns

        turns = Turns(Path(options["interleave"]), echo=lambda line: click.echo(line, err=True))
        echo(f"Taking turns call by call with the other sweep of {options['interleave']}", err=True)
        turns.join()
    point_turns = None
    if options.get("turn_file"):  # a process of `sweep --repeat` (bench/commands/repeat.py)
        from ..interleave import Turns

        point_turns = Turns(Path(options["turn_file"]), expected=options.get("turn_members") or 2,
                            echo=lambda line: click.echo(line, err=True), slot=store.run.get("repeat"),
                            side=store.run.get("repeat_of"))
        echo(f"Taking turns point by point with the other processes of {options['turn_file']}", err=True)
        point_turns.join()
    try:
        with stop_cleanly(store):
            run_points(store, definition, list(definition.prompts), todo, progress=not options.get("no_progress"),
                       after_point=after_point, cluster=cluster, clock=clock, turns=turns,
                       compile_workers=options["compile_workers"], point_turns=point_turns, budget=budget)
    finally:
        for held in (turns, point_turns):
            if held is not None:
                held.leave()
        if point_turns is not None:  # when this process held the turn: [start, end] of each point, epoch seconds
            sessions = store.run.get("sessions") or [{}]
            store.update_run(sessions=[*sessions[:-1], {**sessions[-1], "turns_held": point_turns.held}])


def _finish(store, rows, options: dict, clock) -> None:
    """The closing table and, unless --no-report, the report (and HTML page)."""
    from ..report import key_table, padded_points, write_report
    from ..sweep.schema import THROUGHPUT_DEFINITION

    click.echo(key_table(rows).to_string(index=False))
    click.echo(f"Throughput: {THROUGHPUT_DEFINITION}.", err=True)
    padded = padded_points(rows)
    if padded:
        click.echo(f"Warning: {', '.join(padded)} do not fill their batches (see padded_rows): their images/s "
                   "counts full batches.", err=True)
    if not options.get("report", True):
        click.echo(f"Results in {store.run_dir}; report with: dalle-bench report {store.run_dir}", err=True)
        return
    with clock.timing("report"):
        _, report_dir = write_report(store.run_dir)
        if options.get("html"):
            from ..report_html import write_html_report

            page = write_html_report(store.run_dir, echo=lambda line: click.echo(line, err=True))
    if options.get("html"):
        click.echo(f"Results in {store.run_dir}; report: {page} (and report.md, CSVs)", err=True)
    else:
        click.echo(f"Results in {store.run_dir}; report: {report_dir / 'report.md'} (and CSVs; "
                   f"a page with plots: dalle-bench report {store.run_dir} --html)", err=True)


def _record_time(store, clock, compile_log) -> dict:
    """Where this session's time went, in its entry of run.json's sessions
    (written before the report, which shows it, and again after it)."""
    summary = {**clock.summary(), "xla_compile_requests": compile_log.requests(),
               "compilation_cache_hits": compile_log.cache_hits()}
    sessions = store.run.get("sessions") or [{}]
    store.update_run(sessions=[*sessions[:-1], {**sessions[-1], "time": summary}])
    return summary


# Statuses that make a sweep exit 1; `invalid` (a combination that cannot run) is reported only.
FAILED_STATUSES = ("failed", "oom", "lost")


class PointsFailed(BenchError):
    exit_code = 1


@contextlib.contextmanager
def stop_cleanly(store):
    """SIGINT, SIGTERM or a run folder that cannot be written stop the sweep
    between two writes: the point in flight is dropped (its staging folder
    removed), every finished point stays, and the message says how to go on."""
    resume = f"the finished points are kept; resume with: dalle-bench sweep --resume {store.run_dir}"
    try:
        with sigterm_as_interrupt():
            yield
    except KeyboardInterrupt as e:
        store.discard_staging()
        signal_name, code = stopped_by(e)
        raise Interrupted(f"stopped by {signal_name}; {resume}", code) from None
    except RunWriteError as e:
        store.discard_staging()
        raise RunWriteError(f"{e}; {resume}") from None


def distributed_config(options: dict):
    from ..distributed import DistributedConfig

    return DistributedConfig(coordinator=options.get("coordinator"), num_processes=options.get("num_processes"),
                             process_id=options.get("process_id"),
                             timeout_s=300.0 if options.get("distributed_timeout") is None
                             else options["distributed_timeout"])


def default_compilation_cache() -> Path:
    """The persistent compilation cache's default folder, beside the tiny preset's."""
    from ..cache import cache_root

    return cache_root() / "xla-cache"


def _compilation_cache(directory: str | None, disabled: bool = False) -> dict:
    """Turn on JAX's persistent compilation cache (on by default: a resumed or
    repeated sweep does not compile again); record its state either way,
    since a warm cache makes compile times incomparable."""
    import jax

    if disabled:
        jax.config.update("jax_enable_compilation_cache", False)
        return {"enabled": False}
    directory = directory or os.environ.get("JAX_COMPILATION_CACHE_DIR") or default_compilation_cache()
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return {"enabled": True, "dir": str(path), "entries_before": sum(1 for _ in path.iterdir())}
