"""Each Spark SQL fix in parcours.engine.spark.Compiler, as golden SQL: fast, no JVM (pyspark is only
imported). Each case also shows what Ibis's own Spark compiler says, so a test fails if the
fix stops applying (as the lstrip/rstrip fix once silently did) or if Ibis fixes it upstream."""

import pytest

ibis = pytest.importorskip("ibis")
spark = pytest.importorskip("parcours.engine.spark")  # needs the spark extra, not Java
from ibis.backends.sql.compilers.pyspark import PySparkCompiler  # noqa: E402

T = ibis.table({"x": "float64", "s": "string", "ts": "timestamp"}, name="t")

CASES = {  # name: (expression, Ibis's Spark SQL, ours)
    "float literal stays a double": (
        T.x / 86400.0, "`t0`.`x` / 86400.0", "`t0`.`x` / CAST('86400.0' AS DOUBLE)"),
    "strip trims whitespace, not the letters v and f": (
        T.s.strip(), "TRIM(' \\t\\n\\r\\v\\f' FROM `t0`.`s`)", "REGEXP_REPLACE(`t0`.`s`, '^\\\\s+|\\\\s+$', '')"),
    "lstrip trims every whitespace, not spaces only": (
        T.s.lstrip(), "LTRIM(`t0`.`s`)", "REGEXP_REPLACE(`t0`.`s`, '^\\\\s+', '')"),
    "rstrip trims every whitespace, not spaces only": (
        T.s.rstrip(), "RTRIM(`t0`.`s`)", "REGEXP_REPLACE(`t0`.`s`, '\\\\s+$', '')"),
    "epoch seconds keep their fraction": (
        T.ts.epoch_seconds(), "UNIX_TIMESTAMP(CAST(`t0`.`ts` AS TIMESTAMP))",
        "UNIX_MICROS(CAST(`t0`.`ts` AS TIMESTAMP)) / CAST('1000000.0' AS DOUBLE)"),
}


def sql(compiler, expr) -> str:
    if ibis.options.pyspark is None:  # what connecting would do first
        spark.ArrowBackend.register_options()
    return compiler.to_sqlglot(T.select(v=expr).unbind()).sql(dialect=compiler.dialect)


@pytest.mark.parametrize("case", CASES)
def test_the_spark_compiler_fix(case):
    expr, theirs, ours = CASES[case]
    assert sql(PySparkCompiler(), expr) == f"SELECT {theirs} AS `v` FROM `t` AS `t0`"
    assert sql(spark.Compiler(), expr) == f"SELECT {ours} AS `v` FROM `t` AS `t0`"
