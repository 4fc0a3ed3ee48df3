"""SQL compiled once per expression shape (parcours.engine.compiled): a kept SQL is only ever
given for an expression that compiles to that very SQL, whatever the values, types and tables."""

import datetime as dt
import decimal
import importlib.util
import re
from pathlib import Path

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ibis.backends.sql import SQLBackend

from parcours.engine import compiled
from parcours.engine.warehouse import DuckDB, Warehouse

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
    calls = []
    original = SQLBackend.compile
    monkeypatch.setattr(SQLBackend, "compile", lambda *args, **kw: calls.append(1) or original(*args, **kw))
    assert expr(b.table("t")).execute() == 3 and calls == []  # b's query was a's SQL


def test_a_template_takes_each_expression_s_own_values(two, monkeypatch):
    t = two[0].table("t")
    calls = []
    original = SQLBackend.compile
    monkeypatch.setattr(SQLBackend, "compile", lambda *args, **kw: calls.append(1) or original(*args, **kw))

    def expr(s, d, ts):
        return t.filter((t.s == s) & (t.d >= d) & (t.ts < ts))

    two[0].con.compile(expr("first", dt.date(2026, 1, 1), dt.datetime(2026, 2, 1, 12)))
    two[0].con.compile(expr("second", dt.date(2026, 1, 2), dt.datetime(2026, 2, 1, 13)))
    made = len(calls)  # each one's SQL, and the template (stand-ins in the slots) at the second
    again = expr("it's", dt.date(2027, 3, 4), dt.datetime(2027, 5, 6, 7, 8, 9))
    sql = two[0].con.compile(again)
    assert made == 3 and len(calls) == made and sql == original(two[0].con, again)


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
    calls = []
    original = SQLBackend.compile
    monkeypatch.setattr(SQLBackend, "compile", lambda *args, **kw: calls.append(1) or original(*args, **kw))
    again = run_report("model-comparison", shop.warehouse, shop.config, query)
    assert calls == [] and again.table.equals(first.table)
