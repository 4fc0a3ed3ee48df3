"""3. Cross-device: conversions by the number of device types their journey used (touch
devices, plus the converting device for online conversions), the top device sequences,
first-touch device x converting device, and the share of multi-device conversions per row.

One engine query reduces the touches to one row per converting journey (its device sequence
and its values at the level); the four tables are small group-bys of those rows."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc

from parcours.attribution.paths import collapse_repeats, list_array
from parcours.contract.exprs import in_order
from parcours.reports.base import NO_TOUCH, Report, ReportResult, Scope, register, share
from parcours.reports.labels import tooltip

BUCKETS = ("0", "1", "2", "3+")  # 0: offline conversion with no touch
SEP = " > "


def run(scope: Scope) -> ReportResult:
    q = scope.query
    j = scope.journeys()
    t = scope.touches(in_parent=False)
    inside = ibis.and_(*[t[lv] == v for lv, v in q.parent]) if q.parent else ibis.literal(True)
    per = t.group_by("journey_id").agg(sequence=in_order(t.device, t.position),
                                       rows=ibis.ifelse(inside, t.row, None).collect(distinct=True))
    jj = j.select("journey_id", "n_devices", "origin", "conv_device", "revenue").left_join(per, "journey_id")
    df = jj.select("n_devices", "origin", "conv_device", "revenue", "sequence", "rows").to_pyarrow()
    n_devices = df["n_devices"].to_numpy()
    revenue = df["revenue"].to_numpy(zero_copy_only=False).astype(float)
    total = float(len(n_devices))

    bucket = np.select([n_devices == 0, n_devices == 1, n_devices == 2], ["0", "1", "2"], "3+")
    by = pd.DataFrame({"devices": bucket, "conversions": 1, "revenue": revenue}).groupby("devices").sum()
    by = by.reindex(BUCKETS).fillna(0).astype({"conversions": "int64"}).reset_index()
    by["share"] = share(by.conversions, total)

    seq = df["sequence"].combine_chunks()
    touched = ~np.asarray(seq.is_null().to_numpy(zero_copy_only=False))
    steps = collapse_repeats(list_array(seq.filter(pa.array(touched))))
    labels = pc.binary_join(steps, SEP).to_numpy(zero_copy_only=False)
    top = pd.DataFrame({"sequence": labels, "conversions": 1, "revenue": revenue[touched]})
    top = top.groupby("sequence", as_index=False).sum()
    top = top.sort_values(["conversions", "sequence"], ascending=[False, True], ignore_index=True).head(q.top)
    top["share"] = share(top.conversions, total)

    first = np.full(len(n_devices), NO_TOUCH, dtype=object)
    first[touched] = pc.list_element(steps, 0).to_numpy(zero_copy_only=False) if len(steps) else []
    origin = df["origin"].to_numpy(zero_copy_only=False)
    converting = np.where(origin == "online", df["conv_device"].to_numpy(zero_copy_only=False), origin)
    grid = pd.crosstab(pd.Series(first, name="first_device"), pd.Series(converting, name="converting_device"))

    rows = pd.DataFrame({"row": df["rows"].to_pandas(), "multi": n_devices >= 2}).explode("row").dropna()
    rows = rows.groupby("row").agg(conversions=("multi", "size"), multi_device=("multi", "sum")).reset_index()
    rows["multi_device_share"] = rows.multi_device / rows.conversions
    rows = rows.sort_values(["conversions", "row"], ascending=[False, True], ignore_index=True)

    fig = go.Figure(go.Heatmap(z=grid.to_numpy().tolist(), x=list(grid.columns), y=list(grid.index),
                               colorscale="Blues", texttemplate="%{z:,}", showscale=False,  # each cell says its number
                               hovertemplate=tooltip("first touch on: %{y}", ("converted on", "%{x}"),
                                                     ("conversions", "%{z:,}"))))
    fig.update_layout(xaxis_title="converting device", yaxis_title="first-touch device")
    multi = float(by.loc[by.devices.isin(["2", "3+"]), "conversions"].sum())
    totals = {"conversions": total, "revenue": float(revenue.sum()),
              "multi_device_share": multi / total if total else 0.0}
    return scope.result("cross-device", by, totals, fig, tables={
        "sequences": top, "first_x_converting": grid.reset_index(), "by_row": rows})


REPORT = register(Report(
    'cross-device', 3, ('Cross-device', 'Parcours multi-appareils'),
    ('How many devices do converting journeys use, in which order?',
     "Combien d'appareils les parcours convertis utilisent-ils, et dans quel ordre ?"),
    'heatmap', run, options=('top',)))
