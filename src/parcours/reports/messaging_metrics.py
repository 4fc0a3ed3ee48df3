"""Messaging journeys (issue 15): the engagement of email and SMS journeys' messages, as
emailing tools count it, from the `messages` table alone (no build, today included).

A message is the pair (step, recipient) within a journey. Counts of events ("total_opens")
count every event; "opened", "clicked" and "unsubscribed" count messages that had the event
at least once. Rates are fractions, None where their denominator is 0. Machine opens (a mail
privacy proxy fetching the tracking pixel, not a person) are counted apart and left out of
`opened`, `total_opens` and the rates: an open is a machine's when the sending tool flagged
it (`machine_open`), when its user agent is a known proxy's (PROXY_AGENTS), or when it comes
within MACHINE_SECONDS of the message's delivery (proxies fetch on arrival; people do not
read that fast).

Orders (`orders`, needs conversions and a build): a conversion goes to the last message its
person clicked (or opened, by a person) within `window_days` before it, the person found
through the message's user_id or visitor_id in the identity graph (`persons`).

Rows (`by`): a journey, a step (its journey beside it: two journeys may name a step alike), a
channel, a recipient, or TOTAL (one row for everything selected). The report `messaging`
puts these together with the lift and the multi-touch credit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.config import ATTRIBUTE_TO
from parcours.journeys import require_built
from parcours.query import MESSAGE_ROWS as BY
from parcours.storage import Storage

TOTAL = "(all)"  # `by` for one row of everything selected
KEYS = {"journey": ["journey"], "step": ["journey", "step"], "channel": ["channel"], "recipient": ["recipient"],
        TOTAL: ["_all"]}
MESSAGE = ("journey", "step", "recipient")
MACHINE_SECONDS = 10
PROXY_AGENTS = ("GoogleImageProxy", "YahooMailProxy", "Apple Mail Privacy Protection")
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
COLUMNS = ("sends", "deliveries", "delivery_rate", "bounces", "bounce_rate", "undelivered", "undelivered_rate",
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


def with_machine_opens(m: ir.Table) -> ir.Table:
    """The message events with `_machine`: whether each is a machine's open (see the
    module's docstring)."""
    delivered = m.filter(m.event == "delivered").group_by(list(MESSAGE)).agg(_delivered=m.ts.min())
    j = m.left_join(delivered, list(MESSAGE))
    soon = (j.ts.epoch_seconds() - j._delivered.epoch_seconds()).between(0, MACHINE_SECONDS)
    proxy = ibis.or_(*(j.user_agent.contains(a) for a in PROXY_AGENTS))
    flagged = j.machine_open.fill_null(False) | proxy.fill_null(False) | soon.fill_null(False)
    return j.mutate(_machine=(j.event == "opened") & flagged)


def events(wh: Storage, selection: Selection) -> ir.Table:
    """The selected message events, machine opens marked (`_machine`), `_all` a constant
    (the key of the TOTAL row). The period keeps whole messages: those sent in it."""
    m = wh.table("messages")
    if selection.journey is not None:
        m = m.filter(m.journey == selection.journey)
    if selection.step is not None:
        m = m.filter(m.step == selection.step)
    if selection.start is not None or selection.end is not None:
        first = m.group_by(list(MESSAGE)).agg(_first=m.ts.min())
        if selection.start is not None:
            first = first.filter(first._first >= ibis.timestamp(dt.datetime.combine(selection.start, dt.time())))
        if selection.end is not None:
            until = dt.datetime.combine(selection.end + dt.timedelta(days=1), dt.time())
            first = first.filter(first._first < ibis.timestamp(until))
        m = m.semi_join(first, list(MESSAGE))
    return with_machine_opens(m).mutate(_all=ibis.literal(TOTAL))


def _keys(by: str) -> list[str]:
    if by not in KEYS:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    return KEYS[by]


def engagement(wh: Storage, by: str = "journey", journey: str | None = None, step: str | None = None,
               selection: Selection | None = None) -> pd.DataFrame:
    """One row per value of `by` (journey, step, channel, recipient or TOTAL) with COLUMNS;
    the messages of one `journey` (and `step`) when given, or of a whole `selection`. No
    message: no row."""
    keys = _keys(by)
    selection = selection or Selection(journey, step)
    m = events(wh, selection)
    opened = (m.event == "opened") & (~m._machine if not selection.machine_opens else ibis.literal(True))
    # per message: what happened to it at least once
    per = m.group_by([*MESSAGE, "channel", "_all"]).agg(
        _opened=opened.any(), _clicked=(m.event == "clicked").any(),
        _unsubscribed=(m.event == "unsubscribed").any())
    per = per.group_by(keys).agg(
        opened=per._opened.cast("int64").sum(), clicked=per._clicked.cast("int64").sum(),
        opened_and_clicked=(per._opened & per._clicked).cast("int64").sum(),
        unsubscribed=per._unsubscribed.cast("int64").sum())
    email, sms = m.channel == "email", m.channel == "sms"

    def count(condition: ir.BooleanValue) -> ir.IntegerValue:
        return condition.cast("int64").sum()

    sent = m.event == "sent"
    events_ = m.group_by(keys).agg(
        sends=count(sent), email_sends=count(sent & email),
        sms_sends=count(sent & sms), deliveries=count(m.event == "delivered"),
        email_deliveries=count((m.event == "delivered") & email), bounces=count(m.event == "bounced"),
        undelivered=count(m.event == "undelivered"), total_opens=count(opened),
        machine_opens=count(m._machine), total_clicks=count(m.event == "clicked"),
        abuse_reports=count(m.event == "complained"), first_sent=ibis.ifelse(sent, m.ts, None).min())
    df = events_.join(per, keys).to_pandas()
    for rate, (top, bottom) in RATES.items():
        df[rate] = _rate(df[top], df[bottom])
    return df[[*keys, *COLUMNS]].sort_values(keys, ignore_index=True)


ORDER_COLUMNS = ("orders", "order_rate", "revenue", "average_order_revenue", "revenue_per_recipient")


def orders(wh: Storage, by: str = "journey", journey: str | None = None, step: str | None = None,
           window_days: float = 5, on: str = "clicked", selection: Selection | None = None) -> pd.DataFrame:
    """One row per value of `by` with ORDER_COLUMNS: the conversions whose person's last
    message `on` (clicked, or opened by a person) within `window_days` before them is there."""
    if on not in ATTRIBUTE_TO:
        raise ValueError(f"orders go to the last message acted on: on must be {' or '.join(ATTRIBUTE_TO)}")
    keys = _keys(by)
    require_built(wh)
    m = events(wh, selection or Selection(journey, step))
    d = m.filter(m.event == "delivered")
    delivered = d.group_by(keys).agg(deliveries=d.count(), recipients=d.recipient.nunique())
    acted = with_persons(wh, m.filter(m.event == on, ~m._machine))
    acted = acted.filter(acted.person_id.notnull())
    c = wh.table("journeys")
    c = c.filter(c.converted).select("conversion_id", "revenue", cperson="person_id", conv_ts="conv_ts")
    window = ibis.interval(seconds=int(round(window_days * 86400)))
    j = c.join(acted, [c.cperson == acted.person_id, acted.ts <= c.conv_ts, acted.ts >= c.conv_ts - window])
    last = ibis.window(group_by=j.conversion_id, order_by=[ibis.desc(j.ts), ibis.desc(j.event_id)])
    j = j.filter(ibis.row_number().over(last) == 0)
    won = j.group_by(keys).agg(orders=j.count(), revenue=j.revenue.sum())
    df = delivered.outer_join(won, keys).to_pandas()
    for k in keys:
        if f"{k}_right" in df:
            df[k] = df[k].combine_first(df[f"{k}_right"])
    df = df.drop(columns=[c for c in df.columns if c.endswith("_right")])
    for col in ("deliveries", "recipients", "orders"):
        df[col] = df[col].fillna(0).astype("int64")
    df["revenue"] = df.revenue.fillna(0.0).astype(float)
    df["order_rate"] = _rate(df.orders, df.deliveries)
    df["average_order_revenue"] = _rate(df.revenue, df.orders)
    df["revenue_per_recipient"] = _rate(df.revenue, df.recipients)
    return df[[*keys, *ORDER_COLUMNS]].sort_values(keys, ignore_index=True)


def with_persons(wh: Storage, m: ir.Table) -> ir.Table:
    """Message events with `person_id`, found by user id first, then visitor id, in the
    identity graph (NULL for a recipient no identity names)."""
    p = wh.table("persons")
    users, visitors = (p.filter(p.kind == k).select(id="id", pid="person_id") for k in ("user", "visitor"))
    m = m.left_join(users, m.user_id == users.id).drop("id")
    m = m.left_join(visitors.rename(vpid="pid"), m.visitor_id == visitors.id).drop("id")
    return m.mutate(person_id=m.pid.coalesce(m.vpid)).drop("pid", "vpid")


def _rate(top: pd.Series, bottom: pd.Series) -> pd.Series:
    """top / bottom, None where bottom is 0 (a rate of nothing is no rate)."""
    return (top / bottom.where(bottom > 0)).astype(object).where(bottom > 0, None)
