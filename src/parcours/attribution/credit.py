"""Attributed conversions and value per dimension level, for every model.

Rule-based models weight touches directly. Data-driven models are fitted at `fit_level`
(channel by default) and each journey's conversion is split over its touches in proportion
to a fitted weight (a journey whose touches all weigh 0, or negative, is split evenly): the
path models' (Markov, Shapley) weight of the touch's value at that level, or the
counterfactual model's effect of the touch, which also depends on its age and kind.
Attribution is therefore always a sum of per-touch credits: a campaign drill-down adds up to
its channel, and every model's total is the number of conversions. A journey with no touch
at all (a store sale by an unknown visitor) is credited to NO_TOUCH.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from parcours.attribution.model import FitSource, Model
from parcours.attribution.paths import paths_from_warehouse
from parcours.attribution.rules import converting_touches
from parcours.build.journeys import require_built
from parcours.contract.query import LEVELS
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput

NO_TOUCH = "(no touch)"


def credited_touches(model: Model, wh: Storage, fit_level: str = "channel") -> ir.Table:
    """The touches of converting journeys with `credit` (share of the conversion) and `value`."""
    t = credit_columns({"m": model}, wh, fit_level).rename(credit="credit_m")
    return t.mutate(value=t.credit * t.revenue)


def credit_columns(models: dict[str, Model], wh: Storage, fit_level: str = "channel",
                   build: dict | None = None) -> ir.Table:
    """The touches of converting journeys with one `credit_<name>` column per model, in one
    pass over the touches (model comparison asks for many models at once). `build`: the
    build's facts when the caller has read them already."""
    if fit_level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    t = converting_touches(wh)
    fitted = {n: fitted_model(m, wh, fit_level, build) for n, m in models.items()}
    by_value = {f"{n}{suffix}": w for n, f in fitted.items() for suffix, w in f.weights_by_value().items()}
    if by_value:
        t = _join_weights(t, fit_level, by_value)
    cols = {}
    for n, f in fitted.items():
        joined = {suffix: t[f"_w_{n}{suffix}"] for suffix in f.weights_by_value()}
        cols[f"credit_{n}"] = f.touch_credit(t, joined)
    return t.mutate(**cols).drop(*(f"_w_{n}" for n in by_value))


_CACHE: dict[tuple, Any] = {}


def fitted_model(model: Model, wh: Storage, fit_level: str = "channel", build: dict | None = None) -> Model:
    """A data-driven model fitted on this build of the warehouse, once per build (the fit
    reads every journey; reports ask for it again and again); a rule model as it is."""
    if not model.data_driven:
        return model
    built_at = (build or require_built(wh))["built_at"]
    paths_key = (str(wh.path), str(built_at), fit_level)
    params = tuple((f.name, getattr(model, f.name)) for f in dataclasses.fields(model) if f.init)  # type: ignore[arg-type]
    fit_key = (*paths_key, type(model).__name__, params)
    if fit_key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()

        def paths() -> Any:  # the paths, few, shared by the path models fitted on this build
            if paths_key not in _CACHE:
                _CACHE[paths_key] = paths_from_warehouse(wh, fit_level)
            return _CACHE[paths_key]

        _CACHE[fit_key] = model.fit_on(FitSource(wh, fit_level, paths))
    return _CACHE[fit_key]


_WEIGHTS: dict[tuple, ir.Table] = {}  # one table per set of weights: its SQL is compiled once


def _join_weights(t: ir.Table, level: str, weights: dict[str, dict[str, float]]) -> ir.Table:
    """`t` with `_w_<name>` = weights[name][value of `level`] (0 for values never fitted).
    The same weights (a build's fits, asked by report after report) give the same in-memory
    table: a new one has a new name in the SQL, compiled anew, and stays registered on the
    connection until the process ends."""
    keys = sorted(set().union(*weights.values()))
    columns = {f"_w_{n}": tuple(max(w.get(k, 0.0), 0.0) for k in keys) for n, w in weights.items()}
    held = (tuple(keys), tuple(columns.items()))
    table = _WEIGHTS.get(held)
    if table is None:
        if len(_WEIGHTS) > 64:
            _WEIGHTS.clear()
        table = _WEIGHTS[held] = ibis.memtable(pd.DataFrame(
            {"_key": pd.Series(keys, dtype=object), **{n: list(c) for n, c in columns.items()}}))
    j = t.left_join(table, t[level] == table._key).drop("_key")
    return j.mutate(**{f"_w_{n}": j[f"_w_{n}"].fill_null(0.0) for n in weights})


def attributed(model: Model, wh: Storage, level: str = "channel", fit_level: str = "channel",
               period: tuple[dt.datetime, dt.datetime] | None = None) -> ir.Table:
    """(level, conversions, value) under `model`; journeys without touches included. With a
    `period` [from, until), only the conversions in it (data-driven models are still fitted
    on every built journey, as in the reports)."""
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    c = credited_touches(model, wh, fit_level)
    j = wh.table("journeys")
    j = j.filter(j.converted)
    if period is not None:
        lo, hi = ibis.timestamp(period[0]), ibis.timestamp(period[1])
        c = c.filter(c.conv_ts >= lo, c.conv_ts < hi)
        j = j.filter(j.conv_ts >= lo, j.conv_ts < hi)
    by_level = c.group_by(c[level].name(level)).agg(conversions=c.credit.sum(), value=c.value.sum())
    empty = j.filter(j.n_touches == 0)
    none = empty.aggregate(conversions=empty.count().cast("float64"), value=empty.revenue.sum())
    none = none.filter(none.conversions > 0).mutate(**{level: ibis.literal(NO_TOUCH)})
    return by_level.union(none.select(level, "conversions", "value"))
