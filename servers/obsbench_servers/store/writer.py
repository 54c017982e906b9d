"""Batched, columnar writes into DuckDB through Arrow.

Row-at-a-time inserts into DuckDB run at a few thousand rows a second; columnar
batches handed over as Arrow tables run at millions. Importers append plain
Python values to a ``TableWriter``; it flushes every ``batch_rows`` rows, so
memory stays bounded however large the input is.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from obsbench_servers.store.schema import TABLES

_ARROW_TYPES = {"BIGINT": pa.int64(), "DOUBLE": pa.float64(), "VARCHAR": pa.string()}

DEFAULT_BATCH_ROWS = 100_000


class TableWriter:
    """Accumulates rows for one table column by column and flushes in batches."""

    __slots__ = ("_arrow", "_arrow_bytes", "_arrow_rows", "_columns", "_con", "_names", "_schema",
                 "batch_rows", "rows", "table")

    def __init__(
        self, con: duckdb.DuckDBPyConnection, table: str, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> None:
        self.table = table
        self._con = con
        cols = TABLES[table]
        self._names = [c for c, _ in cols]
        self._schema = pa.schema([(c, _ARROW_TYPES[t]) for c, t in cols])
        self._columns: list[list[Any]] = [[] for _ in cols]
        self.batch_rows = batch_rows
        self.rows = 0
        self._arrow: list[pa.Table] = []
        self._arrow_rows = 0
        self._arrow_bytes = 0

    def append(self, *values: Any) -> None:
        """Append one row; values in the table's column order."""
        cols = self._columns
        for i, v in enumerate(values):
            cols[i].append(v)
        self.rows += 1
        if len(cols[0]) >= self.batch_rows:
            self.flush()

    def append_columns(self, columns: list[list[Any]]) -> None:
        """Append many rows given as whole columns (fast path for hot importers)."""
        n = len(columns[0])
        for i, col in enumerate(columns):
            self._columns[i].extend(col)
        self.rows += n
        if len(self._columns[0]) >= self.batch_rows:
            self.flush()

    def append_arrow(self, arrays: list[pa.Array]) -> None:
        """Append whole Arrow columns (vectorised importers); types must match the table.

        Batches are held until about ``4 * batch_rows`` rows or 32 MB: one large
        insert costs a fraction of many small ones.
        """
        if not len(arrays[0]):
            return
        batch = pa.Table.from_arrays(arrays, schema=self._schema)
        self._arrow.append(batch)
        self._arrow_rows += batch.num_rows
        self._arrow_bytes += batch.nbytes
        self.rows += batch.num_rows
        if self._arrow_rows >= 4 * self.batch_rows or self._arrow_bytes >= 32 << 20:
            self.flush()

    def insert_select(self, source: pa.Table, select: str, params: list[Any] | None = None) -> int:
        """``INSERT INTO table SELECT ...`` over an Arrow table registered as ``_obsbench_src``.

        For importers that let DuckDB finish the rows (say, JSON text of label
        columns); ``select`` must yield the table's columns in order.
        """
        if not source.num_rows:
            return 0
        self._con.register("_obsbench_src", source)
        try:
            self._con.execute(f"INSERT INTO {self.table} {select}", params or [])
        finally:
            self._con.unregister("_obsbench_src")
        self.rows += source.num_rows
        return source.num_rows

    def _insert(self, batch: pa.Table) -> None:
        self._con.register("_obsbench_batch", batch)
        try:
            self._con.execute(f"INSERT INTO {self.table} SELECT * FROM _obsbench_batch")
        finally:
            self._con.unregister("_obsbench_batch")

    def flush(self) -> None:
        if self._arrow:
            batch = pa.concat_tables(self._arrow)
            self._arrow = []
            self._arrow_rows = self._arrow_bytes = 0
            self._insert(batch)
        if not self._columns[0]:
            return
        batch = pa.Table.from_arrays(
            [pa.array(col, type=self._schema.field(i).type) for i, col in enumerate(self._columns)],
            schema=self._schema,
        )
        self._insert(batch)
        self._columns = [[] for _ in self._names]
