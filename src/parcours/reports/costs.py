"""Costs of the period per row, for CPA and ROAS (costs are loaded per day, channel, source
and campaign)."""

from __future__ import annotations

from parcours.reports.base import Scope

COST_LEVELS = ("channel", "source", "campaign")


def costs_by_row(scope: Scope) -> dict[str, float] | None:
    """{row: cost} at the query's level, or None when costs cannot answer at that level."""
    q, wh = scope.query, scope.wh
    if not wh.has("costs") or q.level not in COST_LEVELS or any(lv not in COST_LEVELS for lv, _ in q.parent):
        return None
    c = wh.table("costs")
    c = c.filter(c.date >= scope.start, c.date <= scope.end, *[c[lv] == v for lv, v in q.parent])
    by = c.group_by(row=c[q.level]).agg(cost=c.cost.sum()).to_pandas()
    return dict(zip(by.row, by.cost, strict=True)) if len(by) or wh.count("costs") else None
