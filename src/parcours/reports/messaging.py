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

The report itself (period, filters, page, orders and lift) is still to come; this module is
its engagement core.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pandas as pd

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


def engagement(wh: Storage, by: str = "journey", journey: str | None = None,
               step: str | None = None) -> pd.DataFrame:
    """One row per value of `by` (journey, step, channel or recipient) with COLUMNS; the
    messages of one `journey` (and `step`) when given. No message: no row."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    m = wh.table("messages")
    if journey is not None:
        m = m.filter(m.journey == journey)
    if step is not None:
        m = m.filter(m.step == step)
    m = with_machine_opens(m)
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
        df[rate] = (df[top] / df[bottom].where(df[bottom] > 0)).astype(object).where(df[bottom] > 0, None)
    return df[[by, *COLUMNS]].sort_values(by, ignore_index=True)
