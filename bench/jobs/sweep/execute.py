"""Measuring the points of a sweep, one after another, each written to the
store as soon as it finishes. A point that cannot run (a bad combination of
settings, out of memory, a compile error) is recorded with its status and
error, and the sweep goes on.

Points run grouped by layout and sampling structure, so that the weights are
placed and each program (whole pipeline, stage programs) compiled once per
group and reused by every point of it; the sampling values are inputs of
those programs."""

from __future__ import annotations

import shutil
import time

import jax
import numpy as np
from tqdm import tqdm

from bench.base.errors import BenchError, RunWriteError, first_line
from bench.core.batching import plan_batches
from bench.core.devices import select_devices
from bench.core.distributed import Cluster, DistributedError
from bench.core.models.loading import Models
from bench.core.parallel import ParallelConfig, Runner
from bench.core.pipeline import PromptTable, Stages, build_program, build_stages
from bench.core.sampling import SamplingConfig
from bench.measure.memory import host_peak_rss_bytes, peak_device_bytes
from bench.measure.stats import LatencyStats
from bench.measure.timing import TimingPolicy, time_calls
from bench.results.store import RunStore

from .budget import Budget, Family
from .clock import SweepClock
from .context import Context, point_configs, program_group, structure_of
from .rows import base_row, combine_reports, utc_now
from .summary import summary_line
from .shares import write_share
from .spec import Point, SweepDefinition


def stage_policy(definition: SweepDefinition) -> TimingPolicy:
    """Stage programs are timed for the breakdown only: at most 3 calls, no minimum duration."""
    return TimingPolicy(warmup=min(definition.warmup, 1), iters=min(definition.iters, 3), min_seconds=0.0)


def execution_order(points: list[Point]) -> list[Point]:
    """Points grouped by dtype, then layout, then structure, each level in the
    order of its first point in the definition, and points in definition
    order within a group. Ids and the definition are unchanged."""
    first: dict[tuple, int] = {}
    for point in points:
        group = program_group(point)
        for depth in range(1, len(group) + 1):
            first.setdefault(group[:depth], len(first))
    return sorted(points, key=lambda p: [first[program_group(p)[:d]] for d in range(1, 6)] + [p.index])


def run_points(store: RunStore, definition: SweepDefinition, prompts: list[str], points: list[Point],
               progress: bool = True, after_point=None, cluster: Cluster | None = None,
               clock: SweepClock | None = None, turns=None, compile_workers: int = 1, point_turns=None,
               budget: Budget | None = None) -> None:
    """Measure `points`, grouped by program (`execution_order`). With several
    processes every one measures its share of each point; process 0 gathers
    their reports, writes the row and tells the others to go on, so all start
    each point together. `turns` (bench.jobs.sweep.interleave.Turns) is taken before each
    timed call; `point_turns` before each point, and held through its
    compilation, warm-up, timed calls and writing (`sweep --repeat`).
    `budget` (bench/jobs/sweep/budget.py) skips the points that would overrun it,
    and those above a batch that ran out of memory."""
    cluster = cluster or Cluster()
    budget = budget or Budget(None)
    ordered = execution_order(points)
    context = Context(definition, prompts, {}, {}, {}, cluster, clock=clock or SweepClock(),
                      turns=turns, compile_workers=compile_workers)
    bar = tqdm(ordered, desc="points", unit="point", disable=not progress or not cluster.is_main,
               dynamic_ncols=True)
    for position, point in enumerate(bar):
        context.pending = ordered[position:]
        skip = budget_skip(context, point, budget)
        if skip is not None:  # decided alike by every process: the budget is refused with --coordinator
            if cluster.is_main:
                row = {**base_row(store, context, point), "status": "skipped", "error": skip, "finished_at": utc_now()}
                with context.clock.timing("writing"):
                    store.append(row)
                bar.write(summary_line(row, len(store.finished_ids()), len(definition.points())))
            continue
        if point_turns is not None:
            point_turns.take()
        report = measure_here(store, context, point, progress and cluster.is_main)
        try:
            reports = cluster.gather(f"{point.point_id}/report", report)
        except DistributedError as e:  # only process 0 waits for reports
            store.discard_staging()
            store.append({**base_row(store, context, point), "status": "lost", "error": str(e),
                          "finished_at": utc_now()})
            cluster.share(f"{point.point_id}/verdict", str(e))
            raise
        if cluster.is_main:
            with context.clock.timing("writing"):
                row = combine_reports(store, context, point, reports)
                try:
                    store.append(row)
                except RunWriteError:
                    # Its row is not written: its images must not look published either.
                    shutil.rmtree(store.images_dir(point.point_id), ignore_errors=True)
                    raise
            budget.record(point_family(point), point.settings["batch_per_device"], row["status"],
                          row.get("compile_s"), row.get("latency_p50_s"))
            bar.write(summary_line(row, len(store.finished_ids()), len(definition.points())))
            if after_point is not None:
                after_point()
        # Process 0 may itself wait a whole timeout for a silent process before
        # it can give its verdict: the others wait twice as long for it.
        stop = cluster.share(f"{point.point_id}/verdict", None, patience=2.0)
        if stop:
            raise DistributedError(f"process 0 stopped the run: {stop}")


def point_family(point: Point) -> Family:
    return Family.of(point.settings, structure_of(point.settings).key)


def budget_skip(context: Context, point: Point, budget: Budget) -> str | None:
    """Why `budget` skips the point (bench/jobs/sweep/budget.py), or None to run it."""
    if budget.budget_s is None and not budget.out_of_memory:
        return None
    try:
        _, parallel = point_configs(point)
    except ValueError:
        return None  # recorded as invalid, at no cost
    s, definition = point.settings, context.definition
    layout = (s["dtype"], parallel.mode, parallel.devices, parallel.batch_per_device)
    key = (*layout, "pipeline", structure_of(s).key)
    compiled = key in context.programs or key in context.ahead
    batches = len(plan_batches(len(context.prompts), definition.num_images, parallel.global_batch))
    calls = (0 if compiled else definition.warmup) + max(definition.iters, batches)
    if definition.stages:
        calls += 4 * stage_policy(definition).iters  # four stage programs, a few calls each
    # The stage programs, as many as the pipeline's parts, compile for about as long again.
    programs = 2 if definition.stages and not compiled else 1
    return budget.skip_reason(point_family(point), s["batch_per_device"], compiled, calls, programs=programs)


def measure_here(store: RunStore, context: Context, point: Point, progress: bool) -> dict:
    """This process's share of a point: its status, timings and images (written
    to the point's staging folder). A failure is reported, not raised, so
    that every process still reaches the exchange that follows."""
    try:
        sampling, parallel = point_configs(point)
        devices = select_devices(parallel.devices)
    except (ValueError, BenchError) as e:
        return {"status": "invalid", "error": str(e)}
    try:
        report = {"status": "ok", **_measure(store, context, point, sampling, parallel, devices, progress)}
    except BenchError:
        raise  # unusable models are the run's problem, not this point's: stop, keeping what is written
    except Exception as e:  # a failed point must not stop the sweep; its message is recorded
        message = first_line(e)
        oom = "RESOURCE_EXHAUSTED" in str(e) or "out of memory" in str(e).lower() or isinstance(e, MemoryError)
        report = {"status": "oom" if oom else "failed", "error": f"{type(e).__name__}: {message}"[:500]}
    report["host_peak_rss_bytes"] = host_peak_rss_bytes()
    return report


def _record_checkpoints(store: RunStore, models: Models) -> None:
    """run.json's `checkpoints`: where each model came from and which weights
    those were (the Hub commit or a local folder's hash), once per run."""
    record = {"sources": models.sources, "revisions": models.revisions}
    if store.run.get("checkpoints") != record:
        store.update_run(checkpoints=record)


def _measure(store: RunStore, context: Context, point: Point, sampling: SamplingConfig, parallel: ParallelConfig,
             devices: list, progress: bool) -> dict:
    definition, prompts = context.definition, context.prompts
    dtype = point.settings["dtype"]
    models = context.models_for(dtype)
    if context.cluster.is_main:
        _record_checkpoints(store, models)
    weights = context.placed_params(dtype, parallel, devices, models)

    structure = sampling.structure
    layout = (dtype, parallel.mode, parallel.devices, parallel.batch_per_device)

    def runner_of(program) -> Runner:
        return Runner(program, weights, devices, parallel, placed=True)

    table = PromptTable(models, prompts)
    context.warn_truncated(table)
    batches = plan_batches(len(prompts), definition.num_images, parallel.global_batch)
    # Wrapping the program costs nothing; it is compiled only if no earlier point of this group did.
    fresh = runner_of(build_program(models, structure))
    device_batches = [fresh.put(table.batch(b.prompt_index, b.sample_index, point.settings["seed"], sampling))
                      for b in batches]
    key = (*layout, "pipeline", structure.key)
    _compile_layout_ahead(context, key, layout, structure, fresh, device_batches[0],
                          lambda s: runner_of(build_program(models, s)))
    runner, compile_s = context.compiled(key, lambda: fresh, device_batches[0])
    policy, latencies, merged = _timed_calls(context, runner, batches, device_batches, compile_s, progress)
    local_devices = [d for d in devices if d.process_index == jax.process_index()]
    peak_memory = peak_device_bytes(local_devices)
    stages, stage_compile_s = {}, 0.0
    if definition.stages:
        stages, stage_compile_s = _measure_stages(context, build_stages(models, structure), structure, layout,
                                                  runner_of, device_batches[0])
    with context.clock.timing("writing"):
        write_share(store.staging_dir(point.point_id), merged, context.cluster.process_index)
    return {"random_weights": models.random_weights, "compile_s": compile_s, "compiled": compile_s > 0,
            "compile_concurrency": context.concurrency.get(key, 1) if compile_s > 0 else None,
            "stage_compile_s": stage_compile_s, "latencies": latencies, "stages": stages, "warmup": policy.warmup,
            "peak_device_memory_bytes": peak_memory}


def _compile_layout_ahead(context: Context, key: tuple, layout: tuple, structure, fresh: Runner, device_batch,
                          runner_for) -> None:
    """At the first point of its layout (with --compile-workers above 1): compile the programs of the
    layout's other structures beside its own (every structure takes the same inputs)."""
    if context.compile_workers <= 1 or key in context.programs or key in context.ahead:
        return
    others = {(*layout, "pipeline", s.key): s for s in context.structures_ahead(layout) if s != structure}
    others = {k: s for k, s in others.items() if k not in context.programs and k not in context.ahead}
    if others:
        context.compile_ahead({key: lambda: fresh, **{
            k: (lambda s=s: runner_for(s)) for k, s in others.items()
        }}, device_batch)


def _timed_calls(context: Context, runner: Runner, batches: list, device_batches: list, compile_s: float,
                 progress: bool) -> tuple[TimingPolicy, list[float], dict]:
    """The point's timed calls, cycling over its batches: the first pass produces every image (kept,
    padding rows dropped), later ones only time. (The policy, the latencies, this process's images.)"""
    definition = context.definition
    rows = runner.local_rows()
    outputs: list = [None] * len(batches)

    def keep(index: int, result) -> None:
        if index < len(batches) and outputs[index] is None:
            batch = batches[index]
            valid = rows < batch.valid  # the padding rows of the last batch are dropped
            host = runner.to_host(result)
            outputs[index] = {"prompt": batch.prompt_index[rows][valid], "sample": batch.sample_index[rows][valid],
                              **{k: v[valid] for k, v in host.items()}}
        inner.update()

    # Warm-up calls absorb a fresh executable's first-call costs; a reused program
    # ran the previous point's calls moments ago, so its calls are timed at once.
    policy = TimingPolicy(warmup=definition.warmup if compile_s > 0 else 0, iters=definition.iters,
                          min_seconds=definition.min_seconds)
    with tqdm(total=max(policy.iters, len(batches)), desc="  batches", unit="batch", leave=False,
              disable=not progress, dynamic_ncols=True) as inner:
        started = time.perf_counter()
        latencies = time_calls(lambda i: runner(device_batches[i % len(batches)]), policy,
                               minimum=len(batches), on_result=keep,
                               before_call=context.turns.take if context.turns else None)
        context.clock.add("timed", sum(latencies))
        context.clock.add("untimed_calls", time.perf_counter() - started - sum(latencies))
    return policy, latencies, {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}


def _measure_stages(context: Context, stages_of, structure, layout: tuple, runner_of,
                    device_batch) -> tuple[dict[str, float], float]:
    """The per-stage breakdown (`time_stages`), each stage's program compiled once per layout."""

    def stage_runner(name: str, inputs) -> tuple[Runner, float]:
        # Only the text stages depend on the sampling structure (encode only on the unconditioned pass).
        variant = {"encode": str(structure.unconditioned_pass), "sample": structure.key}.get(name, "")
        return context.compiled((*layout, "stage", name, variant),
                                lambda: runner_of(getattr(stages_of, name)), inputs)

    started = time.perf_counter()
    stages, stage_compile_s = time_stages(stage_runner, device_batch, stage_policy(context.definition))
    context.clock.add("stages", time.perf_counter() - started - stage_compile_s)
    return stages, stage_compile_s


def time_stages(stage_runner, device_batch: dict, policy: TimingPolicy) -> tuple[dict[str, float], float]:
    """Median seconds per batch of each stage, each its own compiled program
    (`stage_runner(name, inputs) -> (runner, seconds compiling)`), fed the
    previous stage's outputs (already on device); and the seconds compiling."""
    results: dict[str, float] = {}
    compile_s = 0.0
    inputs = device_batch
    for name in Stages.NAMES:
        if name == "score":
            inputs = {"images": inputs, "clip_ids": device_batch["clip_ids"], "clip_mask": device_batch["clip_mask"]}
        runner, seconds = stage_runner(name, inputs)
        compile_s += seconds
        outputs = []
        latencies = time_calls(lambda i, r=runner, x=inputs: r(x), policy,
                               on_result=lambda i, out: outputs.append(out) if not outputs else None)
        results[name] = LatencyStats.of(latencies).p50
        inputs = outputs[0]
    return results, compile_s


