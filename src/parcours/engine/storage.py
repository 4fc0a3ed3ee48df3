"""The engine contract: what the layers above the storage layer may ask of a warehouse.

`Storage` is every method journeys, models, reports, ingest and the faces call; the DuckDB
`Warehouse` and the `SparkWarehouse` both satisfy it (tests/test_storage.py checks their
signatures against it, as Ibis checks its backends against `BaseBackend`). A warehouse that
also reads files is a `FileLoader`: only DuckDB is, and a Spark workspace hands ingest a
DuckDB loader over its Parquet tables (`Storage.loader`). See docs/architecture.md, "Storage".

This module imports no engine, so the layers above can name the contract without one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import ibis.expr.types as ir

Progress = Callable[[float], None]  # percent done, 0..100


@dataclass
class Staged:
    """A file read into staging tables: its rows (with `_row`) and its broken rows. A file
    already typed and numbered (Parquet) is not copied: its rows are a view of the file, which
    must then be as it was when the load commits (`unchanged`)."""

    con: Any  # the loader's Ibis connection
    name: str
    columns: list[str]  # every column the file has
    viewed: tuple[Path, int, int] | None = None  # (file, size, mtime in ns) when `rows` reads it in place

    def unchanged(self) -> bool:
        """Whether a file read in place is still what the load read (size and time: a file
        rewritten meanwhile may have given rows of both versions)."""
        if self.viewed is None:
            return True
        path, size, mtime = self.viewed
        try:
            st = path.stat()
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) == (size, mtime)

    @property
    def rows_table(self) -> str:
        return f"{self.name}_rows"

    @property
    def broken_table(self) -> str:
        return f"{self.name}_broken"

    @property
    def rows(self) -> ir.Table:
        return self.con.table(self.rows_table)

    @property
    def broken(self) -> ir.Table:  # _row, reason
        return self.con.table(self.broken_table)


@runtime_checkable
class Storage(Protocol):
    """A warehouse: named tables, expressions in, all-or-nothing writes."""

    path: Path  # where it lives (a file or a folder); also keys per-build caches

    def close(self) -> None: ...

    concurrent_reads: bool  # whether `reader()` handles may run queries at the same time
    # whether the process that opened it holds it alone (DuckDB's file lock): another
    # process's loads and builds must then be asked of that one (`parcours serve` takes them)
    one_process: bool

    def reader(self) -> Storage:
        """A handle for one more thread to read with (DuckDB: a cursor on the same database,
        so queries run side by side); an engine without `concurrent_reads` gives itself."""
        ...

    def loader(self) -> AbstractContextManager[FileLoader]:
        """The warehouse that reads files into this one's canonical tables."""
        ...

    # --- tables -------------------------------------------------------------------------
    def ensure_canonical_tables(self) -> None: ...

    def has(self, name: str) -> bool: ...

    def table(self, name: str) -> ir.Table:
        """A stored table; a derived one not built yet raises NotBuilt."""
        ...

    def count(self, name: str) -> int: ...

    def data_version(self) -> Hashable:
        """Changes whenever data lands or a build finishes (and costs far less than a query):
        what a kept answer is checked against."""
        ...

    def tables(self) -> list[str]: ...

    def insert(self, name: str, expr: ir.Table, progress: Progress | None = None) -> None: ...

    def replace(self, name: str, expr: ir.Table) -> ir.Table: ...

    def materialize(self, name: str, expr: ir.Table, progress: Progress | None = None) -> ir.Table:
        """A temporary table for an intermediate step, gone when the warehouse closes."""
        ...

    def drop(self, name: str) -> None: ...
    def delete(self, name: str, column: str, keys: ir.Table) -> None:
        """Delete the rows whose `column` value is one of `keys`' (inside the caller's
        transaction): an incremental build's stale persons."""
        ...

    def update(self, name: str, column: str, rows: ir.Table) -> None:
        """Set the other columns of `rows` on the rows whose `column` value is `rows`' (inside
        the caller's transaction; `column` unique in `rows`; a table the build derives, not
        an input table). DuckDB writes scalar columns in
        place: a delete from a table with an index costs its commit ~20 us a row, an update
        of the columns beside the key nothing like it."""
        ...

    def index(self, name: str, column: str) -> None:
        """Make `lookup` on this column fast (DuckDB: an ART index; Spark has none to make)."""
        ...

    def lookup(self, name: str, column: str, value: str) -> list[dict]:
        """The rows whose `column` equals `value`, as plain dicts: a point query, for the
        person API (one parameterised statement, no plan to compile)."""
        ...

    def passes(self, rows: int, bytes_per_row: int) -> int:
        """How many passes a step holding `bytes_per_row` for each of `rows` needs."""
        ...

    # --- scopes -------------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: an error or a killed process leaves the tables as they were."""
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside it all see the data as it was when it began, whatever commits
        meanwhile (a report's several queries, while a load or a build runs elsewhere)."""
        ...
    def ingest_memory(self) -> AbstractContextManager[None]: ...

    def engine_errors(self) -> AbstractContextManager[None]:
        """The engine's out-of-memory as an `OutOfMemory` saying which setting to change."""
        ...


@runtime_checkable
class FileLoader(Storage, Protocol):
    """A warehouse that reads CSV, Parquet and JSON Lines files into staging tables."""

    con: Any  # its Ibis connection: staged tables are read, and rejects written, through it

    def stage_file(self, path: Path, columns: dict[str, str], progress: Progress | None = None) -> Staged: ...

    def drop_staged(self, staged: Staged) -> None: ...
