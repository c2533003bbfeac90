"""Thresholds of the regression gates: a frozen dataclass whose fields carry
their unit and help text (the CLI reuses both), the pure parsing of one
threshold ("5%", "0.05", "off"), and thresholds files (TOML or YAML, keys
are the field names). Command-line flags override the file, which overrides
the defaults."""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from bench.base.errors import BenchError, did_you_mean, first_line

RELATIVE, ABSOLUTE = "relative", "absolute"
OFF_WORDS = ("off", "none")


def _gate(default: float | None, unit: str, help: str, below_one: bool = False):
    return field(default=default, metadata={"unit": unit, "help": help, "below_one": below_one})


@dataclass(frozen=True)
class Thresholds:
    """How much worse a candidate may be before a gate fails; None switches a gate off.
    Relative thresholds are fractions of the baseline (0.05 = 5 %)."""

    max_throughput_drop: float | None = _gate(
        0.05, RELATIVE, "Largest accepted drop of images/s, as 5% or 0.05: the point's latency gate allows "
                        "the tighter of this (a drop x is a latency rise of 1/(1-x) - 1) and --max-latency-rise; "
                        "beyond it a point fails only when Welch's t-test on the runs' log median latencies "
                        "rejects 'worse by at most the threshold' at the family-wise level.", below_one=True)
    max_latency_rise: float | None = _gate(
        0.05, RELATIVE, "Largest accepted rise of a point's median latency, as 5% or 0.05 (run-level test, "
                        "as above).")
    max_sweep_latency_rise: float | None = _gate(
        0.05, RELATIVE, "Largest accepted rise of the sweep's latency: the geometric mean of the matched "
                        "points' latency ratios, tested on one figure per run (run-level test, as above).")
    max_compile_rise: float | None = _gate(
        None, RELATIVE, "Largest accepted rise of compile time (threshold only: no interval).")
    max_memory_rise: float | None = _gate(
        None, RELATIVE, "Largest accepted rise of peak device memory and host peak RSS (threshold only).")
    max_clip_drop: float | None = _gate(
        1.0, ABSOLUTE, "Largest accepted drop of CLIP score, in CLIP-score points (0-100 scale, not %): "
                       "the evaluated clip_score (beyond it, fails only when Welch's t-test on the mean "
                       "scores rejects 'a drop of at most the threshold') and the in-pipeline "
                       "clip_score_mean (threshold only).")
    max_fid_rise: float | None = _gate(
        2.0, ABSOLUTE, "Largest accepted rise of FID, absolute (threshold only: no interval).")
    max_adherence_drop: float | None = _gate(
        0.05, ABSOLUTE, "Largest accepted drop of adherence (shapes world: the share of images the checker "
                        "passes, 0-1; 0.05 = 5 points), decided on the pass counts: beyond it, fails only when "
                        "Newcomb's interval for the difference of proportions lies above the threshold at the "
                        "family-wise level.")

    @staticmethod
    def names() -> tuple[str, ...]:
        return tuple(f.name for f in fields(Thresholds))

    @staticmethod
    def unit(name: str) -> str:
        return _field(name).metadata["unit"]

    @staticmethod
    def help(name: str) -> str:
        return _field(name).metadata["help"]

    def to_json(self) -> dict:
        return asdict(self)


def _field(name: str):
    return {f.name: f for f in fields(Thresholds)}[name]


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def describe(name: str, value: float | None) -> str:
    """'5 %', '1', 'off': a threshold as the output prints it."""
    if value is None:
        return "off"
    return f"{value * 100:g} %" if Thresholds.unit(name) == RELATIVE else f"{value:g}"


def parse_threshold(name: str, raw, where: str | None = None) -> float | None:
    """One threshold from the command line (a string) or a file (a string, number or
    boolean). Relative gates take '5%' or a fraction ('0.05'); absolute gates take a
    number in the metric's own unit; 'off', 'none' or false switch a gate off."""
    where = where or option(name)
    if raw is False or (isinstance(raw, str) and raw.strip().lower() in OFF_WORDS):
        return None
    if raw is None or raw is True:
        raise BenchError(f"{where}: '{raw}' is not a threshold (a number, a percentage or off)")
    text = str(raw).strip()
    percent = text.endswith("%")
    if percent:
        if Thresholds.unit(name) == ABSOLUTE:
            raise BenchError(f"{where} is absolute (in the metric's own points), not a percentage: got '{text}'")
        text = text[:-1].strip()
    try:
        value = float(text)
    except ValueError:
        raise BenchError(f"{where}: '{raw}' is not a number, a percentage or off") from None
    if not math.isfinite(value) or value < 0:
        raise BenchError(f"{where} must be a finite number >= 0, got '{raw}'")
    value = value / 100.0 if percent else value
    if _field(name).metadata["below_one"] and value >= 1:
        hint = "" if percent else f"; did you mean '{text}%'?"
        raise BenchError(f"{where}: a drop of {value:.0%} cannot happen (100% is no throughput at all){hint}")
    return value


def parse_thresholds_text(text: str, yaml: bool, where: str) -> dict[str, float | None]:
    """The thresholds a file sets: {field name: value}; unknown keys are an error."""
    try:
        if yaml:
            import yaml as pyyaml

            data = pyyaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as e:  # tomllib and yaml each raise their own error types
        raise BenchError(f"--thresholds: {where} does not parse: {first_line(e)}") from None
    if not isinstance(data, dict):
        raise BenchError(f"--thresholds: {where} must be a table of name = threshold")
    names = Thresholds.names()
    values = {}
    for key, raw in data.items():
        name = str(key).replace("-", "_")
        if name not in names:
            raise BenchError(f"--thresholds: {where}: unknown key '{key}' (keys: {', '.join(names)})"
                             f"{did_you_mean(name, names)}")
        values[name] = parse_threshold(name, raw, where=f"--thresholds {where}: {name}")
    return values


def read_thresholds_file(path: Path) -> dict[str, float | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"--thresholds: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    return parse_thresholds_text(text, path.suffix.lower() in (".yaml", ".yml"), str(path))


def parse_threshold_flags(flags: dict[str, str | None]) -> dict[str, float | None]:
    """The thresholds given on the command line ({field name: text}, None: not given), parsed."""
    return {name: parse_threshold(name, raw) for name, raw in flags.items() if raw is not None}


def build_thresholds(file_values: dict[str, float | None], flag_values: dict[str, float | None]) -> Thresholds:
    """Defaults, then the file's values, then the flags' (both parsed: parse_thresholds_text and
    parse_threshold_flags)."""
    return replace(Thresholds(), **{**file_values, **flag_values})
