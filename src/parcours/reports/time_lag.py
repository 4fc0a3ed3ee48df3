"""5. Time lag: days from a journey's first touch to its conversion, in the usual buckets
(<1, 1 .. 12, 13-30, 31-60, 61-90, 91+), with shares and cumulative shares; median and 90th
percentile; the median lag by first-touch row. Conversions without a touch have no lag and
are counted apart, so the buckets add up to every conversion."""

from __future__ import annotations

import ibis
import plotly.graph_objects as go

from parcours.reports.base import NO_TOUCH, Report, Scope, num, register, share
from parcours.reports.labels import tooltip

BUCKETS = ("<1", *map(str, range(1, 13)), "13-30", "31-60", "61-90", "91+", NO_TOUCH)


def bucket(days: ibis.Value) -> ibis.Value:
    """Whole days elapsed -> bucket label."""
    return ibis.cases((days.isnull(), NO_TOUCH), (days < 1, "<1"), (days <= 12, days.cast("string")),
                      (days <= 30, "13-30"), (days <= 60, "31-60"), (days <= 90, "61-90"), else_="91+")


def run(scope: Scope):
    j = scope.journeys()
    days = (j.lag_s / 86400).floor().cast("int64")
    by = j.group_by(bucket=bucket(days)).agg(conversions=j.count(), revenue=j.revenue.sum()).to_pandas()
    by = by.set_index("bucket").reindex(BUCKETS).fillna(0.0).reset_index()
    total = float(by.conversions.sum())
    by["share"] = share(by.conversions, total)
    by["cumulative_share"] = by.share.cumsum()
    lag_days = j.lag_s / 86400.0
    stats = j.aggregate(median=lag_days.median(), p90=lag_days.quantile(0.9)).to_pandas().iloc[0]
    totals = {"conversions": total, "revenue": float(by.revenue.sum()),
              "median_days": num(stats["median"]), "p90_days": num(stats.p90)}

    t = scope.touches()
    first = t.filter(t.position == 1)
    d = (first.end_ts.epoch_seconds() - first.ts.epoch_seconds()) / 86400.0
    rows = first.group_by("row").agg(conversions=first.count(), median_days=d.median(),
                                     p90_days=d.quantile(0.9)).to_pandas()
    rows = rows.sort_values(["conversions", "row"], ascending=[False, True], ignore_index=True)

    fig = go.Figure(go.Bar(x=by.bucket.tolist(), y=by.conversions.tolist(), name="conversions",
                           hovertemplate=tooltip("%{x}", ("conversions", "%{y:,.0f}"))))
    fig.add_trace(go.Scatter(x=by.bucket.tolist(), y=by.cumulative_share.tolist(), yaxis="y2", name="cumulative share",
                             hovertemplate=tooltip("%{x}", ("cumulative share", "%{y:.1%}"))))
    fig.update_layout(xaxis_title="days from first touch to conversion", yaxis_title="conversions",
                      yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.02], "tickformat": ".0%",
                              "dtick": 0.25, "showgrid": False},
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return scope.result("time-lag", by, totals, fig, tables={"by_first_touch": rows}, volume=None)


REPORT = register(Report(
    'time-lag', 5, ('Time lag', 'Délai de conversion'),
    ('How long from the first touch to the conversion?',
     'Combien de temps entre le premier contact et la conversion ?'),
    'bar', run, options=()))
