"""10. Velocity: how fast journeys move through the configured funnel stages to conversion.

Reach is defined so the funnel is monotone: a journey has reached a stage when it touched
that stage or any later one, or converted (a later stage implies the earlier ones; a journey
that entered at "intent" has passed "awareness" without a touch saying so). So every share
of the first stage is at most 100%, and the last stage is the conversions.

For each stage: journeys reaching it, the share of them that reach the next, and the median
and 90th percentile days between first touching one and the next (journeys that touched
both, in that order). By entry row (the first touch): journeys, conversions, conversion rate,
median and p90 days from first touch to conversion. The chart shows both: the funnel, and
the days each step takes.

Like engagement, rates use the journeys without a conversion, so a conversion-only filter
leaves them out."""

from __future__ import annotations

import ibis
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from parcours.reports.base import Report, ReportResult, Scope, num, register
from parcours.reports.labels import Fields, Message, tooltip

CONVERSION = "conversion"


def run(scope: Scope) -> ReportResult:
    stages = list(scope.meta["funnel_stages"])
    j = scope.journeys(everyone=True)
    touched = [j.stage_ts[i] for i in range(len(stages))] + [ibis.ifelse(j.converted, j.conv_ts, None)]
    names = stages + [CONVERSION]
    agg = {"_journeys": j.count()}
    for i, first in enumerate(touched):
        reached = ibis.or_(*(t.notnull() for t in touched[i:]))  # this stage or a later one
        agg[f"reached_{i}"] = reached.cast("int64").sum()
        if i + 1 < len(touched):
            nxt = touched[i + 1]
            ok = first.notnull() & nxt.notnull() & (nxt >= first)
            gap = ibis.ifelse(ok, (nxt.epoch_seconds() - first.epoch_seconds()) / 86400.0, None)
            agg[f"median_{i}"] = gap.median()
            agg[f"p90_{i}"] = gap.quantile(0.9)
    a = j.aggregate(**agg).to_pandas().iloc[0]
    reached_counts = [int(num(a[f"reached_{i}"]) or 0) for i in range(len(names))]
    table = pd.DataFrame({
        "stage": names,
        "journeys": reached_counts,
        "next_stage": names[1:] + [None],
        "reached_next": reached_counts[1:] + [None],
        "median_days_to_next": [num(a[f"median_{i}"]) for i in range(len(names) - 1)] + [None],
        "p90_days_to_next": [num(a[f"p90_{i}"]) for i in range(len(names) - 1)] + [None],
    })
    table["rate_to_next"] = table.reached_next / table.journeys.where(table.journeys > 0)
    table["share_of_first_stage"] = table.journeys / reached_counts[0] if reached_counts[0] else None
    if not scope.rates:
        table["rate_to_next"] = None
        table["share_of_first_stage"] = None

    entry = scope.first_touches(everyone=True)
    rows = entry.group_by("row").agg(journeys=entry.count(), conversions=entry.converted.cast("int64").sum(),
                                     median_days_to_conversion=entry.days.median(),
                                     p90_days_to_conversion=entry.days.quantile(0.9)).to_pandas()
    rows["conversion_rate"] = rows.conversions / rows.journeys if scope.rates else None
    rows = rows.sort_values(["journeys", "row"], ascending=[False, True], ignore_index=True)

    totals = {"conversions": float(reached_counts[-1]), "journeys": float(num(a["_journeys"]) or 0)}
    result = scope.result("velocity", table, totals, _figure(table), tables={"by_entry": rows}, volume="journeys")
    if not scope.rates:
        result.warnings.append(Message("rates_left_out", filters=Fields(scope.conversion_filtered())))
    return result


def _figure(table: pd.DataFrame) -> go.Figure:
    """The funnel (journeys reaching each stage) above the days each step takes (stacked, so
    both stay readable on a phone)."""
    steps = table.iloc[:-1]
    labels = [f"{a} → {b}" for a, b in zip(steps.stage, steps.next_stage, strict=True)]
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.14,
                        subplot_titles=("journeys reaching each stage", "days from one stage to the next"))
    fig.add_trace(go.Funnel(y=table.stage.tolist(), x=table.journeys.tolist(), name="journeys", showlegend=False,
                            texttemplate="%{value:,}<br>%{percentInitial:.0%}",
                            hovertemplate=tooltip("%{y}", ("journeys", "%{x:,}"))), row=1, col=1)
    for column, name, colour in (("median_days_to_next", "median", "#2a9d8f"), ("p90_days_to_next", "p90", "#e9c46a")):
        fig.add_trace(go.Bar(y=labels, x=steps[column].tolist(), orientation="h", name=f"{name} days",
                             marker_color=colour, hovertemplate=tooltip("%{y}", (f"{name} days", "%{x:,.1f}"))),
                      row=2, col=1)
    fig.update_layout(barmode="group", height=680, legend={"orientation": "h", "y": -0.1})
    fig.update_xaxes(title_text="days", row=2, col=1)
    fig.update_yaxes(autorange="reversed", automargin=True, row=2, col=1)
    return fig


REPORT = register(Report(
    'velocity', 10, ('Velocity', 'Vitesse dans le tunnel'),
    ('How fast do journeys move through the funnel stages?',
     'À quelle vitesse les parcours traversent-ils les étapes du tunnel ?'),
    'funnel', run, options=()))
