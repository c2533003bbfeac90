"""`dalle-bench loadgen`: validate everything, compile and warm up the
pipeline, then run LoadGen's test(s) and store each one's row as it ends."""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import click

from ..devices import emulate_host_devices
from ..errors import BenchError, Interrupted, first_line
from ..loadgen.settings import ScenarioOptions
from ..prompts import load_prompt_set
from ..runlock import check_output_folder, check_run_id, release_before_exit, run_lock
from ..sampling.config import SamplingConfig
from ..signals import sigterm_as_interrupt, stopped_by
from .generate import validated

SCENARIO_FIELDS = ("mode", "find_peak", "target_qps", "target_latency_ms", "target_latency_percentile",
                   "min_duration_s", "min_queries", "max_batch_wait_ms", "samples_per_query", "user_conf")


class AuditFailed(BenchError):
    """A compliance audit (--audit) that failed: exit status 1, after the run is written."""

    exit_code = 1


class AccuracyFailed(BenchError):
    """An accuracy test outside the benchmark definition's band: exit status 1, after the run is written."""

    exit_code = 1


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# The largest query sample library (prompts x images per prompt): MLPerf's largest is 24,576 samples.
MAX_SAMPLES = 1_000_000


def _loadgen_name(name: str) -> str | None:
    from ..loadgen.settings import SCENARIOS

    return SCENARIOS.get(name.strip().lower().replace("-", "").replace("_", ""))


def check_clip(source: str, option: str) -> None:
    """A CLIP network named by `option` (--eval-clip, a definition's [accuracy] clip), before anything
    starts: a checkpoint folder (config.json that parses, weights), the shapes preset's (`shapes`), or a
    Hub id (bench.sources.is_hub_id, spelled as the Hub allows) that is in the local Hugging Face cache or
    on a Hub that answers (bench.sources.check_hub_source)."""
    from evals.clip_score import check_clip_source

    from ..sources import check_hub_source, is_hub_id

    local = Path(source).expanduser()
    check_clip_source(source, option)  # a local path that is not there, or not a checkpoint
    if local.is_dir():
        try:
            config = json.loads((local / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise BenchError(f"{option}: {local / 'config.json'} cannot be read: {first_line(e)}") from None
        if not isinstance(config, dict) or not ({"text_config", "vision_config"} & set(config)
                                                or config.get("model_type") == "clip"):
            raise BenchError(f"{option}: {source} is not a CLIP checkpoint (its config.json has no "
                             "text_config and vision_config)")
        return
    if source == "shapes":  # the shapes preset's CLIP, committed (evals.clip_score.load_clip)
        return
    if not is_hub_id(source) or not _hub_spelling(source):
        raise BenchError(f"{option} {source!r}: neither a checkpoint folder nor a Hub id (owner/name)")
    check_hub_source(source, option)  # cached, or a Hub that answers: in seconds, not after the run


def _hub_spelling(source: str) -> bool:
    """Whether the Hub would accept `source` as a repository id (huggingface_hub's own rule: letters,
    digits, '-', '_', '.', at most 96 characters, no '--' or '..')."""
    try:
        from huggingface_hub.utils import validate_repo_id
    except ImportError:  # transformers' dependency: always there where a CLIP can load at all
        return True
    try:
        validate_repo_id(source)
    except ValueError:
        return False
    return True


def check_accuracy_networks(benchmark) -> None:
    """The networks of a definition's accuracy check, before JAX starts: its CLIP (as --eval-clip) and
    its FID reference (a folder of images or a .npz, or the shapes world's); a problem with them is a
    one-line refusal now, not a null figure and an accuracy FAIL after the run."""
    from ..loadgen.accuracy_check import networks_needed

    accuracy = benchmark.accuracy
    clip, reference = networks_needed(accuracy)
    where = f"{benchmark.source.name} [accuracy]"
    if clip and accuracy.get("clip"):
        check_clip(accuracy["clip"], f"{where} clip")
    fid_ref = accuracy.get("fid_ref")
    if reference and fid_ref:
        from ..shapes.reference import REFERENCE_NAME

        path = Path(fid_ref).expanduser()
        if fid_ref != REFERENCE_NAME and not (path.is_dir() or (path.is_file() and path.suffix == ".npz")):
            raise BenchError(f"{where} fid_ref: not found: {fid_ref} (a folder of images, a .npz statistics "
                             f"file, or {REFERENCE_NAME})")


def check_inputs(o: dict, explicit: set[str]):
    """Everything that can be checked before JAX starts; BenchError on the first problem."""
    if o.get("coordinator") or o.get("num_processes") or o.get("process_id") is not None:
        raise BenchError("loadgen runs in one process with all its local devices: a multi-process loadgen "
                         "(--coordinator / --num-processes / --process-id) is not supported yet")
    user_conf = Path(o["user_conf"]) if o.get("user_conf") else None
    if o.get("audit"):  # TEST01: a performance test's logged responses against an accuracy test's; caching: two
        mode = "both" if o["audit"] == "test01" else "performance"  # performance tests (distinct, same sample)
        if "mode" in explicit and o["mode"] != mode:
            raise BenchError(f"--audit {o['audit']} runs {'accuracy and performance' if mode == 'both' else mode} "
                             f"(--mode {mode}), not --mode {o['mode']}")
        if o.get("find_peak"):
            raise BenchError(f"--audit {o['audit']}: not with --find-peak (the audit's performance test is one test)")
        o["mode"] = mode
    fields = {name: o[name] for name in SCENARIO_FIELDS if name != "user_conf"}
    names = [name.strip() for name in o["scenario"].split(",") if name.strip()]
    if not names:
        raise BenchError("--scenario: give one of offline, server, singlestream, multistream (or a comma list)")
    # A benchmark definition fixes some fields per scenario (Server's bound, each percentile).
    per_scenario = o.get("scenario_fields") or {}
    scenarios = [ScenarioOptions.parse(name, **(fields | per_scenario.get(_loadgen_name(name), {})),
                                       user_conf=user_conf, explicit=frozenset(explicit)) for name in names]
    if o.get("audit") == "caching":
        from ..loadgen.audit import CACHING_SCENARIOS

        if any(option.scenario not in CACHING_SCENARIOS for option in scenarios):
            raise BenchError(f"--audit caching: scenarios {' and '.join(CACHING_SCENARIOS)} only (one LoadGen "
                             f"figure that only the sample choice could change)")
    if not 1 <= o["num_images"] <= MAX_SAMPLES:
        raise BenchError(f"-n/--num-images must be in [1, {MAX_SAMPLES:,}], got {o['num_images']}")
    sampling = validated(SamplingConfig, temperature=o["temperature"], top_k=o["top_k"], top_p=o["top_p"],
                         cond_scale=o["cond_scale"])
    from ..models.loading import ModelSpec, check_spec
    from ..parallel import ParallelConfig

    mode = o["parallel"] or ("single" if o["devices"] == 1 else "sharded")
    parallel = validated(ParallelConfig, mode=mode, devices=o["devices"], batch_per_device=o["batch_per_device"])
    spec = ModelSpec(preset=o["preset"], weights=o["weights"], model=o["model"], vqgan=o["vqgan"],
                     clip=o["clip_source"], dtype=o["dtype"])
    check_spec(spec)
    if o.get("fid_ref") and not Path(o["fid_ref"]).expanduser().exists():
        raise BenchError(f"--fid-ref: not found: {o['fid_ref']}")
    if o.get("inception_weights") and not Path(o["inception_weights"]).is_file():
        raise BenchError(f"--inception-weights: file not found: {o['inception_weights']}")
    if o.get("eval_clip"):  # scored after the whole LoadGen run: checked now, not then
        check_clip(o["eval_clip"], "--eval-clip")
    if o.get("host_devices") is not None and o["host_devices"] < 1:
        raise BenchError(f"--host-devices must be >= 1, got {o['host_devices']}")
    if o.get("run_id"):
        check_run_id(o["run_id"])
    check_output_folder(Path(o["out"]), "--out")  # not under a regular file, nor in another run; writable
    run_dir = Path(o["out"]) / (o.get("run_id") or
                                f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}-loadgen-"
                                f"{'-'.join(option.scenario.lower() for option in scenarios)}")
    if run_dir.exists():
        raise BenchError(f"{run_dir} already exists: choose another --run-id")
    return scenarios, sampling, parallel, spec, run_dir


def run_loadgen(o: dict, explicit: set[str]) -> None:
    with sigterm_as_interrupt():  # SIGTERM stops the run as Ctrl-C does (exit 143, not 130)
        _run_loadgen(o, explicit)


def _run_loadgen(o: dict, explicit: set[str]) -> None:
    scenarios, sampling, parallel, spec, run_dir = check_inputs(o, explicit)
    prompts = list(load_prompt_set(o["prompts"]).prompts)
    if o.get("benchmark_definition") is not None:
        from ..loadgen.benchmark import sample_library
        from ..loadgen.report import benchmark_line

        changed = {entry.split()[0] for entry in o["benchmark_record"]["overrides"]}
        if not changed & {"--prompts", "-n"}:  # another prompt set is an exploration: taken whole
            prompts = sample_library(prompts, o["benchmark_definition"], o["num_images"])
        click.echo(benchmark_line({"benchmark": o["benchmark_record"]}), err=True)
        if any("accuracy" in option.tests() for option in scenarios):  # its reference figures, before JAX starts
            from ..loadgen.accuracy_check import metric_columns, reference_bands

            if metric_columns(o["benchmark_definition"].accuracy):
                o["accuracy_bands"] = reference_bands(o["benchmark_definition"])
                check_accuracy_networks(o["benchmark_definition"])
    if len(prompts) * o["num_images"] > MAX_SAMPLES:  # the sample library is held in memory, per sample
        raise BenchError(f"the query sample library would hold {len(prompts) * o['num_images']:,} samples "
                         f"({len(prompts)} prompts x -n {o['num_images']}): at most {MAX_SAMPLES:,}")
    if o.get("host_devices") is not None:
        emulate_host_devices(o["host_devices"])
    elif parallel.devices > 1 and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        emulate_host_devices(parallel.devices)  # only the CPU backend reads the flag

    # JAX starts here (select_devices), after XLA_FLAGS is final.
    from ..devices import select_devices
    from ..environment import device_info, git_commit, host_info, package_versions
    from ..models.loading import load_models
    from ..outputs import RANDOM_WEIGHTS_NOTE
    from ..sweep.scenario_schema import SCENARIO_SCHEMA_VERSION
    from ..loadgen.accuracy import QualitySettings
    from ..loadgen.pipeline import CompiledPipeline
    from ..loadgen.settings import MODEL_NAME, Capacity, check_find_peak_can_fail, test_settings
    from ..loadgen.store import ScenarioStore

    devices = select_devices(parallel.devices)
    models = load_models(spec)
    if models.random_weights:
        click.echo(f"Note: {RANDOM_WEIGHTS_NOTE}.", err=True)
    pipeline = CompiledPipeline(models, prompts, o["num_images"], o["seed"], sampling, parallel, devices)
    compile_s = pipeline.compile()
    capacity = Capacity(batch_seconds=pipeline.warm_up(), global_batch=parallel.global_batch)
    click.echo(f"Compiled in {compile_s:.1f} s; warm-up batch of {parallel.global_batch}: "
               f"{capacity.batch_seconds:.3f} s ({capacity.samples_per_s:.2f} samples/s)", err=True)

    for options in scenarios:
        if options.find_peak:
            check_find_peak_can_fail(test_settings(options, "find-peak", capacity), capacity)

    total = len(prompts) * o["num_images"]
    quality = QualitySettings(clip=o.get("eval_clip") or None, fid_ref=o.get("fid_ref"),
                              inception_weights=Path(o["inception_weights"]) if o.get("inception_weights") else None)
    first = scenarios[0]
    settings_record = {"scenarios": [option.scenario for option in scenarios],
                       **{name: getattr(first, name) for name in SCENARIO_FIELDS if name != "user_conf"},
                       "user_conf": str(first.user_conf) if first.user_conf else None,
                       "mlperf_conf_model": MODEL_NAME, "trace": bool(o.get("trace")), "audit": o.get("audit")}
    base = {
        "preset": spec.preset, "random_weights": models.random_weights, "dtype": spec.dtype,
        "parallel": parallel.mode, "devices": parallel.devices, "batch_per_device": parallel.batch_per_device,
        "global_batch": parallel.global_batch, "max_batch_wait_ms": first.max_batch_wait_ms,
        "temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
        "cond_scale": sampling.cond_scale, "seed": o["seed"], "prompts": o["prompts"], "num_prompts": len(prompts),
        "num_images": o["num_images"], "user_conf": settings_record["user_conf"], "compile_s": compile_s,
    }
    store = ScenarioStore.create(run_dir, {
        "schema_version": SCENARIO_SCHEMA_VERSION, "run_id": run_dir.name, "command": sys.argv,
        "created_at": _now(), "benchmark": o.get("benchmark_record"), "loadgen": settings_record, "model": base | {"sources": models.sources, "revisions": models.revisions},
        "capacity": {"warm_up_batch_s": capacity.batch_seconds, "samples_per_s": capacity.samples_per_s},
        "environment": {"versions": package_versions(), "host": host_info(), "git": git_commit(),
                        "devices": device_info(devices)}})
    with run_lock(run_dir):
        try:
            _run_scenarios(store, pipeline, scenarios, capacity, base, total, prompts, o, quality)
        except KeyboardInterrupt as e:  # between LoadGen's tests (writing, scoring): a test itself is _interrupted's
            how, code = stopped_by(e, "Ctrl-C")
            rows = store.rows()
            scenario_id = rows.scenario_id.iloc[-1] if len(rows) else None
            store.update_run(interrupted={"by": how, "scenario_id": scenario_id, "at": _now()})
            after = f"after the LoadGen test {scenario_id}" if scenario_id else "before the first LoadGen test"
            raise Interrupted(f"stopped by {how} {after}: the run is incomplete; the run folder is {run_dir}",
                              code) from None
    if o.get("audit_failed"):  # and the accuracy verdict too, when both failed
        raise AuditFailed(f"audit FAIL: {'; '.join(o['audit_failed'])}" + (
            f"; accuracy FAIL: {'; '.join(o['accuracy_failed'])}" if o.get("accuracy_failed") else ""))
    if o.get("accuracy_failed"):  # exit 1, as compare's regressions, once everything is written
        raise AccuracyFailed(f"accuracy FAIL against the definition's band: {'; '.join(o['accuracy_failed'])}")


def _run_scenarios(store, pipeline, scenarios, capacity, base, total, prompts, o, quality) -> None:
    run_dir, first = store.run_dir, scenarios[0]
    click.echo(f"Run {run_dir}: {', '.join(s.scenario for s in scenarios)}, {', '.join(first.tests())}; {total} "
               f"samples ({len(prompts)} prompts x {o['num_images']})", err=True)
    for options in scenarios:
        for test in options.tests() + (["caching-same", "caching-distinct"] if o.get("audit") == "caching" else []):
            run_one(store, pipeline, options, test, capacity, base, total, prompts, o, quality)
    from ..loadgen.report import scenario_table

    click.echo(scenario_table(store.rows()).to_string(index=False))
    click.echo(f"Results in {run_dir}; LoadGen's logs in {run_dir / 'loadgen'}", err=True)


def run_one(store, pipeline, options, test, capacity, base, total, prompts, o, quality) -> None:
    from ..loadgen.accuracy import evaluate_images, write_accuracy_images
    from ..loadgen.logs import DETAIL, ACCURACY, read_detail, result_columns
    from ..loadgen.responses import ResponseLayout
    from ..loadgen.settings import shortness_note, test_settings
    from ..loadgen.system import SystemUnderTest, run_interruptibly

    scenario_id = f"{options.scenario.lower()}-{test}"
    same_sample = test == "caching-same"  # the caching audit's second test: a performance test of one sample
    settings = test_settings(options, "performance" if test.startswith("caching-") else test, capacity)
    if same_sample:
        from ..loadgen.audit import apply_same_sample

        apply_same_sample(settings)
    if o.get("audit") == "test01" and test == "performance":
        from ..loadgen.audit import apply_test01

        apply_test01(settings)
    if test != "accuracy":
        note = shortness_note(settings, options.scenario)
        if note:
            click.echo(f"Note: {note}.", err=True)
    accuracy = test == "accuracy"
    layout = ResponseLayout(pipeline.image_length, pipeline.image_shape if accuracy else None)
    system = SystemUnderTest(pipeline, total, options.max_batch_wait_ms / 1000, layout)
    log_dir = store.log_dir(scenario_id)
    row = {**base, "run_id": store.run_dir.name, "scenario_id": scenario_id, "scenario": options.scenario,
           "mode": "performance" if test.startswith("caching-") else test, "log_dir": str(log_dir.relative_to(store.run_dir))}
    click.echo(f"{scenario_id}: LoadGen running (logs in {log_dir})", err=True)
    try:
        dispatcher = run_interruptibly(system.run_test, settings, log_dir, bool(o.get("trace")))
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
    if o.get("audit") == "test01" and test == "performance":
        _test01(store, options, layout, log_dir, o)
    if o.get("audit") == "caching":
        _caching(store, options, row, test, o)
    if accuracy:
        images = store.images_dir(scenario_id)
        count = write_accuracy_images(log_dir / ACCURACY, layout, len(prompts), o["num_images"], images)
        store.update_last(accuracy_images=count, images_dir=str(images.relative_to(store.run_dir)))
        store.update_run(response_layout=layout.to_json())
        if quality.clip or quality.fid_ref:
            figures = evaluate_images(images, prompts, o["num_images"], quality)
            store.update_last(**figures)
            click.echo(f"{scenario_id}: " + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()
                                                      if isinstance(v, float)), err=True)
        if o.get("accuracy_bands"):
            from ..loadgen.accuracy_check import check_accuracy

            columns, verdict = check_accuracy(o["benchmark_definition"], o["benchmark_record"]["overrides"],
                                              o["accuracy_bands"], images, prompts, o["num_images"],
                                              quality.inception_weights)
            store.update_last(**columns)
            click.echo(f"{scenario_id}: {verdict.line()}", err=True)
            if verdict.verdict == "FAIL":
                o.setdefault("accuracy_failed", []).append(f"{scenario_id}: {verdict.line()}")


def _test01(store, options, layout, log_dir: Path, o: dict) -> None:
    """TEST01 after its performance test: the responses LoadGen logged equal the accuracy test's (run first)."""
    from ..loadgen.audit import judge_test01
    from ..loadgen.logs import ACCURACY, read_accuracy_log
    from ..loadgen.responses import ResponseLayout

    accuracy_log = store.log_dir(f"{options.scenario.lower()}-accuracy") / ACCURACY
    accuracy_layout = ResponseLayout(layout.tokens, tuple(store.run["response_layout"]["image_shape"]))
    result = judge_test01(options.scenario, read_accuracy_log(log_dir / ACCURACY, keep_repeats=True), layout,
                          read_accuracy_log(accuracy_log, keep_repeats=True), accuracy_layout)
    store.update_run(audits=[*store.run.get("audits", []), result.to_json()])
    click.echo(result.line(), err=True)
    if result.verdict != "PASS":
        o.setdefault("audit_failed", []).append(result.line())


def _caching(store, options, row: dict, test: str, o: dict) -> None:
    """The caching audit after its last test: LoadGen's figure with one sample against distinct samples."""
    from ..loadgen.audit import judge_caching

    figures = o.setdefault("caching_figures", {}).setdefault(options.scenario, {"distinct": [], "same": None})
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
        o.setdefault("audit_failed", []).append(result.line())


def _interrupted(store, row: dict, log_dir: Path, system, stop: KeyboardInterrupt) -> None:
    """Ctrl-C or SIGTERM: keep what LoadGen has logged, record the test as
    interrupted and the run as incomplete (run.json's `interrupted`), release
    the run lock, and leave at once (LoadGen's C++ test cannot be stopped from
    Python): exit 130 for Ctrl-C, 143 for SIGTERM."""
    from ..loadgen.logs import DETAIL, read_detail, result_columns

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
