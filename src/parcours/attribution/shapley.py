"""Exact Shapley values over channel coalitions.

Characteristic function: v(S) = conversion rate of the journeys that used only channels in S
(their channel set is a subset of S), v(empty) = 0. A coalition no journey stays inside has
no observed journeys and v(S) = 0: nothing observed, nothing credited. Journeys without any
touch are left out (they are reported apart as "(no touch)").

phi_i = sum over S not containing i of |S|! (n-|S|-1)! / n! * (v(S + i) - v(S)) (Shapley,
1953). The subset sums behind v come from a zeta (subset-sum) transform over all 2^n
coalitions, O(n 2^n): exact up to MAX_EXACT channels, no n! loop. Efficiency: the phi sum to
v(all channels), the overall conversion rate, so attributed conversions = phi_i / v(N) *
conversions. A phi can be negative: adding that channel brings journeys that convert less.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import ibis.expr.types as ir
import numpy as np
import pandas as pd

MAX_EXACT = 20


@dataclass
class Shapley:
    """`Shapley().fit(paths)`; `credits()` gives conversions and value per channel."""

    values: dict[str, float] = field(default_factory=dict, init=False)  # phi per channel
    conversions: float = field(default=0.0, init=False)
    value: float = field(default=0.0, init=False)
    conversion_rate: float = field(default=0.0, init=False)  # v(N)

    def fit(self, paths: ir.Table | pd.DataFrame) -> "Shapley":
        df = paths if isinstance(paths, pd.DataFrame) else paths.to_pandas()
        channels = sorted({c for p in df.path for c in p})
        if len(channels) > MAX_EXACT:
            raise ValueError(f"{len(channels)} channels: exact Shapley goes up to {MAX_EXACT}; "
                             "choose a coarser level (channel or channel_group)")
        bit = {c: 1 << i for i, c in enumerate(channels)}
        masks = np.array([sum(bit[c] for c in set(p)) for p in df.path], dtype=np.int64)
        size = 1 << len(channels)
        conv = np.bincount(masks, weights=df.conversions.to_numpy(float), minlength=size)
        seen = np.bincount(masks, weights=(df.conversions + df.nulls).to_numpy(float), minlength=size)
        v = _rates(_subset_sums(conv), _subset_sums(seen))
        phi = _shapley(v, len(channels))
        self.values = dict(zip(channels, phi.tolist()))
        self.conversion_rate = float(v[-1])
        self.conversions = float(df.conversions.sum())
        self.value = float(df.value.sum())
        return self

    def weights(self) -> dict[str, float]:
        total = sum(self.values.values())
        return {c: (p / total if total else 0.0) for c, p in self.values.items()}

    def credits(self) -> pd.DataFrame:
        w = self.weights()
        return pd.DataFrame({
            "channel": list(w),
            "conversions": [w[c] * self.conversions for c in w],
            "value": [w[c] * self.value for c in w],
            "shapley_value": [self.values[c] for c in w],
        }).sort_values("conversions", ascending=False, ignore_index=True)


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
    sizes = sum((masks >> i) & 1 for i in range(n))  # coalition sizes
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0
                       for s in range(n + 1)])
    phi = np.empty(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = np.sum(weight[sizes[without]] * (v[without | (1 << i)] - v[without]))
    return phi
