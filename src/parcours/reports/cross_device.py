"""3. Cross-device: conversions by the number of device types their journey used (touch
devices, plus the converting device for online conversions), the top device sequences,
first-touch device x converting device, and the share of multi-device conversions per row."""

from __future__ import annotations

import ibis
import plotly.graph_objects as go

from parcours.exprs import in_order
from parcours.reports.base import Scope, share

BUCKETS = ("0", "1", "2", "3+")  # 0: offline conversion with no touch


def run(scope: Scope):
    j = scope.journeys()
    n = j.n_devices
    bucket = ibis.cases((n == 0, "0"), (n == 1, "1"), (n == 2, "2"), else_="3+")
    by = j.group_by(devices=bucket).agg(conversions=j.count(), revenue=j.revenue.sum()).to_pandas()
    by = by.set_index("devices").reindex(BUCKETS).fillna(0.0).reset_index()
    total, revenue = float(by.conversions.sum()), float(by.revenue.sum())
    by["share"] = share(by.conversions, total)

    t = scope.touches(in_parent=False)
    prev = t.device.lag().over(ibis.window(group_by=t.journey_id, order_by=t.position))
    steps = t.filter(prev.isnull() | (prev != t.device))
    seq = steps.group_by("journey_id").agg(sequence=in_order(steps.device, steps.position))
    seq = seq.join(j.select("journey_id", "revenue"), "journey_id")
    seq = seq.mutate(sequence=ibis.literal(" > ").join(seq.sequence))
    top = seq.group_by("sequence").agg(conversions=seq.count(), revenue=seq.revenue.sum())
    top = top.order_by([ibis.desc("conversions"), "sequence"]).limit(scope.query.top).to_pandas()
    top["share"] = share(top.conversions, total)

    first = t.filter(t.position == 1).select("journey_id", first_device=t.device)
    jm = j.left_join(first, "journey_id")
    converting = ibis.ifelse(jm.origin == "online", jm.conv_device, jm.origin)
    matrix = jm.group_by(first_device=jm.first_device.fill_null("(no touch)"), converting_device=converting) \
        .agg(conversions=jm.count()).to_pandas()
    grid = matrix.pivot_table(index="first_device", columns="converting_device", values="conversions",
                              fill_value=0, aggfunc="sum")

    tr = scope.touches()
    pairs = tr.select("journey_id", "row").distinct().join(j.select("journey_id", "n_devices"), "journey_id")
    rows = pairs.group_by("row").agg(conversions=pairs.count(),
                                     multi_device=(pairs.n_devices >= 2).cast("int64").sum()).to_pandas()
    rows["multi_device_share"] = rows.multi_device / rows.conversions
    rows = rows.sort_values(["conversions", "row"], ascending=[False, True], ignore_index=True)

    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index),
                               colorscale="Blues", hovertemplate="%{y} -> %{x}: %{z}<extra></extra>"))
    fig.update_layout(xaxis_title="converting device", yaxis_title="first-touch device")
    multi = float(by.loc[by.devices.isin(["2", "3+"]), "conversions"].sum())
    totals = {"conversions": total, "revenue": revenue, "multi_device_share": multi / total if total else 0.0}
    return scope.result("cross-device", by, totals, fig, tables={
        "sequences": top, "first_x_converting": grid.reset_index(), "by_row": rows})
