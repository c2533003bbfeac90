"""What a `dalle-bench sweep` asks for, as one frozen object built at the
door (`sweep_request`): the sweep definition (a resumed run's own), the
repeat count, the processes, the devices to emulate, the evaluation, and the
run's folder, turns and closing. The build checks everything that can be
checked before anything is written or JAX starts; the parts below it take
the request or its parts, never click's option dict."""

from __future__ import annotations

import datetime
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.base.errors import BenchError
from bench.base.sources import looks_local
from bench.core.devices import check_emulated_count
from bench.data.prompt_sets import load_prompt_set
from bench.jobs.sweep.spec import AXES, SpecError, SweepDefinition, parse_list, read_sweep_file
from bench.results.runlock import check_output_folder, check_run_id, check_writable
from bench.shapes.reference import REFERENCE_NAME as SHAPES_REFERENCE

if TYPE_CHECKING:
    from bench.core.distributed import DistributedConfig
    from bench.jobs.evaluate import EvalSettings

# Options that are part of the definition (a resumed run must not change them).
SCALAR_FIELDS = {"preset": "preset", "weights": "weights", "model": "model", "vqgan": "vqgan",
                 "clip_source": "clip", "num_images": "num_images", "warmup": "warmup", "iters": "iters",
                 "min_seconds": "min_seconds", "measure_peak": "measure_peak", "host_devices": "host_devices"}


@dataclass(frozen=True)
class RunFolder:
    """Where the rows go: a new folder OUT/RUN-ID (RUN-ID None: time and
    definition hash), or the run folder `resume` continues."""

    out: Path
    run_id: str | None = None
    resume: Path | None = None


@dataclass(frozen=True)
class Compilation:
    """--compilation-cache, --no-compilation-cache and --compile-workers as given
    (workers None: the backend's default, known once JAX starts)."""

    cache_dir: str | None = None
    cache_disabled: bool = False
    workers: int | None = None

    def repeat_args(self) -> list[str]:
        """The options a repeat's process is given for the same compilation (an absolute cache folder:
        the repeats share it)."""
        if self.cache_disabled:
            return ["--no-compilation-cache"]
        args = ["--compilation-cache", str(Path(self.cache_dir).expanduser().absolute())] if self.cache_dir else []
        return args + (["--compile-workers", str(self.workers)] if self.workers else [])


@dataclass(frozen=True)
class TurnTaking:
    """Turns with other processes: --interleave FILE (call by call with another
    sweep) and, for a process of `sweep --repeat`, its turn file and members."""

    interleave: str | None = None
    turn_file: str | None = None
    turn_members: int | None = None


@dataclass(frozen=True)
class Closing:
    """What the sweep writes when it ends: the report (--report) and its page (--html)."""

    report: bool = True
    html: bool = False


@dataclass(frozen=True)
class SweepRequest:
    definition: SweepDefinition
    folder: RunFolder
    repeats: int
    distributed: DistributedConfig
    emulated_devices: tuple[int, str] | None  # (count, the option that asked for it); None: XLA_FLAGS as it is
    evaluation: EvalSettings | None  # None without --eval
    compilation: Compilation
    turns: TurnTaking
    closing: Closing
    budget_s: float | None
    progress: bool
    explicit: frozenset[str]  # the options given on the command line: a resume keeps the rest as stored

    def child_argv(self, child: Path, turn_file: Path, members: int) -> list[str]:
        """The command line of the `sweep --repeat` process that measures the repeat folder `child`."""
        return [sys.executable, "-m", "bench", "sweep", "--resume", str(child.absolute()), "--no-report",
                "--no-progress", "--turn-file", str(turn_file.absolute()), "--turn-members", str(members),
                *self.compilation.repeat_args()]


def sweep_request(options: Mapping, explicit: set[str]) -> SweepRequest:
    """The sweep that click's `options` ask for, `explicit` naming those given on the command line;
    a one-line BenchError on the first problem, in the order a user meets them."""
    if options.get("run_id") is not None:
        check_run_id(options["run_id"])
    definition, resumed = _definition_and_store(options, explicit)
    repeats = _repeat_count(options, explicit, resumed)
    if options.get("budget_s") is not None and (repeats > 1 or options.get("coordinator")):
        # Processes would each decide on their own clock and disagree on which points to run.
        raise BenchError("--budget-s: not with --repeat or --coordinator (each process would plan on its own clock)")
    if not options.get("resume"):  # before any compiling: not under a file, nor in another run; writable
        check_output_folder(Path(options["out"]), "--out")
    distributed = distributed_config(options)
    emulated = _devices_to_emulate(definition, options.get("interleave"), distributed)
    evaluation = _evaluation_settings(options, definition)
    _check_models(definition)
    return SweepRequest(
        definition=definition,
        folder=RunFolder(out=Path(options["out"]), run_id=options.get("run_id"),
                         resume=Path(options["resume"]) if options.get("resume") else None),
        repeats=repeats, distributed=distributed, emulated_devices=emulated, evaluation=evaluation,
        compilation=Compilation(cache_dir=options.get("compilation_cache"),
                                cache_disabled=bool(options.get("no_compilation_cache")),
                                workers=options.get("compile_workers")),
        turns=TurnTaking(interleave=options.get("interleave"), turn_file=options.get("turn_file"),
                         turn_members=options.get("turn_members")),
        closing=Closing(report=options.get("report", True), html=bool(options.get("html"))),
        budget_s=options.get("budget_s"), progress=not options.get("no_progress"), explicit=frozenset(explicit))


def _axes(options: Mapping, explicit: set[str], base: SweepDefinition) -> tuple[dict, tuple]:
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


def build_definition(options: Mapping, explicit: set[str], base: SweepDefinition) -> SweepDefinition:
    """`base` with what the options given in `explicit` change; checked."""
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


def _definition_and_store(options: Mapping, explicit: set[str]):
    """The sweep definition from the options (a resumed run's own, which the
    options may not change), and the resumed run's store (None for a new run)."""
    from bench.results.store import RunStore

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


# The most processes one --repeat starts, one after another.
MAX_REPEATS = 64


def _repeat_count(options: Mapping, explicit: set[str], resumed) -> int:
    """The repeat count of this run (a resumed run's own); a one-line BenchError for what cannot be repeated."""
    repeats = options.get("repeat") or 1
    if resumed is not None:
        stored = int(resumed.run.get("repeats") or 1)
        if "repeat" in explicit and repeats != stored:
            raise BenchError(f"--resume {resumed.run_dir}: that run was made with --repeat {stored}; "
                             f"a resume cannot change it (got --repeat {repeats})")
        repeats = stored
    if repeats > MAX_REPEATS:
        raise BenchError(f"--repeat {repeats}: at most {MAX_REPEATS} repeats")
    if repeats > 1 and (options.get("num_processes") is not None or options.get("coordinator")):
        raise BenchError("--repeat runs separate single-process sweeps on one host: not with --num-processes "
                         "or --coordinator")
    if repeats > 1 and options.get("turn_file"):
        raise BenchError("--repeat: a repeat's process cannot itself repeat")
    return repeats


def distributed_config(options: Mapping) -> DistributedConfig:
    from bench.core.distributed import DistributedConfig

    return DistributedConfig(coordinator=options.get("coordinator"), num_processes=options.get("num_processes"),
                             process_id=options.get("process_id"),
                             timeout_s=300.0 if options.get("distributed_timeout") is None
                             else options["distributed_timeout"])


def _devices_to_emulate(definition: SweepDefinition, interleave: str | None,
                        config: DistributedConfig) -> tuple[int, str] | None:
    """The CPU device count to emulate and the option that asked for it (None:
    leave XLA_FLAGS alone), after refusing what a multi-process run cannot do."""
    if config.enabled and interleave:
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


def _evaluation_settings(options: Mapping, definition: SweepDefinition) -> EvalSettings | None:
    """--eval's settings, checked before anything starts; None without --eval."""
    if not options.get("eval_metrics"):
        return None
    from bench.jobs.evaluate import EvalSettings

    evaluation = EvalSettings(metrics=tuple(m.strip() for m in options["eval_metrics"].split(",") if m.strip()),
                              clip=options["eval_clip"], fid_ref=options.get("fid_ref"),
                              inception_weights=Path(options["inception_weights"])
                              if options.get("inception_weights") else None,
                              cmmd_clip=options["eval_cmmd_clip"], dinov2=options["eval_dinov2"])
    _check_eval_inputs(evaluation, definition)
    # torch evaluates in this process: JAX must not claim the accelerator's memory up front.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return evaluation


def _check_eval_inputs(evaluation: EvalSettings, definition: SweepDefinition) -> None:
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
    from bench.jobs.evaluate import check_hub_networks

    check_hub_networks(evaluation, "--eval-")  # last, as it may ask the network: before the first point


def _check_models(definition: SweepDefinition) -> None:
    """Every model the points load, once per dtype."""
    from bench.core.models.spec import ModelSpec, check_spec  # imports no JAX: safe before XLA_FLAGS is set

    for dtype in sorted({p.settings["dtype"] for p in definition.points()}):
        check_spec(ModelSpec(preset=definition.preset, weights=definition.weights, model=definition.model,
                             vqgan=definition.vqgan, clip=definition.clip, dtype=dtype))


def default_run_id(definition: SweepDefinition) -> str:
    """A new run's folder name when --run-id is not given: the time, then the definition's fingerprint."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{definition.fingerprint()[:6]}"


def default_compilation_cache() -> Path:
    """The persistent compilation cache's default folder, beside the tiny preset's."""
    from bench.base.cache import cache_root

    return cache_root() / "xla-cache"
