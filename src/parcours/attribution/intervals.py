"""Bootstrap intervals for data-driven credits, by resampling journeys (Efron, 1979).

Journeys are resampled with replacement: the counts of (path, converted) cells are drawn from
a multinomial with the observed shares, each converting cell keeping its mean value. Each
resample is refitted and re-attributed with the same statistic as the point estimate; the
interval is the central `ci` share of the resampled results (percentile bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import numpy as np
import pandas as pd

from parcours.attribution.markov import Markov, path_transitions
from parcours.attribution.paths import collapse_repeats


class Resampler:
    """Paths (uncollapsed, as journeys took them) prepared once for many refits."""

    def __init__(self, paths: pd.DataFrame):
        self.paths = paths.reset_index(drop=True)
        collapsed = self.paths.path.map(lambda p: tuple(collapse_repeats(p)))
        codes, self.collapsed = pd.factorize(collapsed)
        self.collapsed_id = codes
        steps = self.paths.path.explode()
        self.step_path = steps.index.to_numpy()
        self.step_code, self.channels = pd.factorize(steps)
        self.length = self.paths.path.map(len).to_numpy()
        self.conv = self.paths.conversions.to_numpy(float)
        self.nulls = self.paths.nulls.to_numpy(float)
        self.value = self.paths.value.to_numpy(float)

        self._lists = [list(p) for p in self.collapsed]
        self._transitions: dict[int, pd.DataFrame] = {}

    def fit(self, model, conv, nulls, value):
        """`model` fitted on the collapsed paths with these journey counts. Markov's counts
        are linear in them, so its transitions are listed once and reweighted here."""
        k = len(self.collapsed)
        c, n, v = (np.bincount(self.collapsed_id, x, k) for x in (conv, nulls, value))
        if isinstance(model, Markov):
            t = self._transitions.get(model.order)
            if t is None:
                table = ibis.memtable(pd.DataFrame({"pid": np.arange(k), "path": self._lists}))
                t = self._transitions[model.order] = path_transitions(table, model.order).to_pandas()
            pid, times = t.pid.to_numpy(), t.times.to_numpy(float)
            kind = t.kind.to_numpy()
            weight = np.select([kind == "step", kind == "conversion"], [(c + n)[pid], c[pid]], n[pid])
            counts = t[["src", "dst"]].assign(
                n=times * weight, value=np.where(kind == "conversion", times * v[pid], 0.0))
            return model.fit_counts(counts.groupby(["src", "dst"], as_index=False).sum())
        return model.fit(pd.DataFrame({"path": self._lists, "conversions": c.round().astype("int64"),
                                       "nulls": n.round().astype("int64"), "value": v}))

    def split(self, weights: dict[str, float], conv) -> pd.Series:
        """Each path's conversions spread over its steps in proportion to their channel's
        weight (evenly when all weigh 0): the per-touch rule of `attributed`, on paths."""
        by_code = np.array([max(weights.get(c, 0.0), 0.0) for c in self.channels])
        w = by_code[self.step_code]
        total = np.bincount(self.step_path, w, len(self.paths))[self.step_path]
        share = np.where(total > 0, w / np.where(total > 0, total, 1), 1.0 / self.length[self.step_path])
        credit = np.bincount(self.step_code, share * conv[self.step_path], len(self.channels))
        return pd.Series(credit, index=self.channels)

    def resamples(self, samples: int, seed: int):
        rng = np.random.default_rng(seed)
        cells = np.concatenate([self.conv, self.nulls])
        mean_value = np.divide(self.value, self.conv, out=np.zeros_like(self.conv), where=self.conv > 0)
        k = len(self.conv)
        for _ in range(samples):
            c = rng.multinomial(int(cells.sum()), cells / cells.sum()).astype(float)
            yield c[:k], c[k:], c[:k] * mean_value


def intervals(paths: pd.DataFrame, make_model: Callable[[], object], per_touch: bool = True,
              ci: float = 0.9, samples: int = 100, seed: int = 0) -> pd.DataFrame:
    """(lo, hi) per channel. per_touch: the statistic of `attributed` (warehouse); else the
    model's own credits (weights x conversions), as printed for path files."""
    if not 0 < ci < 1:
        raise ValueError("ci must be between 0 and 1, e.g. 0.9")
    r = Resampler(paths)
    draws = []
    for conv, nulls, value in r.resamples(samples, seed):
        fitted = r.fit(make_model(), conv, nulls, value)
        draws.append(r.split(fitted.weights(), conv) if per_touch
                     else fitted.credits().set_index("channel").conversions)
    table = pd.concat(draws, axis=1).fillna(0.0)
    q = (1 - ci) / 2
    return pd.DataFrame({"lo": table.quantile(q, axis=1), "hi": table.quantile(1 - q, axis=1)})
