"""Shapley values over channel coalitions, of two games.

`shapley` plays the conversion-count game: v(S) = conversions of the journeys whose channel
set is a subset of S. Its Shapley values have a closed form (ordered.py): each conversion is
split evenly over its distinct channels. They are never negative, sum to the conversions,
and a channel gets at most the conversions of the paths it is in, on any data. It is the
game of Zhao et al. (2018) and of the usual libraries; `ordered_shapley` breaks the same
totals down by position.

`shapley_rate` plays the conversion-rate game below. It says something else (which channels'
journeys convert more often), and its values can be negative and are near-flat when rare
coalitions carry high rates: a channel seen in two paths that converted gets as much as one
seen in thousands. It keeps its own name so nobody takes it for the count game.

Rate game: v(S) = conversion rate of the journeys that used only channels in S
(their channel set is a subset of S), v(empty) = 0. A coalition no journey stays inside has
no observed journeys and v(S) = 0: nothing observed, nothing credited. Journeys without any
touch are left out (they are reported apart as "(no touch)").

phi_i = sum over S not containing i of |S|! (n-|S|-1)! / n! * (v(S + i) - v(S)) (Shapley,
1953). The subset sums behind v come from a zeta (subset-sum) transform over all 2^n
coalitions, O(n 2^n): exact up to MAX_EXACT channels, no n! loop. Efficiency: the phi sum to
v(all channels), the overall conversion rate, so attributed conversions = phi_i / v(N) *
conversions. A phi can be negative: adding that channel brings journeys that convert less.
Rates do not add up, so on one-touch journeys these shares are not each channel's count of
conversions; per touch (credit.py) a one-touch journey still goes wholly to its touch. For
the count game, additive by construction, see ordered.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import numpy as np
import pyarrow as pa

from parcours.attribution.model import PathModel
from parcours.attribution.ordered import OrderedShapley
from parcours.attribution.paths import PathTable, as_table, counts, flatten
from parcours.attribution.registry import register_model
from parcours.errors import InvalidInput

MAX_EXACT = 20
MAX_SAMPLED = 62  # channel sets are bit masks in an int64


@register_model("shapley", 9, ("Shapley value", "Valeur de Shapley"))
@dataclass
class Shapley(OrderedShapley):
    """Shapley values of the conversion-count game: `Shapley().fit(paths)`, `credits()` per
    channel (the per-channel totals of `OrderedShapley`, whose fit computes them)."""


# the label is short: a phone's chart legend holds it
@register_model("shapley_rate", 11, ("Shapley (conversion rate)", "Shapley (taux de conversion)"))
@dataclass
class ShapleyRate(PathModel):
    """`ShapleyRate().fit(paths)`; `credits()` gives conversions and value per channel.

    Beyond MAX_EXACT channels (up to 62) phi is estimated from `samples` random orders of
    the channels (Castro et al., 2009) and `errors` holds each estimate's standard error."""

    samples: int = 2000
    seed: int = 0
    exact_up_to: int = MAX_EXACT
    values: dict[str, float] = field(default_factory=dict, init=False)  # phi per channel
    errors: dict[str, float] = field(default_factory=dict, init=False)  # 0 when exact
    conversions: float = field(default=0.0, init=False)
    value: float = field(default=0.0, init=False)
    conversion_rate: float = field(default=0.0, init=False)  # v(N)

    def fit(self, paths: PathTable) -> ShapleyRate:
        table = as_table(paths)
        pid, code, values = flatten(table["path"])
        channels = sorted(values)  # the encoding's dictionary: every value once
        if len(channels) > MAX_SAMPLED:
            raise InvalidInput(f"{len(channels)} channels: Shapley goes up to {MAX_SAMPLED}; "
                             "choose a coarser level (channel or channel_group)")
        bit = np.left_shift(1, np.searchsorted(channels, values)).astype(np.int64)
        masks = np.zeros(table.num_rows, dtype=np.int64)
        np.bitwise_or.at(masks, pid, bit[code])
        conv_by_path = counts(table, "conversions")
        seen_by_path = conv_by_path + counts(table, "nulls")
        if not channels:  # no path: nothing to credit
            phi, err = np.zeros(0), np.zeros(0)
        elif len(channels) <= min(self.exact_up_to, MAX_EXACT):
            size = 1 << len(channels)
            conv = np.bincount(masks, weights=conv_by_path, minlength=size)
            seen = np.bincount(masks, weights=seen_by_path, minlength=size)
            v = _rates(_subset_sums(conv), _subset_sums(seen))
            phi, err = _shapley(v, len(channels)), np.zeros(len(channels))
            self.conversion_rate = float(v[-1])
        else:
            phi, err = _sampled(masks, conv_by_path, seen_by_path, len(channels), self.samples,
                                np.random.default_rng(self.seed))
            self.conversion_rate = float(conv_by_path.sum() / seen_by_path.sum())
        self.values = dict(zip(channels, phi.tolist(), strict=True))
        self.errors = dict(zip(channels, err.tolist(), strict=True))
        self.conversions = float(conv_by_path.sum())
        self.value = float(counts(table, "value").sum())
        return self

    def weights(self) -> dict[str, float]:
        total = sum(self.values.values())
        return {c: (p / total if total else 0.0) for c, p in self.values.items()}

    def credit_table(self) -> pa.Table:
        w = self.weights()
        return pa.table({
            "channel": pa.array(list(w), pa.string()),
            **{name: pa.array(column, pa.float64()) for name, column in {
                "conversions": [w[c] * self.conversions for c in w],
                "value": [w[c] * self.value for c in w],
                "shapley_value": [self.values[c] for c in w],
                "shapley_error": [self.errors[c] for c in w],
            }.items()},
        }).sort_by([("conversions", "descending")])


def _subset_sums(f: np.ndarray) -> np.ndarray:
    """g[S] = sum of f[T] over T subset of S (zeta transform, one pass per channel bit)."""
    g = f.copy()
    n = g.size.bit_length() - 1
    for i in range(n):
        view = g.reshape(-1, 2, 1 << i)
        view[:, 1, :] += view[:, 0, :]
    return g


def _rates(conv: np.ndarray, seen: np.ndarray) -> np.ndarray:
    out = np.zeros_like(conv)
    np.divide(conv, seen, out=out, where=seen > 0)
    return out


def _shapley(v: np.ndarray, n: int) -> np.ndarray:
    masks = np.arange(v.size)
    sizes = np.zeros_like(masks)  # coalition sizes
    for i in range(n):
        sizes += (masks >> i) & 1
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0
                       for s in range(n + 1)])
    phi = np.empty(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = np.sum(weight[sizes[without]] * (v[without | (1 << i)] - v[without]))
    return phi


def _sampled(masks: np.ndarray, conv: np.ndarray, seen: np.ndarray, n: int, samples: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of each channel's marginal contribution over random orders."""
    contrib = np.zeros((samples, n))
    for k in range(samples):
        inside_conv = inside_seen = 0.0
        covered = np.zeros(len(masks), dtype=bool)
        prefix, before = 0, 0.0
        for i in rng.permutation(n):
            prefix |= 1 << int(i)
            now = ~covered & ((masks & ~prefix) == 0)  # paths that just fit inside
            covered |= now
            inside_conv += conv[now].sum()
            inside_seen += seen[now].sum()
            v = inside_conv / inside_seen if inside_seen else 0.0
            contrib[k, i] = v - before
            before = v
    return contrib.mean(axis=0), contrib.std(axis=0, ddof=1) / np.sqrt(samples)
