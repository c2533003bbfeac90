"""Result tables on disk, the one way both stores read and write them: a
parquet file that cannot be read is a one-line error naming it, and a table
is replaced in one step (temporary file, fsync, rename), so a process killed
at any instant leaves the old file or the new one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.base.atomic import replacing
from bench.base.errors import BenchError, first_line

RUN_FILE = "run.json"


def read_table(path: Path) -> pa.Table:
    """The parquet file at `path`; a one-line BenchError when it is damaged."""
    try:
        return pq.read_table(path)
    except Exception as e:  # pyarrow raises several error types for one cause: an unreadable file
        raise BenchError(f"{path} is corrupt: {first_line(e)}") from None


def write_table_atomic(path: Path, table) -> None:
    """A pyarrow Table or pandas DataFrame to parquet: temporary file, fsync, rename."""
    if not isinstance(table, pa.Table):  # a pandas DataFrame (pandas is imported only by those who pass one)
        table = pa.Table.from_pandas(table, preserve_index=False)
    with replacing(path, durable=True) as tmp:
        pq.write_table(table, tmp)


def write_rows_atomic(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    """Rows already checked against `schema`, replacing the table at `path`."""
    write_table_atomic(path, pa.Table.from_pylist(rows, schema=schema))
