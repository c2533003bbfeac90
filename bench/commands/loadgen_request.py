"""What a `dalle-bench loadgen` asks for, as one frozen object built at the
door (`loadgen_request`): the benchmark definition applied (--benchmark), the
scenarios' LoadGen options, sampling, parallelism, models, query sample
library, accuracy scoring and the run folder. The build checks everything
that can be checked before JAX starts, with the messages the command has
always given; the run below it takes the request or its parts, never click's
option dict."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bench.base.errors import BenchError, first_line
from bench.core.sampling.config import SamplingConfig
from bench.data.prompt_sets import load_prompt_set
from bench.jobs.loadgen.accuracy import QualitySettings
from bench.jobs.loadgen.settings import SCENARIOS, ScenarioOptions
from bench.results.runlock import check_output_folder, check_run_id

from .generate import validated

if TYPE_CHECKING:
    from bench.core.models.spec import ModelSpec
    from bench.core.parallel import ParallelConfig
    from bench.jobs.loadgen.benchmark import Benchmark

SCENARIO_FIELDS = ("mode", "find_peak", "target_qps", "target_latency_ms", "target_latency_percentile",
                   "min_duration_s", "min_queries", "max_batch_wait_ms", "samples_per_query", "user_conf")
# The largest query sample library (prompts x images per prompt): MLPerf's largest is 24,576 samples.
MAX_SAMPLES = 1_000_000


@dataclass(frozen=True)
class AppliedBenchmark:
    """A benchmark definition (--benchmark) applied to this run."""

    definition: Benchmark
    record: dict  # run.json's `benchmark`: the definition, and the overrides that make this not a run of it
    scenario_fields: dict  # LoadGen scenario name -> the fields the definition (or an override) fixes there
    accuracy_bands: tuple | None = None  # the band an accuracy test is judged against; None: not judged

    @property
    def overrides(self) -> list[str]:
        return self.record["overrides"]


@dataclass(frozen=True)
class LoadgenRequest:
    scenarios: tuple[ScenarioOptions, ...]  # in the order given; each with its mode (an audit's, normalised)
    sampling: SamplingConfig
    parallel: ParallelConfig
    spec: ModelSpec
    run_dir: Path
    prompt_set: str  # --prompts as given: the run's record names it
    prompts: tuple[str, ...]  # the query sample library's prompts (a definition's sample count of them)
    num_images: int
    seed: int
    quality: QualitySettings  # accuracy mode's own scoring (--eval-clip, --fid-ref, --inception-weights)
    audit: str | None
    trace: bool
    host_devices: int | None
    benchmark: AppliedBenchmark | None
    explicit: frozenset[str]  # the options given on the command line, and those the definition fixed

    @property
    def total_samples(self) -> int:
        return len(self.prompts) * self.num_images

    def tests(self, scenario: ScenarioOptions) -> list[str]:
        """The LoadGen tests of one scenario, in order (the caching audit adds its two)."""
        return scenario.tests() + (["caching-same", "caching-distinct"] if self.audit == "caching" else [])


def loadgen_request(options: Mapping, explicit: set[str]) -> LoadgenRequest:
    """The run that click's `options` ask for, `explicit` naming those given on the command line: with
    --benchmark, its definition applied first. A one-line BenchError on the first problem; prints the
    benchmark line before its accuracy check."""
    options, explicit, applied = _with_benchmark(options, explicit)
    scenarios, sampling, parallel, spec, run_dir = check_inputs(options, explicit, applied)
    prompts = list(load_prompt_set(options["prompts"]).prompts)
    if applied is not None:
        prompts, applied = _benchmark_library(applied, scenarios, prompts, options["num_images"])
    if len(prompts) * options["num_images"] > MAX_SAMPLES:  # the sample library is held in memory, per sample
        raise BenchError(f"the query sample library would hold {len(prompts) * options['num_images']:,} samples "
                         f"({len(prompts)} prompts x -n {options['num_images']}): at most {MAX_SAMPLES:,}")
    quality = QualitySettings(clip=options.get("eval_clip") or None, fid_ref=options.get("fid_ref"),
                              inception_weights=Path(options["inception_weights"])
                              if options.get("inception_weights") else None)
    return LoadgenRequest(scenarios=tuple(scenarios), sampling=sampling, parallel=parallel, spec=spec,
                          run_dir=run_dir, prompt_set=options["prompts"], prompts=tuple(prompts),
                          num_images=options["num_images"], seed=options["seed"], quality=quality,
                          audit=options.get("audit"), trace=bool(options.get("trace")),
                          host_devices=options.get("host_devices"), benchmark=applied, explicit=frozenset(explicit))


def _with_benchmark(options: Mapping, explicit: set[str]) -> tuple[Mapping, set[str], AppliedBenchmark | None]:
    """The options with the definition's fixed fields (bench/jobs/loadgen/benchmark.py); the fields it
    fills count as given on the command line, so a --user-conf cannot change them silently."""
    if not options.get("benchmark"):
        return options, set(explicit), None
    from bench.jobs.loadgen.benchmark import apply_benchmark, load_benchmark

    benchmark = load_benchmark(options["benchmark"])
    keys = [name.strip().lower().replace("-", "").replace("_", "") for name in options["scenario"].split(",")]
    scenarios = [SCENARIOS[key] for key in keys if key in SCENARIOS]  # an unknown one is check_inputs' error
    merged, per_scenario, overrides = apply_benchmark(benchmark, options, explicit, scenarios)
    filled = {name for name in benchmark.fixed if merged.get(name) == benchmark.fixed[name]}
    applied = AppliedBenchmark(definition=benchmark, record=benchmark.record(overrides), scenario_fields=per_scenario)
    return merged, set(explicit) | filled | {name for fields in per_scenario.values() for name in fields}, applied


def _benchmark_library(applied: AppliedBenchmark, scenarios: list[ScenarioOptions], prompts: list[str],
                       num_images: int) -> tuple[list[str], AppliedBenchmark]:
    """The definition's sample library and, when a test is an accuracy test, its band (its reference
    figures and networks checked before JAX starts)."""
    from dataclasses import replace

    from bench.jobs.loadgen.benchmark import sample_library
    from bench.jobs.loadgen.report import benchmark_line

    changed = {entry.split()[0] for entry in applied.overrides}
    if not changed & {"--prompts", "-n"}:  # another prompt set is an exploration: taken whole
        prompts = sample_library(prompts, applied.definition, num_images)
    click.echo(benchmark_line({"benchmark": applied.record}), err=True)
    if any("accuracy" in option.tests() for option in scenarios):
        from bench.jobs.loadgen.accuracy_check import metric_columns, reference_bands

        if metric_columns(applied.definition.accuracy):
            applied = replace(applied, accuracy_bands=reference_bands(applied.definition))
            check_accuracy_networks(applied.definition)
    return prompts, applied


def _loadgen_name(name: str) -> str | None:
    return SCENARIOS.get(name.strip().lower().replace("-", "").replace("_", ""))


def _audit_mode(options: Mapping, explicit: set[str]) -> str:
    """The mode the run's tests take: --mode, or the one an --audit runs (TEST01: accuracy then
    performance, its logged responses against accuracy's; caching: performance tests only)."""
    audit = options.get("audit")
    if not audit:
        return options["mode"]
    mode = "both" if audit == "test01" else "performance"
    if "mode" in explicit and options["mode"] != mode:
        raise BenchError(f"--audit {audit} runs {'accuracy and performance' if mode == 'both' else mode} "
                         f"(--mode {mode}), not --mode {options['mode']}")
    if options.get("find_peak"):
        raise BenchError(f"--audit {audit}: not with --find-peak (the audit's performance test is one test)")
    return mode


def _scenarios(o: Mapping, explicit: set[str], applied: AppliedBenchmark | None) -> list[ScenarioOptions]:
    """Each --scenario's LoadGen options, checked (a definition fixes some fields per scenario)."""
    user_conf = Path(o["user_conf"]) if o.get("user_conf") else None
    fields = {name: o[name] for name in SCENARIO_FIELDS if name not in ("user_conf", "mode")}
    fields["mode"] = _audit_mode(o, explicit)
    names = [name.strip() for name in o["scenario"].split(",") if name.strip()]
    if not names:
        raise BenchError("--scenario: give one of offline, server, singlestream, multistream (or a comma list)")
    per_scenario = applied.scenario_fields if applied is not None else {}
    scenarios = [ScenarioOptions.parse(name, **(fields | per_scenario.get(_loadgen_name(name), {})),
                                       user_conf=user_conf, explicit=frozenset(explicit)) for name in names]
    if o.get("audit") == "caching":
        from bench.jobs.loadgen.audit import CACHING_SCENARIOS

        if any(option.scenario not in CACHING_SCENARIOS for option in scenarios):
            raise BenchError(f"--audit caching: scenarios {' and '.join(CACHING_SCENARIOS)} only (one LoadGen "
                             f"figure that only the sample choice could change)")
    return scenarios


def check_inputs(o: Mapping, explicit: set[str], applied: AppliedBenchmark | None = None):
    """Everything about the options that can be checked before JAX starts; BenchError on the first problem."""
    if o.get("coordinator") or o.get("num_processes") or o.get("process_id") is not None:
        raise BenchError("loadgen runs in one process with all its local devices: a multi-process loadgen "
                         "(--coordinator / --num-processes / --process-id) is not supported yet")
    scenarios = _scenarios(o, explicit, applied)
    if not 1 <= o["num_images"] <= MAX_SAMPLES:
        raise BenchError(f"-n/--num-images must be in [1, {MAX_SAMPLES:,}], got {o['num_images']}")
    sampling = validated(SamplingConfig, temperature=o["temperature"], top_k=o["top_k"], top_p=o["top_p"],
                         cond_scale=o["cond_scale"])
    from bench.core.models.loading import ModelSpec, check_spec
    from bench.core.parallel import ParallelConfig

    mode = o["parallel"] or ("single" if o["devices"] == 1 else "sharded")
    parallel = validated(ParallelConfig, mode=mode, devices=o["devices"], batch_per_device=o["batch_per_device"])
    spec = ModelSpec(preset=o["preset"], weights=o["weights"], model=o["model"], vqgan=o["vqgan"],
                     clip=o["clip_source"], dtype=o["dtype"])
    check_spec(spec)
    _check_scoring_inputs(o)
    if o.get("host_devices") is not None and o["host_devices"] < 1:
        raise BenchError(f"--host-devices must be >= 1, got {o['host_devices']}")
    return scenarios, sampling, parallel, spec, _run_dir(o, scenarios)


def _check_scoring_inputs(o: Mapping) -> None:
    """Accuracy mode's own scoring, checked now rather than after the whole LoadGen run."""
    if o.get("fid_ref") and not Path(o["fid_ref"]).expanduser().exists():
        raise BenchError(f"--fid-ref: not found: {o['fid_ref']}")
    if o.get("inception_weights") and not Path(o["inception_weights"]).is_file():
        raise BenchError(f"--inception-weights: file not found: {o['inception_weights']}")
    if o.get("eval_clip"):
        check_clip(o["eval_clip"], "--eval-clip")


def _run_dir(o: Mapping, scenarios: list[ScenarioOptions]) -> Path:
    """OUT/RUN-ID (default: the time and the scenarios), which must not exist yet."""
    if o.get("run_id"):
        check_run_id(o["run_id"])
    check_output_folder(Path(o["out"]), "--out")  # not under a regular file, nor in another run; writable
    run_dir = Path(o["out"]) / (o.get("run_id") or
                                f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}-loadgen-"
                                f"{'-'.join(option.scenario.lower() for option in scenarios)}")
    if run_dir.exists():
        raise BenchError(f"{run_dir} already exists: choose another --run-id")
    return run_dir


def check_clip(source: str, option: str) -> None:
    """A CLIP network named by `option` (--eval-clip, a definition's [accuracy] clip), before anything
    starts: a checkpoint folder (config.json that parses, weights), the shapes preset's (`shapes`), or a
    Hub id (bench.base.sources.is_hub_id, spelled as the Hub allows) that is in the local Hugging Face cache or
    on a Hub that answers (bench.base.sources.check_hub_source)."""
    from bench.base.sources import check_hub_source, is_hub_id
    from evals.clip_score import check_clip_source

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


def check_accuracy_networks(benchmark: Benchmark) -> None:
    """The networks of a definition's accuracy check, before JAX starts: its CLIP (as --eval-clip) and
    its FID reference (a folder of images or a .npz, or the shapes world's); a problem with them is a
    one-line refusal now, not a null figure and an accuracy FAIL after the run."""
    from bench.jobs.loadgen.accuracy_check import networks_needed

    accuracy = benchmark.accuracy
    clip, reference = networks_needed(accuracy)
    where = f"{benchmark.source.name} [accuracy]"
    if clip and accuracy.get("clip"):
        check_clip(accuracy["clip"], f"{where} clip")
    fid_ref = accuracy.get("fid_ref")
    if reference and fid_ref:
        from bench.shapes.reference import REFERENCE_NAME

        path = Path(fid_ref).expanduser()
        if fid_ref != REFERENCE_NAME and not (path.is_dir() or (path.is_file() and path.suffix == ".npz")):
            raise BenchError(f"{where} fid_ref: not found: {fid_ref} (a folder of images, a .npz statistics "
                             f"file, or {REFERENCE_NAME})")
