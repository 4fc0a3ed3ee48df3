"""The warehouse: the one module that knows which engine runs (DuckDB here).

Everything above it builds Ibis expressions and hands them to `Warehouse`, which creates
tables, inserts in transactions and reads files into staging tables.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow.parquet as pq

from parcours import schema
from parcours.config import WarehouseSettings
from parcours.errors import InvalidInput, NotBuilt

FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "json", ".ndjson": "json", ".json": "json"}


def file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    fmt = FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise InvalidInput("unknown file type; expected .csv, .parquet or .jsonl", file=str(path))
    return fmt


def _csv_header(path: Path) -> tuple[str, list[str]]:
    """Delimiter (the header's most frequent of , ; tab |) and column names.

    Read here rather than sniffed by DuckDB: its sniffer gives up on a file whose sample
    holds a broken row, and a broken row must become a reject, not a failed load.
    """
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        line = fh.readline()
    delim = max((",", ";", "\t", "|"), key=line.count)
    names = next(csv.reader([line], delimiter=delim), [])
    if not names or len(set(names)) != len(names):
        raise InvalidInput("the first line must be a header of distinct column names",
                           file=str(path), row=0)
    return delim, [n.strip() for n in names]


def _sql_str(text: str) -> str:
    return text.replace("'", "''")


@dataclass
class Staged:
    """A file read into the engine: its rows (with `_row`), its broken rows, its columns."""

    rows: ir.Table
    broken: ir.Table  # _row, reason
    columns: list[str]


class Warehouse:
    """A DuckDB file reached through Ibis."""

    def __init__(self, path: Path | str, settings: WarehouseSettings | None = None):
        settings = settings or WarehouseSettings()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        config = {}
        if settings.memory_limit:
            config["memory_limit"] = settings.memory_limit
        if settings.threads:
            config["threads"] = str(settings.threads)
        if settings.temp_directory:
            config["temp_directory"] = settings.temp_directory
        self.con = ibis.duckdb.connect(str(self.path), **config)
        self._raw = self.con.con  # the DuckDB connection, for transactions and file readers
        # Naive timestamps are UTC everywhere: parse offsets, store UTC wall time.
        self._raw.execute("LOAD icu; SET TimeZone = 'UTC'")

    def close(self) -> None:
        self.con.disconnect()

    # --- tables -------------------------------------------------------------------------
    def ensure_canonical_tables(self) -> None:
        existing = set(self.con.list_tables())
        for name in schema.TABLES:
            if name not in existing:
                self.con.create_table(name, schema=schema.ibis_schema(name))

    def has(self, name: str) -> bool:
        return name in self.con.list_tables()

    def table(self, name: str) -> ir.Table:
        if not self.has(name):
            if name in schema.TABLES:
                self.ensure_canonical_tables()
            else:
                raise NotBuilt(f"table {name!r} does not exist yet; run `parcours build`")
        return self.con.table(name)

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute()) if self.has(name) else 0

    def insert(self, name: str, expr: ir.Table) -> None:
        self.con.insert(name, expr)

    def replace(self, name: str, expr: ir.Table) -> ir.Table:
        """Create or replace a table from an expression (inside the caller's transaction)."""
        return self.con.create_table(name, expr, overwrite=True)

    def materialize(self, name: str, expr: ir.Table) -> ir.Table:
        """A temporary table for intermediate steps; gone when the connection closes."""
        return self.con.create_table(name, expr, temp=True, overwrite=True)

    def drop(self, name: str) -> None:
        self._raw.execute(f'DROP TABLE IF EXISTS "{name}"')

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: an error or a killed process leaves the tables as they were."""
        self._raw.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._raw.execute("ROLLBACK")
            raise
        self._raw.execute("COMMIT")

    # --- files --------------------------------------------------------------------------
    def stage_file(self, path: Path, columns: dict[str, str], name: str,
                   progress: Callable[[float], None] | None = None) -> Staged:
        """Read a file into a temp table `name` with a 1-based `_row` column.

        CSV and JSON values arrive as text (validation casts them and says what failed);
        Parquet keeps its types. Rows whose structure is broken (wrong number of CSV fields,
        unparsable JSON) are returned apart, as (row, reason). Reading streams: DuckDB's
        readers spill to disk, so memory does not grow with the file.
        """
        fmt = file_format(path)
        src = _sql_str(str(path))
        broken_sql = "SELECT NULL::BIGINT AS _row, NULL::VARCHAR AS reason WHERE false"
        if fmt == "parquet":
            header = self._parquet_columns(src)
            select = ", ".join(f'"{c}"' for c in columns if c in header)
            sql = (f"SELECT file_row_number + 1 AS _row, {select} "
                   f"FROM read_parquet('{src}', file_row_number=true)")
        elif fmt == "csv":
            delim, header = _csv_header(path)
            all_text = ", ".join(f"'{_sql_str(c)}': 'VARCHAR'" for c in header)
            opts = (f"header=true, auto_detect=false, delim='{_sql_str(delim)}', quote='\"', "
                    f"escape='\"', columns={{{all_text}}}")
            known = [c for c in columns if c in header]
            # Rows rejected by the CSV reader shift `row_number()`; map numbers back to lines.
            sql = (f"SELECT row_number() OVER () AS _n, {', '.join(f'{chr(34)}{c}{chr(34)}' for c in known)} "
                   f"FROM read_csv('{src}', {opts}, ignore_errors=true, "
                   f"store_rejects=true, rejects_table='_rej_{name}', rejects_scan='_scan_{name}')")
            self._run_with_progress(f'CREATE OR REPLACE TEMP TABLE "_pre_{name}" AS {sql}', progress)
            self._raw.execute(
                f"""CREATE OR REPLACE TEMP TABLE "_bad_{name}" AS
                    SELECT line - 1 AS _row, any_value(coalesce(column_name || ': ', '') || error_message) AS reason
                    FROM "_rej_{name}" GROUP BY line""")
            self._raw.execute(
                f"""CREATE OR REPLACE TEMP TABLE "{name}" AS
                    WITH b AS (SELECT _row, _row - row_number() OVER (ORDER BY _row) AS before FROM "_bad_{name}")
                    SELECT p._n + coalesce((SELECT count(*) FROM b WHERE b.before < p._n), 0) AS _row,
                           p.* EXCLUDE (_n)
                    FROM "_pre_{name}" p""")
            self._raw.execute(f'DROP TABLE "_pre_{name}"')
            return Staged(self.con.table(name), self.con.table(f"_bad_{name}"), header)
        else:
            header = list(columns)  # read_json takes the named keys; others are not seen
            cols = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
            sql = (f"SELECT row_number() OVER () AS _row, * FROM read_json('{src}', "
                   f"format='newline_delimited', columns={{{cols}}})")
        self._run_with_progress(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}', progress)
        self._raw.execute(f'CREATE OR REPLACE TEMP TABLE "_bad_{name}" AS {broken_sql}')
        return Staged(self.con.table(name), self.con.table(f"_bad_{name}"), header)

    def _parquet_columns(self, src: str) -> list[str]:
        return [f.name for f in pq.read_schema(src)]

    def _run_with_progress(self, sql: str, progress: Callable[[float], None] | None) -> None:
        """Run one statement; report DuckDB's own query progress (0..100) while it runs."""
        if progress is None:
            self._raw.execute(sql)
            return
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.2):
                pct = self._raw.query_progress()
                if pct >= 0:
                    progress(pct)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        try:
            self._raw.execute(sql)
        finally:
            done.set()
            watcher.join()
        progress(100.0)

    # --- facts for `info` ---------------------------------------------------------------
    def tables(self) -> list[str]:
        return sorted(self.con.list_tables())


