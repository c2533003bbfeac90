"""The result schema: rows are checked against it, and its reference page
(docs/results-schema.md, generated) documents every column."""

from __future__ import annotations

import pytest

from bench.results.points_schema import COLUMNS, NAMES, check_row
from tests.conftest import REPO


def test_rows_are_completed_and_unknown_columns_refused():
    row = check_row({"run_id": "r", "status": "ok"})
    assert list(row) == list(NAMES) and row["error"] is None
    with pytest.raises(KeyError, match="images_per_sec"):
        check_row({"images_per_sec": 1.0})


def test_every_column_is_documented_in_the_schema_and_its_page():
    page = (REPO / "docs" / "results-schema.md").read_text()
    assert all(column.doc for column in COLUMNS)
    section = page[page.index("## Sweep points"):page.index("## Scenario rows")]
    missing = [column.name for column in COLUMNS if f"| `{column.name}` |" not in section]
    assert not missing, f"docs/results-schema.md lacks columns: {missing} (make docs)"
