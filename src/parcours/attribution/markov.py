"""Markov-chain attribution with removal effects solved exactly (Anderl et al., 2016).

States are k-grams of the (repeat-collapsed) path: with order k the state after the i-th
step is its last min(i, k) values joined by ">", so the first k-1 states are the path's
prefixes. Every path runs start -> s1 -> ... -> sn -> conversion | null. Transition counts
are weighted by how many journeys took the path and come from the engine.

With Q the transient-to-transient probabilities and r the one-step conversion probability,
the conversion probability from each state is x = (I - Q)^-1 r (a sparse solve, no
simulation). Removing channel c sends every state containing c to null: x_c solves the same
system without those states (sparse LU; BiCGSTAB with a checked residual for large chains).
Removal effect RE_c = 1 - x_c[start] / x[start]; attributed
conversions = RE_c / sum(RE) * conversions. Value uses the same chain with r weighted by each
conversion's value (so x is the expected value of a path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
SEP = ">"
ITERATIVE_FROM = 256  # states; below, a sparse LU is as fast


def path_transitions(paths: ir.Table, order: int = 1) -> ir.Table:
    """(pid, src, dst, kind, times) for each path: kind 'step' (taken by all its journeys),
    'conversion' or 'null'. Counts of the chain are linear in these."""
    p = paths if "pid" in paths.columns else paths.mutate(pid=ibis.row_number())
    u = p.unnest("path", offset="_pos")
    w = ibis.window(group_by=u.pid, order_by=u._pos)
    parts = [u.path.lag(k).over(w) for k in range(order - 1, 0, -1)] + [u.path]
    u = u.mutate(_state=ibis.literal(SEP).join(parts))
    u = u.mutate(_src=u._state.lag().over(w).fill_null(START),
                 _last=u._pos == u._pos.max().over(ibis.window(group_by=u.pid)))
    steps = u.select("pid", src=u._src, dst=u._state, kind=ibis.literal("step"))
    end = u.filter(u._last)
    conv = end.select("pid", src=end._state, dst=ibis.literal(CONVERSION), kind=ibis.literal("conversion"))
    null = end.select("pid", src=end._state, dst=ibis.literal(NULL), kind=ibis.literal("null"))
    allt = ibis.union(steps, conv, null)
    return allt.group_by(["pid", "src", "dst", "kind"]).agg(times=allt.count())


def transitions(paths: ir.Table, order: int = 1) -> ir.Table:
    """(src, dst, n, value) transition counts of the order-k chain, computed in the engine."""
    p = paths.mutate(pid=ibis.row_number())
    t = path_transitions(p, order)
    t = t.join(p.select("pid", "conversions", "nulls", "value"), "pid")
    journeys = ibis.cases((t.kind == "step", t.conversions + t.nulls),
                          (t.kind == "conversion", t.conversions), else_=t.nulls)
    t = t.mutate(n=(journeys * t.times).cast("float64"),
                 value=ibis.ifelse(t.kind == "conversion", t.value * t.times, 0.0).cast("float64"))
    t = t.filter(t.n > 0)
    return t.group_by(["src", "dst"]).agg(n=t.n.sum(), value=t.value.sum())


@dataclass
class Markov:
    """`Markov(order=2).fit(paths)`; `credits()` gives conversions and value per channel."""

    order: int = 1
    removal_effects: dict[str, float] = field(default_factory=dict, init=False)
    value_removal_effects: dict[str, float] = field(default_factory=dict, init=False)
    conversions: float = field(default=0.0, init=False)
    value: float = field(default=0.0, init=False)
    conversion_rate: float = field(default=0.0, init=False)  # x[start]
    states: int = field(default=0, init=False)  # transient states of the fitted chain

    def __post_init__(self):
        if self.order not in (1, 2, 3, 4):
            raise ValueError("order must be 1, 2, 3 or 4")

    def fit(self, paths: ir.Table) -> "Markov":
        return self.fit_counts(transitions(paths, self.order).to_pandas())

    def fit_counts(self, counts: pd.DataFrame) -> "Markov":
        """Fit on transition counts (src, dst, n, value), e.g. reweighted for a bootstrap."""
        counts = counts[counts.n > 0]
        chain = _Chain(counts)
        self.states = len(chain.states) - 1
        self.conversions = float(counts.loc[counts.dst == CONVERSION, "n"].sum())
        self.value = float(counts.loc[counts.dst == CONVERSION, "value"].sum())
        base, base_v = chain.solve(chain.r), chain.solve(chain.r_value)
        self.conversion_rate = base
        for c in chain.channels:
            keep = ~chain.contains(c)
            self.removal_effects[c] = 1 - chain.solve(chain.r, keep) / base if base else 0.0
            self.value_removal_effects[c] = 1 - chain.solve(chain.r_value, keep) / base_v if base_v else 0.0
        return self

    def weights(self) -> dict[str, float]:
        """Removal effects normalised to sum to 1: the share of each channel."""
        return _normalise(self.removal_effects)

    def credits(self) -> pd.DataFrame:
        w, wv = self.weights(), _normalise(self.value_removal_effects)
        return pd.DataFrame({
            "channel": list(w),
            "conversions": [w[c] * self.conversions for c in w],
            "value": [wv.get(c, 0.0) * self.value for c in w],
            "removal_effect": [self.removal_effects[c] for c in w],
        }).sort_values("conversions", ascending=False, ignore_index=True)


class _Chain:
    """Transient states (start first) with Q, r and r_value as sparse/dense arrays."""

    def __init__(self, counts: pd.DataFrame):
        transient = [START] + sorted(set(counts.src) - {START})
        self.states = np.array(transient, dtype=object)
        index = {s: i for i, s in enumerate(transient)}
        out = counts.groupby("src").n.sum()
        src = counts.src.map(index).to_numpy()
        prob = (counts.n / counts.src.map(out)).to_numpy()
        inner = counts.dst.isin(index).to_numpy()
        m = len(transient)
        self.Q = sp.csr_matrix((prob[inner], (src[inner], counts.dst[inner].map(index).to_numpy())),
                               shape=(m, m))
        is_conv = (counts.dst == CONVERSION).to_numpy()
        self.r = np.bincount(src[is_conv], weights=prob[is_conv], minlength=m)
        per_value = (counts.value / counts.src.map(out)).to_numpy()
        self.r_value = np.bincount(src[is_conv], weights=per_value[is_conv], minlength=m)
        self.channels = sorted({c for s in transient[1:] for c in s.split(SEP)})
        self._members = [set(s.split(SEP)) for s in transient]

    def contains(self, channel: str) -> np.ndarray:
        return np.array([channel in m for m in self._members])

    def solve(self, r: np.ndarray, keep: np.ndarray | None = None) -> float:
        """x[start] for (I - Q) x = r over the kept states (the others are absorbed in null)."""
        if keep is None:
            keep = np.ones(len(r), dtype=bool)
        idx = np.flatnonzero(keep)
        a = sp.identity(len(idx), format="csc") - self.Q[idx][:, idx].tocsc()
        b = r[idx]
        if len(idx) > ITERATIVE_FROM:
            # I - Q of an absorbing chain is a non-singular M-matrix: BiCGSTAB converges fast
            # and deterministically; the residual is checked, else the direct solve decides.
            x, info = spla.bicgstab(a, b, rtol=1e-14, atol=0.0)
            if info == 0 and np.abs(a @ x - b).max() <= 1e-13 * max(1.0, np.abs(b).max()):
                return float(x[0])
        return float(np.atleast_1d(spla.spsolve(a, b))[0])


def _normalise(effects: dict[str, float]) -> dict[str, float]:
    total = sum(effects.values())
    return {c: (e / total if total else 0.0) for c, e in effects.items()}
