"""The warehouse: the storage layer is the only place that knows which engine runs.

Everything above it builds Ibis expressions and hands them to a warehouse (the contract is
`parcours.engine.storage.Storage`), which creates tables, inserts in transactions and reads files
into staging tables. `Warehouse` is DuckDB (a database file); `parcours.engine.spark.SparkWarehouse`
runs the same expressions on Spark over Parquet tables; `parcours.engine.engines.open_warehouse`
picks one from `[warehouse] engine` (docs/architecture.md, "Storage").

Files are always read and validated by DuckDB: a Spark workspace loads through a DuckDB
warehouse whose canonical tables are the Spark workspace's Parquet tables (`loader`).
"""

from __future__ import annotations

import csv
import functools
import gzip
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import duckdb
import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pyarrow.parquet as pq
from duckdb.func import FunctionNullHandling, PythonUDFType
from ibis.backends.duckdb import Backend as DuckDBBackend
from ibis.backends.sql.datatypes import DuckDBType

from parcours.contract import identifiers, schema
from parcours.contract.config import WarehouseSettings
from parcours.engine.compiled import CompiledOnce
from parcours.engine.storage import Staged
from parcours.engine.tablestore import ParquetStore
from parcours.errors import (
    DiskFull,
    InvalidInput,
    NotBuilt,
    OutOfMemory,
    ParcoursError,
    ReadOnlyWorkspace,
    WarehouseBusy,
)

FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "json", ".ndjson": "json", ".json": "json"}


STAGE = "_stage_"  # the prefix of a load's staging tables

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
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        line = fh.readline()
    delim = max((",", ";", "\t", "|"), key=line.count)
    names = next(csv.reader([line], delimiter=delim), [])
    if not names or len(set(names)) != len(names):
        raise InvalidInput("the first line must be a header of distinct column names",
                           file=str(path), row=0)
    return delim, [n.strip() for n in names]


def _bytes(size: str) -> int:
    """DuckDB's size text ("11.1 GiB", "953.6 MiB", "2GB") in bytes."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?)B\s*", size, re.IGNORECASE)
    if not m:
        raise InvalidInput(f"not a size: {size!r}")
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * (1024 if m.group(3) else 1000) ** power)


# How the OS reasons DuckDB quotes read: a disk (or quota) that is full, a path it may not write.
FULL = ("No space left on device", "Disk quota exceeded", "File too large")
READ_ONLY = ("Read-only file system", "Permission denied", "Operation not permitted")


def storage_fault(said: str, database: Path, temp: str) -> ParcoursError | None:
    """A failure to write a file (DuckDB's `Could not write file "...": reason`, `Cannot open file`,
    `Failed to create directory`; an OSError said alike), as the user fixes it; None for another
    (a file parcours may not read is the caller's to say: only `database`'s folder is written).
    Also for DuckDB connections of parcours' own beside the warehouse (a GA4 conversion's)."""
    reason = next((r for r in (*FULL, *READ_ONLY) if r in said), None)
    if reason is None:
        return None
    quoted = re.search(r'"([^"]+)"', said)
    path = quoted.group(1) if quoted else str(database)
    spill = "duckdb_temp_storage" in path or (temp not in ("", "?") and path.startswith(temp))
    folder = database.parent
    if reason in READ_ONLY and not (spill or Path(path).is_relative_to(folder) or folder.is_relative_to(path)):
        return None
    where = f"the temp directory DuckDB spills to ({temp})" if spill else path
    if reason in FULL:
        holding = where if spill else f"the disk holding {path}"
        larger = ", or set [warehouse] temp_directory to a folder on a larger disk" if spill else ""
        return DiskFull(f"{holding} is full ({reason}): free space there{larger} and run the command again; "
                        "what was stored before is kept")
    instead = ", or set [warehouse] temp_directory to a folder it may write" if spill else ", or work on a copy"
    return ReadOnlyWorkspace(f"{where} cannot be written ({reason}): parcours writes the workspace's database "
                             f"file and its folder; make them writable{instead}")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0]


def _connection_settings(path: Path, settings: WarehouseSettings) -> dict[str, str]:
    """What the connection is opened with (config.py checked each is one DuckDB runs within)."""
    config = {}
    if settings.memory_limit:
        config["memory_limit"] = settings.memory_limit
    if settings.threads:
        config["threads"] = str(settings.threads)
    if settings.temp_directory:  # relative to the warehouse file's folder
        config["temp_directory"] = str(path.parent / settings.temp_directory)
    return config


def _sql_str(text: str) -> str:
    return text.replace("'", "''")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Tables whose handles are kept: canonical and derived ones, whose columns change only when
# this process replaces them (DuckDB lets one process write the file at a time).
KEPT = (*schema.TABLES, "persons", "journeys", "touches", "build_meta")


def _register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """parcours' own engine functions (Python, vectorised over Arrow batches), once per
    database (connections to one file in a process share its catalog)."""
    functions = ((identifiers.E164_FUNCTION, identifiers.e164_arrow, ["varchar", "varchar"]),
                 (identifiers.EMAIL_FUNCTION, identifiers.email_arrow, ["varchar"]))
    for name, function, arguments in functions:
        try:  # binding a call tells in 2 ms what listing duckdb_functions() tells in 20
            con.execute(f"SELECT {name}({', '.join(['NULL::VARCHAR'] * len(arguments))}) WHERE false")
        except duckdb.CatalogException:
            con.create_function(name, function, arguments, "varchar",  # type: ignore[arg-type]
                                type=PythonUDFType.ARROW, null_handling=FunctionNullHandling.SPECIAL)


def _columns(table: ibis.Schema) -> str:
    """A table's column definitions, as Ibis's `create_table` declares them."""
    return ", ".join(f"{_ident(c)} {DuckDBType.to_string(t)}{'' if t.nullable else ' NOT NULL'}"
                     for c, t in table.items())


@functools.cache
def _dtype(text: str, nullable: bool) -> dt.DataType:
    """A DuckDB column type as Ibis reads it (parsing it costs more than a small query)."""
    return DuckDBType.from_string(text, nullable=nullable)


class DuckDB(CompiledOnce, DuckDBBackend):
    """Ibis's DuckDB backend, compiling each expression shape once (`parcours.engine.compiled`)."""


class Warehouse:
    """A DuckDB file reached through Ibis.

    With a `store`, the canonical tables are that store's Parquet tables instead of tables
    in the file: reads see its committed parts plus this transaction's, inserts write new
    parts, and a commit names them in the store's manifest.
    """

    def __init__(self, path: Path | str, settings: WarehouseSettings | None = None,
                 store: ParquetStore | None = None):
        settings = settings or WarehouseSettings()
        self.settings = settings
        self.store = store
        self._pending: dict[str, list[Path]] = {}  # store parts written in this transaction
        self._replaced: set[str] = set()  # store tables this transaction writes anew (their parts replace all)
        self.path = Path(path)
        self._tables: dict[str, ir.Table] = {}  # handles of KEPT tables (saves a catalog query each)
        with self._opening():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = DuckDB().connect(str(self.path), **_connection_settings(self.path, settings))
            self._raw = self.con.con  # the DuckDB connection, for transactions and file readers
            # Naive timestamps are UTC everywhere: parse offsets, store UTC wall time.
            self._raw.execute("LOAD icu; SET TimeZone = 'UTC'")
            # Progress is tracked for our own bars (query_progress), never printed by DuckDB.
            self._raw.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
            # A load killed mid-way leaves its staging tables: this process holds the file
            # alone (DuckDB's lock), so no load of another is running, and they go.
            self._drop_starting(STAGE)
            self._add_missing_columns()
            _register_functions(self._raw)

    @contextmanager
    def _opening(self) -> Iterator[None]:
        """Opening the file: what stops it (another process holding it, a full disk, a folder or
        file parcours may not write, a file that is no DuckDB database) is one line naming it."""
        try:
            with self.engine_errors():
                yield
        except duckdb.IOException as exc:
            if "Could not set lock" in str(exc):
                raise WarehouseBusy(f"{self.path} is in use by another parcours process; "
                                    "try again when it has finished") from None
            raise InvalidInput(f"cannot open the warehouse: {_first_line(exc).removeprefix('IO Error: ')}",
                               file=str(self.path)) from None
        except OSError as exc:  # its folder cannot be made
            raise InvalidInput(f"cannot make the warehouse's folder: {exc.strerror or exc}",
                               file=str(exc.filename or self.path.parent)) from None

    def _add_missing_columns(self) -> None:
        """A warehouse from an earlier parcours gets the canonical columns added since, null
        on its rows (`load_seq`: 0, rows from before loads were numbered)."""
        have = set(self._raw.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name IN (SELECT unnest(?))", [list(schema.TABLES)]).fetchall())
        tables = {t for t, _ in have}
        for name in schema.TABLES:
            if name not in tables:
                continue
            for column, dtype in schema.ibis_schema(name).items():
                if (name, column) not in have:
                    default = " DEFAULT 0" if column == schema.LOAD_SEQ else ""
                    self._raw.execute(f"ALTER TABLE {_ident(name)} ADD COLUMN {_ident(column)} "
                                      f"{DuckDBType.to_string(dtype)}{default}")

    def close(self) -> None:
        self.con.disconnect()

    concurrent_reads = True
    one_process = True

    def reader(self) -> Warehouse:
        """This warehouse on a cursor of its connection: DuckDB runs the queries of cursors in
        parallel, each seeing the last committed data, and each has its own transactions (a
        load on one commits while a build goes on on another). For one thread at a time."""
        other = object.__new__(Warehouse)
        other.settings, other.store, other.path, other._pending = self.settings, self.store, self.path, {}
        other._replaced = set()
        other._raw = self._raw.cursor()
        other._raw.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = true; "
                           "SET enable_progress_bar_print = false")
        _register_functions(other._raw)
        other.con = DuckDB.from_connection(other._raw)
        other._tables = {}
        other._cursor = True
        return other

    _cursor = False  # a reader(): the database's settings are shared with the other cursors

    @contextmanager
    def loader(self) -> Iterator[Warehouse]:
        """The warehouse that loads files into this one: DuckDB loads into itself."""
        yield self

    # --- tables -------------------------------------------------------------------------
    def ensure_canonical_tables(self) -> None:
        if self.store is not None:
            self.store.create_missing({n: schema.ibis_schema(n).to_pyarrow() for n in schema.TABLES})
            return
        existing = self._names()
        for name in schema.TABLES:
            if name not in existing:
                self._raw.execute(f"CREATE TABLE {_ident(name)} ({_columns(schema.ibis_schema(name))})")

    def _stored(self, name: str) -> bool:
        return self.store is not None and name in schema.TABLES and name in self.store.names()

    def has(self, name: str) -> bool:
        return self._stored(name) or name in self._names()

    def _names(self) -> set[str]:
        """The tables and views this connection sees (Ibis's `list_tables` asks three queries)."""
        return {row[0] for row in self._raw.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name IN (current_database(), 'temp') "
            "UNION ALL SELECT view_name FROM duckdb_views() "
            "WHERE NOT internal AND database_name IN (current_database(), 'temp')").fetchall()}

    def _handle(self, name: str) -> ir.Table:
        """The table `name` as Ibis's `con.table` gives it, from one DESCRIBE."""
        described = self._raw.execute(f"DESCRIBE {_ident(name)}").fetchall()
        columns = {row[0]: _dtype(row[1], row[2] == "YES") for row in described}
        return ops.DatabaseTable(name, schema=ibis.schema(columns), source=self.con,
                                 namespace=ops.Namespace()).to_expr()

    def table(self, name: str) -> ir.Table:
        if name in self._tables:
            return self._tables[name]
        if self.store is not None and name in schema.TABLES:
            self.ensure_canonical_tables()
            files = [] if name in self._replaced else self.store.files(name)
            t = self.con.read_parquet(files + [str(p) for p in self._pending.get(name, [])],
                                      union_by_name=True)  # parts from before a column was added lack it
            wanted = schema.ibis_schema(name)
            self._tables[name] = t.select(*(t[c] if c in t.columns else ibis.null(ty).name(c)
                                            for c, ty in wanted.items()))
            return self._tables[name]
        if not self.has(name):
            if name in schema.TABLES:
                self.ensure_canonical_tables()
            else:
                raise NotBuilt(f"table {name!r} does not exist yet; run `parcours build`")
        t = self._handle(name)
        if name in KEPT:  # their shape changes only through replace() in this process
            self._tables[name] = t
        return t

    def count(self, name: str) -> int:
        if self._stored(name):
            return int(self.table(name).count().execute())
        if name not in self._names():
            return 0
        return int(self._raw.execute(f"SELECT count(*) FROM {_ident(name)}").fetchone()[0])

    def data_version(self) -> tuple:
        """The raw tables' row counts (loads add rows, an erasure deletes some), the audience
        refreshes' (an audience saved between builds) and the build's time: three plain
        queries, asked before every kept answer is given (Ibis would compile five). The counts
        are one UNION ALL: each `count(*)` alone reads the tables' row counts, but as scalar
        subqueries of one SELECT DuckDB counted the rows (21-37 ms at 10M touchpoints, 0.9 ms)."""
        counted = (*schema.TABLES, *schema.REFRESHED)
        if self.store is not None:
            built = self.table("build_meta").built_at.max().execute() if self.has("build_meta") else None
            return (*(self.count(name) if self.has(name) else 0 for name in counted), built, self.store.version())
        names = self._names()
        present = [(i, n) for i, n in enumerate(counted) if n in names]
        found = dict(self._raw.execute(" UNION ALL ".join(
            f"SELECT {i} AS i, count(*) AS n FROM {_ident(n)}" for i, n in present)).fetchall()) if present else {}
        built = self._raw.execute("SELECT max(built_at) FROM build_meta").fetchone()[0] if "build_meta" in names \
            else None
        return (*(found.get(i, 0) for i in range(len(counted))), built, None)

    def insert(self, name: str, expr: ir.Table,
               progress: Callable[[float], None] | None = None) -> None:
        self.con._run_pre_execute_hooks(expr)  # registers its in-memory tables (scores computed in Python)
        if self.store is not None and self._stored(name):  # a new Parquet part, named in the store at commit
            part = self.store.new_part(name, ".parquet")
            self._run_with_progress(f"COPY ({self.con.compile(expr)}) TO '{_sql_str(str(part))}' "
                                    "(FORMAT parquet)", progress)
            self._pending.setdefault(name, []).append(part)
            self._tables.pop(name, None)
            return
        columns = ", ".join(_ident(c) for c in expr.columns)
        self._run_with_progress(
            f'INSERT INTO {_ident(name)} ({columns}) {self.con.compile(expr)}', progress)

    def replace(self, name: str, expr: ir.Table) -> ir.Table:
        """Create or replace a table from an expression, inside the caller's transaction or one
        of its own: its two statements apart, a reader between them would see the table empty."""
        if not self._in_transaction:
            with self.transaction():
                return self.replace(name, expr)
        self._tables.clear()
        if any(t.name == name for t in expr.op().find(ops.DatabaseTable)):  # a query of itself
            expr = self.materialize(f"_replacing_{name}", expr)
        self.con._run_pre_execute_hooks(expr)  # registers its in-memory tables, as create_table does
        self._raw.execute(f"CREATE OR REPLACE TABLE {_ident(name)} ({_columns(expr.schema())})")
        self._raw.execute(f"INSERT INTO {_ident(name)} ({', '.join(map(_ident, expr.columns))}) "
                          f"{self.con.compile(expr)}")
        return self._handle(name)

    def materialize(self, name: str, expr: ir.Table,
                    progress: Callable[[float], None] | None = None) -> ir.Table:
        """A temporary table for intermediate steps; gone when the connection closes.

        Like `insert`, it takes expressions over warehouse tables (not in-memory ones)."""
        self._run_with_progress(
            f"CREATE OR REPLACE TEMP TABLE {_ident(name)} AS {self.con.compile(expr)}", progress)
        return self._handle(name)

    def passes(self, rows: int, bytes_per_row: int) -> int:
        """How many passes a step holding `bytes_per_row` in memory for each of `rows`
        needs to stay within half the memory limit (the rest: buffers, spilled operators)."""
        limit = self._raw.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        budget = max(_bytes(limit) // 2, 1)
        return max(1, -(-rows * bytes_per_row // budget))

    def drop(self, name: str) -> None:
        self._tables.pop(name, None)
        self._raw.execute(f"DROP TABLE IF EXISTS {_ident(name)}")

    def delete(self, name: str, column: str, keys: ir.Table) -> None:
        if self.store is not None and self._stored(name):  # parts never change: the table is written anew
            part = self.store.new_part(name, ".parquet")
            self._raw.execute(f"COPY ({self.con.compile(self.table(name).anti_join(keys, column))}) "
                              f"TO '{_sql_str(str(part))}' (FORMAT parquet)")
            self._pending[name] = [part]
            self._replaced.add(name)
            self._tables.pop(name, None)
            return
        col = _ident(column)
        self._raw.execute(f"DELETE FROM {_ident(name)} WHERE {col} IN (SELECT {col} FROM ({self.con.compile(keys)}))")

    def update(self, name: str, column: str, rows: ir.Table) -> None:
        """A table the build derives (the input tables, Parquet parts in a store, only grow)."""
        self.con._run_pre_execute_hooks(rows)
        sets = ", ".join(f"{_ident(c)} = _rows.{_ident(c)}" for c in rows.columns if c != column)
        key = _ident(column)
        self._raw.execute(f"UPDATE {_ident(name)} SET {sets} FROM ({self.con.compile(rows)}) AS _rows "
                          f"WHERE {_ident(name)}.{key} = _rows.{key}")

    def index(self, name: str, column: str) -> None:
        self._raw.execute(f"CREATE INDEX IF NOT EXISTS {_ident(f'{name}_{column}')} "
                          f"ON {_ident(name)} ({_ident(column)})")

    def lookup(self, name: str, column: str, value: str) -> list[dict]:
        return self._raw.execute(f"SELECT * FROM {_ident(name)} WHERE {_ident(column)} = ?",
                                 [value]).fetch_arrow_table().to_pylist()

    @contextmanager
    def ingest_memory(self) -> Iterator[None]:
        """Loads run under `ingest_memory_limit`: memory stays flat as files grow. Not on a
        cursor: the limit is the database's, and would squeeze a server's readers and build."""
        limit = self.settings.ingest_memory_limit
        if not limit or self._cursor:
            yield
            return
        before = self._raw.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        self._raw.execute(f"SET memory_limit = '{_sql_str(limit)}'")
        try:
            yield
        finally:
            self._raw.execute(f"SET memory_limit = '{_sql_str(before)}'")

    @contextmanager
    def engine_errors(self) -> Iterator[None]:
        """The engine's failures that are fixed outside parcours, said as such: running out of
        memory (which setting to change), a full disk or temp directory, a path parcours may
        not write (each naming the path). A failed write leaves what was stored before as it
        was: a load or a build is one transaction, which DuckDB rolls back."""
        try:
            yield
        except duckdb.Error as exc:
            said = self._said(exc)
            if said is None:
                raise
            raise said from None
        except OSError as exc:  # a folder or file parcours writes itself (said as DuckDB says its own)
            said = storage_fault(f'"{exc.filename or self.path}": {exc.strerror}', self.path,
                                  self._current("temp_directory"))
            if said is None:
                raise
            raise said from None

    def _said(self, exc: duckdb.Error) -> ParcoursError | None:
        """What the user fixes about this engine error, said; None when it is nothing of the kind."""
        text = " ".join(str(exc).split())
        if "max_temp_directory_size" in text:  # DuckDB reports a full temp directory as out of memory
            return DiskFull(f"the temp directory DuckDB spills to ({self._current('temp_directory')}) is full "
                            f"(max_temp_directory_size {self._current('max_temp_directory_size')}, by default 90% "
                            "of its disk's free space when the warehouse opened): free space on that disk, or set "
                            "[warehouse] temp_directory to a folder on a larger one; what was stored before is kept")
        unread = re.search(r'Failed to read file "([^"]+)": (.+)', text)
        if unread:  # a file read in place (a Parquet load's rows, Staged.viewed) damaged inside
            return InvalidInput(f"cannot read this file, nothing loaded: {unread[2]}", file=unread[1])
        if isinstance(exc, duckdb.OutOfMemoryException):
            return OutOfMemory(
                f"the warehouse ran out of memory (memory_limit {self._current('memory_limit')}): raise "
                "[warehouse] memory_limit in parcours.toml, or lower threads; "
                f"DuckDB said: {_first_line(exc)}")
        return storage_fault(text, self.path, self._current("temp_directory"))

    def _current(self, setting: str) -> str:
        """A DuckDB setting's value, to be said in an error ("?" when the connection cannot tell)."""
        try:
            row = self._raw.execute(f"SELECT current_setting('{_sql_str(setting)}')").fetchone()
        except (AttributeError, duckdb.Error):  # not open yet, or not answering
            return "?"
        return str(row[0]) if row else "?"

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A transaction that only reads (inside a running one: that one)."""
        if self._in_transaction:
            yield
            return
        self._raw.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        finally:
            self._in_transaction = False
            self._rollback()

    _in_transaction = False  # in a transaction or a snapshot of this connection

    def _rollback(self) -> None:
        """ROLLBACK, which also unregisters the in-memory tables Ibis registered meanwhile:
        Ibis is told, so one used again (kept weights, a cached table) is registered again."""
        self._raw.execute("ROLLBACK")
        self.con._memtables.clear()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: an error or a killed process leaves the tables as they were."""
        with self.store.writing() if self.store is not None else nullcontext():
            self._raw.execute("BEGIN TRANSACTION")
            self._in_transaction, self._pending, self._replaced = True, {}, set()
            if self.store is not None:
                self._tables.clear()  # under the lock: list the parts as they are now
            try:
                yield
            except BaseException:
                self._tables.clear()
                self._in_transaction = False
                self._rollback()
                if self._pending and self.store is not None:
                    self.store.collect(set(self._pending))  # the parts nobody will name
                    self._pending = {}
                raise
            self._in_transaction = False
            self._raw.execute("COMMIT")
            if self._pending and self.store is not None:
                self.store.commit({n: (n in self._replaced, parts) for n, parts in self._pending.items()})
                self._pending = {}
                self._tables.clear()

    # --- files --------------------------------------------------------------------------
    def stage_file(self, path: Path, columns: dict[str, str],
                   progress: Callable[[float], None] | None = None) -> Staged:
        """Read a file into a staging table with a 1-based `_row` column.

        CSV and JSON values arrive as text (validation casts them and says what failed);
        Parquet keeps its types. CSV rows with the wrong number of fields are kept apart as
        (_row, reason). Staging tables live in the database file, not in memory, so a large
        file streams through DuckDB's buffer manager; `drop_staged` removes them.
        """
        fmt = file_format(path)
        # One name for every load: loads on a warehouse take turns (one process writes the
        # file; the server's loads hold its load lock), and the validation queries over it
        # are then the same shape from one load to the next (compiled once).
        staged = Staged(self.con, f"{STAGE}load", columns=[])
        self.drop_staged(staged)  # what a load killed in this process left
        try:
            self._stage(path, fmt, staged, columns, progress)
        except duckdb.Error as exc:  # a file DuckDB cannot parse at all: say where, keep nothing
            self.drop_staged(staged)
            reason = str(exc).splitlines()[0].removeprefix("Invalid Input Error: ")
            raise InvalidInput(f"cannot read this {fmt} file: {reason}", file=str(path)) from None
        return staged

    def _stage(self, path: Path, fmt: str, staged: Staged, columns: dict[str, str],
               progress: Callable[[float], None] | None) -> None:
        src = _sql_str(re.sub(r"([*?\[])", r"[\1]", str(path.absolute())))  # a name, never a pattern
        self._raw.execute(f'CREATE TABLE "{staged.broken_table}" (_row BIGINT, reason VARCHAR)')
        if fmt == "parquet":  # typed and numbered as it is: read in place, not copied (Staged.viewed)
            st = path.stat()
            staged.columns = [f.name for f in pq.read_schema(path)]
            select = ", ".join(_ident(c) for c in columns if c in staged.columns)
            self._raw.execute(f'CREATE TEMP VIEW "{staged.rows_table}" AS SELECT file_row_number + 1 AS _row, '
                              f"{select} FROM read_parquet('{src}', file_row_number=true)")
            staged.viewed = (path, st.st_size, st.st_mtime_ns)
            return
        if fmt == "json":  # the keys some record has: a key no record has is no column of the file
            staged.columns = sorted(k for (k,) in self._raw.execute(
                f"SELECT DISTINCT unnest(json_keys(json)) FROM read_json_objects('{src}', "
                "format='newline_delimited', ignore_errors=true)").fetchall())
            cols = ", ".join(f"'{_sql_str(c)}': 'VARCHAR'" for c in columns)
            select = "".join(f", {_ident(c)}" for c in columns if c in staged.columns)
            sql = (f"SELECT row_number() OVER () AS _row{select} FROM read_json('{src}', "
                   f"format='newline_delimited', columns={{{cols}}})")
        else:
            delim, staged.columns = _csv_header(path)
            self._stage_csv(src, delim, staged, [c for c in columns if c in staged.columns],
                            progress)
            return
        self._run_with_progress(f'CREATE TABLE "{staged.rows_table}" AS {sql}', progress)

    def _stage_csv(self, src: str, delim: str, staged: Staged, wanted: list[str],
                   progress: Callable[[float], None] | None) -> None:
        """DuckDB's reader skips and records rows with the wrong number of fields; the
        `row_number()` of the rows it keeps is then shifted back past the skipped ones."""
        text = ", ".join(f"'{_sql_str(c)}': 'VARCHAR'" for c in staged.columns)
        rej, scan = f"{staged.name}_rej", f"{staged.name}_scan"
        pre = f"{staged.name}_pre"
        self._run_with_progress(
            f"""CREATE TABLE "{pre}" AS SELECT row_number() OVER () AS _n,
                {", ".join(_ident(c) for c in wanted)}
                FROM read_csv('{src}', header=true, auto_detect=false, delim='{_sql_str(delim)}',
                    quote='"', escape='"', columns={{{text}}}, ignore_errors=true,
                    store_rejects=true, rejects_table='{rej}', rejects_scan='{scan}')""", progress)
        self._raw.execute(
            f"""INSERT INTO "{staged.broken_table}"
                SELECT line - 1, any_value(coalesce(column_name || ': ', '') || error_message)
                FROM "{rej}" GROUP BY line""")
        self._raw.execute(
            f"""CREATE TABLE "{staged.rows_table}" AS
                WITH b AS (SELECT _row - row_number() OVER (ORDER BY _row) AS before
                           FROM "{staged.broken_table}")
                SELECT p._n + (SELECT count(*) FROM b WHERE b.before < p._n) AS _row,
                       p.* EXCLUDE (_n)
                FROM "{pre}" p""")
        for t in (pre, rej, scan):
            self._raw.execute(f'DROP TABLE IF EXISTS "{t}"')

    def drop_staged(self, staged: Staged) -> None:
        self._drop_starting(staged.name)

    def _drop_starting(self, prefix: str) -> None:
        views = {v for (v,) in self._raw.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        for t in self._names():
            if t.startswith(prefix):
                self._raw.execute(f"DROP VIEW IF EXISTS {_ident(t)}") if t in views else self.drop(t)

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
        return sorted(self._names() | set(self.store.names() if self.store else ()))


