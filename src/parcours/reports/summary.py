"""The real-time summary: last-touch conversions by day and channel straight from the raw
tables (today included, no journeys needed): each conversion goes to the same visitor's last
touch that is not an ad view within the lookback window, classified by the channel rules.
For the days the journeys cover, it states how far the Customer Journey totals are from it."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import plotly.graph_objects as go

from parcours.build.channels import channel_only
from parcours.contract.config import Config
from parcours.contract.query import DEFAULT_DAYS, Query
from parcours.engine.storage import Storage
from parcours.reports.base import NO_MATCH, NO_TOUCH, Report, ReportResult, escape_labels, register
from parcours.reports.labels import Message, colours, tooltip


def summary(wh: Storage, config: Config, start: dt.date | None = None, end: dt.date | None = None,
            today: dt.date | None = None) -> ReportResult:
    today = today or dt.datetime.now(dt.UTC).date()
    end = min(end or today, today)
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    lo = ibis.timestamp(dt.datetime.combine(start, dt.time()))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # an event stamped later (a clock ahead) has not happened
    hi = ibis.timestamp(min(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()), now))
    lookback = ibis.interval(days=config.journeys.lookback_days)
    c = wh.table("conversions")
    c = c.filter(c.ts >= lo, c.ts < hi).select("conversion_id", "visitor_id", "revenue", conv_ts="ts")
    raw = wh.table("touchpoints")
    window = [raw.ts >= lo - lookback, raw.ts < hi]
    tp = raw.filter(*window, raw.interaction != "view").select(tp_visitor="visitor_id", tp_ts="ts",
                                                               tp_event="event_id")
    # The last touch per conversion: a range join and a rank (an as-of join would say it in
    # one step, but Spark SQL has none); only those touches are classified (the rules are
    # the costly part, and a few thousand touches win out of millions).
    j = c.join(tp, [c.visitor_id == tp.tp_visitor, tp.tp_ts <= c.conv_ts,
                    tp.tp_ts >= c.conv_ts - lookback])
    j = j.mutate(_rank=ibis.row_number().over(ibis.window(
        group_by=j.conversion_id, order_by=[ibis.desc(j.tp_ts), ibis.desc(j.tp_event)])))
    j = j.filter(j._rank == 0).select("conversion_id", "tp_event")
    won = raw.filter(*window, raw.event_id.isin(j.tp_event))
    won = channel_only(won, config).select(tp_event="event_id", channel="channel")
    j = j.join(won, "tp_event").select("conversion_id", "channel")
    last = c.left_join(j, "conversion_id")
    last = last.mutate(channel=last.channel.fill_null(NO_TOUCH))
    by = last.group_by(date=last.conv_ts.date(), channel=last.channel).agg(
        conversions=last.count(), revenue=last.revenue.sum()).order_by(["date", "channel"]).to_pandas()
    totals = {"conversions": float(by.conversions.sum()), "revenue": float(by.revenue.sum())}
    warnings: list[str] = [] if totals["conversions"] else [NO_MATCH]
    if wh.has("build_meta") and wh.has("journeys"):
        cut = pd.Timestamp(wh.table("build_meta").cut.max().execute()).to_pydatetime()
        covered = by[pd.to_datetime(by.date) < cut]
        j = wh.table("journeys")
        until = min(dt.datetime.combine(end + dt.timedelta(days=1), dt.time()), cut)
        j = j.filter(j.converted, j.conv_ts >= lo, j.conv_ts < ibis.timestamp(until))
        built = float(j.count().execute())
        raw = float(covered.conversions.sum())
        diff = (built - raw) / raw if raw else 0.0
        totals.update(journeys_conversions=built, summary_conversions_until_cut=raw, difference=diff)
        if abs(diff) > config.reports.summary_tolerance:
            warnings.append(Message("summary_gap", built=built, raw=raw, diff=f"{diff:+.1%}"))
    drawn = colours(by.channel)
    fig = go.Figure([go.Bar(name=ch, x=g.date.tolist(), y=g.conversions.tolist(), marker_color=drawn[ch],
                            hovertemplate=tooltip("%{x|%e %b %Y}", ("%{fullData.name}", "%{y:,}")))
                     for ch, g in by.groupby("channel")])
    fig.update_layout(barmode="stack", yaxis_title="last-touch conversions")
    applied = {"start": start.isoformat(), "end": end.isoformat(), "today_included": end == today}
    return ReportResult("summary", by, totals, escape_labels(fig), applied, warnings,
                        headline=["conversions", "revenue"])  # the reconciliation: its warning, the expert view


def run(wh: Storage, config: Config, query: Query) -> ReportResult:
    return summary(wh, config, query.start, query.end)


REPORT = register(Report(
    "summary", 11, ("Real-time summary", "Synthèse globale"),
    ("Last-touch conversions by day and channel, today included.",
     "Conversions au dernier contact par jour et par levier, aujourd'hui compris."),
    "stacked_bar", run, realtime=True))
