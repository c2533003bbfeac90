"""The results package: one definition of each shared column, and the one
way both stores read and replace their tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

from bench.base.column import Column
from bench.base.errors import BenchError
from bench.results import columns as shared
from bench.results import points_schema as schema
from bench.results import scenarios_schema as scenario_schema
from bench.results.files import read_table, write_rows_atomic
from bench.results.scenario_store import ScenarioStore, read_scenarios
from bench.results.store import read_points


def test_a_column_both_tables_have_is_defined_once():
    """Same name in both schemas: the same type, and the shared definition's (a doc may be overridden)."""
    points = {c.name: c for c in schema.COLUMNS}
    for column in scenario_schema.COLUMNS:
        if column.name in points:
            assert column.type == points[column.name].type, column.name
    definitions = [v for v in vars(shared).values() if isinstance(v, Column)]
    for definition in definitions:
        assert points[definition.name].type == definition.type
        assert definition.name in scenario_schema.NAMES, f"{definition.name} is not shared: define it in its table"


def test_a_doc_override_keeps_name_and_type():
    devices = shared.DEVICES.documented("Devices the system under test ran on.")
    assert (devices.name, devices.type) == (shared.DEVICES.name, shared.DEVICES.type)
    assert shared.DEVICES.doc == "Devices the point ran on, over all processes."


@pytest.mark.parametrize("file, read", [("points.parquet", read_points), ("scenarios.parquet", read_scenarios)])
def test_a_damaged_table_is_one_line_naming_the_file(tmp_path, file, read):
    (tmp_path / file).write_bytes(b"PAR1 not a parquet file\n\nPAR1")
    with pytest.raises(BenchError, match=rf"{file} is corrupt: ") as error:
        read(tmp_path)
    assert "\n" not in str(error.value)
    with pytest.raises(BenchError, match="is corrupt"):
        read_table(tmp_path / file)


def test_a_replaced_table_leaves_no_temporary_file(tmp_path):
    table_schema = pa.schema([pa.field("a", pa.int32())])
    write_rows_atomic(tmp_path / "t.parquet", [{"a": 1}], table_schema)
    write_rows_atomic(tmp_path / "t.parquet", [{"a": 2}], table_schema)
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]
    assert read_table(tmp_path / "t.parquet").to_pylist() == [{"a": 2}]


def test_a_scenario_store_writes_rows_its_reader_reads(tmp_path):
    store = ScenarioStore.create(tmp_path / "run", {"run_id": "run"})
    store.append({"run_id": "run", "scenario_id": "offline-performance", "status": "ok", "devices": 2})
    store.update_last(validity="VALID")
    [row] = read_scenarios(tmp_path / "run")
    assert (row["devices"], row["validity"], row["latency_p99_9_s"]) == (2, "VALID", None)
    assert ScenarioStore.open(tmp_path / "run").run == {"kind": "loadgen", "run_id": "run"}


def test_every_metric_documents_the_columns_it_names():
    from evals.registry import METRICS, quality_columns

    quality = {c.name for c in quality_columns()}
    for metric in METRICS.values():
        named = {metric.value_column, metric.network_column, metric.count_column, metric.reference_count_column}
        assert named - {None} <= set(metric.columns) | ({"clip_model"} if metric.requires else set()), metric.name
        assert set(metric.columns) <= quality and all(c.doc for c in metric.fills)


def test_a_metric_added_later_appends_its_columns(monkeypatch):
    import pyarrow as pa

    from evals import registry
    from evals.metric import Metric

    before = registry.quality_columns()
    added = Column("sharpness", pa.float64(), "A metric registered after schema 8.")
    late = Metric(name="sharpness", doc="d", features=(), fills=(added,), value_column="sharpness",
                  network_column="sharpness", compute=lambda inputs: {})
    monkeypatch.setitem(registry.METRICS, "sharpness", late)
    assert registry.quality_columns() == (*before, added)


def test_the_metric_registry_loads_no_maths_library():
    """The schema (every results reader) imports the registry: scipy and the shapes world wait for a figure."""
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import sys, bench.results.store, bench.results.scenario_store; "
            "print(sorted(m for m in ('scipy', 'torch', 'transformers', 'jax', 'bench.shapes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
