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
steps as a funnel, from the journey's start: sent, delivered, opened, clicked, ordered.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go

from parcours.config import Config
from parcours.errors import NotBuilt
from parcours.journeys import require_built
from parcours.query import Query
from parcours.reports.base import Report, ReportResult, escape_labels, register
from parcours.reports.labels import Message, tooltip
from parcours.reports.messaging_credit import step_credit
from parcours.reports.messaging_lift import lift
from parcours.reports.messaging_metrics import (
    COLUMNS,
    KEYS,
    ORDER_COLUMNS,
    TOTAL,
    Selection,
    engagement,
    events,
    orders,
)
from parcours.storage import Storage

HEADLINE = ("sends", "open_rate", "click_rate", "orders", "revenue")
FUNNEL = {"sends": "sent", "deliveries": "delivered", "opened": "opened", "clicked": "clicked", "orders": "ordered"}
SHADES = ("#1f3a5f", "#3d6a99", "#6f9fcf", "#76b7b2", "#f28e2b")  # dark to light down the funnel; orders stand out
EMAIL_ONLY = ("bounces", "bounce_rate", "opened", "total_opens", "open_rate", "machine_opens",
              "clicks_per_unique_opens")
SMS_ONLY = ("undelivered", "undelivered_rate")
FRONT = ("sends", "deliveries", "open_rate", "click_rate", "orders", "revenue")  # what the journey analysis leads with
# a recipient's row: what they received, opened, clicked and bought (their rates say nothing more)
RECIPIENT = ("first_sent", "sends", "deliveries", "bounces", "undelivered", "total_opens", "machine_opens",
             "total_clicks", "unsubscribed", "abuse_reports", "orders", "revenue")
PAGE_ROWS = 2_000  # a page shows the most active recipients; CSV and XLSX have them all
NO_MESSAGES = Message("no_messages")


def run(wh: Storage, config: Config, query: Query) -> ReportResult:
    today = dt.datetime.now(dt.UTC).date()
    end = min(query.end or today, today)
    selection = Selection(query.journey, query.step, query.start, end, query.machine_opens)
    applied = {**query.as_dict(), "end": end.isoformat(), "today_included": end == today}
    if not wh.has("messages"):
        return _empty(query, applied)
    keys = KEYS[query.by]
    table = engagement(wh, query.by, selection=selection)
    total = engagement(wh, TOTAL, selection=selection)
    if total.empty or not int(total.sends.iloc[0]) and not len(table):
        return _empty(query, applied)
    totals = {k: _number(total[k].iloc[0]) for k in COLUMNS if k != "first_sent"}
    applied["start"] = (query.start or pd.Timestamp(total.first_sent.iloc[0]).date()).isoformat()
    warnings: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    if _built(wh):
        settings = config.messaging
        won = orders(wh, query.by, window_days=settings.attribution_window_days, on=settings.attribute_to,
                     selection=selection)
        table = table.merge(won, on=keys, how="left")  # a message never delivered earned nothing
        table = table.fillna({"orders": 0, "revenue": 0.0}).astype({"orders": "int64"})
        everything = orders(wh, TOTAL, window_days=settings.attribution_window_days, on=settings.attribute_to,
                            selection=selection)
        totals |= {k: _number(everything[k].iloc[0]) if len(everything) else None for k in ORDER_COLUMNS}
        gain = lift(wh, selection, settings.lift_window_days)
        if len(gain):
            tables["lift"] = gain
            totals |= {"incremental_orders": float(gain.incremental_orders.sum()),
                       "incremental_revenue": float(gain.incremental_revenue.sum())}
        else:
            warnings.append(Message("no_holdout"))
        credit = step_credit(wh, config, selection, query.models)
        steps = orders(wh, "step", window_days=settings.attribution_window_days, on=settings.attribute_to,
                       selection=selection)[["journey", "step", "orders"]]
        tables["in_the_journey"] = steps.merge(credit, on=["journey", "step"], how="left").fillna(0.0).rename(
            columns={"orders": "last_click_orders"})
    else:
        warnings.append(Message("orders_need_build"))
    if "journey" in table:
        table.insert(keys.index("journey") + 1, "status",
                     table.journey.map(lambda j: "paused" if j in config.messaging.paused else "active"))
    present = set(events(wh, selection).select("channel").distinct().to_pandas().channel)
    gone = [*(EMAIL_ONLY if "email" not in present else ()), *(SMS_ONLY if "sms" not in present else ())]
    table = _arranged(table.drop(columns=[c for c in gone if c in table]), query.by, keys)
    headline = [m for m in (query.headline or HEADLINE) if m in totals and m not in gone]
    by_step = table if query.by == "step" else _steps(wh, selection, config)
    link = {"set": {"journey": "journey", "step": "step"}, "and": {"by": "recipient"}} if query.by == "step" else None
    return ReportResult("messaging", table, totals, escape_labels(_figure(by_step)), applied, warnings, tables,
                        headline=headline, link=link, page_rows=PAGE_ROWS if query.by == "recipient" else None)


def _built(wh: Storage) -> bool:
    try:
        require_built(wh)
    except NotBuilt:
        return False
    return True


def _steps(wh: Storage, selection: Selection, config: Config) -> pd.DataFrame:
    """The steps' counts, for the funnel whatever the table's rows."""
    steps = engagement(wh, "step", selection=selection)
    if _built(wh):
        won = orders(wh, "step", window_days=config.messaging.attribution_window_days,
                     on=config.messaging.attribute_to, selection=selection)
        steps = steps.merge(won, on=["journey", "step"], how="left")
    return steps.sort_values(["journey", "first_sent"], ignore_index=True)


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


def _figure(steps: pd.DataFrame) -> go.Figure:
    """Each step's messages, from the journey's start: sent, delivered, opened, clicked,
    ordered (grouped bars, so a step's drop-off reads left to right)."""
    several = steps.journey.nunique() > 1 if len(steps) else False
    labels = [f"{j} · {s}" if several else s for j, s in zip(steps.journey, steps.step, strict=True)]
    fig = go.Figure()
    for (column, name), shade in zip(FUNNEL.items(), SHADES, strict=True):
        if column in steps:
            fig.add_trace(go.Bar(x=labels, y=steps[column].fillna(0).tolist(), name=name, marker_color=shade,
                                 texttemplate="%{y:,}", textposition="outside", textfont_size=10,
                                 hovertemplate=tooltip("%{x}", (name, "%{y:,}"))))
    fig.update_layout(barmode="group", yaxis_title="messages", xaxis_title="step, from the journey's start",
                      legend={"orientation": "h", "y": -0.2}, uniformtext_minsize=8, uniformtext_mode="hide")
    return fig


def _empty(query: Query, applied: dict) -> ReportResult:
    table = pd.DataFrame(columns=[*KEYS[query.by], *COLUMNS])
    return ReportResult("messaging", table, {"sends": 0.0}, escape_labels(go.Figure()), applied, [NO_MESSAGES],
                        headline=[], empty=NO_MESSAGES)


def _number(v) -> float | None:
    return None if v is None or v != v else float(v)


REPORT = register(Report(
    "messaging", 12, ("Messaging journeys", "Scénarios e-mail et SMS"),
    ("How does each email and SMS journey perform, and what does it really bring?",
     "Que donne chaque scénario d'e-mails et de SMS, et que rapporte-t-il vraiment ?"),
    "grouped_bar", run, options=("journey", "step", "by", "headline", "machine_opens", "models"), realtime=True,
    rows=False))
