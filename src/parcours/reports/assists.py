"""2. Assisting vs final: per row, the conversions it closed (last touch), the ones it
assisted (in the journey, not last), the ones it opened (first touch), their ratio and its
role: where it stands most often in the journeys it is part of (introducer: first, closer:
last, assister: in between)."""

from __future__ import annotations

import ibis
import plotly.graph_objects as go

from parcours.reports.base import Report, ReportResult, Scope, register
from parcours.reports.labels import tooltip

ROLES = ("introducer", "assister", "closer")
COLOURS = {"closer": "#2a9d8f", "introducer": "#e9c46a", "assister": "#577590"}


def run(scope: Scope) -> ReportResult:
    j = scope.journeys()
    t = scope.touches()
    pair = t.group_by(["journey_id", "row"]).agg(last=t.is_last.any(), first=(t.position == 1).any())
    pair = pair.join(j.select("journey_id", "revenue"), "journey_id")
    role = ibis.cases((pair["last"], "closer"), (pair["first"], "introducer"), else_="assister")
    by = pair.group_by("row").agg(
        last_touch_conversions=pair["last"].cast("int64").sum(),
        last_touch_value=ibis.ifelse(pair["last"], pair.revenue, 0.0).sum(),
        assisted_conversions=(~pair["last"]).cast("int64").sum(),
        assisted_value=ibis.ifelse(pair["last"], 0.0, pair.revenue).sum(),
        first_touch_conversions=pair["first"].cast("int64").sum(),
        **{f"_{r}": (role == r).cast("int64").sum() for r in ROLES},
    ).to_pandas()
    by["assisted_last_ratio"] = by.assisted_conversions / by.last_touch_conversions.where(by.last_touch_conversions > 0)
    counts = by[[f"_{r}" for r in ROLES]].to_numpy()
    by["role"] = [ROLES[i] for i in counts.argmax(axis=1)] if len(by) else []
    by["conversions"] = by.last_touch_conversions + by.assisted_conversions  # journeys it is in
    table = by.drop(columns=[f"_{r}" for r in ROLES]).sort_values(
        ["conversions", "row"], ascending=[False, True], ignore_index=True)
    totals = scope.totals(j)
    fig = go.Figure([go.Bar(x=part.row.tolist(), y=part.assisted_last_ratio.tolist(), name=role,
                            marker_color=COLOURS[role], customdata=part.role.tolist(), hovertemplate=tooltip(
                                "%{x}", ("assisted per last-touch conversion", "%{y:,.2f}"),
                                ("role", "%{customdata}")))
                     for role in ROLES if len(part := table[table.role == role])])
    fig.add_hline(y=1.0, line_dash="dot", annotation_text="as many assists as last-touch conversions",
                  annotation_position="top left")
    fig.update_layout(yaxis_title="assisted / last-touch conversions", legend_title="role",
                      xaxis={"categoryorder": "array", "categoryarray": table.row.tolist()})
    return scope.result("assists", table, totals, fig)


REPORT = register(Report(
    'assists', 2, ('Assisting vs final', 'Contributeurs et finaux'),
    ('Which channels assist conversions, and which close them?',
     'Quels leviers assistent les conversions, et lesquels les concluent ?'),
    'bar', run, options=()))
