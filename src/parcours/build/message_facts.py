"""Message facts: each message's counts, each contact's entry and each click, kept by the build
so the messaging report reads a row per message, contact or click instead of every event, and
finds no person it already knows (docs/architecture.md, "Message facts").

The messaging report reads messages as they are, today's included; these tables hold what the
events say up to a load (`MARK`: the last load_seq they include, how many events that was, and
which persons their `person_id` was looked up in). A reader takes the facts of the recipients
no later event names and works out the others' from their events (`current`): the same answer
as from every event, at the cost of the recipients loaded since. A deleted event (an erasure,
the retention) leaves fewer events than the mark says: the facts are not used until the next
build writes them again. A build that wrote persons makes the persons looked up stale: they
are looked up again, by the reader until the build's last step does it (`keep`).

A build folds in the events loaded since the mark: every message, contact and click of a
recipient they name is worked out again from all that recipient's events (a message is one
recipient's, so nothing else changes), in proportion to what was loaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from parcours.build.identity import with_person
from parcours.build.message_events import MESSAGE, flagged
from parcours.contract.schema import LOAD_SEQ
from parcours.engine.storage import Storage

FACTS = "message_facts"  # a row per message (MESSAGE and its channel)
CONTACTS = "message_contacts"  # a row per message and the ids its events carry, with its person
CLICKS = "message_clicks"  # a row per click, with its person
MARK = "message_facts_mark"  # one row: seq, events, persons_at (build_meta's, when person_id was looked up), version
VERSION = 2  # bump when the facts change shape: facts of another version are written again, never read
WITH_PERSON = (CONTACTS, CLICKS)
TEMPS = ("_facts_named",)


def per_message(m: ir.Table) -> ir.Table:
    """A row per message of the events `m`: what the report adds up. An open is a machine's by
    its own marks (`marked_opens`) or by its timing; the opens that only their timing can tell
    are kept (`doubtful_opens`) with the message's delivery (`delivered_at`)."""
    sent, delivered, bounced, opened = (m.event == e for e in ("sent", "delivered", "bounced", "opened"))
    marked = opened & flagged(m)

    def count(condition: ir.BooleanValue) -> ir.IntegerValue:  # COUNT(*) FILTER: a third faster than a SUM
        return m.count(where=condition)

    per = m.group_by([*MESSAGE, "channel"]).agg(
        sends=count(sent), deliveries=count(delivered), bounces=count(bounced),
        hard_bounces=count(bounced & (m.bounce_type == "hard")),
        soft_bounces=count(bounced & (m.bounce_type == "soft")),
        undelivered=count(m.event == "undelivered"), opens=count(opened), marked_opens=count(marked),
        doubtful_opens=m.ts.collect(where=opened & ~marked), delivered_at=m.ts.min(where=delivered),
        first_at=m.ts.min(), total_clicks=count(m.event == "clicked"), abuse_reports=count(m.event == "complained"),
        first_sent=m.ts.min(where=sent), unsubscribed=(m.event == "unsubscribed").any())
    none = ibis.null(per.doubtful_opens.type())  # no open in doubt: NULL on every engine (Spark collects [])
    return per.mutate(doubtful_opens=ibis.ifelse(per.doubtful_opens.length() > 0, per.doubtful_opens, none))


def per_contact(m: ir.Table) -> ir.Table:
    """A row per message and ids of the events `m`: when they came into the journey by it
    (`entry`), whether they were held out or sent it (the lift's entrants, added up by person;
    by message, so a period keeps the messages first sent in it). A person is a function of
    the ids: looked up once a contact, not once an event."""
    return m.group_by([*MESSAGE, "user_id", "visitor_id"]).agg(
        entry=m.ts.min(), held=(m.event == "held_out").any(), sent=(m.event == "sent").any())


def clicks(m: ir.Table) -> ir.Table:
    """The clicks of the events `m`: what orders and credit go to."""
    return m.filter(m.event == "clicked").select("event_id", "ts", *MESSAGE, "channel", "user_id", "visitor_id")


MAKE: dict[str, Callable[[ir.Table], ir.Table]] = {FACTS: per_message, CONTACTS: per_contact, CLICKS: clicks}


def current(wh: Storage, table: str, **where: str | None) -> ir.Table | None:
    """The facts `table` of the messages whose columns are as `where` says (journey, step:
    None for any), brought up to now: the kept rows of recipients no event loaded since names,
    and the others' worked out from their events; a CONTACTS or CLICKS row with its person.
    None when no facts can be used (never kept, or events deleted since)."""
    mark = _mark(wh)
    if mark is None or not wh.has(table):
        return None
    seq, events, persons_at = mark
    messages = wh.table("messages")
    load = messages[LOAD_SEQ].fill_null(0)
    state = messages.aggregate(upto=messages.count(where=load <= seq), since=messages.count(where=load > seq))
    upto, since = state.to_pyarrow().to_pylist()[0].values()
    if upto != events:
        return None
    kept = wh.table(table)
    for column, value in where.items():
        if value is not None:
            kept, messages = kept.filter(kept[column] == value), messages.filter(messages[column] == value)
    if table in WITH_PERSON and persons_at != _persons_at(wh):  # a build wrote persons since
        kept = with_person(kept.drop("person_id"), wh.table("persons"))
    if not since:
        return kept
    named = messages.filter(messages[LOAD_SEQ].fill_null(0) > seq).select("recipient").distinct()
    new = MAKE[table](messages.semi_join(named, "recipient"))
    if table in WITH_PERSON:
        new = with_person(new, wh.table("persons"))
    return kept.anti_join(named, "recipient").union(new)


def _mark(wh: Storage) -> tuple[int, int, dt.datetime | None] | None:
    if not wh.has(MARK):
        return None
    rows = wh.table(MARK).to_pyarrow().to_pylist()
    if not rows or rows[0].get("version") != VERSION:
        return None
    return int(rows[0]["seq"]), int(rows[0]["events"]), rows[0]["persons_at"]


def _persons_at(wh: Storage) -> dt.datetime | None:
    """When the last build that wrote persons ran (build_meta's persons_at), None before one."""
    if not wh.has("build_meta"):
        return None
    rows = wh.table("build_meta").to_pyarrow().to_pylist()
    return rows[0].get("persons_at") if rows else None


def keep(wh: Storage, full: bool = False, changed: ir.Table | None = None) -> None:
    """Bring the facts up to the messages' last load and the persons' last build: the
    recipients named since the mark worked out again, and those whose contacts or clicks are
    of a person the build wrote (`changed`: person_id, old and new; every one without it), or
    every recipient (`full`, no usable mark, or events deleted since)."""
    if not wh.has("messages"):
        return
    m = wh.table("messages")
    mark = None if full or not all(wh.has(t) for t in MAKE) else _mark(wh)
    load = m[LOAD_SEQ].fill_null(0)
    state = m.aggregate(seq=load.max().fill_null(0), events=m.count(),
                        kept=m.count(where=load <= (mark[0] if mark is not None else -1)))
    seq, events, kept = state.to_pyarrow().to_pylist()[0].values()
    if mark is None and not events and not wh.has(MARK):
        return  # no message, no facts: nothing to read them for
    if mark is not None and kept != mark[1]:
        mark = None  # events deleted since: every fact again
    upto = m.filter(load <= seq)  # the events loaded since this step began wait for the next build
    persons_at, persons = _persons_at(wh), wh.table("persons") if wh.has("persons") else None
    moved = mark is not None and mark[2] != persons_at  # a build wrote persons since they were looked up
    if mark is not None and mark[0] == seq and not moved:
        return  # nothing loaded, and no person written, since
    if moved and (changed is None or persons is None):
        mark = None  # which persons it wrote is not known: every fact again
    named = None
    if mark is not None:
        new = [upto.filter(upto[LOAD_SEQ].fill_null(0) > mark[0]).select("recipient")]
        if moved and changed is not None and persons is not None:
            new += [_of(wh.table(t), persons, changed) for t in WITH_PERSON]
        named = wh.materialize("_facts_named", ibis.union(*new, distinct=True))

    def made(table: str, rows: ir.Table) -> ir.Table:
        made = MAKE[table](rows)
        if table not in WITH_PERSON:
            return made
        if persons is None:
            return made.mutate(person_id=ibis.null("string"))
        return with_person(made, persons)

    with wh.transaction():
        for table in MAKE:
            if named is None:
                wh.replace(table, made(table, upto))
            else:
                wh.delete(table, "recipient", named)
                wh.insert(table, made(table, upto.semi_join(named, "recipient")))
        wh.replace(MARK, ibis.memtable({"seq": [seq], "events": [events], "persons_at": [persons_at],
                                        "version": [VERSION]},
                                       schema={"seq": "int64", "events": "int64", "persons_at": "timestamp(6)",
                                               "version": "int64"}))
    for name in TEMPS:
        wh.drop(name)


def _of(t: ir.Table, persons: ir.Table, changed: ir.Table) -> ir.Table:
    """The recipients of the rows of `t` (CONTACTS, CLICKS) whose person is one of `changed`:
    as looked up then (an old person) or as the persons are now (a new one)."""
    ids = persons.semi_join(changed, "person_id")
    visitors = ids.filter(ids.kind == "visitor").id
    users = ids.filter(ids.kind == "user").id
    hit = t.person_id.isin(changed.person_id) | t.visitor_id.isin(visitors) | t.user_id.isin(users)
    return t.filter(hit.fill_null(False)).select("recipient")
