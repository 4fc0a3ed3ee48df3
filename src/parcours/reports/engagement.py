"""6. Engagement: how involved people are and each row's share of it. Per row: touches, visits
(touches that are not ad views), pageviews, time on site, its share of the total engagement
score, and the conversion rate of the journeys it is part of. Journeys by involvement level
(engagement score = pageviews + minutes on site, thresholds in [reports]).

Rates need the journeys that did not convert: they carry no CRM data, so under a
conversion-only filter (new customers, categories...) only converting journeys are counted
and rates are left out."""

from __future__ import annotations

import ibis
import plotly.graph_objects as go

from parcours.reports.base import Report, ReportResult, Scope, register, share
from parcours.reports.labels import Fields, Message, tooltip

LEVELS = ("low", "medium", "high")


def run(scope: Scope) -> ReportResult:
    settings = scope.config.reports
    warnings = [] if scope.rates else [Message("rates_left_out", filters=Fields(scope.conversion_filtered()))]
    t = scope.touches(everyone=True)
    sums = dict(touches=t.count(), visits=(t.interaction != "view").cast("int64").sum(),
                pageviews=t.pageviews.fill_null(0).sum(), duration_s=t.duration_s.fill_null(0.0).sum())
    if scope.query.level == "channel" and not scope.query.parent:
        # journeys per channel from each journey's set of channels (built): a count of
        # (journey, channel) pairs over every touch of the period took 0.35 s at 10M touchpoints
        j = scope.journeys(everyone=True)
        sets = j.select(row=j.channel_set.unnest(), converted=j.converted)
        per = sets.group_by("row").agg(journeys=sets.count(), conversions=sets.converted.cast("int64").sum())
        by = t.group_by("row").agg(**sums).to_pandas().merge(per.to_pandas(), on="row")
    else:  # (journey, row) pairs first, so journeys per row need no distinct count
        p = t.group_by(["journey_id", "row"]).agg(**sums, converted=t.converted.any())
        by = p.group_by("row").agg(
            touches=p.touches.sum(), visits=p.visits.sum(), pageviews=p.pageviews.sum(),
            duration_s=p.duration_s.sum(), journeys=p.count(), conversions=p.converted.cast("int64").sum(),
        ).to_pandas()
    by.insert(5, "engagement", by.pageviews + by.duration_s / 60.0)
    by["duration_s"] = by.duration_s / 3600.0
    by = by.rename(columns={"duration_s": "time_on_site_hours"})
    by["engagement_share"] = share(by.engagement, float(by.engagement.sum()))
    by["conversion_rate"] = by.conversions / by.journeys if scope.rates else None
    by = by.sort_values(["engagement", "row"], ascending=[False, True], ignore_index=True)

    j = scope.journeys(everyone=True)
    score = j.pageviews.cast("float64") + j.duration_s / 60.0
    level = ibis.cases((score >= settings.engagement_high, "high"), (score >= settings.engagement_medium, "medium"),
                       else_="low")
    inv = j.group_by(involvement=level).agg(journeys=j.count(), conversions=j.converted.cast("int64").sum(),
                                            revenue=j.revenue.sum()).to_pandas()
    inv = inv.set_index("involvement").reindex(LEVELS).fillna(0).reset_index()
    inv["conversion_rate"] = (inv.conversions / inv.journeys.where(inv.journeys > 0)) if scope.rates else None

    fig = go.Figure(go.Bar(x=by.row.tolist(), y=by.engagement_share.tolist(), name="share of engagement",
                           hovertemplate=tooltip("%{x}", ("share of engagement", "%{y:.1%}"))))
    fig.update_layout(yaxis_tickformat=".0%", yaxis_title="share of engagement (pageviews + minutes)")
    totals = {"conversions": float(inv.conversions.sum()), "revenue": float(inv.revenue.sum()),
              "journeys": float(inv.journeys.sum()), "engagement": float(by.engagement.sum())}
    result = scope.result("engagement", by, totals, fig, tables={"involvement": inv})
    result.warnings += warnings
    return result


REPORT = register(Report(
    'engagement', 6, ('Engagement', 'Engagement'),
    ('How involved are people, and how much of it does each channel bring?',
     "Quel est l'engagement des internautes, et quelle part en apporte chaque levier ?"),
    'bar', run, options=()))
