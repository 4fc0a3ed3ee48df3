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

The report itself (period, filters, page and lift) is still to come; this module is its
core.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.config import ATTRIBUTE_TO
from parcours.journeys import require_built
from parcours.storage import Storage

BY = ("journey", "step", "channel", "recipient")  # what rows can be
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
           "clicks_per_unique_opens", "unsubscribed", "unsubscribe_rate", "abuse_reports", "abuse_rate")


def with_machine_opens(m: ir.Table) -> ir.Table:
    """The message events with `_machine`: whether each is a machine's open (see the
    module's docstring)."""
    delivered = m.filter(m.event == "delivered").group_by(list(MESSAGE)).agg(_delivered=m.ts.min())
    j = m.left_join(delivered, list(MESSAGE))
    soon = (j.ts.epoch_seconds() - j._delivered.epoch_seconds()).between(0, MACHINE_SECONDS)
    proxy = ibis.or_(*(j.user_agent.contains(a) for a in PROXY_AGENTS))
    flagged = j.machine_open.fill_null(False) | proxy.fill_null(False) | soon.fill_null(False)
    return j.mutate(_machine=(j.event == "opened") & flagged)


def _events(wh: Storage, by: str, journey: str | None, step: str | None) -> ir.Table:
    """The message events of one `journey` and `step` (all when None), machine opens marked."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    m = wh.table("messages")
    if journey is not None:
        m = m.filter(m.journey == journey)
    if step is not None:
        m = m.filter(m.step == step)
    return with_machine_opens(m)


def engagement(wh: Storage, by: str = "journey", journey: str | None = None,
               step: str | None = None) -> pd.DataFrame:
    """One row per value of `by` (journey, step, channel or recipient) with COLUMNS; the
    messages of one `journey` (and `step`) when given. No message: no row."""
    m = _events(wh, by, journey, step)
    human_open = (m.event == "opened") & ~m._machine
    # per message: what happened to it at least once
    per = m.group_by([*MESSAGE, "channel"]).agg(
        _opened=human_open.any(), _clicked=(m.event == "clicked").any(),
        _unsubscribed=(m.event == "unsubscribed").any())
    per = per.group_by(by).agg(
        opened=per._opened.cast("int64").sum(), clicked=per._clicked.cast("int64").sum(),
        opened_and_clicked=(per._opened & per._clicked).cast("int64").sum(),
        unsubscribed=per._unsubscribed.cast("int64").sum())
    email, sms = m.channel == "email", m.channel == "sms"

    def count(condition: ir.BooleanValue) -> ir.IntegerValue:
        return condition.cast("int64").sum()

    events = m.group_by(by).agg(
        sends=count(m.event == "sent"), email_sends=count((m.event == "sent") & email),
        sms_sends=count((m.event == "sent") & sms), deliveries=count(m.event == "delivered"),
        email_deliveries=count((m.event == "delivered") & email), bounces=count(m.event == "bounced"),
        undelivered=count(m.event == "undelivered"), total_opens=count(human_open),
        machine_opens=count(m._machine), total_clicks=count(m.event == "clicked"),
        abuse_reports=count(m.event == "complained"))
    df = events.join(per, by).to_pandas()
    for rate, (top, bottom) in RATES.items():
        df[rate] = _rate(df[top], df[bottom])
    return df[[by, *COLUMNS]].sort_values(by, ignore_index=True)


ORDER_COLUMNS = ("orders", "order_rate", "revenue", "average_order_revenue", "revenue_per_recipient")


def orders(wh: Storage, by: str = "journey", journey: str | None = None, step: str | None = None,
           window_days: float = 5, on: str = "clicked") -> pd.DataFrame:
    """One row per value of `by` with ORDER_COLUMNS: the conversions whose person's last
    message `on` (clicked, or opened by a person) within `window_days` before them is there."""
    if on not in ATTRIBUTE_TO:
        raise ValueError(f"orders go to the last message acted on: on must be {' or '.join(ATTRIBUTE_TO)}")
    require_built(wh)
    m = _events(wh, by, journey, step)
    d = m.filter(m.event == "delivered")
    delivered = d.group_by(by).agg(deliveries=d.count(), recipients=d.recipient.nunique())
    acted = m.filter(m.event == on, ~m._machine)
    p = wh.table("persons")
    users, visitors = (p.filter(p.kind == k).select(id="id", pid="person_id") for k in ("user", "visitor"))
    acted = acted.left_join(users, acted.user_id == users.id).drop("id")
    acted = acted.left_join(visitors.rename(vpid="pid"), acted.visitor_id == visitors.id).drop("id")
    acted = acted.mutate(person_id=acted.pid.coalesce(acted.vpid)).filter(lambda t: t.person_id.notnull())
    c = wh.table("journeys")
    c = c.filter(c.converted).select("conversion_id", "revenue", cperson="person_id", conv_ts="conv_ts")
    window = ibis.interval(seconds=int(round(window_days * 86400)))
    j = c.join(acted, [c.cperson == acted.person_id, acted.ts <= c.conv_ts, acted.ts >= c.conv_ts - window])
    last = ibis.window(group_by=j.conversion_id, order_by=[ibis.desc(j.ts), ibis.desc(j.event_id)])
    j = j.filter(ibis.row_number().over(last) == 0)
    won = j.group_by(by).agg(orders=j.count(), revenue=j.revenue.sum())
    df = delivered.outer_join(won, by).to_pandas()
    df[by] = df[by].combine_first(df[f"{by}_right"]) if f"{by}_right" in df else df[by]
    df = df.drop(columns=[c for c in df.columns if c.endswith("_right")])
    for col in ("deliveries", "recipients", "orders"):
        df[col] = df[col].fillna(0).astype("int64")
    df["revenue"] = df.revenue.fillna(0.0).astype(float)
    df["order_rate"] = _rate(df.orders, df.deliveries)
    df["average_order_revenue"] = _rate(df.revenue, df.orders)
    df["revenue_per_recipient"] = _rate(df.revenue, df.recipients)
    return df[[by, *ORDER_COLUMNS]].sort_values(by, ignore_index=True)


def _rate(top: pd.Series, bottom: pd.Series) -> pd.Series:
    """top / bottom, None where bottom is 0 (a rate of nothing is no rate)."""
    return (top / bottom.where(bottom > 0)).astype(object).where(bottom > 0, None)
