"""12. Messaging journeys: how each email and SMS journey performs, as emailing tools report it
(sends to abuse rate, orders), and what they cannot say: machine opens apart, the true lift
from a holdout group, and the credit each step earns in the whole customer journey.

Unlike the Customer Journey family it reads the `messages` table as it is, from each
journey's start up to and including today, and needs no build for engagement; orders, lift
and credit need conversions and a build (said in a warning when missing). Rows are steps by
default, in the order the journey sends them (`by`: journey, step, channel or recipient);
a step's row opens its recipients (`link`). The columns a channel cannot have are left out
when the selection has none of it (no opens for an SMS-only journey, no SMS failures for an
email-only one). The simple mode puts the chosen headline metrics up front and draws the
steps as a funnel, from the journey's start: sent, delivered, opened, clicked, ordered; and,
where a journey held entrants out, what it really brought beside its last-click orders.
"""

from __future__ import annotations

import datetime as dt
from typing import SupportsFloat

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from parcours.build.journeys import require_built
from parcours.contract.config import Config
from parcours.contract.query import Query
from parcours.engine.storage import Storage
from parcours.errors import NotBuilt
from parcours.reports.base import Report, ReportResult, escape_labels, register
from parcours.reports.labels import Message, tooltip
from parcours.reports.messaging_credit import step_credit
from parcours.reports.messaging_lift import lift, true_lift
from parcours.reports.messaging_metrics import (
    COLUMNS,
    KEYS,
    ORDER_COLUMNS,
    TOTAL,
    Selection,
    attributed_orders,
    engagement,
    messages,
    order_columns,
    totals,
)

HEADLINE = ("sends", "open_rate", "click_rate", "orders", "revenue", "incremental_orders")
FUNNEL = {"sends": "sent", "deliveries": "delivered", "opened": "opened", "clicked": "clicked", "orders": "ordered"}
SHADES = ("#1f3a5f", "#3d6a99", "#6f9fcf", "#76b7b2", "#f28e2b")  # dark to light down the funnel; orders stand out
EMAIL_ONLY = ("bounces", "hard_bounces", "soft_bounces", "bounce_rate", "opened", "total_opens", "open_rate",
              "machine_opens", "clicks_per_unique_opens")
SMS_ONLY = ("undelivered", "undelivered_rate")
FRONT = ("sends", "deliveries", "open_rate", "click_rate", "orders", "revenue")  # what the journey analysis leads with
# a recipient's row: what they received, opened, clicked and bought (their rates say nothing more)
RECIPIENT = ("first_sent", "sends", "deliveries", "bounces", "undelivered", "total_opens", "machine_opens",
             "total_clicks", "unsubscribed", "abuse_reports", "orders", "revenue")
PAGE_ROWS = 2_000  # a page shows the most active recipients; CSV and XLSX have them all
NO_MESSAGES = Message("no_messages")
VERBATIM = ("journey", "step", "recipient")  # the sending tool's names, not values parcours names


def run(wh: Storage, config: Config, query: Query) -> ReportResult:
    today = dt.datetime.now(dt.UTC).date()
    end = min(query.end or today, today)
    # an end of today or later keeps every message: no need to say so (it costs a pass)
    selection = Selection(query.journey, query.step, query.start, end if end < today else None, query.machine_opens)
    asked = {k: v for k, v in query.as_dict().items() if k in REPORT.fields}  # what this report reads
    applied = {**asked, "end": end.isoformat(), "today_included": end == today}
    if query.start is not None and query.start > end:  # a period after today: nothing sent yet
        return _empty(query, applied, Message("after_last_day", day=today))
    if not wh.has("messages"):
        return _empty(query, applied)
    keys = KEYS[query.by]
    rows = engagement(wh, query.by, selection=selection, detail=True)
    if rows.empty:
        return _empty(query, applied)
    built = _built(wh)
    everyone = _recipients(wh, selection, rows, query.by) if built else None
    total = totals(rows, everyone)
    applied["start"] = (query.start or pd.Timestamp(total["first_sent"]).date()).isoformat()
    steps = rows if query.by == "step" else engagement(wh, "step", selection=selection, detail=True)
    warnings: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    won = None  # each order and the message that earned it, once built
    if built:
        settings = config.messaging
        won = attributed_orders(wh, selection, settings.attribution_window_days, settings.attribute_to,
                                settings.order_kinds)
        rows = order_columns(rows, won, keys)
        steps = rows if query.by == "step" else order_columns(steps, won, KEYS["step"])
        total = order_columns(pd.DataFrame([{**total, "_all": TOTAL}]), won, KEYS[TOTAL]).iloc[0].to_dict()
        gain = lift(wh, selection, settings.lift_window_days, kinds=settings.order_kinds)
        if len(gain) and _truth_applies(wh, selection):  # simulated data: the truth beside the estimate
            true = true_lift(wh.table("messages_truth").to_pandas(), settings.lift_window_days)
            gain = gain.merge(true, left_on="journey", right_index=True, how="left")
        if len(gain):
            tables["lift"] = gain
            total.update(summed_lift(gain))
            if (total["incremental_orders"] > 0) != (total["incremental_revenue"] > 0):  # said, not left a riddle
                low, high = total["incremental_revenue_low"], total["incremental_revenue_high"]
                warnings.append(Message("lift_signs" if low <= 0 <= high else "lift_signs_real", low=low, high=high))
        else:
            warnings.append(Message("no_holdout"))
        credit = step_credit(wh, config, selection, query.models)
        tables["in_the_journey"] = steps[["journey", "step", "orders"]].merge(
            credit, on=["journey", "step"], how="left").fillna(0.0).rename(columns={"orders": "last_click_orders"})
    else:
        warnings.append(Message("orders_need_build"))
    gone = [*(EMAIL_ONLY if not total["email_sends"] else ()), *(SMS_ONLY if not total["sms_sends"] else ())]
    shown = [*COLUMNS, *(ORDER_COLUMNS if built else ())]
    table = rows[[*keys, *shown]].drop(columns=[c for c in gone if c in shown])
    if "journey" in table:
        table.insert(keys.index("journey") + 1, "status",
                     table.journey.map(lambda j: "paused" if j in config.messaging.paused else "active"))
    table = _arranged(table, query.by, keys)
    numbers = {k: _number(total.get(k)) for k in (*shown, *SUMMED) if k != "first_sent" and k in total}
    headline = [m for m in (query.headline or HEADLINE) if m in numbers and m not in gone]
    link = {"set": {"journey": "journey", "step": "step"}, "and": {"by": "recipient"}} if query.by == "step" else None
    figure = _figure(steps.sort_values(["journey", "first_sent"], ignore_index=True), tables.get("lift"), won)
    return ReportResult("messaging", table, numbers, escape_labels(figure), applied, warnings, tables,
                        headline=headline, link=link, page_rows=PAGE_ROWS if query.by == "recipient" else None,
                        verbatim=VERBATIM)


SUMMED = tuple(f"incremental_{what}{end}" for what in ("orders", "revenue") for end in ("", "_low", "_high"))


def summed_lift(gain: pd.DataFrame) -> dict[str, float]:
    """The journeys' lifts added up, with a 95% interval: each journey's holdout is its own
    random draw, so the variances add (half-widths in quadrature)."""
    out: dict[str, float] = {}
    for what in ("orders", "revenue"):
        value = float(gain[f"incremental_{what}"].sum())
        half = float(((gain[f"incremental_{what}_high"] - gain[f"incremental_{what}_low"]) / 2).pow(2).sum()) ** 0.5
        out |= {f"incremental_{what}": value, f"incremental_{what}_low": value - half,
                f"incremental_{what}_high": value + half}
    return out


def _built(wh: Storage) -> bool:
    try:
        require_built(wh)
    except NotBuilt:
        return False
    return True


def _truth_applies(wh: Storage, selection: Selection) -> bool:
    """The simulator's truth is of every entrant, so of a selection without a period."""
    return (wh.has("messages_truth") and selection.start is None and selection.end is None
            and wh.count("messages_truth") > 0)


def _recipients(wh: Storage, selection: Selection, rows: pd.DataFrame, by: str) -> int:
    """Distinct recipients delivered, of everything selected (they do not add up over rows,
    except over recipients)."""
    if by == "recipient":
        return int((rows.recipients > 0).sum())
    m = messages(wh, selection)
    return int(m.filter(m.deliveries > 0).recipient.nunique().execute())


def _arranged(table: pd.DataFrame, by: str, keys: list[str]) -> pd.DataFrame:
    """Rows in reading order (steps as the journey sends them; recipients most active first),
    the columns a person reads first in front."""
    if by == "recipient":
        table = table.sort_values([c for c in ("orders", "total_clicks", "total_opens") if c in table] + keys,
                                  ascending=False, ignore_index=True)
        return table[[*keys, *(c for c in RECIPIENT if c in table)]]
    table = table.sort_values(["journey", "first_sent"] if by == "step" else keys, ignore_index=True)
    lead = [*keys, *(["status"] if "status" in table else []), *(c for c in FRONT if c in table)]
    return table[[*lead, *(c for c in table.columns if c not in lead)]]


def _figure(steps: pd.DataFrame, gain: pd.DataFrame | None = None, won: pd.DataFrame | None = None) -> go.Figure:
    """Each step's messages, from the journey's start: sent, delivered, opened, clicked,
    ordered (grouped bars, so a step's drop-off reads left to right). With a holdout, below
    it what each journey really brought: its last-click orders beside its incremental orders
    (with their 95% interval, and the truth when simulated)."""
    several = steps.journey.nunique() > 1 if len(steps) else False
    # several journeys: steps above, their journey below them (a two-level axis)
    labels = [steps.journey.tolist(), steps.step.tolist()] if several else steps.step.tolist()
    gain = gain if gain is not None else pd.DataFrame()
    lifted = len(gain) > 0
    titles = ("messages at each step", "orders: last click vs true lift") if lifted else None
    fig = make_subplots(rows=2 if lifted else 1, cols=1, vertical_spacing=0.24,
                        row_heights=[0.6, 0.4] if lifted else None, subplot_titles=titles)
    for (column, name), shade in zip(FUNNEL.items(), SHADES, strict=True):
        if column in steps:
            drawn = [None if v != v else v for v in steps[column].astype(float).tolist()]  # an SMS open: no bar
            fig.add_trace(go.Bar(x=labels, y=drawn, name=name, marker_color=shade,
                                 texttemplate=["" if v is None else "%{y:,}" for v in drawn],  # no "0" for no bar
                                 textposition="outside", textfont_size=10,
                                 hovertemplate=tooltip("%{x}", (name, "%{y:,}"))), row=1, col=1)
    fig.update_yaxes(title_text="messages", row=1, col=1)
    fig.update_xaxes(autotickangles=[0, -35, -90])  # crowded labels lean left: none pushes the plot aside
    if lifted:
        journeys = gain.journey.tolist()
        last = won.groupby("journey").size().reindex(journeys).fillna(0) if won is not None else None
        if last is not None:
            fig.add_trace(go.Bar(x=journeys, y=last.tolist(), name="last-click orders", marker_color="#9aa5b1",
                                 hovertemplate=tooltip("%{x}", ("last-click orders", "%{y:,}"))), row=2, col=1)
        fig.add_trace(go.Bar(
            x=journeys, y=gain.incremental_orders.tolist(), name="incremental orders", marker_color="#59a14f",
            error_y={"type": "data", "symmetric": False,
                     "array": (gain.incremental_orders_high - gain.incremental_orders).tolist(),
                     "arrayminus": (gain.incremental_orders - gain.incremental_orders_low).tolist()},
            hovertemplate=tooltip("%{x}", ("incremental orders", "%{y:,.1f}"))), row=2, col=1)
        if "true_incremental_orders" in gain:
            fig.add_trace(go.Bar(x=journeys, y=gain.true_incremental_orders.tolist(), name="Truth (simulated)",
                                 marker_color="#1f2933",
                                 hovertemplate=tooltip("%{x}", ("Truth (simulated)", "%{y:,.1f}"))), row=2, col=1)
        fig.update_yaxes(title_text="orders", row=2, col=1)
    fig.update_layout(barmode="group", height=820 if lifted else 450, legend={"orientation": "h", "y": -0.12},
                      uniformtext_minsize=8, uniformtext_mode="hide")
    if not lifted:
        fig.update_xaxes(title_text="step, from the journey's start", row=1, col=1)
    return fig


def _empty(query: Query, applied: dict, why: Message = NO_MESSAGES) -> ReportResult:
    """No message: an answer that says why (none selected, or a period after today)."""
    table = pd.DataFrame(columns=[*KEYS[query.by], *COLUMNS])
    applied.setdefault("start", applied["end"])  # nothing sent: the period is the day asked
    return ReportResult("messaging", table, {"sends": 0.0}, escape_labels(go.Figure()), applied, [why],
                        headline=[], empty=why, verbatim=VERBATIM)


def _number(v: SupportsFloat | None) -> float | None:
    return None if v is None or v != v else float(v)


REPORT = register(Report(
    "messaging", 12, ("Messaging journeys", "Scénarios e-mail et SMS"),
    ("How does each email and SMS journey perform, and what does it really bring?",
     "Que donne chaque scénario d'e-mails et de SMS, et que rapporte-t-il vraiment ?"),
    "grouped_bar", run, options=("journey", "step", "by", "headline", "machine_opens", "models"), realtime=True,
    rows=False))
