"""Models by name, as the CLI and the API ask for them, and attribution of path files.

Importing this module imports every model, so the registry (`registry.MODELS`) is complete."""

from __future__ import annotations

import functools
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from parcours.attribution.paths import flatten, positions
from parcours.attribution.registry import MODELS
from parcours.attribution.rules import (
    RuleModel,
    touch_credits,
)
from parcours.warehouse import in_memory

NAMES = tuple(sorted(MODELS, key=lambda name: MODELS[name].order))  # filled by the imports above


def make_model(name: str, **params: Any) -> Any:
    """The model called `name`, with those of `params` it takes (order, half_life_days,
    weights, direct: see each model's registration)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; models: {', '.join(NAMES)}")
    return MODELS[name].make(**params)


def attribute_paths(model, paths: pd.DataFrame) -> pd.DataFrame:
    """(channel, conversions, value[, removal_effect | shapley_value]) from aggregated paths,
    each step of a path a touch (as ChannelAttribution's heuristic models read them)."""
    if not MODELS[model.name].on_paths:
        raise ValueError(f"{model.name} needs touch times; aggregated paths have none (attribute a workspace)")
    if not isinstance(model, RuleModel):
        return model.fit(paths).credits()
    converting = paths[paths.conversions > 0].reset_index(drop=True)
    pid, code, names = flatten(converting.path)
    lens, position = positions(pid, len(converting))
    steps = pa.table({  # each distinct path is one journey of clicks, weighted by its conversions
        "journey_id": pid, "channel": pa.array(names[code], pa.string()),
        "position": position, "n": lens[pid], "is_last": position == lens[pid],
        "interaction": pa.array(np.full(len(code), "click")),
        "conversions": converting.conversions.to_numpy(float)[pid],
        "revenue": converting.value.to_numpy(float)[pid],
    })
    return in_memory(steps, functools.partial(_credits, model), key=("path credits", model))


def _credits(model: RuleModel, t: ir.Table) -> ir.Table:
    """A rule model's credits per channel over a table of path steps."""
    c = touch_credits(model, t)
    out = c.group_by("channel").agg(conversions=(c.credit * c.conversions).sum(), value=c.value.sum())
    return out.order_by([ibis.desc("conversions"), "channel"])
