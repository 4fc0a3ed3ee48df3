"""What a client needs to build a query: the reported dates, the channel tree, filter values."""

from __future__ import annotations

import datetime as dt

import ibis

from parcours.config import Config
from parcours.journeys import require_built
from parcours.storage import Storage

MAX_VALUES = 200  # per CRM attribute


def query_facts(wh: Storage, config: Config) -> dict:
    with wh.snapshot():  # one build, even if another commits meanwhile
        return _facts(wh, config)


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
        "audience_attribute": config.reports.audience_attribute,
        "audiences": crm.get(config.reports.audience_attribute, []),
    }


def _distinct(t, column: str) -> list[str]:
    return t.select(column).distinct().order_by(column)[column].to_pyarrow().to_pylist()
