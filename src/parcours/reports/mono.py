"""7 and 8. Conversions whose journey stayed on one device type (mono-device) or on one value
of the query's level (mono-channel), against all the others."""

from __future__ import annotations

import ibis
import plotly.graph_objects as go

from parcours.reports.base import Report, ReportResult, Scope, register, share
from parcours.reports.labels import tooltip

MULTI_DEVICE, NO_DEVICE = "multi-device", "(no device)"


def mono_device(scope: Scope) -> ReportResult:
    j = scope.journeys()
    row = ibis.cases((j.n_devices == 1, j.devices[0]), (j.n_devices == 0, NO_DEVICE), else_=MULTI_DEVICE)
    by = j.group_by(device=row).agg(conversions=j.count(), revenue=j.revenue.sum()).to_pandas()
    total, revenue = float(by.conversions.sum()), float(by.revenue.sum())
    by["conversion_share"] = share(by.conversions, total)
    by["revenue_share"] = share(by.revenue, revenue)
    by["mono_device"] = ~by.device.isin([MULTI_DEVICE, NO_DEVICE])
    by = by.sort_values(["mono_device", "conversions", "device"], ascending=[False, False, True], ignore_index=True)
    mono = by[by.mono_device]
    totals = {"conversions": total, "revenue": revenue, "mono_device_conversions": float(mono.conversions.sum()),
              "mono_device_share": float(mono.conversions.sum() / total) if total else 0.0}
    fig = go.Figure(go.Pie(labels=by.device.tolist(), values=by.conversions.tolist(), hole=0.4, sort=False,
                           texttemplate="%{percent:.1%}",
                           hovertemplate=tooltip("%{label}", ("conversions", "%{value:,}"),
                                                 ("share of conversions", "%{percent:.1%}"))))
    return scope.result("mono-device", by, totals, fig)


def mono_channel(scope: Scope) -> ReportResult:
    j = scope.journeys()
    t = scope.touches(in_parent=False)
    per = t.group_by("journey_id").agg(values=t.row.nunique(), only=t.row.max())
    mono = per.filter(per["values"] == 1).join(j.select("journey_id", "revenue"), "journey_id")
    last = t.filter(t.is_last).group_by("row").agg(last_touch_conversions=lambda x: x.count())
    by = mono.group_by(row=mono.only).agg(conversions=mono.count(), revenue=mono.revenue.sum())
    by = by.left_join(last, "row").drop("row_right").to_pandas().fillna({"last_touch_conversions": 0})
    if scope.query.parent:  # rows under the drill-down parent only
        inside = scope.touches().select("row").distinct().to_pandas().row
        by = by[by.row.isin(inside)]
    counted = scope.totals(j)
    total = counted["conversions"]
    by["share_of_conversions"] = share(by.conversions, total)
    by["share_of_last_touch"] = by.conversions / by.last_touch_conversions.where(by.last_touch_conversions > 0)
    by = by.sort_values(["conversions", "row"], ascending=[False, True], ignore_index=True)
    totals = {**counted,
              "mono_channel_conversions": float(by.conversions.sum()),
              "mono_channel_share": float(by.conversions.sum() / total) if total else 0.0}
    fig = go.Figure(go.Bar(x=by.row.tolist(), y=by.conversions.tolist(),
                           hovertemplate=tooltip("%{x}", ("conversions", "%{y:,}"))))
    fig.update_layout(yaxis_title="conversions from this value alone")
    return scope.result("mono-channel", by, totals, fig)


MONO_DEVICE = register(Report(
    'mono-device', 7, ('Mono-device', 'Conversions mono-appareil'),
    ('How many conversions come from journeys on a single device type?',
     "Combien de conversions viennent de parcours sur un seul type d'appareil ?"),
    'pie', mono_device, options=(), rows=False))


MONO_CHANNEL = register(Report(
    'mono-channel', 8, ('Mono-channel', 'Conversions mono-levier'),
    ('How many conversions come from a single channel alone?',
     "Combien de conversions viennent d'un seul levier ?"),
    'bar', mono_channel, options=()))
