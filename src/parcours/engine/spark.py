"""The Spark warehouse: the same Ibis expressions, run by Spark over Parquet tables.

Tables live in a `ParquetStore` under the workspace (`[warehouse] parquet_path`); each is
registered as a temporary view while this process uses it. Intermediate tables are written
to Parquet in a scratch folder rather than cached, which cuts Spark's lineage: the identity
rounds would otherwise replan every earlier round. Files are loaded by DuckDB (`loader`),
which writes new Parquet parts into the same store.
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pat
import sqlglot.expressions as sge
from ibis.backends.duckdb.converter import DuckDBPandasData
from ibis.backends.pyspark import Backend as PySparkBackend
from ibis.backends.pyspark.datatypes import PySparkType
from ibis.backends.sql.compilers.pyspark import PySparkCompiler
from ibis.formats.pyarrow import PyArrowData
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import IntegralType, StructField, StructType

from parcours.contract import schema
from parcours.contract.config import WarehouseSettings
from parcours.engine.compiled import CompiledOnce
from parcours.engine.tablestore import ParquetStore
from parcours.engine.warehouse import Warehouse
from parcours.errors import EngineLost, NotBuilt, OutOfMemory, ParcoursError

# What Spark says when a worker (an executor and what it held) was lost mid-job. Local
# checkpoints live on the executors: a lost one fails the job, where Spark would otherwise
# run the lost tasks again on the workers left.
LOST = ("CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND", "ExecutorLostFailure", "FetchFailed", "worker lost",
        "Executor heartbeat timed out")


def session(settings: WarehouseSettings) -> SparkSession:
    """One session per process (Spark's rule); the first workspace's settings start it."""
    cores = os.cpu_count() or 2
    builder = SparkSession.builder
    for setting in settings.spark_conf:
        key, value = setting.split("=", 1)
        builder = builder.config(key.strip(), value.strip())
    return (builder.master(settings.spark_master).appName("parcours")
            .config("spark.driver.memory", settings.spark_memory)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.shuffle.partitions", str(settings.spark_partitions or 4 * cores))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate())


def _release(checkpointed: DataFrame) -> None:
    """Free a local checkpoint's blocks now (`unpersist` does not: they belong to the RDD
    under its plan, freed otherwise only when the JVM collects it)."""
    checkpointed._jdf.queryExecution().logical().rdd().unpersist(False)


class Compiler(PySparkCompiler):
    """Ibis's Spark SQL where it means something else than its DuckDB SQL (Ibis 12).

    The parity test (tests/test_spark.py) finds these; each is fixed here, once, so the
    layers above write one expression for both engines.
    """

    # PySparkCompiler maps LStrip and RStrip straight to ltrim/rtrim (spaces only), and such
    # SIMPLE_OPS entries replace any visit_ method a subclass defines: drop them to use ours.
    SIMPLE_OPS = {op: f for op, f in PySparkCompiler.SIMPLE_OPS.items() if op not in (ops.LStrip, ops.RStrip)}

    def visit_NonNullLiteral(self, op: ops.Literal, *, value: Any, dtype: dt.DataType) -> sge.Expression:
        # `86400.0` is a DECIMAL literal in Spark SQL: x / 86400.0 kept 7 decimal places.
        if dtype.is_floating() and math.isfinite(value):
            return self.cast(repr(float(value)), dtype)
        return super().visit_NonNullLiteral(op, value=value, dtype=dtype)

    # Ibis trims ' \t\n\r\v\f', but Spark reads '\v' and '\f' as 'v' and 'f' and trimmed
    # those letters ("facebook" became "acebook"). Java's \s is the same six characters.
    def visit_Strip(self, op: ops.Strip, *, arg: sge.Expression) -> sge.Expression:
        return self.f.regexp_replace(arg, sge.convert(r"^\s+|\s+$"), sge.convert(""))

    def visit_LStrip(self, op: ops.LStrip, *, arg: sge.Expression) -> sge.Expression:
        return self.f.regexp_replace(arg, sge.convert(r"^\s+"), sge.convert(""))

    def visit_RStrip(self, op: ops.RStrip, *, arg: sge.Expression) -> sge.Expression:
        return self.f.regexp_replace(arg, sge.convert(r"\s+$"), sge.convert(""))

    def visit_ExtractEpochSeconds(self, op: ops.ExtractEpochSeconds, *, arg: sge.Expression) -> sge.Expression:
        # unix_timestamp drops the fraction of a second; DuckDB's epoch keeps it.
        return self.f.unix_micros(self.cast(arg, dt.timestamp)) / self.cast("1000000.0", dt.float64)


class ArrowBackend(CompiledOnce, PySparkBackend):
    """Ibis's PySpark backend, with results fetched as Arrow (Spark's `toArrow`).

    Ibis fetches PySpark results through pandas and converts them value by value, which
    fails on arrays holding null timestamps and is slow. Through Arrow, results come back
    converted exactly as the DuckDB backend converts them, so both engines hand the layers
    above the same pandas and Arrow types.
    """

    compiler = Compiler()

    def to_pyarrow(self, expr: ir.Expr, /, *, params: Mapping[ir.Scalar, Any] | None = None,
                   limit: int | str | None = None, **kwargs: Any) -> pa.Table:
        self._run_pre_execute_hooks(expr)
        table_expr = expr.as_table()
        sql = self.compile(table_expr, params=params, limit=limit, **kwargs)
        table = PyArrowData.convert_table(self._session.sql(sql).toArrow(), table_expr.schema())
        return expr.__pyarrow_result__(table)

    def execute(self, expr: ir.Expr, /, *, params: Mapping[ir.Scalar, Any] | None = None,
                limit: int | str | None = None, **kwargs: Any) -> pd.DataFrame | pd.Series | Any:
        table = self.to_pyarrow(expr.as_table(), params=params, limit=limit, **kwargs)
        df = pd.DataFrame({  # as ibis.backends.duckdb.Backend.execute does
            name: (col.to_pylist() if pat.is_nested(col.type) or pat.is_dictionary(col.type)
                   or col.null_count else col.to_pandas())
            for name, col in zip(table.column_names, table.columns, strict=True)})
        return expr.__pandas_result__(DuckDBPandasData.convert_table(df, expr.as_table().schema()))


def _footers_schema(paths: Sequence[Path | str]) -> StructType | None:
    """The parts' schemas merged (parts from before a column was added lack it), read from
    their footers here: Spark's own merge runs a job a table read (0.1 s each, ~90 a small
    build). Every column nullable, as Spark reads Parquet. None when a footer cannot be read
    here or a type has no Spark twin: Spark then merges them itself. A timestamp without a zone
    is Spark's TIMESTAMP_NTZ, as Spark reads one (`spark.sql.parquet.inferTimestampNTZ`)."""
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.glob("*.parquet")) if p.is_dir() else [p])
    try:
        merged = from_arrow_schema(pa.unify_schemas([pq.read_schema(f) for f in files]), prefer_timestamp_ntz=True)
    except (OSError, pa.ArrowException, TypeError, ValueError, NotImplementedError):
        return None
    return StructType([StructField(f.name, f.dataType, True) for f in merged.fields])


class SparkWarehouse:
    """Spark through Ibis, with tables as Parquet parts named by one manifest."""

    def __init__(self, folder: Path, settings: WarehouseSettings):
        self.settings = settings
        self.folder = Path(folder)
        self.store = ParquetStore(self.folder / settings.parquet_path)
        self.path = self.store.root
        self._tag = f"w{uuid.uuid4().hex[:8]}"  # view names of this warehouse (one session, many)
        self._scratch = self.folder / ".scratch" / self._tag
        self._tables: dict[str, ir.Table] = {}
        self._temp: dict[str, DataFrame] = {}  # materialized name -> its checkpointed rows
        self._pending: dict[str, tuple[bool, list[Path]]] | None = None  # in a transaction
        self._seen = self.store.version()  # the manifest our table handles were read from

    @cached_property
    def spark(self) -> SparkSession:
        """Started on first use: loading files needs no Spark."""
        spark = session(self.settings)
        spark.sparkContext.setLogLevel("ERROR")
        return spark

    @cached_property
    def con(self) -> ArrowBackend:
        if ibis.options.pyspark is None:  # what ibis.pyspark.connect does first
            ArrowBackend.register_options()
        con = ArrowBackend()
        con.do_connect(self.spark)
        return con

    concurrent_reads = False  # one driver: requests take turns
    one_process = False  # the store's manifest lets other processes load and build meanwhile

    def reader(self) -> SparkWarehouse:
        return self

    def close(self) -> None:
        if "spark" in self.__dict__:  # never start Spark just to close
            for name in list(self._tables) + list(self._temp):
                self.spark.catalog.dropTempView(self._view(name))
        self._tables.clear()
        for df in self._temp.values():
            _release(df)
        self._temp.clear()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _view(self, name: str) -> str:
        return f"{self._tag}_{name}"  # "_persons" (a step) and "persons" (the table) differ

    @contextmanager
    def loader(self) -> Iterator[Warehouse]:
        """A DuckDB warehouse (a scratch file for staging) whose canonical tables are ours."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        wh = Warehouse(self._scratch / f"load-{uuid.uuid4().hex[:8]}.duckdb",
                       WarehouseSettings(ingest_memory_limit=self.settings.ingest_memory_limit,
                                         threads=self.settings.threads),
                       store=self.store)
        try:
            yield wh
        finally:
            wh.close()
            wh.path.unlink(missing_ok=True)
            self._tables.clear()  # new parts: read the manifest again

    # --- tables -------------------------------------------------------------------------
    def ensure_canonical_tables(self) -> None:
        self.store.create_missing({n: schema.ibis_schema(n).to_pyarrow() for n in schema.TABLES})

    def has(self, name: str) -> bool:
        return name in self._temp or name in self._tables or name in (
            self._pinned if self._pinned is not None else self.store.names())

    def _register(self, name: str, paths: Sequence[Path | str]) -> ir.Table:
        known = _footers_schema(paths)
        read = self.spark.read.schema(known) if known is not None else self.spark.read.option("mergeSchema", "true")
        df = read.parquet(*map(str, paths))
        df.createOrReplaceTempView(self._view(name))
        t = self.con.table(self._view(name))
        if name in schema.TABLES:  # parts from before a column was added lack it
            t = t.select(*(t[c] if c in t.columns else ibis.null(ty).name(c)
                           for c, ty in schema.ibis_schema(name).items()))
        self._tables[name] = t
        return t

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Tables as the manifest names them now, until the block ends (a part that a commit
        meanwhile replaces is kept for `tablestore.GRACE`)."""
        if self._pinned is not None or self._pending is not None:
            yield
            return
        self._refresh()
        self._pinned = self.store.tables()
        try:
            yield
        finally:
            self._pinned = None

    _pinned: dict[str, list[Path]] | None = None  # the parts of each table, in a snapshot

    def _refresh(self) -> None:
        if self._pending is None and self._pinned is None and self.store.version() != self._seen:
            self._tables.clear()  # another process committed (a build, a load): read anew
            self._seen = self.store.version()

    def _parts(self, name: str) -> list[Path]:
        return self._pinned.get(name, []) if self._pinned is not None else self.store.parts(name)

    def table(self, name: str) -> ir.Table:
        self._refresh()
        if name in self._tables:
            return self._tables[name]
        if name in self._temp:
            return self.con.table(self._view(name))
        if name not in (self._pinned if self._pinned is not None else self.store.names()):
            if name not in schema.TABLES:
                raise NotBuilt(f"table {name!r} does not exist yet; run `parcours build`")
            self.ensure_canonical_tables()
        return self._register(name, self._parts(name) or self.store.parts(name))

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute()) if self.has(name) else 0

    def data_version(self) -> int:
        """Every load and build commits to the store's manifest: no Spark job to ask."""
        return self.store.version()

    def _rows(self, expr: ir.Table) -> DataFrame:
        """The expression's rows, its integers as wide as Ibis declares them: Spark's are
        narrower at places (an array's length and a row number are INT, DuckDB's BIGINT), and
        a table written with them would not be the table DuckDB writes."""
        self.con._run_pre_execute_hooks(expr)  # registers in-memory tables first
        df = self.spark.sql(self.con.compile(expr))
        wide = {name: PySparkType.from_ibis(ty) for name, ty in expr.schema().items() if ty.is_integer()}
        narrow = [f.name for f in df.schema.fields if f.name in wide and isinstance(f.dataType, IntegralType)
                  and f.dataType != wide[f.name]]
        return df.withColumns({name: df[name].cast(wide[name]) for name in narrow}) if narrow else df

    def _write(self, expr: ir.Table, path: Path) -> None:
        self._rows(expr).write.parquet(str(path))

    def _change(self, name: str, replace: bool, part: Path) -> ir.Table:
        assert self._pending is not None, "parts change inside a transaction"
        was_replace, parts = self._pending.get(name, (False, []))
        self._pending[name] = (replace or was_replace, ([] if replace else parts) + [part])
        before = [] if self._pending[name][0] else self.store.parts(name)
        return self._register(name, before + self._pending[name][1])

    def insert(self, name: str, expr: ir.Table,
               progress: Callable[[float], None] | None = None) -> None:
        self._write_part(name, False, expr)

    def replace(self, name: str, expr: ir.Table) -> ir.Table:
        return self._write_part(name, True, expr)

    def _write_part(self, name: str, replace: bool, expr: ir.Table) -> ir.Table:
        if self._pending is None:
            with self.transaction():
                self._write_part(name, replace, expr)
            return self.table(name)
        part = self.store.new_part(name)
        self._write(expr, part)
        return self._change(name, replace, part)

    def delete(self, name: str, column: str, keys: ir.Table) -> None:
        """Parquet parts are never changed: the table is written again without those rows."""
        self._write_part(name, True, self.table(name).anti_join(keys, column))

    def update(self, name: str, column: str, rows: ir.Table) -> None:
        """The table written again with those rows' columns (Parquet parts are never changed)."""
        t = self.table(name)
        kept = [c for c in t.columns if c not in rows.columns]
        changed = t.select(column, *kept).join(rows, column).select(*t.columns)
        self._write_part(name, True, t.anti_join(rows, column).union(changed))

    def index(self, name: str, column: str) -> None:
        pass  # Parquet has no index; a lookup scans (min/max statistics skip what they can)

    def lookup(self, name: str, column: str, value: str) -> list[dict]:
        t = self.table(name)
        return t.filter(t[column] == value).to_pyarrow().to_pylist()

    def passes(self, rows: int, bytes_per_row: int) -> int:
        return 1  # Spark partitions and spills any aggregate itself

    def materialize(self, name: str, expr: ir.Table,
                    progress: Callable[[float], None] | None = None) -> ir.Table:
        """An intermediate table, computed now and kept by Spark's block manager (memory, then
        the executors' disks): no lineage to replan, and no Parquet written and read back,
        which took half of a small build's time (29 s of 56 s at 600 persons)."""
        df = self._rows(expr).localCheckpoint(eager=True)
        df.createOrReplaceTempView(self._view(name))
        old, self._temp[name] = self._temp.get(name), df
        if old is not None:
            _release(old)
        return self.con.table(self._view(name))

    def drop(self, name: str) -> None:
        self._tables.pop(name, None)
        if (df := self._temp.pop(name, None)) is not None:
            _release(df)
        self.spark.catalog.dropTempView(self._view(name))
        if name in self.store.names():
            self.store.drop(name)

    @contextmanager
    def ingest_memory(self) -> Iterator[None]:
        yield  # loads run in the DuckDB loader, under its own limit

    @contextmanager
    def engine_errors(self) -> Iterator[None]:
        try:
            yield
        except ParcoursError:  # said already (an inner engine_errors, or parcours itself)
            raise
        except Exception as exc:
            if "OutOfMemoryError" in str(exc) or "Java heap space" in str(exc):
                raise OutOfMemory(
                    f"Spark ran out of memory (spark_memory {self.settings.spark_memory}): raise "
                    "[warehouse] spark_memory in parcours.toml") from None
            if lost := next((s for s in LOST if s in str(exc)), None):
                raise EngineLost(
                    f"the Spark cluster ({self.settings.spark_master}) lost a worker in the middle of the job "
                    f"({lost}): nothing was committed; run it again (on the workers left, or once it is back)"
                ) from None
            raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """New parts are named in the manifest only at the end, all tables at once."""
        with self.store.writing():
            self._pending = {}
            try:
                yield
            except BaseException:
                pending, self._pending = self._pending, None
                self._tables.clear()
                self.store.collect(set(pending))
                raise
            pending, self._pending = self._pending, None
            if pending:
                self.store.commit(pending)
                self._tables.clear()

    def tables(self) -> list[str]:
        return self.store.names()
