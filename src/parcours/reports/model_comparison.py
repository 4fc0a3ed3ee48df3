"""1. Model comparison: each model's conversions and value per row, and its shift from last
touch; CPA and ROAS per model where costs were loaded. The bias view: each model's difference
from the counterfactual model (measure `vs_counterfactual`), and, on simulated data whose truth
was loaded, the true incremental conversions beside them (channel rows, no filter)."""

from __future__ import annotations

import ibis
import pandas as pd
import plotly.graph_objects as go

from parcours.attribution.catalogue import make_model
from parcours.attribution.credit import credit_columns
from parcours.attribution.registry import MODELS
from parcours.contract.schema import TRUTH_BASE
from parcours.reports.base import NO_TOUCH, Report, ReportResult, Scope, num, register
from parcours.reports.costs import costs_by_row
from parcours.reports.labels import tooltip

DEFAULT_MODELS = ("last_touch", "first_touch", "linear", "position_based", "time_decay", "markov",
                  "shapley")
BASELINE = "last_touch"
COUNTERFACTUAL = "counterfactual"  # the bias view's reference
TRUTH = "Truth (simulated)"  # the truth's series in the chart, drawn from these columns
TRUTH_DRAWN = {"conversions": "truth_scaled", "vs_counterfactual": "truth_vs_counterfactual"}
# what a measure's table keeps beside the models' columns, when there
BESIDE = {"conversions": ("truth_conversions", TRUTH_DRAWN["conversions"]),
          "vs_counterfactual": (f"{COUNTERFACTUAL}_conversions", TRUTH_DRAWN["vs_counterfactual"])}
# what the chart draws of each measure: axis title, tooltip number, axis number format
AXES = {"conversions": ("attributed conversions", "%{y:,.1f}", ""),
        "value": ("attributed revenue", "%{y:,.2f}", ""),
        "vs_last_pct": ("% change vs last touch", "%{y:+.1f} %", ""),
        "vs_counterfactual": ("conversions minus the counterfactual model's", "%{y:+,.1f}", ""),
        "cpa": ("cost per conversion", "%{y:,.2f}", ""),
        "roas": ("revenue per cost", "%{y:,.2f}", "")}


def run(scope: Scope) -> ReportResult:
    q, wh = scope.query, scope.wh
    models = list(q.models or DEFAULT_MODELS)
    j = scope.journeys()
    parent = [(lv, v) for lv, v in q.parent]
    biased = q.measure == "vs_counterfactual" or COUNTERFACTUAL in models
    names = list(dict.fromkeys([BASELINE, *models, *([COUNTERFACTUAL] if biased else [])]))
    c = credit_columns({n: make_model(n, direct=scope.config.direct_channels) for n in names}, wh,
                       build=scope.meta)
    c = scope.restrict(c)
    by = c.group_by(row=c[q.level]).agg(**{
        f"{n}_{k}": (c[f"credit_{n}"] * (c.revenue if k == "value" else 1.0)).sum()
        for n in names for k in ("conversions", "value")}).to_pandas().set_index("row")
    columns = {n: by[[f"{n}_conversions", f"{n}_value"]].set_axis(["conversions", "value"], axis=1) for n in names}
    untouched = j.n_touches == 0
    all_ = j.aggregate(n=j.count(), revenue=j.revenue.sum(), none=untouched.cast("int64").sum(),
                       none_value=ibis.ifelse(untouched, j.revenue, 0.0).sum()).to_pandas().iloc[0]
    none = (num(all_["none"]) or 0.0) if not parent else 0.0  # SUM over no row is NULL
    rows = sorted(set().union(*(c.index for c in columns.values())), key=str)
    table = pd.DataFrame({"row": rows + ([NO_TOUCH] if none else [])})
    cost = costs_by_row(scope)
    base = columns[BASELINE].conversions.reindex(rows).fillna(0.0).tolist() + ([none] if none else [])
    reference = (columns[COUNTERFACTUAL].conversions.reindex(rows).fillna(0.0).tolist() + ([none] if none else [])
                 if biased else [])
    for name in models:
        c = columns[name].reindex(rows).fillna(0.0)
        conv = c.conversions.tolist() + ([none] if none else [])
        value = c.value.tolist() + ([num(all_.none_value) or 0.0] if none else [])
        table[f"{name}_conversions"] = conv
        table[f"{name}_value"] = value
        if name != BASELINE:  # last touch against itself is no comparison
            table[f"{name}_vs_last_pct"] = [(a - b) / b * 100 if b else None for a, b in zip(conv, base, strict=True)]
        if biased:
            table[f"{name}_vs_counterfactual"] = [a - b for a, b in zip(conv, reference, strict=True)]
        if cost is not None:
            spend = table.row.map(cost)
            table[f"{name}_cpa"] = spend / table[f"{name}_conversions"].where(table[f"{name}_conversions"] > 0)
            table[f"{name}_roas"] = table[f"{name}_value"] / spend.where(spend > 0)
    if biased and COUNTERFACTUAL not in models:  # the reference the differences are from
        table[f"{COUNTERFACTUAL}_conversions"] = reference
    truth = _truth(scope)
    if truth is not None:  # scaled to the touched conversions, as every model credits them
        true = table.row.map(truth)
        touched = sum(columns[BASELINE].conversions.reindex(rows).fillna(0.0))
        table["truth_conversions"] = true
        table["truth_scaled"] = true * (touched / sum(truth.values()))
        if biased:
            table["truth_vs_counterfactual"] = table.truth_scaled - pd.Series(reference)
    if cost is not None:  # blank where no spend was loaded (an unpaid channel), not 0
        table.insert(1, "cost", table.row.map(cost))
    table = table.sort_values(f"{models[0]}_conversions", ascending=False, ignore_index=True)
    totals = {"conversions": float(all_.n), "revenue": num(all_.revenue) or 0.0}
    if not parent:
        totals.update({f"{m}_conversions": float(table[f"{m}_conversions"].sum()) for m in models})
    measure = q.measure or "conversions"
    if measure in ("cpa", "roas") and cost is None:
        measure = "conversions"  # no cost loaded: no CPA or ROAS to draw
    number = AXES[measure][1] + (f" {scope.config.reports.currency}" if measure in ("value", "cpa") else "")
    series = [(MODELS[m].label[0], f"{m}_{measure}") for m in models if f"{m}_{measure}" in table.columns]
    if TRUTH_DRAWN.get(measure) in table.columns:
        series.append((TRUTH, TRUTH_DRAWN[measure]))
    drawn = table[table.row != NO_TOUCH] if measure == "vs_counterfactual" else table  # 0 under every model
    fig = go.Figure([go.Bar(name=name, x=drawn.row.tolist(), y=drawn[column].tolist(),
                            hovertemplate=tooltip("%{x}", ("%{fullData.name}", number)))
                     for name, column in series])
    fig.update_layout(barmode="group", yaxis_title=AXES[measure][0], legend_title="model",
                      yaxis_tickformat=AXES[measure][2])
    tables = {}
    if q.measure:  # one column per model: the measure asked, the others on a second sheet
        tables["all_measures"] = table
        keep = ["row", *(["cost"] if cost is not None else []), *(f"{m}_{q.measure}" for m in models),
                *BESIDE.get(q.measure, ())]
        table = table[[c for c in keep if c in table.columns]]
    result = scope.result("model-comparison", table, totals, fig, tables=tables,
                          volume=f"{models[0]}_conversions" if not q.measure or q.measure == "conversions" else None)
    result.query["models"] = tuple(models)  # the models drawn, asked or by default
    return result


def _truth(scope: Scope) -> dict[str, float] | None:
    """{channel: true incremental conversions in the period}, when the simulator's truth was
    loaded and the rows are channels of every journey (the truth knows no other level, no
    filter): else None."""
    q, wh = scope.query, scope.wh
    if q.level != "channel" or q.parent or scope.filtered() or not wh.has("truth"):
        return None
    t = wh.table("truth")
    t = t.filter(t.date >= scope.start, t.date <= scope.end, t.channel != TRUTH_BASE)
    by = t.group_by("channel").agg(n=t.incremental_conversions.sum()).to_pandas()
    truth = dict(zip(by.channel, by.n.astype(float), strict=True))
    return truth if sum(truth.values()) > 0 else None


REPORT = register(Report(
    'model-comparison', 1, ('Model comparison', 'Comparaison des modèles'),
    ('How does each attribution model shift credit between channels?',
     "Comment chaque modèle d'attribution déplace-t-il le crédit entre leviers ?"),
    'grouped_bar', run, options=('models', 'measure')))
