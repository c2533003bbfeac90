"""`dalle-bench sweep`: the request (bench/commands/sweep_request.py: the
definition, or a resumed run's own, and everything checked before anything
is written), then the points not yet in the store measured."""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from pathlib import Path

import click

from bench.base.errors import BenchError, Interrupted, RunWriteError
from bench.base.signals import sigterm_as_interrupt, stopped_by
from bench.base.torch_free import transformers_without_torch
from bench.core.devices import available_devices, emulate_host_devices
from bench.jobs.sweep.clock import summary_text
from bench.jobs.sweep.spec import SweepDefinition

from .sweep_close import check_failed_points, finish
from .sweep_request import SweepRequest, TurnTaking, default_compilation_cache, default_run_id, sweep_request


def run_sweep(options: dict, explicit: set[str]) -> None:
    """The door: click's options become a SweepRequest first thing, and only
    the request goes on. Process 0 holds the run folder's write lock from
    creating (or reopening) it to the end."""
    from bench.jobs.sweep.clock import SweepClock

    environ = dict(os.environ)  # as the user started it: what the processes of --repeat inherit
    clock = SweepClock()
    request = sweep_request(options, explicit)
    if not _evaluates_with_torch(request):
        transformers_without_torch()
    with contextlib.ExitStack() as locks:
        if request.repeats > 1:  # this process only starts, merges and closes: the repeats measure
            from .repeat import run_repeats

            run_repeats(request, environ, locks)
            return
        _run_sweep(request, clock, locks)


def _evaluates_with_torch(request: SweepRequest) -> bool:
    """Whether a metric of --eval runs a PyTorch network here (adherence, the shapes world's checker,
    runs none)."""
    if request.evaluation is None:
        return False
    from evals.registry import run_torch

    return run_torch(request.evaluation.metrics)


def _run_sweep(request: SweepRequest, clock, locks: contextlib.ExitStack) -> None:
    """Measure the points not yet in the store, in this process (one of several with --coordinator)."""
    from bench.jobs.sweep.budget import Budget
    from bench.measure.compile_log import CompileLog

    definition = request.definition
    if request.emulated_devices is not None:
        emulate_host_devices(*request.emulated_devices)

    # JAX starts here, after XLA_FLAGS is final.
    from bench.core.distributed import start

    cluster = start(request.distributed)
    available = available_devices(definition.max_devices())
    cache_state = _compilation_cache(request.compilation.cache_dir, request.compilation.cache_disabled)
    compile_log = CompileLog()
    compile_workers = _compile_workers(request.compilation.workers, cluster)
    session = _session(request.turns, compile_workers, cluster, available, cache_state)
    store = _open_store(request, session, cluster, locks)
    store, done = _shared_store(store, cluster)
    points = definition.points()
    todo = [p for p in points if p.point_id not in done]
    echo = click.echo if cluster.is_main else (lambda *args, **kwargs: None)
    _announce(echo, store, definition, points, todo, cluster, available)
    _measure(store, request, todo, cluster, clock, echo, Budget(request.budget_s), compile_workers)
    cluster.goodbye()
    if not cluster.is_main:
        click.echo(f"{cluster.describe()}: done; results in {store.run_dir}", err=True)
        return
    _record_time(store, clock, compile_log)
    rows = store.rows()
    finish(store, rows, request.closing, clock)
    click.echo(summary_text(_record_time(store, clock, compile_log)), err=True)
    check_failed_points(rows, len(points))


def _compile_workers(given: int | None, cluster) -> int:
    """Programs compiled at once (`bench/jobs/sweep/ahead.py`). Across processes
    each program is compiled when its first point runs, as every process
    reaches it: concurrent compilation is tried in one process only."""
    import jax

    from bench.jobs.sweep.ahead import default_compile_workers

    if cluster.process_count > 1:
        return 1
    return given or default_compile_workers(jax.default_backend())


def _session(turns: TurnTaking, compile_workers: int, cluster, available: list, cache_state: dict) -> dict:
    """This invocation's entry of run.json's sessions: when, how, and on what."""
    import jax

    from bench.base.environment import device_info, git_commit, host_info, package_versions

    hosts = cluster.gather("host", {**host_info(), "local_devices": jax.local_device_count()})
    # Absolute: two checkouts name the same turn file by different relative paths, and compare
    # pairs the runs' calls only when both name the same file (bench/jobs/compare/runs.took_turns).
    interleave = str(Path(turns.interleave).resolve()) if turns.interleave else None
    return {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": sys.argv, "pid": os.getpid(), "compilation_cache": cache_state,
            "compile_workers": compile_workers,
            "interleave": interleave, "turn_file": str(Path(turns.turn_file).resolve()) if turns.turn_file else None,
            "environment": {"versions": package_versions(), "host": host_info(), "git": git_commit(),
                            "devices": device_info(available), "processes": hosts}}


def _open_store(request: SweepRequest, session: dict, cluster, locks: contextlib.ExitStack):
    """Process 0 creates the run folder (or reopens the resumed one) and takes
    its write lock; the other processes get None and learn the folder next."""
    from bench.results.points_schema import SCHEMA_VERSION
    from bench.results.runlock import run_lock
    from bench.results.store import RunStore

    if not cluster.is_main:
        return None  # process 0 alone writes run.json and points.parquet
    definition, resumed = request.definition, request.folder.resume
    if resumed is None:
        run_dir = request.folder.out / (request.folder.run_id or default_run_id(definition))
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
    locks.enter_context(run_lock(resumed))
    store = RunStore.open(resumed)  # as the last writer left it, now that none other writes
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
    from bench.results.store import RunStore

    shared = cluster.share("run_dir", {"run_dir": str(store.run_dir), "done": sorted(store.finished_ids())}
                           if cluster.is_main else None)
    if "error" in shared:
        raise BenchError(f"process 0 refused the run: {shared['error']}")
    if not cluster.is_main:
        store = RunStore.open(Path(shared["run_dir"]))
    return store, set(shared["done"])


def _announce(echo, store, definition: SweepDefinition, points: list, todo: list, cluster, available: list):
    import jax

    from bench.results.outputs import RANDOM_WEIGHTS_NOTE

    echo(f"Run {store.run_dir}: {len(points)} points, {len(points) - len(todo)} already done "
         f"(resume with: dalle-bench sweep --resume {store.run_dir})", err=True)
    if cluster.process_count > 1:
        echo(f"{cluster.process_count} processes on {cluster.hosts} host(s), {len(available)} devices "
             f"({jax.local_device_count()} on this process)", err=True)
    if definition.weights == "random" or definition.preset == "tiny":
        echo(f"Note: {RANDOM_WEIGHTS_NOTE}.", err=True)


def _measure(store, request: SweepRequest, todo: list, cluster, clock, echo, budget, compile_workers: int):
    """Run the remaining points (evaluating each as it finishes, with --eval;
    taking turns with another sweep, with --interleave)."""
    from bench.jobs.sweep.execute import run_points

    definition, taking = request.definition, request.turns
    after_point = None
    if request.evaluation is not None and cluster.is_main:
        from bench.jobs.evaluate import Evaluator

        evaluator = Evaluator(store, request.evaluation, echo=lambda line: click.echo(f"  eval {line}", err=True))
        after_point = lambda: evaluator.evaluate_missing()  # noqa: E731
    turns = None
    if taking.interleave:
        from bench.jobs.sweep.interleave import Turns

        turns = Turns(Path(taking.interleave), echo=lambda line: click.echo(line, err=True))
        echo(f"Taking turns call by call with the other sweep of {taking.interleave}", err=True)
        turns.join()
    point_turns = None
    if taking.turn_file:  # a process of `sweep --repeat` (bench/commands/repeat.py)
        from bench.jobs.sweep.interleave import Turns

        point_turns = Turns(Path(taking.turn_file), expected=taking.turn_members or 2,
                            echo=lambda line: click.echo(line, err=True), slot=store.run.get("repeat"),
                            side=store.run.get("repeat_of"))
        echo(f"Taking turns point by point with the other processes of {taking.turn_file}", err=True)
        point_turns.join()
    try:
        with stop_cleanly(store):
            run_points(store, definition, list(definition.prompts), todo, progress=request.progress,
                       after_point=after_point, cluster=cluster, clock=clock, turns=turns,
                       compile_workers=compile_workers, point_turns=point_turns, budget=budget)
    finally:
        for held in (turns, point_turns):
            if held is not None:
                held.leave()
        if point_turns is not None:  # when this process held the turn: [start, end] of each point, epoch seconds
            sessions = store.run.get("sessions") or [{}]
            store.update_run(sessions=[*sessions[:-1], {**sessions[-1], "turns_held": point_turns.held}])


def _record_time(store, clock, compile_log) -> dict:
    """Where this session's time went, in its entry of run.json's sessions
    (written before the report, which shows it, and again after it)."""
    summary = {**clock.summary(), "xla_compile_requests": compile_log.requests(),
               "compilation_cache_hits": compile_log.cache_hits()}
    sessions = store.run.get("sessions") or [{}]
    store.update_run(sessions=[*sessions[:-1], {**sessions[-1], "time": summary}])
    return summary


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
