"""Person profiles: one row per person, the facts audiences are defined on and activation
tools receive (docs/architecture.md, "Person profiles").

Written by the build from its own tables, so a profile is as of the build's cut (D-2): the
touches are the person's journeys' touches, the conversions their converting journeys'.
Message events (people's opens and clicks, unsubscribes) come from `messages` up to the cut,
CRM attributes and identifiers from `crm`. Every column is documented in PROFILE_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from parcours.build.identity import HASHES, with_person
from parcours.build.message_events import machine_open, with_delivery

# name -> what it holds (docs and the audience page read this; one declaration)
PROFILE_COLUMNS: dict[str, str] = {
    "person_id": "the person (persons.person_id)",
    "first_ts": "first touch",
    "last_ts": "last touch",
    "touches": "number of touches",
    "channels": "channels touched, sorted",
    "channel_touches": "touches per channel",
    "channel_last_ts": "last touch per channel",
    "devices": "devices seen (touches and online conversions), sorted",
    "stage": "furthest funnel stage reached ([funnel] stages order)",
    "stage_rank": "its place in [funnel] stages, 1 = the first; 0 = none reached",
    "conversions": "conversions (sales and leads)",
    "revenue": "their revenue",
    "first_conversion_ts": "first conversion",
    "last_conversion_ts": "last conversion",
    "categories": "product categories bought, sorted",
    "returning": "a returning customer: a sale not by a new customer, or two sales; null before any sale",
    "attributes": "CRM attributes: the CRM customer's, else the last conversion's",
    "messages_opened": "messaging journeys whose message the person opened (machine opens left out)",
    "messages_clicked": "messaging journeys whose message the person clicked",
    "unsubscribed": "unsubscribed from (or complained about) a messaging journey",
    "visitor_ids": "the person's visitor ids",
    "user_ids": "the person's user ids (CRM customers as the graph names them)",
    "customer_ids": "the person's CRM customer ids (the CRM's, and those sales carry)",
    "email_sha256": "SHA-256 of the person's emails (CRM, orders, logins)",
    "phone_sha256": "SHA-256 of the person's phones (E.164)",
    "propensity": "probability to convert within [predict] horizon_days of the cut (null: no model yet)",
    "next_best_channel": "the paid channel whose next touch adds the most to it net of its cost, or none",
    "next_best_gain": "what that touch adds to the probability (0 for none)",
}
SCORES = ("propensity", "next_best_channel", "next_best_gain")  # written by parcours.predict after the build
STRINGS = "array<string>"


def profiles(persons: ir.Table, touches: ir.Table, journeys: ir.Table, conversions: ir.Table,
             identities: ir.Table, crm: ir.Table, ids: ir.Table, messages: ir.Table | None,
             stages: tuple[str, ...], cut: ir.TimestampValue,
             keep: Callable[[str, ir.Table], ir.Table] = lambda name, part: part) -> ir.Table:
    """One row per person of `persons` (kind, id, person_id), columns PROFILE_COLUMNS.
    `ids`: each customer's graph id (identity.customer_ids); `conversions` carry it as their
    user_id (identity.with_customers). `keep` may store each part (the build materialises
    them: one query of a dozen aggregates and joins needs more memory than their sum)."""
    # a person is profiled for what they consented to: touches without consent are left
    # out, and a person known by nothing else is not profiled at all
    whose = persons.select("person_id").distinct()
    t = touches.filter(touches.consent.fill_null(True)).semi_join(whose, "person_id")
    converted = journeys.filter(journeys.converted).semi_join(whose, "person_id")
    users = persons.filter(persons.kind == "user").select(_uid="id", person_id="person_id")
    cust = ids.join(users, ids.user_id == users._uid).select("customer_id", "person_id")
    people = ibis.union(t.select("person_id"), converted.select("person_id"), cust.select("person_id"),
                        distinct=True)
    people = keep("_profile_people", people)
    persons = keep("_profile_persons", persons.semi_join(people, "person_id"))
    known = persons.group_by("person_id").agg(
        visitor_ids=persons.id.collect(where=persons.kind == "visitor").sort(),
        user_ids=persons.id.collect(where=persons.kind == "user").sort())

    crm_rows = crm.join(cust, "customer_id").select("person_id", "customer_id", "attributes", *HASHES)
    crm_facts = cust.group_by("person_id").agg(customer_ids=cust.customer_id.collect().sort()).left_join(
        crm_rows.group_by("person_id").agg(crm_attributes=crm_rows.attributes.argmin(crm_rows.customer_id)),
        "person_id").select("person_id", "customer_ids", "crm_attributes")

    hashes = _hashes(crm_rows, with_person(conversions, persons), with_person(identities, persons))

    channel_maps = _channel_maps(t)
    rank = ibis.cases(*((t.funnel_stage == s, i + 1) for i, s in enumerate(stages)), else_=0) if stages \
        else ibis.literal(0)
    touch_facts = t.group_by("person_id").agg(first_ts=t.ts.min(), last_ts=t.ts.max(), touches=t.count(),
                                              stage_rank=rank.max(), _devices=t.device.collect())

    j = converted
    sale = j.kind == "sale"
    conv_facts = j.group_by("person_id").agg(
        conversions=j.count(), revenue=j.revenue.sum(), first_conversion_ts=j.conv_ts.min(),
        last_conversion_ts=j.conv_ts.max(), _sales=sale.cast("int64").sum(),
        _not_new=(sale & (j.new_customer == False)).any(),  # noqa: E712 (a column, not a bool)
        conv_attributes=j.attributes.argmax(j.conv_ts),
        _conv_devices=j.conv_device.collect(where=j.origin == "online"))
    cats = j.select("person_id", category=j.categories.unnest()).distinct()
    cat_facts = cats.group_by("person_id").agg(categories=cats.category.collect().sort())

    parts = (touch_facts, channel_maps, conv_facts, cat_facts, crm_facts, hashes,
             _message_facts(messages, persons, cut, people))
    out = people.left_join(known, "person_id").select(people.person_id, "visitor_ids", "user_ids")
    for i, part in enumerate(parts):  # a join at a time: each one's hash table alone in memory
        part = keep("_profile_part", part)
        cols = list(out.columns)
        out = keep(f"_profile_out{i % 2}", out.left_join(part, "person_id").select(
            *cols, *[c for c in part.columns if c != "person_id"]))
    return _profile_columns(out, stages)


def _channel_maps(t: ir.Table) -> ir.Table:
    """(person_id, channels, channel_touches, channel_last_ts): each person's channels, sorted,
    with their touches and last touch."""
    per_channel = t.group_by(["person_id", "channel"]).agg(n=t.count(), last=t.ts.max())
    entry = ibis.struct({"channel": per_channel.channel, "n": per_channel.n, "last": per_channel.last})
    channel_maps = per_channel.group_by("person_id").agg(_e=entry.collect())  # engines sort structs field by field
    e = channel_maps._e.sort()
    channels = e.map(lambda x: x["channel"])
    return channel_maps.select("person_id", channels=channels,
                               channel_touches=ibis.map(channels, e.map(lambda x: x["n"])),
                               channel_last_ts=ibis.map(channels, e.map(lambda x: x["last"])))


def _profile_columns(out: ir.Table, stages: tuple[str, ...]) -> ir.Table:
    """The profile's columns (PROFILE_COLUMNS) from the joined parts: empty lists, zeros and
    falses where a part had no row; the scores null until parcours.predict writes them."""
    empty = ibis.literal([], type=STRINGS)
    devices = out._devices.coalesce(empty).concat(out._conv_devices.coalesce(empty)).unique().sort()
    stage = ibis.cases(*((out.stage_rank == i + 1, s) for i, s in enumerate(stages)),
                       else_=ibis.null("string")) if stages else ibis.null("string")
    return out.select(
        "person_id", "first_ts", "last_ts", touches=out.touches.fill_null(0),
        channels=out.channels.coalesce(empty), channel_touches=out.channel_touches,
        channel_last_ts=out.channel_last_ts, devices=devices, stage=stage,
        stage_rank=out.stage_rank.fill_null(0).cast("int64"),
        conversions=out.conversions.fill_null(0), revenue=out.revenue.fill_null(0.0),
        first_conversion_ts=out.first_conversion_ts, last_conversion_ts=out.last_conversion_ts,
        categories=out.categories.coalesce(empty),
        returning=ibis.ifelse(out._sales.fill_null(0) > 0, (out._sales > 1) | out._not_new.fill_null(False),
                              ibis.null("boolean")),
        attributes=out.crm_attributes.coalesce(out.conv_attributes),
        messages_opened=out.messages_opened.coalesce(empty), messages_clicked=out.messages_clicked.coalesce(empty),
        unsubscribed=out.unsubscribed.fill_null(False),
        visitor_ids=out.visitor_ids.coalesce(empty), user_ids=out.user_ids.coalesce(empty),
        customer_ids=out.customer_ids.coalesce(empty),
        email_sha256=out.email_sha256.coalesce(empty), phone_sha256=out.phone_sha256.coalesce(empty),
        propensity=ibis.null("float64"), next_best_channel=ibis.null("string"), next_best_gain=ibis.null("float64"),
    )


def _hashes(*sources: ir.Table) -> ir.Table:
    """(person_id, email_sha256, phone_sha256): each person's distinct hashes, sorted."""
    long = ibis.union(*(s.filter(s[h].notnull() & s.person_id.notnull()).select(
        "person_id", kind=ibis.literal(h), value=s[h]) for s in sources for h in HASHES), distinct=True)
    return long.group_by("person_id").agg(**{
        h: long.value.collect(where=long.kind == h).sort() for h in HASHES})


def _message_facts(messages: ir.Table | None, persons: ir.Table, cut: ir.TimestampValue,
                   people: ir.Table) -> ir.Table:
    """(person_id, messages_opened, messages_clicked, unsubscribed) from people's events."""
    if messages is None:
        return people.select("person_id", messages_opened=ibis.null(STRINGS), messages_clicked=ibis.null(STRINGS),
                             unsubscribed=ibis.null("boolean")).limit(0)
    m = with_delivery(messages.filter(messages.ts < cut))
    m = m.mutate(_machine=machine_open(m, m._delivered))
    m = with_person(m.filter(~m._machine), persons).filter(lambda x: x.person_id.notnull())
    opened = m.event == "opened"
    clicked = m.event == "clicked"
    return m.group_by("person_id").agg(
        messages_opened=m.journey.collect(where=opened).unique().sort(),
        messages_clicked=m.journey.collect(where=clicked).unique().sort(),
        unsubscribed=m.event.isin(("unsubscribed", "complained")).any())
