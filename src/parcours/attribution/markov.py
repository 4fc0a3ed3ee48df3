"""Markov-chain attribution with removal effects solved exactly (Anderl et al., 2016).

States are k-grams of the (repeat-collapsed) path: with order k the state after the i-th
step is its last min(i, k) values joined by ">", so the first k-1 states are the path's
prefixes. Every path runs start -> s1 -> ... -> sn -> conversion | null. Transition counts
are weighted by how many journeys took the path. The engine does the heavy part (journeys to
distinct paths, see paths.py); the distinct paths are few and counted in memory, vectorised,
because an engine round trip costs more than the whole fit.

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

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike

from parcours.attribution.intervals import Resampler
from parcours.attribution.model import PathModel
from parcours.attribution.paths import Paths, flatten, list_array, positions
from parcours.attribution.registry import register_model
from parcours.errors import InvalidInput

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
SEP = ">"
DENSE_UP_TO = 128  # states
ITERATIVE_FROM = 256  # states; below, a sparse LU is as fast


class PathSteps:
    """Every transition of every distinct path as integer codes, listed once: (path, src, dst)
    with dst = conversion or null at a path's end. Chain counts are linear in the paths'
    journeys, so `counts` reweights the same steps (the bootstrap refits this way).

    Vectorised over the steps: a state is the factorised tuple of its last `order` step
    codes, named once per distinct state."""

    def __init__(self, paths: Paths, order: int = 1) -> None:
        paths = list_array(paths)
        pid, code, values = flatten(paths)
        lens, position = positions(pid, len(paths))
        if (lens == 0).any():
            raise InvalidInput("a path has no step")
        pos = position - 1  # 0-based: steps back from the path's start
        state = code
        for k in range(1, order):  # fold in the step k back (0 before the path starts)
            back = np.where(pos >= k, np.roll(code, k) + 1, 0)
            state = pd.factorize(state * (len(values) + 1) + back)[0].astype(np.int64)
        state, uniques = pd.factorize(state)
        n = len(uniques)  # codes n, n+1, n+2: start, conversion, null
        seen = np.empty(n, dtype=np.int64)
        seen[state] = np.arange(len(state))  # any step in that state: they share their k-gram
        self.names = np.array([SEP.join(values[code[i - min(pos[i], order - 1): i + 1]]) for i in seen]
                              + [START, CONVERSION, NULL], dtype=object)
        last = np.cumsum(lens) - 1
        self.pid = np.concatenate([pid, pid[last], pid[last]])
        src = np.concatenate([np.where(pos > 0, np.roll(state, 1), n), state[last], state[last]])
        self.dst = np.concatenate([state, np.full(len(last), n + 1), np.full(len(last), n + 2)])
        self.edge, key = pd.factorize(src * (n + 3) + self.dst)
        self.edges = pd.DataFrame({"src": self.names[key // (n + 3)], "dst": self.names[key % (n + 3)]})

    def counts(self, conversions: ArrayLike, nulls: ArrayLike, value: ArrayLike) -> pd.DataFrame:
        """(src, dst, n, value) when path i was taken by conversions[i] + nulls[i] journeys."""
        conv, null = np.asarray(conversions, float)[self.pid], np.asarray(nulls, float)[self.pid]
        is_conv, is_null = self.dst == len(self.names) - 2, self.dst == len(self.names) - 1
        n = np.where(is_conv, conv, np.where(is_null, null, conv + null))
        v = np.where(is_conv, np.asarray(value, float)[self.pid], 0.0)
        out = self.edges.assign(n=np.bincount(self.edge, n, len(self.edges)),
                                value=np.bincount(self.edge, v, len(self.edges)))
        return out[out.n > 0].reset_index(drop=True)


def transitions(paths: ir.Table | pd.DataFrame, order: int = 1) -> pd.DataFrame:
    """(src, dst, n, value) transition counts of the order-k chain over aggregated paths."""
    p = _frame(paths)
    return PathSteps(p.path, order).counts(p.conversions, p.nulls, p.value)


def _frame(paths: ir.Table | pd.DataFrame) -> pd.DataFrame:
    """Aggregated paths are small (one row per distinct sequence): fitted in memory."""
    return (paths if isinstance(paths, pd.DataFrame) else paths.to_pandas()).reset_index(drop=True)


@register_model("markov", 8, ("Markov chain", "Chaîne de Markov"),
                params=("order",))
@dataclass
class Markov(PathModel):
    """`Markov(order=2).fit(paths)`; `credits()` gives conversions and value per channel."""

    order: int = 1
    removal_effects: dict[str, float] = field(default_factory=dict, init=False)
    value_removal_effects: dict[str, float] = field(default_factory=dict, init=False)
    conversions: float = field(default=0.0, init=False)
    value: float = field(default=0.0, init=False)
    conversion_rate: float = field(default=0.0, init=False)  # x[start]
    states: int = field(default=0, init=False)  # transient states of the fitted chain

    def __post_init__(self) -> None:
        if self.order not in (1, 2, 3, 4):
            raise InvalidInput("order must be 1, 2, 3 or 4")

    def fit(self, paths: ir.Table | pd.DataFrame) -> Markov:
        return self.fit_counts(transitions(paths, self.order))

    def refit(self, resampler: Resampler, conv: np.ndarray, nulls: np.ndarray, value: np.ndarray) -> Markov:
        """Its counts are linear in the journeys': the transitions are listed once per resampler."""
        steps = resampler.kept(("markov", self.order), lambda: PathSteps(resampler.collapsed, self.order))
        return self.fit_counts(steps.counts(conv, nulls, value))

    def fit_counts(self, counts: pd.DataFrame) -> Markov:
        """Fit on transition counts (src, dst, n, value), e.g. reweighted for a bootstrap."""
        counts = counts[counts.n > 0]
        chain = _Chain(counts)
        self.states = len(chain.states) - 1
        self.conversions = float(counts.loc[counts.dst == CONVERSION, "n"].sum())
        self.value = float(counts.loc[counts.dst == CONVERSION, "value"].sum())
        base, base_v = chain.solve()
        self.conversion_rate = base
        for c in chain.channels:
            x, x_v = chain.solve(~chain.contains(c))
            self.removal_effects[c] = 1 - x / base if base else 0.0
            self.value_removal_effects[c] = 1 - x_v / base_v if base_v else 0.0
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
        src_name, dst_name = counts.src.to_numpy(object), counts.dst.to_numpy(object)
        n, value = counts.n.to_numpy(float), counts.value.to_numpy(float)
        self.states: pd.Index = pd.Index([START] + sorted(set(src_name) - {START}))
        m = len(self.states)
        src, dst = self.states.get_indexer(pd.Index(src_name)), self.states.get_indexer(pd.Index(dst_name))
        out = np.bincount(src, n, m)[src]
        inner, is_conv = dst >= 0, dst_name == CONVERSION
        self.Q = sp.csr_matrix(((n / out)[inner], (src[inner], dst[inner])), shape=(m, m))
        self.r = np.bincount(src[is_conv], (n / out)[is_conv], m)
        self.r_value = np.bincount(src[is_conv], (value / out)[is_conv], m)
        if m <= DENSE_UP_TO:
            self._dense = np.eye(m) - self.Q.toarray()
        names = [str(s) for s in self.states]
        self.channels = sorted({c for s in names[1:] for c in s.split(SEP)})
        self._members = [set(s.split(SEP)) for s in names]

    def contains(self, channel: str) -> np.ndarray:
        return np.array([channel in m for m in self._members])

    def solve(self, keep: np.ndarray | None = None) -> tuple[float, float]:
        """x[start] of (I - Q) x = r and = r_value over the kept states (the others are
        absorbed in null): the conversion probability and the expected value of a path."""
        idx = np.arange(len(self.r)) if keep is None else np.flatnonzero(keep)
        b = np.column_stack([self.r[idx], self.r_value[idx]])
        if len(self.r) <= DENSE_UP_TO:  # LAPACK beats sparse set-up on small chains
            return tuple(np.linalg.solve(self._dense[np.ix_(idx, idx)], b)[0])
        a = sp.identity(len(idx), format="csc") - self.Q[idx][:, idx].tocsc()
        if len(idx) > ITERATIVE_FROM:
            # I - Q of an absorbing chain is a non-singular M-matrix: BiCGSTAB converges fast
            # and deterministically; the residual is checked, else the direct solve decides.
            xs = [spla.bicgstab(a, col, rtol=1e-14, atol=0.0) for col in b.T]
            if all(info == 0 and np.abs(a @ x - col).max() <= 1e-13 * max(1.0, np.abs(col).max())
                   for (x, info), col in zip(xs, b.T, strict=True)):
                return float(xs[0][0][0]), float(xs[1][0][0])
        return tuple(spla.spsolve(a, b)[0])


def _normalise(effects: dict[str, float]) -> dict[str, float]:
    total = sum(effects.values())
    return {c: (e / total if total else 0.0) for c, e in effects.items()}
