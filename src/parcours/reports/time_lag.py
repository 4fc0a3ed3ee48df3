"""5. Time lag: days from a journey's first touch to its conversion, in buckets of one width
that follow the lookback (a day each up to a 31-day lookback, then a week, a month, a quarter:
at most 32 bars of one width, which compare at a glance, and none past the lookback, which no
journey's touch is older than), with shares and the cumulative share of the conversions with a
touch; median and 90th percentile; the median lag by first-touch row. Conversions without a
touch have no lag and are counted apart, so the buckets add up to every conversion."""

from __future__ import annotations

import ibis
import plotly.graph_objects as go

from parcours.reports.base import NO_TOUCH, Report, ReportResult, Scope, num, register, share
from parcours.reports.labels import tooltip

WIDTHS = (1, 7, 30, 91, 365)  # a day, a week, a month, a quarter, a year: the first that makes at most
MAX_BARS = 32  # this many bars (a month of days)


def buckets(lookback: int) -> list[tuple[str, int]]:
    """(label, first day) of each bucket from the conversion's day to `lookback` days before:
    "<1", "1", ..., "30" for 30 days; "0-6", "7-13", ... for 90."""
    width = next((w for w in WIDTHS if -(-(lookback + 1) // w) <= MAX_BARS), WIDTHS[-1])
    out, day = [], 0
    while day <= lookback:
        last = min(day + width - 1, lookback)
        out.append(("<1" if width == 1 and day == 0 else str(day) if last == day else f"{day}-{last}", day))
        day = last + 1
    return out


def bucket(days: ibis.Value, lookback: int) -> ibis.Value:
    """Whole days elapsed -> bucket label (a lag past the lookback, if any, in the last one)."""
    found = buckets(lookback)
    cases = [(days < nxt, label) for (label, _), (_, nxt) in zip(found, found[1:], strict=False)]
    return ibis.cases((days.isnull(), NO_TOUCH), *cases, else_=found[-1][0])


def run(scope: Scope) -> ReportResult:
    j = scope.journeys()
    days = (j.lag_s / 86400).floor().cast("int64")
    lookback = scope.config.journeys.lookback_days
    labels = [label for label, _ in buckets(lookback)]
    by = j.group_by(bucket=bucket(days, lookback)).agg(conversions=j.count(), revenue=j.revenue.sum()).to_pandas()
    by = by.set_index("bucket").reindex([*labels, NO_TOUCH]).fillna(0.0).reset_index()
    total = float(by.conversions.sum())
    by["share"] = share(by.conversions, total)
    touched = by.bucket != NO_TOUCH  # the lag of a conversion without a touch is no lag
    by["cumulative_share_touched"] = share(by.conversions.where(touched, 0.0), float(by.conversions[touched].sum()))
    by["cumulative_share_touched"] = by.cumulative_share_touched.cumsum().where(touched)
    lag_days = j.lag_s / 86400.0
    stats = j.aggregate(median=lag_days.median(), p90=lag_days.quantile(0.9)).to_pandas().iloc[0]
    totals = {"conversions": total, "revenue": float(by.revenue.sum()),
              "median_days": num(stats["median"]), "p90_days": num(stats.p90)}

    first = scope.first_touches()
    rows = first.group_by("row").agg(conversions=first.count(), median_days=first.days.median(),
                                     p90_days=first.days.quantile(0.9)).to_pandas()
    rows = rows.sort_values(["conversions", "row"], ascending=[False, True], ignore_index=True)

    fig = go.Figure(go.Bar(x=by.bucket.tolist(), y=by.conversions.tolist(), name="conversions",
                           marker_color=["#4e79a7" if t else "#bab0ac" for t in touched],
                           hovertemplate=tooltip("%{x}", ("conversions", "%{y:,.0f}"))))
    line = by[touched]  # the cumulative share ends with the last lag, not on the conversions without one
    fig.add_trace(go.Scatter(x=line.bucket.tolist(), y=line.cumulative_share_touched.tolist(), yaxis="y2",
                             name="cumulative share", hovertemplate=tooltip("%{x}", ("cumulative share", "%{y:.1%}"))))
    fig.update_layout(xaxis_title="days from first touch to conversion", yaxis_title="conversions",
                      xaxis={"type": "category", "tickangle": 0, "automargin": True},
                      yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.02], "tickformat": ".0%",
                              "title": {"text": "cumulative share"},
                              "dtick": 0.25, "showgrid": False},
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return scope.result("time-lag", by, totals, fig, tables={"by_first_touch": rows}, volume=None)


REPORT = register(Report(
    'time-lag', 5, ('Time lag', 'Délai de conversion'),
    ('How long from the first touch to the conversion?',
     'Combien de temps entre le premier contact et la conversion ?'),
    'bar', run, options=()))
