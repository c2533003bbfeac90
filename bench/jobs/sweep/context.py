"""What the points of a sweep share while they run (`Context`: models, placed weights, compiled
programs, the clock), and the pure mapping of a point's settings to its configs and program group."""

from __future__ import annotations

import gc
import sys
import time
from dataclasses import dataclass, field

from tqdm import tqdm

from bench.core.distributed import Cluster
from bench.core.models.loading import Models, ModelSpec, load_models
from bench.core.parallel import ParallelConfig, Runner, place_params
from bench.core.pipeline import PromptTable
from bench.core.sampling import SamplingConfig, SamplingStructure

from .ahead import compile_together
from .clock import SweepClock
from .spec import Point, SweepDefinition


def structure_of(settings: dict) -> SamplingStructure:
    """The sampling structure of a point's settings (valid or not)."""
    return SamplingStructure.of(settings["cond_scale"], settings["top_k"], settings["top_p"])


def point_configs(point: Point) -> tuple[SamplingConfig, ParallelConfig]:
    """The point's sampling and layout configs (ValueError for a bad combination)."""
    s = point.settings
    return (SamplingConfig(temperature=s["temperature"], top_k=s["top_k"], top_p=s["top_p"],
                           cond_scale=s["cond_scale"]),
            ParallelConfig(mode=s["parallel"], devices=s["devices"], batch_per_device=s["batch_per_device"]))


@dataclass
class Context:
    """What points share: models per dtype, the last placement of the
    weights on devices, the programs compiled for that placement, measured
    peaks, and the clock of where the sweep's time goes."""

    definition: SweepDefinition
    prompts: list[str]
    models: dict
    placed: dict
    peaks: dict
    cluster: Cluster
    programs: dict = field(default_factory=dict)
    clock: SweepClock = field(default_factory=SweepClock)
    truncation_warned: bool = False
    compile_workers: int = 1
    """Programs of one layout compiled at once (`sweep/ahead.py`); 1: each when its first point runs."""
    pending: list = field(default_factory=list)
    """Points not measured yet, in execution order (the current one first)."""
    ahead: dict = field(default_factory=dict)
    """Programs compiled together before their first point ran: key -> (runner, seconds) or the exception."""
    concurrency: dict = field(default_factory=dict)
    """Per program compiled with others: how many compiled together (absent: alone)."""

    def warn_truncated(self, table: PromptTable) -> None:
        """Once per run: name the prompts cut to the model's text length."""
        if table.truncated and not self.truncation_warned and self.cluster.is_main:
            limit = table.input_ids.shape[1]
            names = "; ".join(f"{i + 1}: {self.prompts[i][:60]!r}" for i in table.truncated)
            tqdm.write(f"Warning: {len(table.truncated)} prompt(s) longer than {limit} text tokens, truncated: "
                       f"{names}", file=sys.stderr)
        self.truncation_warned = True
    turns: object = None  # bench.jobs.sweep.interleave.Turns when the sweep takes turns with another one

    def models_for(self, dtype: str) -> Models:
        if dtype not in self.models:
            d = self.definition
            self.models.clear()  # one model in memory at a time: points are grouped by dtype
            self.placed.clear()
            self.programs.clear()
            self.ahead.clear()
            self.concurrency.clear()
            gc.collect()
            started = time.perf_counter()
            with self.clock.timing("load"):
                self.models[dtype] = load_models(ModelSpec(preset=d.preset, weights=d.weights, model=d.model,
                                                           vqgan=d.vqgan, clip=d.clip, dtype=dtype))
            if self.cluster.is_main:
                tqdm.write(f"Models loaded ({d.preset}, {dtype}) in {time.perf_counter() - started:.1f} s",
                           file=sys.stderr)
        return self.models[dtype]

    def placed_params(self, dtype: str, parallel: ParallelConfig, devices: list, models: Models) -> dict:
        """The weights laid out for (dtype, mode, devices), reused by the next
        point with the same layout; only the latest layout (and the programs
        compiled for it) is kept."""
        key = (dtype, parallel.mode, parallel.devices)
        if key not in self.placed:
            self.placed.clear()
            self.programs.clear()
            self.ahead.clear()
            self.concurrency.clear()
            gc.collect()
            with self.clock.timing("load"):
                self.placed[key] = place_params(models.params, devices, parallel.mode)
        return self.placed[key]

    def compiled(self, key: tuple, make_runner, device_batch) -> tuple[Runner, float]:
        """The runner of `key` (program and layout) compiled for `device_batch`'s
        shapes: compiled on first use, then reused. Returns it and the seconds
        this call spent compiling (0 when reused)."""
        if key in self.ahead:  # compiled with its layout's other programs: this point paid for it
            outcome = self.ahead.pop(key)
            if not isinstance(outcome, Exception):
                self.programs[key] = outcome[0]
                return outcome
            # It failed beside the others (their compiler memory, perhaps): it is
            # compiled alone below, so the point records what its program does alone.
        if key in self.programs:
            self.clock.programs_reused += 1
            return self.programs[key], 0.0
        runner = make_runner()
        seconds = runner.compile_for(device_batch)
        self.clock.add("compile", seconds)
        self.clock.programs_compiled += 1
        self.programs[key] = runner
        return runner, seconds

    def compile_ahead(self, makers: dict, device_batch) -> None:
        """Compile the programs `makers` names (key -> runner maker) together,
        for `compiled` to hand out; the clock counts the wall time once."""
        started = time.perf_counter()
        outcomes = compile_together(makers, device_batch, self.compile_workers)
        self.clock.add("compile", time.perf_counter() - started)
        compiled = [key for key, outcome in outcomes.items() if not isinstance(outcome, Exception)]
        self.clock.programs_compiled += len(compiled)
        self.ahead.update(outcomes)
        self.concurrency.update(dict.fromkeys(compiled, min(self.compile_workers, len(makers))))

    def structures_ahead(self, layout: tuple) -> list[SamplingStructure]:
        """The sampling structures of the valid pending points of `layout`, in execution order."""
        found: dict[str, SamplingStructure] = {}
        for point in self.pending:
            if program_group(point)[:4] != layout:
                continue
            try:
                sampling, _ = point_configs(point)
            except ValueError:
                continue  # an invalid point runs nothing
            found.setdefault(sampling.structure.key, sampling.structure)
        return list(found.values())


def program_group(point: Point) -> tuple:
    """What a point's compiled programs depend on: dtype, layout, batch shape, sampling structure."""
    s = point.settings
    return (s["dtype"], s["parallel"], s["devices"], s["batch_per_device"], structure_of(s).key)
