"""Which baseline point is which candidate point. Points are matched by their
settings, never by point id: an id carries the point's position in its own
sweep, so the same settings have different ids in differently shaped sweeps.

The key is `KEY`, in one place. A key column with a default is one that
older runs lack (added to the schema later): it is part of the key when
either run has it, and a run without it (or a null in it) reads as the
default. Adding a key column is one line here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.base.errors import BenchError

REQUIRED = object()


@dataclass(frozen=True)
class KeyColumn:
    name: str
    default: Any = REQUIRED


KEY: tuple[KeyColumn, ...] = (
    # sampling
    KeyColumn("temperature"), KeyColumn("top_k"), KeyColumn("top_p"), KeyColumn("cond_scale"),
    KeyColumn("seed"),
    # layout
    KeyColumn("batch_per_device"), KeyColumn("devices"), KeyColumn("parallel"), KeyColumn("dtype"),
    # work
    KeyColumn("prompts"), KeyColumn("num_images"),
    # multi-host runs; single-process runs before it lack the column
    KeyColumn("processes", default=1),
)


def required_key_columns() -> tuple[str, ...]:
    return tuple(c.name for c in KEY if c.default is REQUIRED)


def key_columns(baseline_columns, candidate_columns) -> tuple[KeyColumn, ...]:
    """The key of a comparison: every required column, and each optional one either run has."""
    present = set(baseline_columns) | set(candidate_columns)
    return tuple(c for c in KEY if c.default is REQUIRED or c.name in present)


def _normal(value: Any) -> Any:
    # Floats come from parsing the same text on both sides; rounding guards against a
    # value that went through another float type on the way (float32 in a hand-made file).
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 6)
    return value


def settings_of(row: dict, key: tuple[KeyColumn, ...]) -> dict:
    """The row's key values, a missing or null optional column reading as its default."""
    settings = {}
    for column in key:
        value = row.get(column.name)
        if value is None and column.default is not REQUIRED:
            value = column.default
        settings[column.name] = value
    return settings


def point_key(row: dict, key: tuple[KeyColumn, ...]) -> tuple:
    """The row's settings as a hashable key (what matches points)."""
    return tuple(_normal(v) for v in settings_of(row, key).values())


@dataclass(frozen=True)
class Match:
    pairs: tuple[tuple[dict, dict], ...]  # (baseline row, candidate row), in baseline order
    only_baseline: tuple[dict, ...]
    only_candidate: tuple[dict, ...]


def _index(rows: list[dict], key: tuple[KeyColumn, ...], side: str) -> dict[tuple, dict]:
    index: dict[tuple, dict] = {}
    for row in rows:
        k = point_key(row, key)
        if k in index:
            raise BenchError(f"the {side} run has two points with the same settings ({index[k]['point_id']} "
                             f"and {row['point_id']}): compare cannot tell them apart")
        index[k] = row
    return index


def match_points(baseline: list[dict], candidate: list[dict], key: tuple[KeyColumn, ...]) -> Match:
    """Pairs of points with equal settings; a one-line error when there are none."""
    base, cand = _index(baseline, key, "baseline"), _index(candidate, key, "candidate")
    pairs = tuple((row, cand[k]) for k, row in base.items() if k in cand)
    if not pairs:
        raise BenchError(f"the runs share no points: no baseline point has a candidate point with the same "
                         f"settings ({', '.join(c.name for c in key)})")
    return Match(pairs=pairs,
                 only_baseline=tuple(row for k, row in base.items() if k not in cand),
                 only_candidate=tuple(row for k, row in cand.items() if k not in base))
