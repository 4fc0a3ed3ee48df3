"""Aggregated paths, the input of data-driven models: one row per distinct channel sequence.

`path` is the ordered list of values at the chosen level (consecutive repeats collapsed:
email > email > search is email > search), with its conversions, non-conversions (nulls) and
conversion value. From the warehouse they are aggregated in the engine; a plain DataFrame in
the same layout (ChannelAttribution's and GA's path exports) works too.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.attribution.rules import LEVELS
from parcours.journeys import require_built
from parcours.warehouse import Warehouse


def paths_from_warehouse(wh: Warehouse, level: str = "channel", collapse: bool = True) -> ir.Table:
    """(path, conversions, nulls, value) over all journeys with at least one touch."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    require_built(wh)
    t = wh.table("touches")
    if collapse:
        prev = t[level].lag().over(ibis.window(group_by=t.journey_id, order_by=t.position))
        t = t.filter(prev.isnull() | (prev != t[level]))
    seq = t.group_by("journey_id").agg(path=t[level].collect(order_by=t.position))
    j = wh.table("journeys")
    s = seq.join(j.select("journey_id", "converted", "revenue"), "journey_id")
    return s.group_by("path").agg(
        conversions=s.converted.cast("int64").sum(),
        nulls=(~s.converted).cast("int64").sum(),
        value=ibis.ifelse(s.converted, s.revenue, 0.0).sum(),
    )


def paths_from_frame(df: pd.DataFrame, path: str = "path", conversions: str = "conversions",
                     nulls: str | None = "nulls", value: str | None = None,
                     sep: str = ">") -> ir.Table:
    """Paths from a DataFrame of strings like "email > search" (ChannelAttribution layout)."""
    missing = [c for c in (path, conversions, nulls, value) if c and c not in df.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    steps = df[path].astype(str).str.split(sep).map(lambda xs: [x.strip() for x in xs if x.strip()])
    out = pd.DataFrame({
        "path": steps.map(collapse_repeats),
        "conversions": df[conversions].fillna(0).astype("int64"),
        "nulls": df[nulls].fillna(0).astype("int64") if nulls else 0,
        "value": df[value].fillna(0).astype("float64") if value else 0.0,
    })
    return ibis.memtable(out)


def collapse_repeats(steps) -> list[str]:
    """email > email > search is email > search."""
    return [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
