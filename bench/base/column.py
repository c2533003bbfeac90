"""A documented column of a result table: its name, arrow type and meaning.
The result schemas are tuples of these, and the reference page
docs/results-schema.md is written from them (bench/docs.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str

    def documented(self, doc: str) -> "Column":
        """The same column (name and type) described as another table fills it: a LoadGen test's
        devices are not a sweep point's, though the column is one."""
        return replace(self, doc=doc)


def arrow_schema(columns: tuple[Column, ...], version_key: str, version: int) -> pa.Schema:
    """The parquet schema of a table of these columns, its version in the file's metadata."""
    return pa.schema([pa.field(c.name, c.type) for c in columns], metadata={version_key: str(version)})


def complete_row(row: dict, names: tuple[str, ...], kind: str) -> dict:
    """The row with every column present (missing ones null); unknown keys are a bug."""
    unknown = set(row) - set(names)
    if unknown:
        raise KeyError(f"{kind} has columns outside the schema: {', '.join(sorted(unknown))}")
    return {name: row.get(name) for name in names}
