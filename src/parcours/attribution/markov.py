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
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from parcours import lazy
from parcours.attribution.model import PathModel
from parcours.attribution.paths import (
    Paths,
    PathTable,
    as_table,
    counts,
    flatten,
    list_array,
    numbered,
    positions,
)
from parcours.attribution.registry import register_model
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    import scipy.sparse as sp

    from parcours.attribution.intervals import Resampler
else:  # only chains of more than DENSE_UP_TO states need SciPy
    sp = lazy.module("scipy.sparse")

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
SEP = ">"
DENSE_UP_TO = 128  # states
ITERATIVE_FROM = 256  # states; below, a sparse LU is as fast


@dataclass(frozen=True)
class Transitions:
    """The chain's transitions with their journeys (n) and conversion value, one per (src, dst)."""

    src: np.ndarray  # state names
    dst: np.ndarray
    n: np.ndarray
    value: np.ndarray


class PathSteps:
    """Every transition of every distinct path as integer codes, listed once: (path, src, dst)
    with dst = conversion or null at a path's end. Chain counts are linear in the paths'
    journeys, so `counts` reweights the same steps (the bootstrap refits this way).

    Vectorised over the steps: a state is the numbered tuple of its last `order` step
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
            state = numbered(state * (len(values) + 1) + back)[0]
        state, states = numbered(state)
        n = len(states)  # codes n, n+1, n+2: start, conversion, null
        seen = np.empty(n, dtype=np.int64)
        seen[state] = np.arange(len(state))  # any step in that state: they share their k-gram
        self.names = np.array([SEP.join(values[code[i - min(pos[i], order - 1): i + 1]]) for i in seen]
                              + [START, CONVERSION, NULL], dtype=object)
        last = np.cumsum(lens) - 1
        self.pid = np.concatenate([pid, pid[last], pid[last]])
        src = np.concatenate([np.where(pos > 0, np.roll(state, 1), n), state[last], state[last]])
        self.dst = np.concatenate([state, np.full(len(last), n + 1), np.full(len(last), n + 2)])
        self.edge, key = numbered(src * (n + 3) + self.dst)
        self.src_name, self.dst_name = self.names[key // (n + 3)], self.names[key % (n + 3)]

    def counts(self, conversions: ArrayLike, nulls: ArrayLike, value: ArrayLike) -> Transitions:
        """The transitions when path i was taken by conversions[i] + nulls[i] journeys."""
        conv, null = np.asarray(conversions, float)[self.pid], np.asarray(nulls, float)[self.pid]
        is_conv, is_null = self.dst == len(self.names) - 2, self.dst == len(self.names) - 1
        n = np.where(is_conv, conv, np.where(is_null, null, conv + null))
        v = np.where(is_conv, np.asarray(value, float)[self.pid], 0.0)
        edges = len(self.src_name)
        n, v = np.bincount(self.edge, n, edges), np.bincount(self.edge, v, edges)
        taken = n > 0
        return Transitions(self.src_name[taken], self.dst_name[taken], n[taken], v[taken])


def transitions(paths: PathTable, order: int = 1) -> Transitions:
    """The order-k chain's transitions over aggregated paths."""
    table = as_table(paths)
    return PathSteps(table["path"], order).counts(*(counts(table, c) for c in ("conversions", "nulls", "value")))


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

    def fit(self, paths: PathTable) -> Markov:
        return self.fit_counts(transitions(paths, self.order))

    def refit(self, resampler: Resampler, conv: np.ndarray, nulls: np.ndarray, value: np.ndarray) -> Markov:
        """Its counts are linear in the journeys': the transitions are listed once per resampler."""
        steps = resampler.kept(("markov", self.order), lambda: PathSteps(resampler.collapsed, self.order))
        return self.fit_counts(steps.counts(conv, nulls, value))

    def fit_counts(self, counts: Transitions) -> Markov:
        """Fit on transition counts, e.g. reweighted for a bootstrap."""
        chain = _Chain(counts)
        self.states = len(chain.states) - 1
        converting = counts.dst == CONVERSION
        self.conversions = float(counts.n[converting].sum())
        self.value = float(counts.value[converting].sum())
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

    def credit_table(self) -> pa.Table:
        w, wv = self.weights(), _normalise(self.value_removal_effects)
        return pa.table({
            "channel": pa.array(list(w), pa.string()),
            "conversions": pa.array([w[c] * self.conversions for c in w], pa.float64()),
            "value": pa.array([wv.get(c, 0.0) * self.value for c in w], pa.float64()),
            "removal_effect": pa.array([self.removal_effects[c] for c in w], pa.float64()),
        }).sort_by([("conversions", "descending")])


class _Chain:
    """Transient states (start first) with Q, r and r_value (Q dense up to DENSE_UP_TO states)."""

    def __init__(self, counts: Transitions):
        src_name, dst_name = counts.src, counts.dst
        names = sorted(set(src_name.tolist()) - {START})
        self.states = np.array([START, *names], dtype=object)
        m = len(self.states)
        index = {name: i for i, name in enumerate(self.states)}
        src = np.array([index[s] for s in src_name.tolist()], dtype=np.int64)
        dst = np.array([index.get(d, -1) for d in dst_name.tolist()], dtype=np.int64)
        n, value = counts.n.astype(float), counts.value.astype(float)
        out = np.bincount(src, n, m)[src]
        inner, is_conv = dst >= 0, dst_name == CONVERSION
        p = (n / out)[inner]
        if m <= DENSE_UP_TO:  # LAPACK beats sparse set-up on small chains
            q = np.zeros((m, m))
            np.add.at(q, (src[inner], dst[inner]), p)
            self._dense = np.eye(m) - q
        else:
            self.Q = sp.csr_matrix((p, (src[inner], dst[inner])), shape=(m, m))
        self.r = np.bincount(src[is_conv], (n / out)[is_conv], m)
        self.r_value = np.bincount(src[is_conv], (value / out)[is_conv], m)
        self.channels = sorted({c for s in names for c in s.split(SEP)})
        self._members = [set(str(s).split(SEP)) for s in self.states]

    def contains(self, channel: str) -> np.ndarray:
        return np.array([channel in m for m in self._members])

    def solve(self, keep: np.ndarray | None = None) -> tuple[float, float]:
        """x[start] of (I - Q) x = r and = r_value over the kept states (the others are
        absorbed in null): the conversion probability and the expected value of a path."""
        idx = np.arange(len(self.r)) if keep is None else np.flatnonzero(keep)
        b = np.column_stack([self.r[idx], self.r_value[idx]])
        if len(self.r) <= DENSE_UP_TO:
            return tuple(np.linalg.solve(self._dense[np.ix_(idx, idx)], b)[0])
        import scipy.sparse.linalg as spla

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
