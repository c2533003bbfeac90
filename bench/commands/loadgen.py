"""`dalle-bench loadgen`: the request (bench/commands/loadgen_request.py:
everything checked before JAX starts), then the pipeline compiled and warmed
up, and LoadGen's test(s) run, each one's row stored as it ends."""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from bench.base.errors import BenchError, Interrupted
from bench.base.signals import sigterm_as_interrupt, stopped_by
from bench.base.torch_free import transformers_without_torch
from bench.core.devices import emulate_host_devices
from bench.results.runlock import release_before_exit, run_lock

from .loadgen_request import SCENARIO_FIELDS, LoadgenRequest, loadgen_request


class AuditFailed(BenchError):
    """A compliance audit (--audit) that failed: exit status 1, after the run is written."""

    exit_code = 1


class AccuracyFailed(BenchError):
    """An accuracy test outside the benchmark definition's band: exit status 1, after the run is written."""

    exit_code = 1


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class LoadgenOutcome:
    """What the run's tests found that decides its exit status, gathered as they end."""

    accuracy_failed: list[str] = field(default_factory=list)  # tests outside the definition's band
    audit_failed: list[str] = field(default_factory=list)  # audits that did not pass
    caching_figures: dict = field(default_factory=dict)  # scenario -> {"distinct": [...], "same": figure}

    def raise_failures(self) -> None:
        """Exit 1, as compare's regressions, once everything is written: the audit's verdict (and the
        accuracy verdict too, when both failed), else the accuracy verdict."""
        if self.audit_failed:
            raise AuditFailed(f"audit FAIL: {'; '.join(self.audit_failed)}" + (
                f"; accuracy FAIL: {'; '.join(self.accuracy_failed)}" if self.accuracy_failed else ""))
        if self.accuracy_failed:
            raise AccuracyFailed(f"accuracy FAIL against the definition's band: {'; '.join(self.accuracy_failed)}")


def run_command(ctx: click.Context, options: dict, explicit: set[str]) -> None:
    """`dalle-bench loadgen`: the group runs the scenarios unless a sub-command (`check`) follows, which
    takes none of the scenarios' options."""
    if ctx.invoked_subcommand is not None:
        if explicit:
            raise click.UsageError(f"loadgen {ctx.invoked_subcommand} takes none of loadgen's options (got "
                                   f"--{sorted(explicit)[0].replace('_', '-')})")
        return
    if options.get("scenario") is None:
        raise click.MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params if p.name == "scenario"))
    run_loadgen(options, explicit)


def run_loadgen(options: dict, explicit: set[str]) -> None:
    """The door: click's options become a LoadgenRequest first thing (with --benchmark's definition
    applied), and only the request goes on."""
    with sigterm_as_interrupt():  # SIGTERM stops the run as Ctrl-C does (exit 143, not 130)
        request = loadgen_request(options, explicit)
        if not _scores_with_torch(request):
            transformers_without_torch()
        _run_loadgen(request)


def _scores_with_torch(request: LoadgenRequest) -> bool:
    """Whether the tests' accuracy runs a PyTorch network (none without a CLIP or a FID reference)."""
    from bench.jobs.loadgen.accuracy import metric_names
    from evals.registry import run_torch

    return run_torch(metric_names(request.quality))


def _run_loadgen(request: LoadgenRequest) -> None:
    from bench.jobs.loadgen.settings import check_find_peak_can_fail, test_settings

    _emulate_devices(request)
    # JAX starts here (select_devices), after XLA_FLAGS is final.
    from bench.core.devices import select_devices

    devices = select_devices(request.parallel.devices)
    models, pipeline, capacity, compile_s = _compiled_pipeline(request, devices)
    for options in request.scenarios:
        if options.find_peak:
            check_find_peak_can_fail(test_settings(options, "find-peak", capacity), capacity)
    base = _model_record(request, models, compile_s)
    store = _create_store(request, models, devices, capacity, base)
    outcome = LoadgenOutcome()
    with run_lock(request.run_dir):
        try:
            _run_scenarios(store, pipeline, request, capacity, base, outcome)
        except KeyboardInterrupt as e:  # between LoadGen's tests (writing, scoring): a test itself is _interrupted's
            how, code = stopped_by(e, "Ctrl-C")
            rows = store.rows()
            scenario_id = rows.scenario_id.iloc[-1] if len(rows) else None
            store.update_run(interrupted={"by": how, "scenario_id": scenario_id, "at": _now()})
            after = f"after the LoadGen test {scenario_id}" if scenario_id else "before the first LoadGen test"
            raise Interrupted(f"stopped by {how} {after}: the run is incomplete; the run folder is "
                              f"{request.run_dir}", code) from None
    outcome.raise_failures()


def _emulate_devices(request: LoadgenRequest) -> None:
    if request.host_devices is not None:
        emulate_host_devices(request.host_devices)
    elif request.parallel.devices > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        emulate_host_devices(request.parallel.devices)  # only the CPU backend reads the flag


def _compiled_pipeline(request: LoadgenRequest, devices: list):
    """The models, the pipeline compiled and warmed up, what the warm-up call says the system can do,
    and the seconds compiling."""
    from bench.core.models.loading import load_models
    from bench.jobs.loadgen.pipeline import CompiledPipeline
    from bench.jobs.loadgen.settings import Capacity
    from bench.results.outputs import RANDOM_WEIGHTS_NOTE

    parallel = request.parallel
    models = load_models(request.spec)
    if models.random_weights:
        click.echo(f"Note: {RANDOM_WEIGHTS_NOTE}.", err=True)
    pipeline = CompiledPipeline(models, list(request.prompts), request.num_images, request.seed, request.sampling,
                                parallel, devices)
    compile_s = pipeline.compile()
    capacity = Capacity(batch_seconds=pipeline.warm_up(), global_batch=parallel.global_batch)
    click.echo(f"Compiled in {compile_s:.1f} s; warm-up batch of {parallel.global_batch}: "
               f"{capacity.batch_seconds:.3f} s ({capacity.samples_per_s:.2f} samples/s)", err=True)
    return models, pipeline, capacity, compile_s


def _model_record(request: LoadgenRequest, models, compile_s: float) -> dict:
    """The columns every row of the run shares: the model, the system and the sample library."""
    spec, parallel, sampling, first = request.spec, request.parallel, request.sampling, request.scenarios[0]
    return {
        "preset": spec.preset, "random_weights": models.random_weights, "dtype": spec.dtype,
        "parallel": parallel.mode, "devices": parallel.devices, "batch_per_device": parallel.batch_per_device,
        "global_batch": parallel.global_batch, "max_batch_wait_ms": first.max_batch_wait_ms,
        "temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
        "cond_scale": sampling.cond_scale, "seed": request.seed, "prompts": request.prompt_set,
        "num_prompts": len(request.prompts), "num_images": request.num_images,
        "user_conf": str(first.user_conf) if first.user_conf else None, "compile_s": compile_s,
    }


def _create_store(request: LoadgenRequest, models, devices: list, capacity, base: dict):
    """The run folder and its run.json: the definition, LoadGen's settings, the model, the capacity and
    the environment."""
    from bench.base.environment import device_info, git_commit, host_info, package_versions
    from bench.jobs.loadgen.settings import MODEL_NAME
    from bench.results.scenario_store import ScenarioStore
    from bench.results.scenarios_schema import SCENARIO_SCHEMA_VERSION

    scenarios, first = request.scenarios, request.scenarios[0]
    settings_record = {"scenarios": [option.scenario for option in scenarios],
                       **{name: getattr(first, name) for name in SCENARIO_FIELDS if name != "user_conf"},
                       "user_conf": str(first.user_conf) if first.user_conf else None,
                       "mlperf_conf_model": MODEL_NAME, "trace": request.trace, "audit": request.audit}
    return ScenarioStore.create(request.run_dir, {
        "schema_version": SCENARIO_SCHEMA_VERSION, "run_id": request.run_dir.name, "command": sys.argv,
        "created_at": _now(), "benchmark": request.benchmark.record if request.benchmark else None,
        "loadgen": settings_record, "model": base | {"sources": models.sources, "revisions": models.revisions},
        "capacity": {"warm_up_batch_s": capacity.batch_seconds, "samples_per_s": capacity.samples_per_s},
        "environment": {"versions": package_versions(), "host": host_info(), "git": git_commit(),
                        "devices": device_info(devices)}})


def _run_scenarios(store, pipeline, request: LoadgenRequest, capacity, base: dict, outcome: LoadgenOutcome) -> None:
    run_dir, first = store.run_dir, request.scenarios[0]
    click.echo(f"Run {run_dir}: {', '.join(s.scenario for s in request.scenarios)}, {', '.join(first.tests())}; "
               f"{request.total_samples} samples ({len(request.prompts)} prompts x {request.num_images})", err=True)
    for options in request.scenarios:
        for test in request.tests(options):
            run_one(store, pipeline, options, test, capacity, base, request, outcome)
    from bench.jobs.loadgen.report import scenario_table

    click.echo(scenario_table(store.rows()).to_string(index=False))
    click.echo(f"Results in {run_dir}; LoadGen's logs in {run_dir / 'loadgen'}", err=True)


def run_one(store, pipeline, options, test, capacity, base: dict, request: LoadgenRequest,
            outcome: LoadgenOutcome) -> None:
    """One LoadGen test of one scenario: run, its row stored, then what follows it (an audit's
    verdict; an accuracy test's images, scores and band)."""
    from bench.jobs.loadgen.logs import DETAIL, read_detail, result_columns
    from bench.jobs.loadgen.responses import ResponseLayout
    from bench.jobs.loadgen.system import SystemUnderTest, run_interruptibly

    scenario_id = f"{options.scenario.lower()}-{test}"
    settings = _test_settings(options, test, capacity, request.audit)
    accuracy = test == "accuracy"
    layout = ResponseLayout(pipeline.image_length, pipeline.image_shape if accuracy else None)
    system = SystemUnderTest(pipeline, request.total_samples, options.max_batch_wait_ms / 1000, layout)
    log_dir = store.log_dir(scenario_id)
    row = {**base, "run_id": store.run_dir.name, "scenario_id": scenario_id, "scenario": options.scenario,
           "mode": "performance" if test.startswith("caching-") else test,
           "log_dir": str(log_dir.relative_to(store.run_dir))}
    click.echo(f"{scenario_id}: LoadGen running (logs in {log_dir})", err=True)
    try:
        dispatcher = run_interruptibly(system.run_test, settings, log_dir, request.trace)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        _interrupted(store, row, log_dir, system, e)
    detail = read_detail(log_dir / DETAIL)
    row.update(result_columns(detail), batches=dispatcher.batches, mean_batch_fill=dispatcher.mean_fill,
               finished_at=_now(), status="ok")
    if dispatcher.error is not None:
        row.update(status="failed", error=f"{type(dispatcher.error).__name__}: {dispatcher.error}"[:500])
    store.append(row)
    click.echo(summary_line(row), err=True)
    if dispatcher.error is not None:
        raise BenchError(f"{scenario_id}: the system under test failed: {row['error']} (LoadGen's logs kept in "
                         f"{log_dir})")
    if request.audit == "test01" and test == "performance":
        _test01(store, options, layout, log_dir, outcome)
    if request.audit == "caching":
        _caching(store, options, row, test, outcome)
    if accuracy:
        _score_accuracy_test(store, scenario_id, layout, log_dir, request, outcome)


def _test_settings(options, test: str, capacity, audit: str | None):
    """LoadGen's settings for the test, an audit's changes applied; a note when the test is too short
    for MLPerf's rules."""
    from bench.jobs.loadgen.settings import shortness_note, test_settings

    settings = test_settings(options, "performance" if test.startswith("caching-") else test, capacity)
    if test == "caching-same":  # the caching audit's second test: a performance test of one sample
        from bench.jobs.loadgen.audit import apply_same_sample

        apply_same_sample(settings)
    if audit == "test01" and test == "performance":
        from bench.jobs.loadgen.audit import apply_test01

        apply_test01(settings)
    if test != "accuracy":
        note = shortness_note(settings, options.scenario)
        if note:
            click.echo(f"Note: {note}.", err=True)
    return settings


def _score_accuracy_test(store, scenario_id: str, layout, log_dir: Path, request: LoadgenRequest,
                         outcome: LoadgenOutcome) -> None:
    """After an accuracy test: its images written from LoadGen's accuracy log, scored (--eval-clip,
    --fid-ref), and judged against the definition's band."""
    from bench.jobs.loadgen.accuracy import evaluate_images, write_accuracy_images
    from bench.jobs.loadgen.logs import ACCURACY

    prompts, num_images, quality = list(request.prompts), request.num_images, request.quality
    images = store.images_dir(scenario_id)
    count = write_accuracy_images(log_dir / ACCURACY, layout, len(prompts), num_images, images)
    store.update_last(accuracy_images=count, images_dir=str(images.relative_to(store.run_dir)))
    store.update_run(response_layout=layout.to_json())
    if quality.clip or quality.fid_ref:
        figures = evaluate_images(images, prompts, num_images, quality)
        store.update_last(**figures)
        click.echo(f"{scenario_id}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()
                                                  if isinstance(v, float)), err=True)
    benchmark = request.benchmark
    if benchmark is not None and benchmark.accuracy_bands:
        from bench.jobs.loadgen.accuracy_check import check_accuracy

        columns, verdict = check_accuracy(benchmark.definition, benchmark.overrides, benchmark.accuracy_bands,
                                          images, prompts, num_images, quality.inception_weights)
        store.update_last(**columns)
        click.echo(f"{scenario_id}: {verdict.line()}", err=True)
        if verdict.verdict == "FAIL":
            outcome.accuracy_failed.append(f"{scenario_id}: {verdict.line()}")


def _test01(store, options, layout, log_dir: Path, outcome: LoadgenOutcome) -> None:
    """TEST01 after its performance test: the responses LoadGen logged equal the accuracy test's (run first)."""
    from bench.jobs.loadgen.audit import judge_test01
    from bench.jobs.loadgen.logs import ACCURACY, read_accuracy_log
    from bench.jobs.loadgen.responses import ResponseLayout

    accuracy_log = store.log_dir(f"{options.scenario.lower()}-accuracy") / ACCURACY
    accuracy_layout = ResponseLayout(layout.tokens, tuple(store.run["response_layout"]["image_shape"]))
    result = judge_test01(options.scenario, read_accuracy_log(log_dir / ACCURACY, keep_repeats=True), layout,
                          read_accuracy_log(accuracy_log, keep_repeats=True), accuracy_layout)
    store.update_run(audits=[*store.run.get("audits", []), result.to_json()])
    click.echo(result.line(), err=True)
    if result.verdict != "PASS":
        outcome.audit_failed.append(result.line())


def _caching(store, options, row: dict, test: str, outcome: LoadgenOutcome) -> None:
    """The caching audit after its last test: LoadGen's figure with one sample against distinct samples."""
    from bench.jobs.loadgen.audit import judge_caching

    figures = outcome.caching_figures.setdefault(options.scenario, {"distinct": [], "same": None})
    if test == "caching-same":
        figures["same"] = row.get("result_value")
    else:
        figures["distinct"].append(row.get("result_value"))
    if test != "caching-distinct":
        return
    result = judge_caching(options.scenario, figures["distinct"], figures["same"])
    store.update_run(audits=[*store.run.get("audits", []), result.to_json()])
    click.echo(result.line(), err=True)
    if result.verdict != "PASS":
        outcome.audit_failed.append(result.line())


def _interrupted(store, row: dict, log_dir: Path, system, stop: KeyboardInterrupt) -> None:
    """Ctrl-C or SIGTERM: keep what LoadGen has logged, record the test as
    interrupted and the run as incomplete (run.json's `interrupted`), release
    the run lock, and leave at once (LoadGen's C++ test cannot be stopped from
    Python): exit 130 for Ctrl-C, 143 for SIGTERM."""
    from bench.jobs.loadgen.logs import DETAIL, read_detail, result_columns

    how, code = stopped_by(stop, "Ctrl-C")
    detail_file = log_dir / DETAIL
    partial = result_columns(read_detail(detail_file)) if detail_file.is_file() else {}
    dispatcher = system.dispatcher
    finished_at = _now()
    store.append({**row, **{k: v for k, v in partial.items() if v is not None}, "status": "interrupted",
                  "error": f"interrupted ({how}): the test is incomplete", "finished_at": finished_at,
                  "batches": dispatcher.batches if dispatcher else None,
                  "mean_batch_fill": dispatcher.mean_fill if dispatcher else None})
    store.update_run(interrupted={"by": how, "scenario_id": row["scenario_id"], "at": finished_at})
    release_before_exit(store.run_dir)
    click.echo(f"Interrupted: the run is incomplete (stopped by {how}). LoadGen's logs so far are in {log_dir}; "
               f"the run folder is {store.run_dir}.", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def summary_line(row: dict) -> str:
    value = row.get("result_value")
    unit = "samples/s" if row.get("result_metric") == "samples_per_s" else "s"
    figure = "n/a" if value is None else f"{value:.4g} {unit}"
    line = f"{row['scenario_id']}: {row.get('result_metric')} {figure}, {row.get('validity')}"
    if row.get("peak_qps") is not None:
        line += f", peak {row['peak_qps']:.4g} samples/s"
    if row.get("invalid_reason"):
        line += f" ({row['invalid_reason']})"
    return line
