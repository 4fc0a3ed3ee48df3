"""Models by name, as the CLI and the API ask for them, and attribution of path files.

Importing this module imports every model, so the registry (`registry.MODELS`) is complete."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.attribution.registry import MODELS
from parcours.attribution.rules import (
    RuleModel,
    TimeDecay,
    touch_credits,
)

NAMES = tuple(sorted(MODELS, key=lambda name: MODELS[name].order))  # filled by the imports above


def make_model(name: str, **params: Any) -> Any:
    """The model called `name`, with those of `params` it takes (order, half_life_days,
    weights, direct: see each model's registration)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; models: {', '.join(NAMES)}")
    return MODELS[name].make(**params)


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
