"""Which message events a person made: a machine's open (a mail privacy proxy fetching the
tracking pixel) is no person's. Shared by the messaging report and the person profiles.

An open is a machine's when the sending tool flagged it (`machine_open`), when its user
agent is a known proxy's (PROXY_AGENTS), or when it comes within MACHINE_SECONDS of the
message's delivery (proxies fetch on arrival; people do not read that fast).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

MESSAGE = ("journey", "step", "recipient")  # a message: a step's send to one recipient
MACHINE_SECONDS = 10
PROXY_AGENTS = ("GoogleImageProxy", "YahooMailProxy", "Apple Mail Privacy Protection")


def flagged(m: ir.Table) -> ir.BooleanValue:
    """Whether each event is marked a machine's by itself: the sending tool's flag or a known
    proxy's user agent (an open's timing is `soon`'s)."""
    proxy = ibis.or_(*(m.user_agent.contains(a) for a in PROXY_AGENTS))
    return m.machine_open.fill_null(False) | proxy.fill_null(False)


def soon(ts: ir.TimestampValue, delivered: ir.TimestampValue) -> ir.BooleanValue:
    """Whether an open at `ts` came within MACHINE_SECONDS of its message's delivery."""
    return (ts.epoch_seconds() - delivered.epoch_seconds()).between(0, MACHINE_SECONDS).fill_null(False)


def machine_open(m: ir.Table, delivered: ir.TimestampValue) -> ir.BooleanValue:
    """Whether each event is a machine's open, `delivered` being its message's delivery time."""
    return (m.event == "opened") & (flagged(m) | soon(m.ts, delivered))


def with_delivery(m: ir.Table) -> ir.Table:
    """Events with their message's first event (`_first`) and delivery (`_delivered`): one
    window over the message."""
    message = ibis.window(group_by=list(MESSAGE))
    return m.mutate(_first=m.ts.min().over(message),
                    _delivered=ibis.ifelse(m.event == "delivered", m.ts, None).min().over(message))
