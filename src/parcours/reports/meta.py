"""What a client needs to build a query: the reported dates, the channel tree, filter values."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from parcours.activation.audiences import current
from parcours.build.journeys import require_built
from parcours.contract.config import Config
from parcours.engine.storage import Storage
from parcours.errors import NotBuilt

MAX_VALUES = 200  # per CRM attribute


def query_facts(wh: Storage, config: Config) -> dict:
    """The facts of the build and of the messages. A workspace holding only messages has no
    build: its facts are the messages' (the messaging report needs no build)."""
    with wh.snapshot():  # one build, even if another commits meanwhile
        messages = _messaging(wh)
        try:
            return {**_facts(wh, config), **messages}
        except NotBuilt:
            if not messages["journeys"]:
                raise
            return {**EMPTY, **messages}


# the build's facts when there is no build (a workspace of messages only)
EMPTY: dict[str, object] = {
    "first_day": None, "last_reported_day": None, "cut": None, "channels": {}, "sub_channels": [],
    "channel_groups": [], "media_plans": [], "funnel_stages": [], "categories": [], "crm": {}, "audiences": []}


def _messaging(wh: Storage) -> dict:
    """The messaging journeys and their steps, each in the order it first sent them."""
    if not wh.has("messages"):
        return {"journeys": [], "steps": []}
    m = wh.table("messages")
    firsts = m.group_by(["journey", "step"]).agg(first=m.ts.min()).order_by(["journey", "first", "step"])
    rows = firsts.to_pyarrow().to_pylist()
    return {"journeys": sorted({r["journey"] for r in rows}), "steps": list(dict.fromkeys(r["step"] for r in rows))}


def _facts(wh: Storage, config: Config) -> dict:
    meta = require_built(wh)
    j = wh.table("journeys")
    c = j.filter(j.converted)
    first = c.conv_ts.min().execute()
    t = wh.table("touches")
    tree: dict[str, dict[str, list[str]]] = {}
    combos = t.select("channel", "source", "campaign").distinct().order_by(["channel", "source", "campaign"])
    for r in combos.to_pyarrow().to_pylist():
        tree.setdefault(r["channel"], {}).setdefault(r["source"], []).append(r["campaign"])
    cats = c.select(cat=c.categories.unnest()).distinct().order_by("cat").cat.to_pyarrow().to_pylist()
    attrs = c.select(kv=c.attributes.keys().unnest()).distinct().kv.to_pyarrow().to_pylist()
    crm = {}
    for key in sorted(a for a in attrs if a is not None):
        values = c.select(v=c.attributes.get(key)).filter(ibis._.v.notnull()).distinct().order_by("v").limit(MAX_VALUES)
        crm[key] = values.v.to_pyarrow().to_pylist()
    last_day = (meta["cut"] - dt.timedelta(days=1)).date()
    return {
        "first_day": None if first is None else str(first.date()), "last_reported_day": str(last_day),
        "cut": meta["cut"].isoformat(sep=" "), "channels": tree,
        "sub_channels": _distinct(t, "sub_channel"), "channel_groups": _distinct(t, "channel_group"),
        "media_plans": _distinct(t, "media_plan"), "funnel_stages": list(meta["funnel_stages"]),
        "categories": [x for x in cats if x is not None], "crm": crm,
        "audiences": current(wh),  # as of the last refresh, which saving an audience runs
    }


def _distinct(t: ir.Table, column: str) -> list[str]:
    return t.select(column).distinct().order_by(column)[column].to_pyarrow().to_pylist()
