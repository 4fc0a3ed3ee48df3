"""Messaging journeys (issue 15): the engagement of email and SMS journeys' messages, as
emailing tools count it, from the `messages` table alone (no build, today included).

A message is the pair (step, recipient) within a journey. Counts of events ("total_opens")
count every event; "opened", "clicked" and "unsubscribed" count messages that had the event
at least once. Rates are fractions, None where their denominator is 0. Machine opens (a mail
privacy proxy fetching the tracking pixel, not a person) are counted apart and left out of
`opened`, `total_opens` and the rates (which they are: `parcours.build.message_events`).

Orders (`orders`, needs conversions and a build): a conversion goes to the last message its
person clicked (or opened, by a person) within `window_days` before it, the person found
through the message's user_id or visitor_id in the identity graph (`persons`). The engine
finds each conversion's message once (`attributed_orders`); any rows are rolled up from it.

Rows (`by`): a journey, a step (its journey beside it: two journeys may name a step alike), a
channel, a recipient, or TOTAL (one row for everything selected). The report `messaging`
puts these together with the lift and the multi-touch credit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.build import message_facts
from parcours.build.identity import with_customers, with_person
from parcours.build.journeys import require_built
from parcours.build.message_events import MESSAGE, machine_open, soon, with_delivery
from parcours.contract.config import ATTRIBUTE_TO
from parcours.contract.exprs import via_arrow
from parcours.contract.query import MESSAGE_ROWS as BY
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput

TOTAL = "(all)"  # `by` for one row of everything selected
KEYS = {"journey": ["journey"], "step": ["journey", "step"], "channel": ["channel"], "recipient": ["recipient"],
        TOTAL: ["_all"]}
# rate -> (numerator, denominator)
RATES = {
    "delivery_rate": ("deliveries", "sends"),
    "bounce_rate": ("bounces", "email_sends"),
    "undelivered_rate": ("undelivered", "sms_sends"),
    "open_rate": ("opened", "email_deliveries"),
    "click_rate": ("clicked", "deliveries"),
    "clicks_per_unique_opens": ("opened_and_clicked", "opened"),
    "unsubscribe_rate": ("unsubscribed", "deliveries"),
    "abuse_rate": ("abuse_reports", "deliveries"),
}
COLUMNS = ("sends", "deliveries", "delivery_rate", "bounces", "hard_bounces", "soft_bounces", "bounce_rate",
           "undelivered", "undelivered_rate",
           "opened", "total_opens", "open_rate", "machine_opens", "clicked", "total_clicks", "click_rate",
           "clicks_per_unique_opens", "unsubscribed", "unsubscribe_rate", "abuse_reports", "abuse_rate",
           "first_sent")


@dataclass(frozen=True)
class Selection:
    """Which message events: one journey and step (all when None), sent from `start` to
    `end` (days, included; all when None), machine opens counted as opens or apart."""

    journey: str | None = None
    step: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    machine_opens: bool = False


def events(wh: Storage, selection: Selection, machine: bool = True) -> ir.Table:
    """The selected message events, `_all` a constant (the key of the TOTAL row), and with
    `machine` the machine opens marked (`_machine`). The period keeps whole messages: those
    first sent in it. Both need the message's events together: one window over the message
    gives its first event and its delivery."""
    m = _chosen(wh, selection)
    period = selection.start is not None or selection.end is not None
    if machine or period:
        m = with_delivery(m)
        m = m.filter(_sent_in(m._first, selection))
        if machine:
            m = m.mutate(_machine=machine_open(m, m._delivered))
        m = m.drop("_first", "_delivered")
    return m


def messages(wh: Storage, selection: Selection) -> ir.Table:
    """One row per selected message (MESSAGE and its channel, `_all`): its counts (ADDITIVE's
    per message), `first_sent` and whether it was opened, clicked, unsubscribed from. Read
    from the facts the build keeps, brought up to now (`message_facts.current`), else worked
    out from every event; the opens only their timing tells apart are told apart here, once
    the message's delivery is known. The period keeps messages first sent in it, as `events`."""
    per = message_facts.current(wh, message_facts.FACTS, journey=selection.journey, step=selection.step)
    if per is None:
        per = message_facts.per_message(_chosen(wh, selection))
    per = per.filter(_sent_in(per.first_at, selection)).mutate(_all=ibis.literal(TOTAL))
    timed = per.doubtful_opens.filter(lambda ts: soon(ts, per.delivered_at)).length().fill_null(0)
    per = per.mutate(machine_opens=per.marked_opens + timed, _clicked=per.total_clicks > 0,
                     _unsubscribed=per.unsubscribed)
    total_opens = per.opens if selection.machine_opens else per.opens - per.machine_opens
    # an email clicked was opened, its pixel blocked or not (as Mailchimp counts it)
    opened_by_person = (total_opens > 0) | (per._clicked & (per.channel == "email"))
    return per.mutate(total_opens=total_opens, _opened=opened_by_person)


def _chosen(wh: Storage, selection: Selection) -> ir.Table:
    """The messages table, of the selection's journey and step, `_all` a constant."""
    m = wh.table("messages")
    if selection.journey is not None:
        m = m.filter(m.journey == selection.journey)
    if selection.step is not None:
        m = m.filter(m.step == selection.step)
    return m.mutate(_all=ibis.literal(TOTAL))


def _sent_in(first: ir.TimestampValue, selection: Selection) -> ir.BooleanValue:
    """Whether a message whose first event is `first` was sent in the selection's period."""
    start, end = selection.start, selection.end
    after = first >= ibis.timestamp(dt.datetime.combine(start, dt.time())) if start else ibis.literal(True)
    before = (first < ibis.timestamp(dt.datetime.combine(end + dt.timedelta(days=1), dt.time())) if end
              else ibis.literal(True))
    return after & before


def _keys(by: str) -> list[str]:
    if by not in KEYS:
        raise InvalidInput(f"by must be one of {', '.join(BY)}")
    return KEYS[by]


def _count(condition: ir.BooleanValue) -> ir.IntegerValue:
    return condition.cast("int64").sum()


# What is summed from messages to rows (the totals add these up again): each a count.
ADDITIVE = ("sends", "email_sends", "sms_sends", "deliveries", "email_deliveries", "bounces", "hard_bounces",
            "soft_bounces", "undelivered", "opened", "total_opens", "machine_opens", "clicked", "total_clicks",
            "opened_and_clicked", "unsubscribed", "abuse_reports")
EMAIL_OPENS = ("opened", "total_opens", "machine_opens")  # an SMS has no open to track: not applicable, not 0


def engagement(wh: Storage, by: str = "journey", journey: str | None = None, step: str | None = None,
               selection: Selection | None = None, detail: bool = False) -> pd.DataFrame:
    """One row per value of `by` (journey, step, channel, recipient or TOTAL) with COLUMNS;
    the messages of one `journey` (and `step`) when given, or of a whole `selection`. No
    message: no row. With `detail`, also the counts rates are made of (ADDITIVE) and the
    recipients delivered: what `totals` adds up. One pass: messages (`messages`) to rows."""
    keys = _keys(by)
    selection = selection or Selection(journey, step)
    per = messages(wh, selection)
    email, sms = per.channel == "email", per.channel == "sms"
    rows = per.group_by(keys).agg(
        **{c: per[c].sum() for c in ("sends", "deliveries", "bounces", "hard_bounces", "soft_bounces", "undelivered",
                                     "total_opens", "machine_opens", "total_clicks", "abuse_reports")},
        email_sends=ibis.ifelse(email, per.sends, 0).sum(), sms_sends=ibis.ifelse(sms, per.sends, 0).sum(),
        email_deliveries=ibis.ifelse(email, per.deliveries, 0).sum(), opened=_count(per._opened),
        clicked=_count(per._clicked), opened_and_clicked=_count(per._opened & per._clicked),
        unsubscribed=_count(per._unsubscribed), first_sent=per.first_sent.min(), _emails=_count(email),
        # a row per recipient is one recipient or none: no distinct count (slow per group) needed
        recipients=(per.deliveries.sum() > 0).cast("int64") if "recipient" in keys else
        ibis.ifelse(per.deliveries > 0, per.recipient, None).nunique())
    df = with_rates(via_arrow(rows))
    df[list(EMAIL_OPENS)] = df[list(EMAIL_OPENS)].astype(float).where(df._emails > 0)  # no email: no open to count
    shown = [*keys, *COLUMNS, *((*ADDITIVE, "recipients") if detail else ())]
    return df[list(dict.fromkeys(shown))].sort_values(keys, ignore_index=True)


def with_rates(df: pd.DataFrame) -> pd.DataFrame:
    for rate, (top, bottom) in RATES.items():
        df[rate] = _rate(df[top], df[bottom])
    return df


def totals(rows: pd.DataFrame, recipients: int | None = None) -> dict:
    """The row of everything from `engagement(..., detail=True)`'s rows (their counts add
    up; rates are made again). Distinct recipients do not add up: give them."""
    sums = {c: rows[c].sum(min_count=1) for c in ADDITIVE}  # opens of SMS only rows: none to add
    row: dict[str, Any] = {c: float("nan") if pd.isna(v) else int(v) for c, v in sums.items()}
    row["first_sent"] = rows.first_sent.min() if len(rows) else None
    row["recipients"] = recipients
    return with_rates(pd.DataFrame([row])).iloc[0].to_dict()


ORDER_COLUMNS = ("orders", "order_rate", "revenue", "average_order_revenue", "revenue_per_recipient")


def orders_of_persons(wh: Storage, kinds: tuple[str, ...] = ("sale",)) -> ir.Table:
    """The conversions that are orders (`kinds`: sales unless `[messaging] order_kinds` says
    otherwise; a lead is no order) up to now, today's included, each with its person in the
    identity graph (of its visitor or user id, or of its CRM customer): (conversion_id,
    revenue, cperson, conv_ts). Read from the loaded conversions, not the journeys (cut at
    D-2); a person the last build did not know has no orders yet."""
    require_built(wh)
    now = ibis.timestamp(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    c = wh.table("conversions")
    c = c.filter(c.kind.isin(list(kinds)), c.ts <= now)
    if wh.has("customer_ids"):
        c = with_customers(c, wh.table("customer_ids"))
    c = with_person(c, wh.table("persons"))
    return c.filter(c.person_id.notnull()).select("conversion_id", "revenue", cperson="person_id", conv_ts="ts")


def attributed_orders(wh: Storage, selection: Selection, window_days: float = 5, on: str = "clicked",
                      kinds: tuple[str, ...] = ("sale",)) -> pd.DataFrame:
    """One row per order earned by a message (`orders_of_persons`): (conversion_id, journey,
    step, channel, recipient, revenue): the last message its person acted `on` (clicked, or
    opened by a person) within `window_days` before it. Small (at most the orders): rows are
    rolled up from it in pandas, for any `by`."""
    if on not in ATTRIBUTE_TO:
        raise InvalidInput(f"orders go to the last message acted on: on must be {' or '.join(ATTRIBUTE_TO)}")
    if on == "clicked":
        acted = clicked(wh, selection)
    else:
        m = events(wh, selection)
        acted = with_persons(wh, m.filter((m.event == on) & ~m._machine))
    acted = acted.filter(acted.person_id.notnull()).mutate(_all=ibis.literal(TOTAL))
    c = orders_of_persons(wh, kinds)
    window = ibis.interval(seconds=int(round(window_days * 86400)))
    j = c.join(acted, [c.cperson == acted.person_id, acted.ts <= c.conv_ts, acted.ts >= c.conv_ts - window])
    last = ibis.window(group_by=j.conversion_id, order_by=[ibis.desc(j.ts), ibis.desc(j.event_id)])
    j = j.filter(ibis.row_number().over(last) == 0)
    return j.select("conversion_id", "journey", "step", "channel", "recipient", "revenue", "_all").to_pandas()


def order_columns(rows: pd.DataFrame, won: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """`rows` (with deliveries and recipients) with ORDER_COLUMNS from the orders `won`."""
    got = won.groupby(keys, dropna=False).agg(orders=("conversion_id", "size"), revenue=("revenue", "sum"))
    df = rows.merge(got.reset_index(), on=keys, how="left")
    df["orders"] = df.orders.fillna(0).astype("int64")
    df["revenue"] = df.revenue.fillna(0.0).astype(float)
    df["order_rate"] = _rate(df.orders, df.deliveries)
    df["average_order_revenue"] = _rate(df.revenue, df.orders)
    df["revenue_per_recipient"] = _rate(df.revenue, df.recipients)
    return df


def orders(wh: Storage, by: str = "journey", journey: str | None = None, step: str | None = None,
           window_days: float = 5, on: str = "clicked", selection: Selection | None = None) -> pd.DataFrame:
    """One row per value of `by` with ORDER_COLUMNS: the conversions whose person's last
    message `on` (clicked, or opened by a person) within `window_days` before them is there.
    A row with no delivery (orders to it are still its) counts its deliveries as 0."""
    keys = _keys(by)
    selection = selection or Selection(journey, step)
    won = attributed_orders(wh, selection, window_days, on)
    rows = engagement(wh, by, selection=selection, detail=True)[[*keys, "deliveries", "recipients"]]
    df = order_columns(rows, won, keys)
    return df[[*keys, *ORDER_COLUMNS]].sort_values(keys, ignore_index=True)


def clicked(wh: Storage, selection: Selection) -> ir.Table:
    """The selected messages' clicks with their person (NULL for a recipient no identity
    names), of the messages first sent in the period: kept by the build and brought up to
    now, or from the events."""
    kept = message_facts.current(wh, message_facts.CLICKS, journey=selection.journey, step=selection.step)
    if kept is None:
        return with_persons(wh, message_facts.clicks(events(wh, selection, machine=False)))
    return kept if selection.start is None and selection.end is None else kept.semi_join(
        sent_in(wh, selection), list(MESSAGE))


def sent_in(wh: Storage, selection: Selection) -> ir.Table:
    """The messages (MESSAGE) of the selection first sent in its period (`messages`)."""
    return messages(wh, selection).select(*MESSAGE)


def with_persons(wh: Storage, m: ir.Table) -> ir.Table:
    """Message events with `person_id` through the identity graph (`journeys.with_person`:
    NULL for a recipient no identity names)."""
    return with_person(m, wh.table("persons"))


def _rate(top: pd.Series, bottom: pd.Series) -> pd.Series:
    """top / bottom, None where bottom is 0 (a rate of nothing is no rate)."""
    return (top / bottom.where(bottom > 0)).astype(object).where(bottom > 0, None)
