"""`dalle-bench sweep --repeat R`: every point measured by R separate, fresh
processes (a process carries its own speed offset, so the calls of one run
are not independent: runs are the unit of replication, as in pyperf).

This process validates, creates the run folder and one ordinary run folder
per repeat (repeats/r1 ... rR), then starts R `dalle-bench sweep --resume
repeats/rK` processes that take turns point by point through a turn file
(bench/jobs/sweep/interleave.py), sharing the persistent compilation cache. It never
imports JAX: it polls the repeats' points.parquet and merges each point as
soon as every repeat has finished it (bench/jobs/sweep/repeats.py), then closes
the run as a plain sweep does (evaluation, key table, report)."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from bench.base.errors import BenchError, Interrupted
from bench.base.signals import sigterm_as_interrupt, stopped_by

from .sweep_request import SweepRequest

POLL_S = 0.5
STOP_WAIT_S = 120.0  # how long a stopped repeat may take to write its last point and exit
TURN_FILE = "turns.json"
DESCRIPTION = "separate processes, taking turns point by point"
TURN_ORDER = "by repeat"  # recorded in the session: compare pairs r_k with r_k only where it was


class RepeatFailed(BenchError):
    """A repeat's process stopped with an error of its own (not "points failed")."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _session(request: SweepRequest) -> dict:
    """This process's entry of run.json's sessions (it measures nothing: no devices)."""
    from bench.base.environment import git_commit, host_info, package_versions

    compilation = request.compilation
    interleave = str(Path(request.turns.interleave).resolve()) if request.turns.interleave else None
    if compilation.cache_disabled:
        cache = {"enabled": False}
    else:
        from .sweep_request import default_compilation_cache

        folder = (compilation.cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR")
                  or default_compilation_cache())
        cache = {"enabled": True, "dir": str(Path(folder).expanduser())}
    return {"started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": sys.argv, "pid": os.getpid(), "repeats": request.repeats, "turns": "point by point",
            # The ring pairs repeat k of both sides of an --interleave A/B (bench/interleave.ring_order).
            "turn_order": TURN_ORDER,
            "compilation_cache": cache, "compile_workers": compilation.workers, "interleave": interleave,
            "environment": {"versions": package_versions(), "host": host_info(), "git": git_commit()}}


def _log_tail(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def run_repeats(request: SweepRequest, environ: dict, locks) -> None:
    """The whole of a `--repeat` sweep in this (JAX-free) process."""
    from bench.jobs.sweep.clock import SweepClock
    from bench.jobs.sweep.repeats import REPEATS_DIR, RepeatMerger
    from bench.jobs.sweep.summary import summary_line

    from .sweep_close import check_failed_points, finish

    clock = SweepClock()
    store, children = _open_run(request, locks)
    run_dir, repeats = store.run_dir, request.repeats
    points = request.definition.points()
    all_ids = {p.point_id for p in points}
    merger = RepeatMerger(store, children)
    merger.merge_finished()  # what a stopped run's repeats finished after it stopped
    todo = [child for child in children if not all_ids <= _finished(child)]
    click.echo(f"Run {run_dir}: {len(points)} points, {len(store.finished_ids())} already done "
               f"(resume with: dalle-bench sweep --resume {run_dir})", err=True)
    click.echo(f"{repeats} repeats ({DESCRIPTION}); their logs: {run_dir / REPEATS_DIR}/rK.log", err=True)
    turn_file, members = _turn_file(request, run_dir, len(todo))
    failure = _run_children(request, store, merger, children, todo, turn_file, members, environ, summary_line,
                            len(points))

    if request.evaluation is not None and len(store.finished_ids()):
        from bench.jobs.evaluate import Evaluator

        Evaluator(store, request.evaluation,
                  echo=lambda line: click.echo(f"  eval {line}", err=True)).evaluate_missing()
    if failure is not None:
        raise failure
    rows = store.rows()
    _record(store, clock, children)
    finish(store, rows, request.closing, clock)
    summary = _record(store, clock, children)
    click.echo(f"Sweep wall time {summary['wall_s']:.1f} s, {repeats} repeats ({DESCRIPTION}): timed "
               f"{summary['timed_s']:.1f} s over all repeats; compilation cache hits per repeat "
               f"{summary['compilation_cache_hits']}.", err=True)
    check_failed_points(rows, len(points))


def _open_run(request: SweepRequest, locks) -> tuple:
    """The run folder, created (or reopened, with --resume) and locked, and its
    repeats' folders (repeats/rK, each an ordinary run folder), created where missing."""
    from bench.jobs.sweep.repeats import repeat_dirs
    from bench.results.points_schema import SCHEMA_VERSION
    from bench.results.runlock import run_lock
    from bench.results.store import RunStore

    from .sweep_request import default_run_id

    definition = request.definition
    session = _session(request)
    record = {"schema_version": SCHEMA_VERSION, "command": sys.argv, "created_at": session["started_at"],
              "definition": definition.to_json(), "fingerprint": definition.fingerprint(),
              "environment": session["environment"], "compilation_cache": session["compilation_cache"]}
    if request.folder.resume is None:
        run_dir = request.folder.out / (request.folder.run_id or default_run_id(definition))
        if run_dir.exists():
            raise BenchError(f"{run_dir} already exists; use --resume {run_dir} to continue it")
        store = RunStore.create(run_dir, {**record, "run_id": run_dir.name, "repeats": request.repeats,
                                          "sessions": [session]})
        locks.enter_context(run_lock(run_dir))
    else:
        locks.enter_context(run_lock(request.folder.resume))
        store = RunStore.open(request.folder.resume)
        store.discard_staging()
        store.update_run(sessions=[*store.run.get("sessions", []), session])
    children = repeat_dirs(store.run_dir, request.repeats)
    for k, child in enumerate(children):
        if not (child / "run.json").is_file():
            RunStore.create(child, {**record, "run_id": child.name, "repeat_of": store.run_dir.name,
                                    "repeat": k + 1, "sessions": []})
    return store, children


def _turn_file(request: SweepRequest, run_dir: Path, starting: int) -> tuple[Path, int]:
    """The file the repeats take turns through, and how many processes take turns there: with --interleave,
    the other sweep's repeats too."""
    from bench.jobs.sweep.repeats import REPEATS_DIR

    if request.turns.interleave:
        click.echo(f"Taking turns point by point with the other sweep of {request.turns.interleave}", err=True)
        return Path(request.turns.interleave), 2 * starting
    turn_file = run_dir / REPEATS_DIR / TURN_FILE
    turn_file.unlink(missing_ok=True)
    return turn_file, starting


def _finished(child: Path) -> set[str]:
    from bench.results.store import read_points

    return {row["point_id"] for row in read_points(child)}


def _run_children(request: SweepRequest, store, merger, children, todo, turn_file, members, environ, summary_line,
                  total) -> BenchError | None:
    """Start the repeats still to finish, merge their points as they come,
    wait for them; a stop (SIGINT, SIGTERM) is passed on to them. Returns the
    error of a repeat that failed (after merging what finished)."""

    def merge() -> None:
        for row in merger.merge_finished():
            click.echo(summary_line(row, len(store.finished_ids()), total), err=True)

    env = {k: v for k, v in environ.items()}
    procs: dict[Path, subprocess.Popen] = {}
    try:
        with sigterm_as_interrupt():
            try:
                for child in todo:
                    with open(child.with_suffix(".log"), "a") as log:
                        # A session of its own: a Ctrl-C reaches this process only, which stops the repeats itself.
                        procs[child] = subprocess.Popen(request.child_argv(child, turn_file, members), env=env,
                                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                        start_new_session=True)
                while any(proc.poll() is None for proc in procs.values()):
                    merge()
                    time.sleep(POLL_S)
            except KeyboardInterrupt as e:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                for proc in procs.values():
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                for proc in procs.values():
                    try:
                        proc.wait(timeout=STOP_WAIT_S)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                merge()
                signal_name, code = stopped_by(e)
                raise Interrupted(f"stopped by {signal_name}; the finished points are kept; resume with: "
                                  f"dalle-bench sweep --resume {store.run_dir}", code) from None
            merge()
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for child, proc in procs.items():
        if proc.returncode not in (0, 1):  # 1: some points failed, which their rows say
            log = child.with_suffix(".log")
            return RepeatFailed(f"repeat {child.name} stopped with exit status {proc.returncode}: "
                                f"{_log_tail(log)} (log: {log})", proc.returncode if proc.returncode > 0 else 1)
    return None


def _record(store, clock, children) -> dict:
    """This session's time in run.json: its own wall time and report, and what each repeat's last session spent."""
    import json

    from bench.results.store import RUN_FILE

    repeat_times = []
    for child in children:
        try:
            sessions = json.loads((child / RUN_FILE).read_text()).get("sessions") or [{}]
        except (OSError, ValueError):
            sessions = [{}]
        repeat_times.append(sessions[-1].get("time") or {})
    summary = {**clock.summary(), "timed_s": round(sum(t.get("timed_s", 0.0) for t in repeat_times), 3),
               "compilation_cache_hits": [t.get("compilation_cache_hits") for t in repeat_times],
               "repeats": repeat_times}
    sessions = store.run.get("sessions") or [{}]
    store.update_run(sessions=[*sessions[:-1], {**sessions[-1], "time": summary}])
    return summary
