"""Expression helpers shared by the build and the reports (portable Ibis, no engine SQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    import pandas as pd


def in_order(value: ir.Value, by: ir.Value) -> ir.ArrayValue:
    """The group's values as a list ordered by `by` (unique within the group). Sorting the
    collected (by, value) pairs is 3-5x faster in DuckDB than an ordered aggregate."""
    return ibis.struct({"k": by, "v": value}).collect().sort().map(lambda s: s.v)


def via_arrow(rows: ir.Table) -> pd.DataFrame:
    """The rows as a pandas frame through Arrow, for frames of many rows with nulls: Ibis's
    `to_pandas` converts every column holding a null value by value in Python (a million
    persons' features: 14.4 s against 7.2 s; 0.7 s of 1.6 s for 165,203 message recipients).
    Dates stay `datetime.date` objects, as Arrow gives them."""
    return rows.to_pyarrow().to_pandas()
