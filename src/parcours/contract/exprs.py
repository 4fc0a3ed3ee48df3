"""Expression helpers shared by the build and the reports (portable Ibis, no engine SQL)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def in_order(value: ir.Value, by: ir.Value) -> ir.ArrayValue:
    """The group's values as a list ordered by `by` (unique within the group). Sorting the
    collected (by, value) pairs is 3-5x faster in DuckDB than an ordered aggregate."""
    return ibis.struct({"k": by, "v": value}).collect().sort().map(lambda s: s.v)
