"""The result schemas pinned: every column's name, type, place and doc as
points schema 8 and scenario schema 1 were released (tests/fixtures/
*_schema_v*.json), so reorganising the code that defines them cannot move,
retype or reword a column unnoticed; and the results folders committed
before read through the stores' readers exactly as they did when pinned
(tests/fixtures/baseline_points_read.json).

A new schema version adds its own fixture; the old ones stay, since files
written under them must still read."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.results import points_schema as schema
from bench.results import scenarios_schema as scenario_schema
from bench.results.scenario_store import read_scenarios
from bench.results.store import read_points
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
# The shapes baseline may live elsewhere with a link at this path: read through the path users know.
BASELINES = ("results/baselines/tiny", "results/baselines/shapes",
             "results/accelerators/nvidia-h200/h200-short/mega-bfloat16",
             "results/accelerators/nvidia-h200/h200-short/mini-bfloat16")
_ARROW_TYPES = {"string": pa.string(), "bool": pa.bool_(), "int32": pa.int32(), "int64": pa.int64(),
                "double": pa.float64(), "list<item: double>": pa.list_(pa.float64())}


def _pinned(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _described(columns) -> list[dict]:
    return [{"name": c.name, "type": str(c.type), "doc": c.doc} for c in columns]


def _pinned_schema(pinned: dict) -> pa.Schema:
    """The arrow schema a file written under the pinned version has."""
    return pa.schema([pa.field(c["name"], _ARROW_TYPES[c["type"]]) for c in pinned["columns"]],
                     metadata={pinned["version_key"]: str(pinned["version"])})


@pytest.mark.parametrize("fixture, module, version", [
    ("points_schema_v8.json", schema, schema.SCHEMA_VERSION),
    ("scenarios_schema_v1.json", scenario_schema, scenario_schema.SCENARIO_SCHEMA_VERSION),
])
def test_the_schemas_are_the_pinned_ones(fixture, module, version):
    pinned = _pinned(fixture)
    assert version == pinned["version"]
    described = _described(module.COLUMNS)
    changed = [(p["name"], n["name"]) for p, n in zip(pinned["columns"], described) if p != n]
    assert not changed, f"columns differ from {fixture} (name, type or doc), first: {changed[:3]}"
    assert described == pinned["columns"]
    assert module.SCHEMA.equals(_pinned_schema(pinned), check_metadata=True)
    assert module.NAMES == tuple(c["name"] for c in pinned["columns"])


@pytest.mark.parametrize("folder", BASELINES)
def test_committed_results_folders_read_as_when_pinned(folder):
    rows = read_points(REPO / folder)
    expected = json.loads((FIXTURES / "baseline_points_read.json").read_text(encoding="utf-8"))[folder]
    # Compared as JSON text: floats round-trip exactly and a NaN would equal itself.
    assert json.dumps(rows, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_a_points_file_written_under_schema_8_reads_back(tmp_path):
    pinned = _pinned("points_schema_v8.json")
    row = {"run_id": "r", "point_id": "000-abcd", "point_index": 0, "status": "ok", "devices": 2, "processes": 1,
           "latency_p50_s": 0.5, "repeats": 1, "repeat_latency_p50_s": [0.5], "fid": 12.5, "compiled": True}
    pq.write_table(pa.Table.from_pylist([row], schema=_pinned_schema(pinned)), tmp_path / "points.parquet")
    [read] = read_points(tmp_path)
    assert list(read) == [c["name"] for c in pinned["columns"]]
    assert {k: read[k] for k in row} == row


def test_a_scenarios_file_written_under_schema_1_reads_back(tmp_path):
    pinned = _pinned("scenarios_schema_v1.json")
    row = {"run_id": "r", "scenario_id": "offline-accuracy", "scenario": "Offline", "status": "ok",
           "devices": 1, "query_count": 3, "latency_p99_9_s": 0.25, "clip_score": 31.5, "fid_biased": True}
    pq.write_table(pa.Table.from_pylist([row], schema=_pinned_schema(pinned)), tmp_path / "scenarios.parquet")
    [read] = read_scenarios(tmp_path)
    assert list(read) == [c["name"] for c in pinned["columns"]]
    assert {k: read[k] for k in row} == row
