"""Costs of the period per row, for CPA and ROAS (costs are loaded per day, channel, source
and campaign)."""

from __future__ import annotations

from parcours.reports.base import Scope
from parcours.reports.labels import Fields, Level, Message

COST_LEVELS = ("channel", "source", "campaign")


def costs_by_row(scope: Scope) -> dict[str, float] | None:
    """{row: cost} at the query's level, or None when costs cannot answer: at another level,
    or under a filter spend cannot follow (it is known by day, channel, source and campaign:
    a store-sales filter would divide all of a channel's spend by its store sales), said."""
    q, wh = scope.query, scope.wh
    if not wh.has("costs"):
        return None
    if off := [lv for lv in (q.level, *(lv for lv, _ in q.parent)) if lv not in COST_LEVELS]:
        scope.warnings.append(Message("cost_level", level=Level(off[0])))
        return None
    if filters := scope.filters():
        scope.warnings.append(Message("cost_filtered", filters=Fields(filters)))
        return None
    c = wh.table("costs")
    if q.parent:
        c = c.filter(*[c[lv] == v for lv, v in q.parent])
    in_period = (c.date >= scope.start) & (c.date <= scope.end)
    # a row with spend loaded on other days cost 0 in the period; a row never paid for has no cost
    by = c.group_by(row=c[q.level]).agg(cost=c.cost.sum(where=in_period).fill_null(0.0)).to_pandas()
    return dict(zip(by.row, by.cost, strict=True)) if len(by) or wh.count("costs") else None
