"""4. Top paths: the most frequent sequences of values (at the query's level, consecutive
repeats collapsed unless asked otherwise) before conversion, and a flow of the first steps."""

from __future__ import annotations

import ibis
import pandas as pd
import plotly.graph_objects as go

from parcours.contract.exprs import in_order, via_arrow
from parcours.reports.base import NO_TOUCH, Report, ReportResult, Scope, register, share
from parcours.reports.labels import colours, tooltip

SEP = " > "
FLOW_STEPS = 4


def run(scope: Scope) -> ReportResult:
    q = scope.query
    j = scope.journeys()
    t = scope.touches(in_parent=False)
    if q.collapse:
        # A column, not a window inside the filter: Ibis's Spark SQL cannot resolve that.
        t = t.mutate(_prev=t.row.lag().over(ibis.window(group_by=t.journey_id, order_by=t.position)))
        t = t.filter(t._prev.isnull() | (t._prev != t.row))
    seq = t.group_by("journey_id").agg(steps=in_order(t.row, t.position))
    jj = j.left_join(seq, "journey_id")
    jj = jj.mutate(path=ibis.literal(SEP).join(jj.steps).fill_null(NO_TOUCH))
    by = jj.group_by("path").agg(
        conversions=jj.count(), revenue=jj.revenue.sum(),
        avg_lag_days=(jj.lag_s / 86400.0).mean(), avg_length=jj.n_touches.mean(),
        steps=jj.steps.first(),
    )
    by = via_arrow(by)  # each path's steps: Ibis's to_pandas makes a list of each by Python (45 ms of 170 at 10M)
    total, revenue = float(by.conversions.sum()), float(by.revenue.sum())
    by["share"] = share(by.conversions, total)
    by = by.sort_values(["conversions", "path"], ascending=[False, True], ignore_index=True)
    table = by.head(q.top).drop(columns="steps")
    totals = {"conversions": total, "revenue": revenue, "distinct_paths": len(by)}
    links = _links(by)
    return scope.result("top-paths", table, totals, _flow(_links(by.head(q.top))), tables={"flow": links})


def _links(paths: pd.DataFrame) -> pd.DataFrame:
    """(step, source, target, conversions) over the first FLOW_STEPS steps of every path,
    then to "conversion" (or to "N+. ..." for longer paths)."""
    p = paths[paths.steps.notna()].reset_index(drop=True)
    s = p.steps.explode().rename("value").to_frame()
    s["pos"] = s.groupby(level=0).cumcount()
    s = s[s.pos < FLOW_STEPS]
    s["node"] = (s.pos + 1).astype(str) + ". " + s.value.astype(str)
    length = p.steps.map(len)
    end = pd.Series(["conversion"] * len(p), index=p.index).where(length <= FLOW_STEPS, f"{FLOW_STEPS + 1}+. ...")
    s["target"] = s.groupby(level=0).node.shift(-1).fillna(end.reindex(s.index))
    s["conversions"] = p.conversions.reindex(s.index).to_numpy()
    s["step"] = s.pos + 1
    links = s.rename(columns={"node": "source"})[["step", "source", "target", "conversions"]]
    return links.groupby(["step", "source", "target"], as_index=False).agg(conversions=("conversions", "sum"))


def _flow(links: pd.DataFrame) -> go.Figure:
    """The flow of the top paths: a node per step and value, one colour per value at every step."""
    names = sorted(set(links.source) | set(links.target), key=lambda s: (s[0] if s[0].isdigit() else "9", s))
    index = {n: i for i, n in enumerate(names)}
    value = {n: n.split(". ", 1)[1] if n[0].isdigit() else n for n in names}  # "2. email" is email
    drawn = colours(value.values())  # one per value, as the chips have them
    colour = [drawn[value[n]] for n in names]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": names, "pad": 14, "thickness": 16, "color": colour,
              "hovertemplate": tooltip("%{label}", ("conversions", "%{value:,}"))},
        link={"source": links.source.map(index).tolist(), "target": links.target.map(index).tolist(),
              "value": links.conversions.tolist(),
              "color": [colour[index[s]] + "66" for s in links.source],  # the source's colour, light
              "hovertemplate": tooltip("%{source.label} → %{target.label}", ("conversions", "%{value:,}"))}))
    fig.update_layout(font_size=12, height=460)
    return fig


REPORT = register(Report(
    'top-paths', 4, ('Top paths', 'Séquences de leviers'),
    ('Which sequences of channels come before conversion?',
     'Quelles séquences de leviers précèdent la conversion ?'),
    'paths', run, options=('top', 'collapse')))
