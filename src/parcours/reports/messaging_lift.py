"""The true lift of a messaging journey, from its holdout group (issue 15).

A journey's entrants are persons (a recipient no identity graph names counts by the user or
visitor id its messages carry, else as its own person):
the sent group entered and was sent something, the holdout group entered and was held out
(`held_out`, and nothing sent). Each entrant's orders are their person's orders (sales unless
`[messaging] order_kinds` says otherwise, up to now) from the day they entered to
`window_days` later (the entry day included). The journey's
incremental orders are what the sent group bought beyond what it would have bought had it
been held out:

    incremental = N_sent * (mean_sent - mean_held_out)

with a normal-approximation interval on the difference of two means (Welch's variance:
var_sent / N_sent + var_held_out / N_held_out), and the same for revenue. Because entrants
were held out at random, this estimates what the messages caused, which no "attributed
revenue" does; it needs no model. Per entrant counts are summed in the engine (count, sum,
sum of squares per group), so the cost is one join whatever the number of entrants.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.build import message_facts
from parcours.build.message_events import MESSAGE
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput
from parcours.reports.messaging_metrics import Selection, events, orders_of_persons, sent_in, with_persons

# the answer first (incremental orders and revenue, their intervals), then what it is made of
LIFT_COLUMNS = ("incremental_orders", "incremental_orders_low", "incremental_orders_high", "incremental_revenue",
                "incremental_revenue_low", "incremental_revenue_high", "relative_lift", "entrants", "held_out",
                "orders_per_entrant", "orders_per_held_out")


def lift(wh: Storage, selection: Selection, window_days: int = 14, ci: float = 0.95,
         kinds: tuple[str, ...] = ("sale",)) -> pd.DataFrame:
    """One row per journey with a holdout group (LIFT_COLUMNS); no holdout, no row. The
    selection's step is ignored: the holdout is the journey's. Orders are `kinds` of
    conversions (`orders_of_persons`)."""
    m = contacts(wh, selection)
    # who entered: the person; else the user id or visitor id the message names (the same
    # contact's email and phone are one entrant); else the recipient
    m = m.mutate(_who=m.person_id.cast("string").coalesce("u:" + m.user_id, "v:" + m.visitor_id, "r:" + m.recipient))
    e = m.group_by(["journey", "_who"]).agg(
        entry=m.entry.min(), _held=m.held.any(), _sent=m.sent.any(), person_id=m.person_id.max())
    e = e.filter(e._held | e._sent).mutate(held=e._held & ~e._sent)
    held_journeys = e.filter(e.held).select("journey").distinct()
    e = e.semi_join(held_journeys, "journey")
    c = orders_of_persons(wh, kinds)
    c = c.select("cperson", day=c.conv_ts.date(), revenue=c.revenue)
    first = e.entry.date()
    j = e.join(c, [e.person_id == c.cperson, c.day >= first, c.day < first + ibis.interval(days=window_days)])
    bought = j.group_by(["journey", "_who"]).agg(orders=j.count(), spent=j.revenue.sum())
    per = e.left_join(bought, ["journey", "_who"])
    o, r = per.orders.fill_null(0).cast("float64"), per.spent.fill_null(0.0)
    g = per.group_by(["journey", "held"]).agg(n=per.count(), o=o.sum(), oo=(o * o).sum(), r=r.sum(),
                                              rr=(r * r).sum()).to_pandas()
    z = NormalDist().inv_cdf(0.5 + ci / 2)
    rows = []
    for journey, both in g.groupby("journey", sort=True):
        sent, held = (both[both.held == flag] for flag in (False, True))
        if sent.empty or held.empty:
            continue
        s, h = sent.iloc[0], held.iloc[0]
        row = {"journey": journey, "entrants": int(s.n), "held_out": int(h.n)}
        for name, total, squares in (("orders", "o", "oo"), ("revenue", "r", "rr")):
            m1, m0 = s[total] / s.n, h[total] / h.n
            spread = math.sqrt(_variance(s, total, squares) / s.n + _variance(h, total, squares) / h.n)
            gain = s.n * (m1 - m0)
            row |= {f"incremental_{name}": gain, f"incremental_{name}_low": gain - z * s.n * spread,
                    f"incremental_{name}_high": gain + z * s.n * spread}
            if name == "orders":
                row |= {"orders_per_entrant": m1, "orders_per_held_out": m0,
                        "relative_lift": m1 / m0 - 1 if m0 > 0 else None}
        rows.append(row)
    return pd.DataFrame(rows, columns=["journey", *LIFT_COLUMNS])


def contacts(wh: Storage, selection: Selection) -> ir.Table:
    """The selected journey's contacts with their person (`message_facts.per_contact`), of the
    messages first sent in the period: kept by the build and brought up to now, or worked out
    from the events. The step is ignored: the holdout is the journey's."""
    journey = Selection(selection.journey, None, selection.start, selection.end)
    kept = message_facts.current(wh, message_facts.CONTACTS, journey=selection.journey)
    if kept is None:
        return with_persons(wh, message_facts.per_contact(events(wh, journey, machine=False)))
    if journey.start is None and journey.end is None:
        return kept
    return kept.semi_join(sent_in(wh, journey), list(MESSAGE))


def _variance(group: pd.Series, total: str, squares: str) -> float:
    """The sample variance of a group's per-entrant values from n, their sum and their sum of
    squares (0 for a single entrant)."""
    n = group.n
    if n < 2:
        return 0.0
    return max(0.0, (group[squares] - group[total] ** 2 / n) / (n - 1))




TRUTH_COLUMNS = ("true_incremental_orders", "true_incremental_revenue")


def true_lift(truth: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Per journey, the simulator's true incremental orders and revenue over the first
    `window_days` after entry (TRUTH_COLUMNS, the journey as index). Orders are its sales
    (`incremental_orders`), as the estimate counts them (`[messaging] order_kinds`); a truth
    that does not tell its sales apart gives its conversions of every kind."""
    missing = {"journey", "days_after_entry", "incremental_conversions", "incremental_revenue"} - set(truth)
    if missing:
        raise InvalidInput(f"the messages truth lacks column(s) {', '.join(sorted(missing))}: "
                         "give the messages_truth file `parcours simulate` writes")
    orders = truth.incremental_conversions
    if "incremental_orders" in truth:
        orders = truth.incremental_orders.fillna(orders)
    kept = truth.assign(_orders=orders)[truth.days_after_entry < window_days].groupby("journey")
    return kept[["_orders", "incremental_revenue"]].sum().set_axis(list(TRUTH_COLUMNS), axis=1)


def against_truth(wh: Storage, truth: pd.DataFrame, window_days: int = 14, ci: float = 0.95) -> pd.DataFrame:
    """Each journey's estimated lift beside the simulator's (`messages_truth`: its true
    incremental conversions per day after entry, summed over the same window), the error
    and whether the interval holds the truth."""
    true = true_lift(truth, window_days)
    est = lift(wh, Selection(), window_days, ci)
    out = est.merge(true, left_on="journey", right_index=True, how="inner")
    out["error"] = out.incremental_orders - out.true_incremental_orders
    out["relative_error"] = out.error / out.true_incremental_orders.where(out.true_incremental_orders != 0)
    out["covered"] = (out.incremental_orders_low <= out.true_incremental_orders) & (
        out.true_incremental_orders <= out.incremental_orders_high)
    return out[["journey", "entrants", "held_out", "incremental_orders", "incremental_orders_low",
                "incremental_orders_high", "true_incremental_orders", "error", "relative_error", "covered",
                "incremental_revenue", "true_incremental_revenue"]]
