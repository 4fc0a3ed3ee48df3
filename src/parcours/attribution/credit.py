"""Attributed conversions and value per dimension level, for every model.

Rule-based models weight touches directly. Data-driven models (Markov, Shapley) are fitted on
the paths at `fit_level` (channel by default) and each journey's conversion is split over its
touches in proportion to the fitted weight of the touch's value at that level (a journey whose
values all weigh 0, or negative, is split evenly). Attribution is therefore always a sum of
per-touch credits: a campaign drill-down adds up to its channel, and every model's total is
the number of conversions. A journey with no touch at all (a store sale by an unknown
visitor) is credited to NO_TOUCH.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.attribution.paths import paths_from_warehouse
from parcours.attribution.rules import RuleModel, converting_touches, touch_credits
from parcours.query import LEVELS
from parcours.warehouse import Warehouse

NO_TOUCH = "(no touch)"


def weighted_credits(touches: ir.Table, level: str, weights: dict[str, float]) -> ir.Table:
    """`touches` with `credit` in proportion to weights[touch's level value] (per journey)."""
    table = ibis.memtable(pd.DataFrame({"_key": list(weights), "_w": [max(w, 0.0) for w in weights.values()]}))
    t = touches.left_join(table, touches[level] == table._key).drop("_key")
    t = t.mutate(_w=t._w.fill_null(0.0))
    total = t._w.sum().over(ibis.window(group_by=t.journey_id))
    t = t.mutate(credit=ibis.ifelse(total > 0, t._w / total, 1.0 / t.n.cast("float64")))
    return t.mutate(value=t.credit * t.revenue).drop("_w")


def credited_touches(model, wh: Warehouse, fit_level: str = "channel") -> ir.Table:
    """The touches of converting journeys with `credit` (share of the conversion) and `value`."""
    if fit_level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    touches = converting_touches(wh)
    if isinstance(model, RuleModel):
        return touch_credits(model, touches)
    fitted = model.fit(paths_from_warehouse(wh, fit_level))
    return weighted_credits(touches, fit_level, fitted.weights())


def attributed(model, wh: Warehouse, level: str = "channel", fit_level: str = "channel") -> ir.Table:
    """(level, conversions, value) under `model`; journeys without touches included."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    c = credited_touches(model, wh, fit_level)
    by_level = c.group_by(c[level].name(level)).agg(conversions=c.credit.sum(), value=c.value.sum())
    j = wh.table("journeys")
    empty = j.filter(j.converted & (j.n_touches == 0))
    none = empty.aggregate(conversions=empty.count().cast("float64"), value=empty.revenue.sum())
    none = none.filter(none.conversions > 0).mutate(**{level: ibis.literal(NO_TOUCH)})
    return by_level.union(none.select(level, "conversions", "value"))
