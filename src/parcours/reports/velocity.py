"""10. Velocity: how fast journeys move through the configured funnel stages to conversion.
For each stage: journeys reaching it (a touch with that stage), the share of them that reach
the next stage at or after it, and the median and 90th percentile time (days) between first
reaching one and the next. By entry row (the first touch): journeys, conversions, conversion
rate and median days from first touch to conversion.

Like engagement, rates use the journeys without a conversion, so a conversion-only filter
leaves them out."""

from __future__ import annotations

import ibis
import pandas as pd
import plotly.graph_objects as go

from parcours.reports.base import Report, Scope, num, register

CONVERSION = "conversion"


def run(scope: Scope):
    stages = list(scope.meta["funnel_stages"])
    j = scope.journeys(everyone=True)
    reach = [j.stage_ts[i] for i in range(len(stages))] + [ibis.ifelse(j.converted, j.conv_ts, None)]
    names = stages + [CONVERSION]
    agg = {"_journeys": j.count()}
    for i, r in enumerate(reach):
        agg[f"reached_{i}"] = r.notnull().cast("int64").sum()
        if i + 1 < len(reach):
            nxt = reach[i + 1]
            ok = r.notnull() & nxt.notnull() & (nxt >= r)
            gap = ibis.ifelse(ok, (nxt.epoch_seconds() - r.epoch_seconds()) / 86400.0, None)
            agg[f"next_{i}"] = ok.cast("int64").sum()
            agg[f"median_{i}"] = gap.median()
            agg[f"p90_{i}"] = gap.quantile(0.9)
    a = j.aggregate(**agg).to_pandas().iloc[0]
    table = pd.DataFrame({
        "stage": names,
        "journeys": [int(num(a[f"reached_{i}"]) or 0) for i in range(len(names))],
        "next_stage": names[1:] + [None],
        "reached_next": [int(num(a[f"next_{i}"]) or 0) for i in range(len(names) - 1)] + [None],
        "median_days_to_next": [num(a[f"median_{i}"]) for i in range(len(names) - 1)] + [None],
        "p90_days_to_next": [num(a[f"p90_{i}"]) for i in range(len(names) - 1)] + [None],
    })
    table["rate_to_next"] = table.reached_next / table.journeys.where(table.journeys > 0)
    if not scope.rates:
        table["rate_to_next"] = None

    tr = scope.touches(everyone=True)
    entry = tr.filter(tr.position == 1)
    days = ibis.ifelse(entry.converted, (entry.end_ts.epoch_seconds() - entry.ts.epoch_seconds()) / 86400.0, None)
    rows = entry.group_by("row").agg(journeys=entry.count(), conversions=entry.converted.cast("int64").sum(),
                                     median_days_to_conversion=days.median()).to_pandas()
    rows["conversion_rate"] = rows.conversions / rows.journeys if scope.rates else None
    rows = rows.sort_values(["journeys", "row"], ascending=[False, True], ignore_index=True)

    fig = go.Figure(go.Funnel(y=table.stage.tolist(), x=table.journeys.tolist(), textinfo="value+percent initial"))
    conv = int(table.journeys.iloc[-1])
    totals = {"conversions": float(conv), "journeys": float(a["_journeys"])}
    result = scope.result("velocity", table, totals, fig, tables={"by_entry": rows}, volume="journeys")
    if not scope.rates:
        result.warnings.append("stage-to-stage rates need journeys without a conversion, which a "
                               f"{', '.join(scope.conversion_filtered())} filter cannot select: left out")
    return result


REPORT = register(Report(
    'velocity', 10, ('Velocity', 'Vitesse dans le tunnel'),
    ('How fast do journeys move through the funnel stages?',
     'À quelle vitesse les parcours traversent-ils les étapes du tunnel ?'),
    'funnel', run, options=()))
