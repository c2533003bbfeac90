"""A sweep definition and its points. Pure: no JAX, no IO beyond parsing a
sweep file.

Axes are named settings, each with a list of values. `grid` axes combine as
a Cartesian product; `zip` axes are paired element by element (all lists of
one zip group have the same length) and the group then combines with the
grid as one more axis. Every point carries every axis (defaults fill the
ones not swept), so a row of results is self-describing."""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.base.choices import DTYPES, PARALLEL_MODES
from bench.base.errors import BenchError, did_you_mean, first_line
from bench.core.sampling.config import SamplingConfig


class SpecError(BenchError, ValueError):
    """The user's sweep definition is unusable (one line, names the problem)."""


def _sampling_check(name: str) -> Callable[[Any], None]:
    def check(value):
        SamplingConfig(**{name: value})  # the config's own validation, one message for both commands

    return check


def _at_least_one(option: str) -> Callable[[Any], None]:
    def check(value):
        if value < 1:
            raise ValueError(f"--{option} must be >= 1, got {value}")

    return check


def _one_of(option: str, choices: tuple[str, ...]) -> Callable[[Any], None]:
    def check(value):
        if value not in choices:
            raise ValueError(f"--{option} must be one of {', '.join(choices)}, got '{value}'"
                             f"{did_you_mean(value, choices)}")

    return check


def _seed_range(value):
    if not 0 <= value < 2**31:
        raise ValueError(f"--seed must be in [0, 2^31), got {value}")


@dataclass(frozen=True)
class Axis:
    name: str
    kind: type
    default: Any
    check: Callable[[Any], None] = field(repr=False)
    help: str

    @property
    def option(self) -> str:
        return self.name.replace("_", "-")

    def value(self, raw: Any) -> Any:
        """A value from the command line (a string) or a sweep file (any scalar), checked."""
        try:
            if self.kind is int and isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if self.kind is int and isinstance(raw, (bool, float)):
                raise ValueError
            value = self.kind(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise SpecError(f"--{self.option}: '{raw}' is not {'an integer' if self.kind is int else 'a number'}"
                            if self.kind is not str else f"--{self.option}: bad value '{raw}'") from None
        try:
            self.check(value)
        except ValueError as e:
            raise SpecError(str(e)) from None
        return value


AXES: dict[str, Axis] = {axis.name: axis for axis in (
    Axis("temperature", float, 1.0, _sampling_check("temperature"), SamplingConfig.help("temperature")),
    Axis("top_k", int, 0, _sampling_check("top_k"), SamplingConfig.help("top_k")),
    Axis("top_p", float, 1.0, _sampling_check("top_p"), SamplingConfig.help("top_p")),
    Axis("cond_scale", float, 10.0, _sampling_check("cond_scale"), SamplingConfig.help("cond_scale")),
    Axis("batch_per_device", int, 1, _at_least_one("batch-per-device"), "Images per device per program call."),
    Axis("devices", int, 1, _at_least_one("devices"), "Devices to run on (the first N)."),
    Axis("parallel", str, "auto", _one_of("parallel", ("auto", *PARALLEL_MODES)),
         "single, pmap or sharded; auto is single on one device and sharded on more."),
    Axis("dtype", str, "float32", _one_of("dtype", DTYPES), "Parameter and compute dtype."),
    Axis("seed", int, 0, _seed_range, "Base PRNG seed of the images (0 to 2^31 - 1)."),
)}


def axis(name: str) -> Axis:
    if name in AXES:
        return AXES[name]
    raise SpecError(f"unknown sweep axis '{name}' (axes: {', '.join(AXES)}){did_you_mean(name, AXES)}")


def parse_list(name: str, text: str) -> tuple:
    """A comma list from the command line: '0.5,1.0'."""
    items = [item for item in text.split(",") if item.strip()]
    if not items:
        raise SpecError(f"--{axis(name).option}: empty list: the sweep would have no points")
    return tuple(axis(name).value(item) for item in items)


def _values(name: str, raw: Any, where: str) -> tuple:
    try:
        axis(name)
    except SpecError as e:
        raise SpecError(f"{where}: {e}") from None
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise SpecError(f"{where}: axis '{name}' has no values: the sweep would have no points")
    return tuple(axis(name).value(v) for v in values)


def read_sweep_file(path: Path) -> tuple[dict[str, tuple], tuple[dict[str, tuple], ...]]:
    """(grid, zip groups) from a TOML or YAML sweep file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"--sweep: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as e:  # tomllib and yaml each raise their own error types
        reason = first_line(e)
        raise SpecError(f"--sweep: {path} does not parse: {reason}") from None
    if not isinstance(data, dict):
        raise SpecError(f"--sweep: {path} must hold 'grid' and/or 'zip' tables")
    unknown = set(data) - {"grid", "zip"}
    if unknown:  # YAML keys need not be text: `?` alone is the mapping {None: None}
        names = ", ".join(sorted(map(str, unknown)))
        raise SpecError(f"--sweep: {path}: unknown section(s) {names} (expected grid, zip)")
    grid_table = data.get("grid", {})
    if not isinstance(grid_table, dict):
        raise SpecError(f"--sweep: {path}: 'grid' must be a table of axis = [values]")
    grid = {name: _values(name, raw, f"--sweep {path} [grid]") for name, raw in grid_table.items()}
    zip_tables = data.get("zip", [])
    zip_tables = [zip_tables] if isinstance(zip_tables, dict) else zip_tables
    if not isinstance(zip_tables, list):
        raise SpecError(f"--sweep: {path}: 'zip' must be a table or a list of tables of axis = [values]")
    groups = []
    for table in zip_tables:
        if not isinstance(table, dict) or not table:
            raise SpecError(f"--sweep: {path}: each 'zip' must be a non-empty table of axis = [values]")
        group = {name: _values(name, raw, f"--sweep {path} [zip]") for name, raw in table.items()}
        lengths = {len(v) for v in group.values()}
        if len(lengths) != 1:
            raise SpecError(f"--sweep: {path}: zipped axes {', '.join(group)} have different lengths")
        groups.append(group)
    named = list(grid) + [n for g in groups for n in g]
    if not named:
        raise SpecError(f"--sweep: {path} defines no axis (give [grid] and/or [zip] tables of axis = [values])")
    repeated = {n for n in named if named.count(n) > 1}
    if repeated:
        raise SpecError(f"--sweep: {path}: axis {', '.join(sorted(repeated))} appears more than once")
    return grid, tuple(groups)


@dataclass(frozen=True)
class Point:
    index: int
    settings: dict  # every axis -> value, `parallel` resolved from auto

    @property
    def point_id(self) -> str:
        """Stable name of the point: its position and a hash of its settings."""
        digest = hashlib.sha1(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.index:03d}-{digest}"


@dataclass(frozen=True)
class SweepDefinition:
    """Everything that decides what a sweep measures. Two runs with equal
    definitions are the same experiment, which is what `--resume` checks."""

    grid: dict = field(default_factory=dict)  # axis -> tuple of values
    zip: tuple = ()  # groups: axis -> tuple of values, equal lengths
    preset: str = "tiny"
    weights: str | None = None
    model: str | None = None
    vqgan: str | None = None
    clip: str | None = None
    prompts_source: str = "demo"
    prompts: tuple = ()
    prompt_categories: tuple = ()  # per prompt, when the set has labels (else empty)
    prompt_challenges: tuple = ()
    num_images: int = 2
    warmup: int = 1
    iters: int = 10
    min_seconds: float = 0.0
    stages: bool = True
    measure_peak: bool = False
    host_devices: int | None = None

    def points(self) -> list[Point]:
        for name, values in self.grid.items():
            if not values:
                raise SpecError(f"axis '{name}' has no values: the sweep would have no points")
        grid_names = [n for n in AXES if n in self.grid]
        combos = [dict(zip(grid_names, values)) for values in itertools.product(*(self.grid[n] for n in grid_names))]
        for group in self.zip:
            rows = [dict(zip(group, values)) for values in zip(*group.values())]
            combos = [{**combo, **row} for combo in combos for row in rows]
        points = []
        for index, combo in enumerate(combos):
            settings = {name: combo.get(name, AXES[name].default) for name in AXES}
            if settings["parallel"] == "auto":
                settings["parallel"] = "single" if settings["devices"] == 1 else "sharded"
            points.append(Point(index, settings))
        return points

    def max_devices(self) -> int:
        return max(p.settings["devices"] for p in self.points())

    def to_json(self) -> dict:
        data = asdict(self)
        data["grid"] = {k: list(v) for k, v in self.grid.items()}
        data["zip"] = [{k: list(v) for k, v in group.items()} for group in self.zip]
        for name in ("prompts", "prompt_categories", "prompt_challenges"):
            data[name] = list(getattr(self, name))
        return data

    @classmethod
    def from_json(cls, data: dict) -> "SweepDefinition":
        data = dict(data)
        data["grid"] = {k: tuple(v) for k, v in data.get("grid", {}).items()}
        data["zip"] = tuple({k: tuple(v) for k, v in group.items()} for group in data.get("zip", []))
        for name in ("prompts", "prompt_categories", "prompt_challenges"):
            data[name] = tuple(data.get(name, ()))
        return cls(**data)

    def fingerprint(self) -> str:
        return hashlib.sha1(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()

    def differences(self, other: "SweepDefinition") -> list[str]:
        mine, theirs = self.to_json(), other.to_json()
        return [key for key in mine if mine[key] != theirs.get(key)]
