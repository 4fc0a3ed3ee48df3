"""SQL compiled once per expression shape (parcours.engine.compiled): a kept SQL is only ever
given for an expression that compiles to that very SQL, whatever the values, types and tables."""

import datetime as dt
import decimal
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ibis.backends.sql import SQLBackend

from parcours.engine import compiled
from parcours.engine.warehouse import DuckDB, Warehouse

IBIS_COMPILE = SQLBackend.compile  # Ibis's own, nothing kept (tests patch the attribute to count)

SCHEMA = ibis.schema({"i": "int64", "f": "float64", "s": "string", "d": "date", "ts": "timestamp",
                      "b": "boolean", "n": "decimal(18, 3)"})

VALUES = {  # per column, values that are equal in Python and written apart in SQL among them
    "i": st.sampled_from([0, 1, -1, 2**40]),
    "f": st.sampled_from([0.0, -0.0, 1.0, 1.5, float("inf")]),
    "s": st.sampled_from(["", "a", "A", "a'b", "é"]),
    "d": st.sampled_from([dt.date(2026, 1, 1), dt.date(2026, 1, 2)]),
    "ts": st.sampled_from([dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1, 0, 0, 1),
                           dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]),
    "b": st.booleans(),
    "n": st.sampled_from([decimal.Decimal("1.0"), decimal.Decimal("1.00"), decimal.Decimal("1")]),
}


@st.composite
def expressions(draw, table):
    """A filter, a derived column and an optional aggregate, each with a drawn literal."""
    col = draw(st.sampled_from(sorted(VALUES)))
    value = draw(VALUES[col])
    expr = table.filter(table[col] == value) if draw(st.booleans()) else table.filter(table[col].isnull())
    other = draw(st.sampled_from(sorted(VALUES)))
    expr = expr.mutate(extra=ibis.literal(draw(VALUES[other])))
    if draw(st.booleans()):  # a column Ibis names after the value (Equals(s, 'a'))
        expr = expr.select(other, "extra", expr[col] == draw(VALUES[col]))
    if draw(st.booleans()):
        expr = expr.group_by(other).aggregate(rows=expr.count(), extra=expr.extra.max())
    return expr, draw(st.sampled_from([None, 1, 10]))


@pytest.fixture(autouse=True)
def own_cache_file(tmp_path, monkeypatch):
    """Each test its own (empty) cache file: what it counts is what it compiles."""
    monkeypatch.setattr(compiled, "DISK", compiled.SQLOnDisk(tmp_path / "sql.sqlite"))


def count_compiles(monkeypatch) -> list:
    """The list each compilation by Ibis itself (nothing kept) appends to from now on."""
    calls: list = []
    monkeypatch.setattr(SQLBackend, "compile", lambda *args, **kw: calls.append(1) or IBIS_COMPILE(*args, **kw))
    return calls


def another_process(monkeypatch) -> None:
    """What a new process keeps: nothing in memory, the cache file as it is."""
    monkeypatch.setattr(compiled, "_SQL", type(compiled._SQL)())
    monkeypatch.setattr(compiled, "_TEXTS", {})


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compiled")
    whs = [Warehouse(folder / f"{n}.duckdb") for n in ("a", "b")]
    for wh in whs:
        wh.con.create_table("t", schema=SCHEMA)
    yield whs
    for wh in whs:
        wh.close()


@settings(max_examples=150)
@given(data=st.data())
def test_a_kept_sql_is_the_sql_the_expression_compiles_to(two, data):
    wh = data.draw(st.sampled_from(two))
    expr, limit = data.draw(expressions(wh.table("t")))
    fresh = SQLBackend.compile(wh.con, expr, limit=limit)  # Ibis's own, nothing kept
    assert wh.con.compile(expr, limit=limit) == fresh
    assert wh.con.compile(expr, limit=limit) == fresh  # and from what was kept


def test_two_warehouses_share_a_shape_and_each_reads_its_own_rows(two, monkeypatch):
    a, b = two
    for wh, rows in ((a, 2), (b, 3)):
        wh._raw.execute("DELETE FROM t")
        wh._raw.execute(f"INSERT INTO t (i, s) SELECT range, 'x' FROM range({rows})")
    def expr(t):
        return t.filter(t.s == "x").count()

    assert expr(a.table("t")).execute() == 2
    calls = count_compiles(monkeypatch)
    assert expr(b.table("t")).execute() == 3 and calls == []  # b's query was a's SQL


@pytest.mark.parametrize("cache_file", [False, True])
def test_a_template_takes_each_expression_s_own_values(two, monkeypatch, cache_file):
    """Without a cache file, a shape's template is made when it comes again with other values;
    with one, at once (so that another process finds it)."""
    if not cache_file:
        monkeypatch.setattr(compiled, "DISK", compiled.SQLOnDisk(None))
    another_process(monkeypatch)
    t = two[0].table("t")
    calls = count_compiles(monkeypatch)

    def expr(s, d, ts):
        return t.filter((t.s == s) & (t.d >= d) & (t.ts < ts))

    two[0].con.compile(expr("first", dt.date(2026, 1, 1), dt.datetime(2026, 2, 1, 12)))
    two[0].con.compile(expr("second", dt.date(2026, 1, 2), dt.datetime(2026, 2, 1, 13)))
    made = len(calls)  # each one's SQL, and the template (stand-ins in the slots) at the second
    again = expr("it's", dt.date(2027, 3, 4), dt.datetime(2027, 5, 6, 7, 8, 9))
    sql = two[0].con.compile(again)
    assert made == (2 if cache_file else 3) and len(calls) == made and sql == IBIS_COMPILE(two[0].con, again)


def test_the_cache_file_keeps_no_value_a_query_was_asked_with(two, tmp_path):
    """A person's id or a filter's value stays out of the file (erased data must not linger
    in a cache), whether the shape gets a template or is kept per value."""
    t = two[0].table("t")
    secret = "jane.doe@example.com"
    two[0].con.compile(t.filter(t.s == secret).count())
    two[0].con.compile(t.filter(t.s.isin([f"{secret}{i}" for i in range(compiled.MOST_SLOTS + 1)])).count())
    two[0].con.compile(t.select(t.s == secret))  # a column Ibis names after the value: per value
    compiled.DISK._leave()  # its WAL into the file
    assert all(b"jane.doe" not in f.read_bytes() for f in tmp_path.glob("sql.sqlite*"))


def test_a_value_ibis_names_a_column_after_is_compiled_per_value(two):
    t = two[0].table("t")
    for value in ("a", "it's", "a"):
        expr = t.select(t.s == value)
        assert two[0].con.compile(expr) == SQLBackend.compile(two[0].con, expr)


def test_parameters_are_bound_at_each_compilation(two):
    wh = two[0]
    t = wh.table("t")
    p = ibis.param("int64")
    expr = t.filter(t.i == p).count()
    assert "= 7" in wh.con.compile(expr, params={p: 7}) and "= 8" in wh.con.compile(expr, params={p: 8})


def test_the_kept_sql_is_bounded(two, monkeypatch):
    monkeypatch.setattr(compiled, "KEPT_SQL", 3)
    t = two[0].table("t")
    for i in range(10):
        two[0].con.compile(t.filter(t.i == i))
    assert len(compiled._SQL) <= 3


def test_the_engine_backends_keep_their_sql():
    assert issubclass(DuckDB, compiled.CompiledOnce)
    spark = pytest.importorskip("parcours.engine.spark")
    assert issubclass(spark.ArrowBackend, compiled.CompiledOnce)


# Where the compilers parcours uses read a literal's value while compiling: integers (an index,
# a substring's bounds, a window's offset), never a date, a timestamp or a string.
VALUES_READ = {
    "ibis.backends.sql.compilers.base": {"op.length.value"},
    "ibis.backends.sql.compilers.duckdb": {"op.index.value", "op.start.value", "op.stop.value"},
    "ibis.backends.sql.compilers.pyspark": {"op.value", "op.value.value"},  # a window boundary of 0
    "ibis.backends.sql.rewrites": {"_.nth.value"},
    "ibis.expr.rewrites": {"_.start.value", "_.end.value"},
    "parcours.engine.spark": set(),
}


def test_no_compiler_reads_the_value_a_template_writes_in():
    """The templates' premise: a date, timestamp or string literal is written without being
    read. When Ibis (upgraded) or our Spark compiler reads another value, see whether it can
    be one of those (Impala's compiler reads a format string); if so, take its type out of
    `compiled.SLOTTED`, then add the place here."""
    for module, known in VALUES_READ.items():
        source = Path(importlib.util.find_spec(module).origin).read_text()
        assert set(re.findall(r"\b[A-Za-z_][\w.]*\.value\b", source)) == known, module



def test_an_in_memory_table_read_in_one_snapshot_is_read_in_the_next(two):
    """A snapshot's ROLLBACK unregisters what Ibis registered in it; Ibis must register it again."""
    wh = two[0]
    weights = ibis.memtable({"k": ["a", "b"], "w": [0.25, 0.75]})
    for _ in range(2):
        with wh.snapshot():
            assert wh.con.execute(weights.w.sum()) == 1.0


def test_a_report_asked_again_compiles_nothing(shop, monkeypatch):
    """A data-driven model's weights (kept per build) and every query of the report are the
    same shapes the second time: no SQL is compiled again."""
    from parcours.contract.query import Query
    from parcours.reports import run_report

    query = Query(models=("last_touch", "markov", "shapley", "counterfactual"))
    first = run_report("model-comparison", shop.warehouse, shop.config, query)
    calls = count_compiles(monkeypatch)
    again = run_report("model-comparison", shop.warehouse, shop.config, query)
    assert calls == [] and again.table.equals(first.table)


def test_a_new_process_fills_the_template_an_earlier_one_made(two, monkeypatch):
    t = two[0].table("t")

    def expr(s, d):
        return t.filter((t.s == s) & (t.d >= d)).count()

    two[0].con.compile(expr("first", dt.date(2026, 1, 1)))
    two[0].con.compile(expr("second", dt.date(2026, 1, 2)))  # the template, into the file too
    another_process(monkeypatch)
    calls = count_compiles(monkeypatch)
    again = expr("it's", dt.date(2027, 3, 4))
    assert two[0].con.compile(again) == IBIS_COMPILE(two[0].con, again) and calls == []
    assert two[1].con.execute(expr("x", dt.date(2026, 1, 1))) == 0  # another warehouse, from the file


@settings(max_examples=60)
@given(data=st.data())
def test_what_the_file_gives_a_new_process_is_the_sql_the_expression_compiles_to(two, data, tmp_path_factory):
    """Expressions compiled in one process, then asked in a new one (the file, nothing in memory)."""
    wh = two[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "DISK", compiled.SQLOnDisk(tmp_path_factory.mktemp("disk") / "sql.sqlite"))
        for _ in range(data.draw(st.integers(1, 3))):
            expr, limit = data.draw(expressions(wh.table("t")))
            wh.con.compile(expr, limit=limit)
        another_process(mp)
        expr, limit = data.draw(expressions(wh.table("t")))
        assert wh.con.compile(expr, limit=limit) == SQLBackend.compile(wh.con, expr, limit=limit)


def test_sql_of_other_compilers_is_never_found(two, monkeypatch, tmp_path):
    t = two[0].table("t")
    expr = t.filter(t.i == 1).count()
    two[0].con.compile(expr)
    another_process(monkeypatch)
    monkeypatch.setattr(compiled.DISK, "_tag", "another parcours, Ibis or sqlglot")
    calls = count_compiles(monkeypatch)
    two[0].con.compile(expr)
    assert calls == [1]


@pytest.mark.parametrize("damage", ["not a database", "a folder", "unwritable"])
def test_a_damaged_cache_file_is_left_aside(two, monkeypatch, tmp_path, damage):
    path = tmp_path / "sql.sqlite"
    if damage == "not a database":
        path.write_bytes(b"this is not SQLite" * 100)
    elif damage == "a folder":
        path.mkdir()
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        path = tmp_path / "ro" / "sub" / "sql.sqlite"
    monkeypatch.setattr(compiled, "DISK", compiled.SQLOnDisk(path))
    t = two[0].table("t")
    for i in range(2):
        expr = t.filter(t.s == str(i)).count()
        assert two[0].con.compile(expr) == SQLBackend.compile(two[0].con, expr)
    assert compiled.DISK.path is None or os.geteuid() == 0  # root writes anywhere


def test_a_new_process_compiles_nothing_a_former_one_did(shop, tmp_path):
    """Across processes for real: what a shape's digest is made of must not change with the
    process (an object's address, a set's order, a generated name)."""
    shop.close()
    script = (
        "import sys\n"
        "from ibis.backends.sql import SQLBackend\n"
        "from parcours import Workspace\n"
        "from parcours.contract.query import Query\n"
        "from parcours.reports import REPORTS, run_report\n"
        "calls = []\n"
        "original = SQLBackend.compile\n"
        "import ibis.expr.operations as ops\n"
        "def counted(self, expr, **kw):  # but a data-driven model's weights: a new name in each process\n"
        "    calls.extend([] if expr.op().find(ops.InMemoryTable) else [1])\n"
        "    return original(self, expr, **kw)\n"
        "SQLBackend.compile = counted\n"
        "with Workspace(sys.argv[1]) as ws:\n"
        "    for name in REPORTS:\n"
        "        run_report(name, ws.warehouse, ws.config, Query(new_customer=True, devices=('mobile',)))\n"
        "print(len(calls))\n")
    env = {**os.environ, "PARCOURS_SQL_CACHE": str(tmp_path / "sql.sqlite")}

    def compiled_in_a_process() -> int:
        done = subprocess.run([sys.executable, "-c", script, str(shop.path)], env=env, capture_output=True,
                              text=True, check=True)
        return int(done.stdout.split()[-1])

    assert compiled_in_a_process() > 0
    assert compiled_in_a_process() == 0


def test_the_cache_file_is_where_the_environment_says(monkeypatch, tmp_path):
    monkeypatch.setenv("PARCOURS_SQL_CACHE", "")
    assert compiled._cache_file() is None  # empty: none
    monkeypatch.setenv("PARCOURS_SQL_CACHE", str(tmp_path / "mine.sqlite"))
    assert compiled._cache_file() == tmp_path / "mine.sqlite"
    monkeypatch.delenv("PARCOURS_SQL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert compiled._cache_file() == tmp_path / "cache" / "parcours" / "sql.sqlite"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    assert compiled._cache_file() is None  # not a folder of wherever the command runs
