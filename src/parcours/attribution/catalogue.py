"""Models by name, as the CLI and the API ask for them, and attribution of path files."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.attribution.markov import Markov
from parcours.attribution.ordered import OrderedShapley
from parcours.attribution.rules import (
    Custom,
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    RuleModel,
    TimeDecay,
    touch_credits,
)
from parcours.attribution.shapley import Shapley

NAMES = ("first_touch", "last_touch", "last_non_direct", "linear", "position_based",
         "time_decay", "custom", "markov", "shapley", "ordered_shapley")


def make_model(name: str, *, order: int = 1, half_life_days: float = 7.0,
               weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
               direct: tuple[str, ...] = ("direct",)):
    """The model called `name`, with its parameters."""
    makers = {
        "first_touch": FirstTouch, "last_touch": LastTouch, "linear": Linear,
        "last_non_direct": lambda: LastNonDirect(direct=direct),
        "position_based": PositionBased,
        "time_decay": lambda: TimeDecay(half_life_days=half_life_days),
        "custom": lambda: Custom(*weights),
        "markov": lambda: Markov(order=order),
        "shapley": Shapley,
        "ordered_shapley": OrderedShapley,
    }
    if name not in makers:
        raise ValueError(f"unknown model {name!r}; models: {', '.join(NAMES)}")
    return makers[name]()


def attribute_paths(model, paths: ir.Table | pd.DataFrame) -> pd.DataFrame:
    """(channel, conversions, value[, removal_effect | shapley_value]) from aggregated paths."""
    if not isinstance(model, RuleModel):
        return model.fit(paths).credits()
    if isinstance(model, TimeDecay):
        raise ValueError("time_decay needs touch times; aggregated paths have none")
    # Each distinct path is one journey of clicks, weighted by its conversions.
    if isinstance(paths, pd.DataFrame):
        paths = ibis.memtable(paths)
    p = paths.filter(paths.conversions > 0).mutate(journey_id=ibis.row_number().cast("string"))
    u = p.unnest("path", offset="_pos")
    touches = u.select(
        journey_id=u.journey_id, channel=u.path, position=u._pos + 1,
        n=u._pos.count().over(ibis.window(group_by=u.journey_id)),
        interaction=ibis.literal("click"), conversions=u.conversions, revenue=u.value,
    )
    touches = touches.mutate(is_last=touches.position == touches.n)
    c = touch_credits(model, touches)
    out = c.group_by("channel").agg(conversions=(c.credit * c.conversions).sum(), value=c.value.sum())
    return out.order_by(ibis.desc("conversions")).to_pandas()
