"""A person's features at a cut-off: what the propensity model learns from and scores on.

Read from the canonical tables (touchpoints, conversions, messages) and the build's identity
graph, never from the build's journeys: which touches a journey keeps depends on conversions
that come later, and a feature must know nothing after its cut-off. Every event is kept only
when its time is before the cut-off (tests/test_predict.py changes everything after one and
finds the same features); the label is a conversion in [cut-off, cut-off + horizon). CRM
attributes are the CRM's, which has no time: they are taken as they are now.

Features, per person (FEATURES documents each):
- per channel: touches, days since the last one, and decayed exposure (each touch weighs
  0.5 ** (age in days / half-life));
- touches, days since the first and the last touch, devices, the share of touches on a phone;
- conversions, days since the last one, revenue; people's message opens and clicks and an
  unsubscribe (machine opens left out, as in the messaging report);
- each CRM attribute as a category.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from parcours.build.channels import classify
from parcours.build.identity import with_customers, with_person
from parcours.build.message_events import MESSAGE, machine_open, with_delivery
from parcours.contract.config import Config
from parcours.engine.storage import Storage

PER_CHANNEL = {"n": "touches of the channel", "days": "days since its last touch",
               "exposure": "its decayed exposure"}
FEATURES = {
    "touches": "touches in the history", "days_first": "days since the first touch",
    "days_last": "days since the last touch", "devices": "distinct devices touched on",
    "mobile_share": "share of touches on a phone", "conversions": "conversions in the history",
    "days_conversion": "days since the last conversion", "revenue": "revenue in the history",
    "opens": "people's opens of messages", "clicks": "clicks in messages", "unsubscribed": "unsubscribed",
}
MAX_ATTRIBUTE_VALUES = 50  # an attribute with more values is an identifier, not a category


@dataclass(frozen=True)
class Events:
    """Each person's events of the period, read once for every cut-off."""

    touches: ir.Table  # person_id, ts, channel, device
    conversions: ir.Table  # person_id, ts, revenue
    messages: ir.Table | None  # person_id, ts, event (people's)
    attributes: ir.Table | None  # person_id, attr_<key>... (the CRM's)
    channels: tuple[str, ...]
    attribute_keys: tuple[str, ...]


def _days(cut: dt.datetime, ts: ir.TimestampValue) -> ir.FloatingValue:
    return (ibis.timestamp(cut).epoch_seconds() - ts.epoch_seconds()) / 86400.0


def events(wh: Storage, config: Config, since: dt.datetime, until: dt.datetime, whom: ir.Table | None = None,
           channels: tuple[str, ...] | None = None, keys: tuple[str, ...] | None = None) -> Events:
    """The events in [since, until) of the build's persons (those of `whom`, a person_id
    column, when given), stored once (`_pred_*` tables). A kept fit gives its own `channels`
    and attribute `keys`: the features are then the columns it learnt from."""
    persons = wh.table("persons")
    ids = None
    if whom is not None:
        persons = persons.semi_join(whom, "person_id")
        ids = persons.id
    tp = _theirs(wh.table("touchpoints"), ids)
    tp = tp.filter((tp.ts >= since) & (tp.ts < until) & tp.consent.fill_null(True))  # person-level: consented only
    if ids is not None:  # their rows, found once (classifying reads its rows twice)
        tp = wh.materialize("_pred_raw", tp)
    tp = classify(with_person(tp, persons).filter(lambda t: t.person_id.notnull()), config)  # theirs alone classified
    touches = wh.materialize("_pred_touches", tp.select("person_id", "ts", "channel", "device"))
    conv = wh.table("conversions")
    conv = conv.filter((conv.ts >= since) & (conv.ts < until))
    if wh.has("customer_ids"):
        conv = with_customers(conv, wh.table("customer_ids"))
    conv = with_person(_theirs(conv, ids), persons).filter(lambda t: t.person_id.notnull())
    conversions = wh.materialize("_pred_conversions", conv.select("person_id", "ts", revenue=conv.revenue.fill_null(0)))
    messages = None
    if wh.has("messages"):
        m = wh.table("messages")
        m = m.filter((m.ts >= since) & (m.ts < until))
        if ids is not None:  # their messages, every event of each (its delivery tells a machine's open)
            m = m.semi_join(_theirs(m, ids).select(*MESSAGE).distinct(), list(MESSAGE))
        m = with_delivery(m)
        m = with_person(m.filter(~machine_open(m, m._delivered)), persons).filter(lambda t: t.person_id.notnull())
        messages = wh.materialize("_pred_messages", m.select("person_id", "ts", "event"))
    if channels is None:
        channels = tuple(sorted(c for c in touches.select("channel").distinct().channel.to_pyarrow().to_pylist()
                                if c))
    attributes, keys = _attributes(wh, persons, keys)
    return Events(touches, conversions, messages, attributes, channels, keys)


def _theirs(t: ir.Table, ids: ir.Column | None) -> ir.Table:
    """The rows of `t` that `with_person` can give a person of `ids` (every row when None),
    kept before it joins: scoring a few persons then reads their rows, not everyone's."""
    return t if ids is None else t.filter(t.visitor_id.isin(ids) | t.user_id.isin(ids))


def _attributes(wh: Storage, persons: ir.Table,
                keys: tuple[str, ...] | None) -> tuple[ir.Table | None, tuple[str, ...]]:
    """(person_id, attr_<key>...) from the CRM: each attribute with few values, a category (or
    the `keys` given)."""
    if keys == () or not (wh.has("crm") and wh.has("customer_ids")):
        return None, ()
    crm, ids = wh.table("crm"), wh.table("customer_ids")
    users = persons.filter(persons.kind == "user").select(_uid="id", person_id="person_id")
    rows = crm.join(ids, "customer_id").join(users, ids.user_id == users._uid).select("person_id", "customer_id",
                                                                                       "attributes")
    rows = rows.filter(rows.attributes.notnull())
    kept = list(keys or ())
    if keys is None:
        found = [k for k in rows.select(k=rows.attributes.keys().unnest()).distinct().k.to_pyarrow().to_pylist()
                 if k is not None]
        for key in sorted(found):
            n = rows.select(v=rows.attributes.get(key)).v.nunique().execute()
            if 1 < n <= MAX_ATTRIBUTE_VALUES:
                kept.append(key)
    if not kept:
        return None, ()
    first = rows.group_by("person_id").agg(attributes=rows.attributes.argmin(rows.customer_id))
    table = first.select("person_id", **{f"attr_{k}": first.attributes.get(k) for k in kept})
    return wh.materialize("_pred_attributes", table), tuple(kept)


def people(ev: Events, cut: dt.datetime, history_days: int) -> ir.Table:
    """(person_id) of the persons with an event in the history before `cut`: the rows of
    `features` at that cut."""
    since = cut - dt.timedelta(days=history_days)
    parts = [ev.touches, ev.conversions, *([ev.messages] if ev.messages is not None else [])]
    return ibis.union(*(e.filter((e.ts >= since) & (e.ts < cut)).select("person_id") for e in parts), distinct=True)


def features(ev: Events, cut: dt.datetime, history_days: int, half_life_days: float) -> ir.Table:
    """One row per person with an event in the history before `cut` (`people`): person_id,
    then every feature (columns(ev) in that order)."""
    since = cut - dt.timedelta(days=history_days)
    t = ev.touches.filter((ev.touches.ts >= since) & (ev.touches.ts < cut))
    age = _days(cut, t.ts)
    weight = 0.5 ** (age / half_life_days)
    per_channel = {}
    for i, c in enumerate(ev.channels):
        mine = t.channel == c
        per_channel[f"n_{i}"] = mine.cast("int64").sum()
        per_channel[f"days_{i}"] = age.min(where=mine)
        per_channel[f"exposure_{i}"] = weight.sum(where=mine)
    touch = t.group_by("person_id").agg(
        touches=t.count(), days_first=age.max(), days_last=age.min(), devices=t.device.nunique(),
        mobile_share=(t.device == "mobile").cast("float64").mean(), **per_channel)
    c = ev.conversions.filter((ev.conversions.ts >= since) & (ev.conversions.ts < cut))
    conv = c.group_by("person_id").agg(conversions=c.count(), days_conversion=_days(cut, c.ts).min(),
                                       revenue=c.revenue.sum())
    parts = [touch, conv]
    if ev.messages is not None:
        m = ev.messages.filter((ev.messages.ts >= since) & (ev.messages.ts < cut))
        parts.append(m.group_by("person_id").agg(
            opens=(m.event == "opened").cast("int64").sum(), clicks=(m.event == "clicked").cast("int64").sum(),
            unsubscribed=m.event.isin(("unsubscribed", "complained")).any().cast("int64")))
    out = people(ev, cut, history_days)
    for part in parts:
        cols = list(out.columns)
        out = out.left_join(part, "person_id").select(*cols, *[x for x in part.columns if x != "person_id"])
    if ev.attributes is not None:
        cols = list(out.columns)
        out = out.left_join(ev.attributes, "person_id").select(*cols, *[f"attr_{k}" for k in ev.attribute_keys])
    zero = {col: out[col].fill_null(0) for col in out.columns if counted(col)}
    return out.mutate(**zero).select("person_id", *columns(ev))


def counted(column: str) -> bool:
    """A count or a sum: 0, not missing, for a person with nothing to count (a "days since"
    stays missing: there is no such day)."""
    return column.startswith(("n_", "exposure_")) or column in ("touches", "conversions", "revenue", "opens",
                                                                "clicks", "unsubscribed")


def columns(ev: Events) -> list[str]:
    """The features' names, in order: per channel (n_i, days_i, exposure_i for ev.channels[i]),
    then FEATURES (without messages when there are none), then attr_<key>."""
    per = [f"{k}_{i}" for i in range(len(ev.channels)) for k in PER_CHANNEL]
    common = [f for f in FEATURES if ev.messages is not None or f not in ("opens", "clicks", "unsubscribed")]
    return [*per, *common, *(f"attr_{k}" for k in ev.attribute_keys)]


def labels(ev: Events, cut: dt.datetime, horizon_days: int) -> ir.Table:
    """(person_id, converted): the persons with a conversion in [cut, cut + horizon)."""
    c = ev.conversions
    c = c.filter((c.ts >= cut) & (c.ts < cut + dt.timedelta(days=horizon_days)))
    return c.select("person_id").distinct().mutate(converted=ibis.literal(1))
