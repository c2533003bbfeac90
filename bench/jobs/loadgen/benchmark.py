"""Benchmark definitions (`loadgen --benchmark NAME`): what MLPerf fixes per
benchmark, committed as data in benchmarks/NAME.toml — the model, the query
sample library (prompt set and performance sample count), the sampling that
defines a correct image, each scenario's latency constraint, and the accuracy
band. The system's own choices (devices, batch, dtype, batching window, the
Server rate it claims) stay options.

An option that changes a fixed field is allowed, for exploration, and makes
the run "not a benchmark run": the record says which fields, and every place
that shows the run says so. Pure: reads and checks the file, merges options."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bench.base.errors import BenchError, did_you_mean

from .settings import SCENARIOS

BENCHMARKS_DIR = Path(__file__).with_name("benchmarks")
# Definition field -> loadgen option (the CLI's parameter name).
MODEL_FIELDS = {"preset": "preset", "weights": "weights"}
DATASET_FIELDS = {"prompts": "prompts", "images_per_prompt": "num_images"}
SAMPLING_FIELDS = {"cond_scale": "cond_scale", "temperature": "temperature", "top_k": "top_k", "top_p": "top_p",
                   "seed": "seed"}
SCENARIO_FIELDS = {"target_latency_ms": "target_latency_ms", "target_latency_percentile": "target_latency_percentile",
                   "samples_per_query": "samples_per_query"}
DEFAULT_FIELDS = {"dtype": "dtype"}
# An official run's minimums per scenario (MLPerf's rules; `loadgen check` reads them, LoadGen is not given them).
OFFICIAL_FIELDS = {"official_min_duration_ms": "min_duration_ms", "official_min_query_count": "min_query_count"}


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    source: Path
    fixed: dict  # option name -> value, for every scenario
    defaults: dict  # option name -> value the system may change
    performance_sample_count: int
    scenarios: dict  # LoadGen scenario name -> {option name: value}
    accuracy: dict
    official: dict  # LoadGen scenario name -> {"min_duration_ms", "min_query_count"} (those the file gives)

    def record(self, overrides: list[str]) -> dict:
        """run.json's `benchmark`: the definition and whether this run is one of it."""
        return {"name": self.name, "file": str(self.source), "benchmark_run": not overrides,
                "overrides": overrides, "performance_sample_count": self.performance_sample_count,
                "accuracy": self.accuracy}


def known_benchmarks() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS_DIR.glob("*.toml"))


def _require(table: dict, key: str, where: str):
    if key not in table:
        raise KeyError(f"[{where}] {key}")
    return table[key]


def load_benchmark(name: str) -> Benchmark:
    """A shipped definition by name, or a definition file; BenchError naming the first problem."""
    path = Path(name) if name.endswith(".toml") else BENCHMARKS_DIR / f"{name}.toml"
    if not path.is_file():
        known = known_benchmarks()
        raise BenchError(f"--benchmark: unknown benchmark '{name}' (known: {', '.join(known)})"
                         f"{did_you_mean(name, known)}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BenchError(f"--benchmark {path}: unreadable definition: {e}") from None
    try:
        return _parse(data, path)
    except KeyError as e:
        raise BenchError(f"--benchmark {path}: missing field {e.args[0]}") from None
    except (TypeError, ValueError) as e:
        raise BenchError(f"--benchmark {path}: {e}") from None


def _parse(data: dict, path: Path) -> Benchmark:
    model, dataset, sampling = (_require(data, k, "top level") for k in ("model", "dataset", "sampling"))
    fixed = {option: _require(model, key, "model") for key, option in MODEL_FIELDS.items()}
    fixed |= {option: _require(dataset, key, "dataset") for key, option in DATASET_FIELDS.items()}
    fixed |= {option: _require(sampling, key, "sampling") for key, option in SAMPLING_FIELDS.items()}
    count = int(_require(dataset, "performance_sample_count", "dataset"))
    if not 1 <= fixed["num_images"] <= count:
        raise ValueError(f"[dataset] images_per_prompt must be in [1, performance_sample_count], got {fixed['num_images']}")
    for key in ("cond_scale", "temperature", "top_p"):
        if not isinstance(fixed[key], (int, float)) or not math.isfinite(fixed[key]):
            raise ValueError(f"[sampling] {key} must be a finite number, got {fixed[key]!r}")
    if fixed["weights"] not in ("pretrained", "random"):
        raise ValueError(f"[model] weights must be pretrained or random, got {fixed['weights']!r}")
    scenarios, official = {}, {}
    for key, table in _require(data, "scenarios", "top level").items():
        if key not in SCENARIOS:
            raise ValueError(f"[scenarios.{key}]: not a scenario ({', '.join(SCENARIOS)})")
        minimums = {OFFICIAL_FIELDS[k]: table[k] for k in OFFICIAL_FIELDS if k in table}
        for field, value in minimums.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"[scenarios.{key}] official_{field} must be a whole number >= 1, got {value!r}")
        official[SCENARIOS[key]] = minimums
        table = {k: v for k, v in table.items() if k not in OFFICIAL_FIELDS}
        unknown = set(table) - set(SCENARIO_FIELDS)
        if unknown:
            raise ValueError(f"[scenarios.{key}]: unknown field {sorted(unknown)[0]}")
        if "target_latency_ms" in table and not (math.isfinite(table["target_latency_ms"])
                                                 and table["target_latency_ms"] > 0):
            raise ValueError(f"[scenarios.{key}] target_latency_ms must be > 0 and finite")
        if "target_latency_percentile" in table and not 0 < table["target_latency_percentile"] < 1:
            raise ValueError(f"[scenarios.{key}] target_latency_percentile must be in (0, 1)")
        scenarios[SCENARIOS[key]] = {SCENARIO_FIELDS[k]: v for k, v in table.items()}
    if not scenarios:
        raise ValueError("[scenarios] names no scenario")
    if "Server" in scenarios and "target_latency_ms" not in scenarios["Server"]:
        raise KeyError("[scenarios.server] target_latency_ms")
    from .accuracy_check import check_accuracy_table

    check_accuracy_table(dict(data.get("accuracy", {})))
    defaults = {option: data.get("defaults", {})[key] for key, option in DEFAULT_FIELDS.items()
                if key in data.get("defaults", {})}
    return Benchmark(name=str(data.get("name", path.stem)), description=str(data.get("description", "")),
                     source=path, fixed=fixed, defaults=defaults, performance_sample_count=count,
                     scenarios=scenarios, accuracy=dict(data.get("accuracy", {})), official=official)


def _flag(option: str) -> str:
    return "-n" if option == "num_images" else f"--{option.replace('_', '-')}"


def apply_benchmark(benchmark: Benchmark, options: dict, explicit: set[str],
                    scenarios: list[str]) -> tuple[dict, dict[str, dict], list[str]]:
    """(options with the definition's fixed fields and defaults filled in,
    each scenario's fixed fields, the overrides that make this not a
    benchmark run). `scenarios`: LoadGen names; one the definition does not
    allow is a BenchError."""
    refused = [s for s in scenarios if s not in benchmark.scenarios]
    if refused:
        raise BenchError(f"--benchmark {benchmark.name}: scenario {refused[0]} is not part of it "
                         f"(its scenarios: {', '.join(benchmark.scenarios)})")
    merged, overrides = dict(options), []
    for option, value in benchmark.fixed.items():
        if option in explicit and options.get(option) != value:
            overrides.append(f"{_flag(option)} {options.get(option)} (definition: {value})")
        else:
            merged[option] = value
    for option, value in benchmark.defaults.items():
        if option not in explicit:
            merged[option] = value
    per_scenario = {}
    for scenario in scenarios:
        fields = {}
        for option, value in benchmark.scenarios[scenario].items():
            if option in explicit and options.get(option) != value:
                overrides.append(f"{_flag(option)} {options.get(option)} ({scenario}'s definition: {value})")
                fields[option] = options.get(option)
            else:
                fields[option] = value
        per_scenario[scenario] = fields
    return merged, per_scenario, sorted(set(overrides))


def sample_library(prompts: list[str], benchmark: Benchmark, num_images: int) -> list[str]:
    """The definition's performance sample count: the first count / images-per-prompt prompts."""
    wanted = -(-benchmark.performance_sample_count // num_images)
    if len(prompts) < wanted:
        raise BenchError(f"--benchmark {benchmark.name}: the prompt set has {len(prompts)} prompts, the definition "
                         f"needs {wanted} ({benchmark.performance_sample_count} samples at {num_images} a prompt)")
    return prompts[:wanted]
