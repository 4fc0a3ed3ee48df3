"""Counterfactual attribution: a conversion hazard fitted on every journey, converting or
not, and each conversion credited by what each touch added to its probability (in the spirit
of Google's data-driven attribution and of time-to-event attribution, Shender et al., 2020).

Model (days as the unit; daily adstock, as media-mix models use it: within a day the order
of touches across devices, stores and call centres is not reliable). On day d a person
converts with hazard

    lambda(d) = b + sum over touches i before the event of beta_f(i) * 2^(-(d - day_i) / h)

with f(i) the touch's feature: its value at the fit level (channel by default), clicks and
views apart (a view's beta is its own). b is the base hazard (conversions no touch caused).
The log-likelihood of the journeys, each a window of days at risk [start, end), is

    sum over conversions log lambda(day) - b * days at risk - sum_f beta_f * A_f,

A_f being feature f's exposure summed over every day at risk. It is concave in (b, beta):
L-BFGS-B finds its maximum with beta >= 0, on rows the engine has already reduced to
(journey, feature, day offsets, count); h is chosen from HALF_LIVES by profile likelihood.

Window of a journey: from the day after the person's previous conversion, at most
`lookback_days` back (the build's), and not before the data's first day; to the day of its
conversion (included), or to the build's cut for the person's open journey.

Who it is fitted on: persons with a known user id when they hold at least MIN_IDENTIFIED
conversions (else everyone). An anonymous person is often a fragment: a store visit on a
loyalty card nobody logged in with, a phone never linked. Its touches look like exposure
that never converts, because its conversions sit on another fragment; fitted on them, a
channel seen mostly in fragments would look weaker than it is. The fitted model then credits
every converting journey.

Credit: the fall in predicted hazard when a touch is removed, beta_f 2^(-age / h). The
hazard is additive in the touches, so this is also each touch's exact Shapley value over
the fitted model (no interaction term to share). Each conversion is split over its touches in
proportion to it (credit.py's per-touch rule: levels and drill-downs add up, and the credits
sum to the conversions); the base's share, b / lambda, is reported by the fit (`base_share`),
not given to any channel.

Its own counterfactual, `incremental`: what the model says a value caused, its beta times
its exposure over every journey's days at risk, converting or not, fragments included. It
answers "what would we lose without this channel", the question the simulator's truth
measures, where credits answer "how to split the conversions we saw".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, cast

import numpy as np

from parcours import lazy
from parcours.attribution.model import FitSource, Model, weighted
from parcours.attribution.paths import shares
from parcours.attribution.registry import register_model
from parcours.contract.query import LEVELS
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    import pandas as pd
    import scipy.optimize as optimize
    import scipy.sparse as sp

    from parcours.engine.storage import Storage
else:  # a path file never fits this model: its libraries load when it is fitted (pandas in the
    # functions using it: pyarrow would load a lazy pandas at once, seeing it imported)
    ibis, optimize, sp = lazy.module("ibis"), lazy.module("scipy.optimize"), lazy.module("scipy.sparse")

HALF_LIVES = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 14.0)  # days
MIN_IDENTIFIED = 100  # conversions of identified persons needed to fit on them alone
VIEW = ":view"  # suffix of a view feature's name
_EPOCH = dt.datetime(1970, 1, 1)  # day numbers count from it (naive UTC, as the warehouse stores time)


def day_number(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Days since 1970-01-01 (UTC): portable integer arithmetic, no engine date function."""
    return (ts.epoch_seconds() / 86400).floor().cast("int64")


@dataclass
class Exposure:
    """The fit's rows, reduced by the engine. Journeys: `converted`, `days` at risk, `fit`
    (in the fit population). Touch groups (journey, feature, offsets, count): the feature's
    touches of a journey that share a0 (their age in days when the window starts, 0 if
    after) and a1 (age on the window's last day), and `split`, their value at the level
    credits are summed at."""

    converted: np.ndarray
    days: np.ndarray
    end: np.ndarray  # exclusive last day (days since 1970), the conversion's day + 1
    fit: np.ndarray
    journey: np.ndarray
    feature: np.ndarray
    a0: np.ndarray
    a1: np.ndarray
    count: np.ndarray
    split: np.ndarray
    features: np.ndarray  # names: "<value>" or "<value>:view"
    split_names: np.ndarray

    @classmethod
    def from_warehouse(cls, wh: Storage, level: str = "channel", split_level: str | None = None,
                       identified: bool | None = None) -> Exposure:
        """identified: fit on persons with a user id (None: when they have MIN_IDENTIFIED
        conversions)."""
        for lv in (level, split_level or level):
            if lv not in LEVELS:
                raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
        import pandas as pd

        from parcours.build.journeys import require_built
        from parcours.contract.exprs import via_arrow  # Ibis: the models' catalogue imports none

        meta = require_built(wh)
        cut_day = (meta["cut"] - _EPOCH).days
        j = wh.table("journeys")
        first_day = day_number(j.first_ts.min().coalesce(j.conv_ts.min()))
        end = ibis.ifelse(j.converted, day_number(j.conv_ts) + 1, cut_day)  # exclusive
        j = j.select("journey_id", "person_id", "converted", end=end)
        prev = j.end.lag().over(ibis.window(group_by=j.person_id, order_by=[j.end, ibis.desc(j.converted)]))
        users = wh.table("persons").filter(lambda p: p.kind == "user").select("person_id").distinct()
        j = j.mutate(start=ibis.greatest(prev.coalesce(first_day), j.end - int(meta["lookback_days"]) - 1,
                                         first_day),
                     fit=j.person_id.isin(users.person_id))
        # journeys numbered in a fixed order: a bootstrap's draws go to the same journeys each run
        j = j.mutate(days=ibis.greatest(j.end - j.start, 0),
                     idx=ibis.row_number().over(ibis.window(order_by=j.journey_id)))
        t = wh.table("touches")
        t = t.select("journey_id", key=t[level], split=t[split_level or level],
                     is_view=t.interaction == "view", day=day_number(t.ts))
        x = t.join(j.select("journey_id", "idx", "start", "end"), "journey_id")
        rows = via_arrow(x.group_by(
            journey=x.idx, key=x.key, is_view=x.is_view, split=x.split,
            a0=ibis.greatest(x.start - x.day, 0), a1=x.end - 1 - x.day,
        ).agg(count=x.count()))
        jr = via_arrow(j.order_by("idx").select("converted", "days", "fit", "end"))
        fit = jr.fit.to_numpy(bool)
        if identified is None:
            identified = int(jr.converted[fit].sum()) >= MIN_IDENTIFIED
        names: pd.Series = rows.key.fillna("(none)").astype(str) + np.where(rows.is_view.to_numpy(bool), VIEW, "")
        feature, features = pd.factorize(names, sort=True)
        split, split_names = pd.factorize(rows.split.fillna("(none)").astype(str), sort=True)
        # rows in one order whatever the engine's: sums, so fits, come out the same to the bit
        order = np.lexsort((split, rows.a1, rows.a0, feature, rows.journey))
        rows, feature, split = rows.iloc[order], feature[order], split[order]
        return cls(converted=jr.converted.to_numpy(bool), days=jr.days.to_numpy(float),
                   end=jr.end.to_numpy(np.int64),
                   fit=fit if identified else np.ones(len(jr), bool),
                   journey=rows.journey.to_numpy(np.int64), feature=feature.astype(np.int64),
                   a0=rows.a0.to_numpy(float), a1=rows.a1.to_numpy(float),
                   count=rows["count"].to_numpy(float), split=split.astype(np.int64),
                   features=np.asarray(features, dtype=object), split_names=np.asarray(split_names, dtype=object))

    def design(self, half_life: float,
               weights: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray, float, np.ndarray]:
        """At half-life h and journey weights (1 by default; a bootstrap draws them): the
        exposure at each fitted conversion (rows: those conversions), each feature's summed
        exposure over the days at risk, the days at risk, and the conversions' weights."""
        w = np.ones(len(self.converted)) if weights is None else weights
        q = 2.0 ** (-1.0 / half_life)
        rows_w = w[self.journey] * self.fit[self.journey]
        A = np.bincount(self.feature, rows_w * self.at_risk(half_life), len(self.features))
        conv = self.converted & self.fit & (w > 0)
        at = np.flatnonzero(conv)
        row_of = np.full(len(conv), -1)
        row_of[at] = np.arange(len(at))
        on = conv[self.journey]
        E = sp.csr_matrix((self.count[on] * q ** self.a1[on], (row_of[self.journey[on]], self.feature[on])),
                          shape=(len(at), len(self.features)))
        return E, A, float((w * self.days)[self.fit].sum()), w[at]

    def ending(self, start: dt.datetime, until: dt.datetime) -> np.ndarray:
        """Which journeys convert in [start, until) (whole days, as periods are)."""
        first, last = ((d - _EPOCH).days for d in (start, until))
        return self.converted & (self.end - 1 >= first) & (self.end - 1 < last)

    def at_risk(self, half_life: float) -> np.ndarray:
        """Each row's exposure summed over its journey's days at risk: sum of 2^(-a / h) for
        a from a0 to a1, times its count."""
        q = 2.0 ** (-1.0 / half_life)
        return self.count * (q ** self.a0 - q ** (self.a1 + 1)) / (1 - q) * (self.a1 >= self.a0)


@register_model("counterfactual", 12, ("Counterfactual (hazard)", "Contrefactuel (risque)"))
@dataclass
class Counterfactual(Model):
    """`Counterfactual().fit(Exposure.from_warehouse(wh))`; `touch_weight(t)` is each
    touch's fitted effect as an engine expression (credit.py normalises it per journey)."""

    half_life: float = field(default=float("nan"), init=False)  # days, chosen by likelihood
    base: float = field(default=0.0, init=False)  # conversions per day at risk with no touch
    beta: dict[str, float] = field(default_factory=dict, init=False)  # per feature
    base_share: float = field(default=float("nan"), init=False)  # of fitted conversions
    loglik: float = field(default=float("nan"), init=False)
    data_driven = True
    on_paths = False

    def fit_on(self, source: FitSource) -> Counterfactual:
        """Fitted on every journey's exposure (its rows, millions at scale, are not kept)."""
        return replace(self).fit(Exposure.from_warehouse(source.wh, source.fit_level))

    def weights_by_value(self) -> dict[str, dict[str, float]]:
        return {"_click": self.betas(view=False), "_view": self.betas(view=True)}

    def touch_credit(self, t: ir.Table, weights: Mapping[str, ir.FloatingValue]) -> ir.FloatingValue:
        return weighted(t, self.touch_weight(t, weights["_click"], weights["_view"]))

    def draws(self, wh: Storage, level: str, fit_level: str, samples: int, seed: int, incremental: bool,
              period: tuple[dt.datetime, dt.datetime] | None) -> Iterator[pd.Series]:
        """Journeys resampled and the model refitted on their exposure (`incremental`: its
        incremental conversions, over every journey)."""
        x = Exposure.from_warehouse(wh, fit_level, split_level=level)
        within = None if period is None or incremental else x.ending(*period)
        return bootstrap(self._fitted(wh, fit_level), x, samples, seed, incremental, within)

    def own_incremental(self, wh: Storage) -> pd.Series:
        return self._fitted(wh).incremental(Exposure.from_warehouse(wh))

    def _fitted(self, wh: Storage, fit_level: str = "channel") -> Counterfactual:
        """This model fitted on the warehouse's build (once per build: credit.fitted_model)."""
        from parcours.attribution.credit import fitted_model

        return cast(Counterfactual, fitted_model(self, wh, fit_level))  # fit_on returns its own kind

    def fit(self, x: Exposure) -> Counterfactual:
        """No conversion to fit on is an answer too: no effect, nothing credited."""
        best = max((_fit(x, h) for h in HALF_LIVES), key=lambda r: r[0])
        return self._set(x, *best)

    def refit(self, x: Exposure, weights: np.ndarray) -> Counterfactual:
        """The same half-life, refitted with these journey weights (a bootstrap resample)."""
        return Counterfactual()._set(x, *_fit(x, self.half_life, weights))

    def _set(self, x: Exposure, loglik: float, half_life: float, base: float, beta: np.ndarray,
             base_share: float) -> Counterfactual:
        self.loglik, self.half_life, self.base, self.base_share = loglik, half_life, base, base_share
        self.beta = dict(zip(x.features.tolist(), beta.tolist(), strict=True))
        return self

    def _per_feature(self, x: Exposure) -> np.ndarray:
        """beta of each of x's features (0 for one not fitted)."""
        return np.array([self.beta.get(k, 0.0) for k in x.features])

    def betas(self, view: bool) -> dict[str, float]:
        """beta per level value, of its clicks or of its views."""
        if view:
            return {k[: -len(VIEW)]: v for k, v in self.beta.items() if k.endswith(VIEW)}
        return {k: v for k, v in self.beta.items() if not k.endswith(VIEW)}

    def weights(self) -> dict[str, float]:
        """Not a weight per value: a touch's effect depends on its age and kind."""
        raise TypeError("the counterfactual model weighs each touch (touch_weight), not each channel")

    def touch_weight(self, t: ir.Table, click: ir.FloatingValue, view: ir.FloatingValue) -> ir.FloatingValue:
        """beta of the touch's feature (`click` and `view`: the joined betas of its value)
        times 2^(-age in days / h), age from the touch's day to its conversion's."""
        age = (day_number(t.end_ts) - day_number(t.ts)).cast("float64")
        return ibis.ifelse(t.interaction == "view", view, click) * ibis.literal(2.0).pow(-age / self.half_life)

    def split(self, x: Exposure, weights: np.ndarray | None = None, within: np.ndarray | None = None) -> pd.Series:
        """Credits summed per split value over the converting journeys (weighted; `within`:
        only these), by the same rule as `touch_weight` and credit.py: the NumPy twin the
        bootstrap uses."""
        w = np.ones(len(x.converted)) if weights is None else weights
        on = (x.converted if within is None else within)[x.journey]
        j, f, s = x.journey[on], x.feature[on], x.split[on]
        effect = x.count[on] * self._per_feature(x)[f] * 2.0 ** (-x.a1[on] / self.half_life)
        touches = np.bincount(j, x.count[on], len(x.converted))[j]
        share = shares(j, effect, x.count[on] / touches)
        import pandas as pd

        return pd.Series(np.bincount(s, share * w[j], len(x.split_names)), index=x.split_names)

    def incremental(self, x: Exposure, weights: np.ndarray | None = None) -> pd.Series:
        """The model's own counterfactual per split value: the conversions its touches
        caused, expected over every journey's days at risk (beta times exposure), converting
        or not, identified or not. What switching the value off would lose, by the model;
        unlike credits, it also counts touches whose conversions sit on another fragment of
        the person."""
        w = np.ones(len(x.converted)) if weights is None else weights
        caused = self._per_feature(x)[x.feature] * x.at_risk(self.half_life) * w[x.journey]
        import pandas as pd

        return pd.Series(np.bincount(x.split, caused, len(x.split_names)), index=x.split_names)


def _fit(x: Exposure, half_life: float,
         weights: np.ndarray | None = None) -> tuple[float, float, float, np.ndarray, float]:
    """(log-likelihood, h, b, beta, base share) maximised at half-life h. Parameters are
    fitted in units of the overall rate (conversions / days at risk), so L-BFGS-B works on
    numbers near 1."""
    E, A, days, cw = x.design(half_life, weights)
    if not cw.sum() > 0:  # nothing converted: no effect to find
        return 0.0, half_life, 0.0, np.zeros(len(A)), float("nan")
    rate = cw.sum() / days if days > 0 else 1.0

    def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, beta = theta[0], theta[1:]
        lam = np.maximum(b + E @ beta, 1e-300)
        ll = cw @ np.log(lam) - b * days * rate - (A * rate) @ beta
        g = cw / lam
        return -ll, -np.concatenate([[g.sum() - days * rate], E.T @ g - A * rate])

    start = np.full(len(A) + 1, 0.5)
    res = optimize.minimize(negative, start, jac=True, method="L-BFGS-B",
                   bounds=[(1e-9, None)] + [(0.0, None)] * len(A), options={"maxiter": 2000})
    b, beta = res.x[0], res.x[1:]
    lam = b + E @ beta
    base_share = float((cw * b / lam).sum() / cw.sum())
    # log lambda in the rate's units differs from the true one by a constant: h's ranking holds
    return -float(res.fun) + cw.sum() * math.log(rate), half_life, b * rate, beta * rate, base_share


def bootstrap(model: Counterfactual, x: Exposure, samples: int, seed: int,
              incremental: bool = False, within: np.ndarray | None = None) -> Iterator[pd.Series]:
    """Credits of the conversions `within` (default all), or the incremental conversions, per
    split value under `samples` refits on journeys resampled with replacement (Poisson
    weights, each journey drawn on its own), h kept."""
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        w = rng.poisson(1.0, len(x.converted)).astype(float)
        refit = model.refit(x, w)
        yield refit.incremental(x, w) if incremental else refit.split(x, w, within)
