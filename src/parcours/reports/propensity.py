"""13. Propensity and next best channel: how good the model of who converts next is, on a
period it did not learn from, and what it recommends.

Reads what `parcours.predict` wrote after the last build: the held-out figures (AUC, log
loss, Brier score, calibration error, the top decile's lift), the calibration curve (one row
per decile of the prediction: predicted vs observed rate) and the next best channel per
channel (persons, their mean gain, how reliable its gains' differences between persons are,
the channel's cost per touch and share of the current mix), with what one touch per person
would bring by the recommendation and by the current mix. No period, level or filter: the
figures are those of the model as of the last build.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from parcours.build.journeys import require_built
from parcours.contract.config import Config
from parcours.contract.query import Query
from parcours.engine.storage import Storage
from parcours.reports.base import Report, ReportResult, escape_labels, register
from parcours.reports.labels import Message, tooltip

HEADLINE = ("auc", "top_decile_lift", "calibration_error", "persons_scored")
FIGURES = ("auc", "log_loss", "brier", "calibration_error", "top_decile_lift", "base_rate", "top_decile_rate",
           "persons_scored", "train_rows", "held_out_rows", "training_cutoffs", "horizon_days")
CHANNEL_COLUMNS = ("channel", "persons", "mean_gain", "reliability", "cost_per_touch", "mix")
NO_PREDICTIONS = Message("no_predictions")


def run(wh: Storage, config: Config, query: Query) -> ReportResult:
    meta = require_built(wh)
    applied = {"cut": meta["cut"].isoformat(sep=" ")}
    if not wh.has("prediction_quality"):
        return ReportResult("propensity", pd.DataFrame(columns=["decile", "predicted", "observed", "persons"]),
                            {}, go.Figure(), applied, warnings=[NO_PREDICTIONS], empty=NO_PREDICTIONS)
    q = wh.table("prediction_quality").to_pandas().iloc[0].to_dict()
    scored = pd.Timestamp(q.get("scored_cut", q["cut"]))  # the last scoring; `cut` is the fit's
    warnings: list[str] = [] if scored == pd.Timestamp(meta["cut"]) else [
        Message("stale_predictions", day=f"{scored:%Y-%m-%d}")]
    applied |= {"fitted_cut": pd.Timestamp(q["cut"]).isoformat(sep=" "),
                "held_out_cutoff": pd.Timestamp(q["held_out_cutoff"]).isoformat(sep=" "),
                "horizon_days": int(q["horizon_days"])}
    curve = wh.table("prediction_calibration").to_pandas().sort_values("bin", ignore_index=True)
    table = curve.assign(decile=curve["bin"] + 1)[["decile", "predicted", "observed", "persons"]]
    channels = wh.table("prediction_channels").to_pandas()
    totals: dict[str, float | None] = {k: _number(q.get(k)) for k in FIGURES if k != "persons_scored"}
    totals["persons_scored"] = int(channels.persons.sum())
    policy = _policies(q, int(channels.persons.sum()))
    shown = [c for c in CHANNEL_COLUMNS if c in channels.columns]  # reliability: since 2026-12-02's builds
    tables = {"next_best_channel": channels[shown], "one_touch_each": policy}
    return ReportResult("propensity", table, totals, escape_labels(_figure(table, channels)), applied,
                        warnings=warnings, tables=tables, headline=list(HEADLINE))


def _policies(q: dict, scored: int) -> pd.DataFrame:
    """One touch each, by the recommendation or by the current mix: the expected conversions,
    their cost, and which is the better choice (the lower cost per expected conversion; the
    one that brings any, when the other brings none)."""
    policy = pd.DataFrame([
        {"policy": "recommended", "conversions": q["recommended_conversions"], "cost": q["recommended_cost"],
         "persons_touched": int(q["recommended_persons"])},
        {"policy": "current_mix", "conversions": q["mix_conversions"], "cost": q["mix_cost"],
         "persons_touched": scored}])
    worth = policy.conversions.where(policy.conversions > 0)
    policy["cost_per_conversion"] = policy.cost / worth
    ranked = policy.cost_per_conversion.fillna(float("inf"))
    policy["best"] = (ranked == ranked.min()) & (policy.conversions > 0)
    return policy.sort_values("best", ascending=False, ignore_index=True)


def _number(v: float | None) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _figure(curve: pd.DataFrame, channels: pd.DataFrame) -> go.Figure:
    """The calibration curve (observed vs predicted rate per decile, the diagonal where they
    agree) above the persons each channel is recommended to (stacked: both readable on a phone)."""
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.16, row_heights=[0.58, 0.42],
                        subplot_titles=("observed vs predicted rate, by decile", "next best channel"))
    top = float(max(curve.predicted.max(), curve.observed.max(), 1e-6)) * 1.05
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfectly calibrated",
                             line={"dash": "dot", "color": "#9aa5b1"}, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=curve.predicted.tolist(), y=curve.observed.tolist(), mode="lines+markers",
                             name="the model", marker={"size": 9, "color": "#1f3a5f"},
                             customdata=curve.decile.tolist(),
                             hovertemplate=tooltip("the model", ("decile", "%{customdata}"),
                                                   ("predicted", "%{x:.2%}"), ("observed", "%{y:.2%}"))), row=1, col=1)
    shown = channels.sort_values("persons")
    fig.add_trace(go.Bar(y=shown.channel.tolist(), x=shown.persons.tolist(), orientation="h", showlegend=False,
                         marker_color="#f2b134", name="persons",
                         hovertemplate=tooltip("%{y}", ("persons", "%{x:,}"))), row=2, col=1)
    fig.update_xaxes(title_text="predicted", tickformat=".2%", row=1, col=1)  # small rates: deciles apart
    fig.update_yaxes(title_text="observed", tickformat=".2%", row=1, col=1)
    fig.update_xaxes(title_text="persons", row=2, col=1)
    fig.update_yaxes(automargin=True, row=2, col=1)
    fig.update_layout(height=760, legend={"orientation": "h", "y": 1.06, "x": 0})
    return fig


REPORT = register(Report(
    "propensity", 13, ("Propensity and next best channel", "Propension et meilleur prochain levier"),
    ("Who is about to convert, how well is it predicted, and which channel would move each person most?",
     "Qui va convertir, avec quelle justesse le prédit-on, et quel levier ferait le plus bouger chacun ?"),
    "scatter", run, realtime=True, rows=False, period=False))
