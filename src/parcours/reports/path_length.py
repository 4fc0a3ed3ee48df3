"""9. Path length: touches before conversion (or distinct values at the query's level, with
`distinct`), bucketed 1 .. 11 and 12+; mean and median; the mean length of the journeys each
row is part of. Conversions without a touch are the bucket 0."""

from __future__ import annotations

import ibis
import plotly.graph_objects as go

from parcours.reports.base import Report, ReportResult, Scope, num, register, share
from parcours.reports.labels import tooltip

BUCKETS = tuple(map(str, range(0, 12))) + ("12+",)


def run(scope: Scope) -> ReportResult:
    q = scope.query
    j = scope.journeys()
    t = scope.touches(in_parent=False)
    if q.distinct:
        counts = t.group_by("journey_id").agg(_len=t.row.nunique())
        jj = j.left_join(counts, "journey_id")
        jj = jj.mutate(length=jj._len.fill_null(0))
    else:
        jj = j.mutate(length=j.n_touches)
    label = ibis.ifelse(jj.length >= 12, "12+", jj.length.cast("string"))
    by = jj.group_by(length=label).agg(conversions=jj.count(), revenue=jj.revenue.sum()).to_pandas()
    by = by.set_index("length").reindex(BUCKETS).fillna(0.0).reset_index()
    total = float(by.conversions.sum())
    by["share"] = share(by.conversions, total)
    by["cumulative_share"] = by.share.cumsum()
    touched = jj.filter(jj.length > 0)
    stats = touched.aggregate(mean=touched.length.mean(), median=touched.length.median()).to_pandas().iloc[0]
    totals = {"conversions": total, "revenue": float(by.revenue.sum()),
              "mean_length": num(stats["mean"]), "median_length": num(stats["median"])}

    tr = scope.touches()
    pairs = tr.select("journey_id", "row").distinct().join(jj.select("journey_id", "length"), "journey_id")
    rows = pairs.group_by("row").agg(conversions=pairs.count(), mean_length=pairs.length.mean()).to_pandas()
    rows = rows.sort_values(["conversions", "row"], ascending=[False, True], ignore_index=True)

    fig = go.Figure(go.Bar(x=by.length.tolist(), y=by.conversions.tolist(),
                           hovertemplate=tooltip("%{x}", ("conversions", "%{y:,.0f}"))))
    fig.update_layout(xaxis_title="distinct values" if q.distinct else "touches before conversion",
                      yaxis_title="conversions")
    return scope.result("path-length", by, totals, fig, tables={"by_row": rows}, volume=None)


REPORT = register(Report(
    'path-length', 9, ('Path length', 'Longueur des parcours'),
    ('How many touches before conversion?',
     'Combien de contacts avant la conversion ?'),
    'bar', run, options=('distinct',)))
