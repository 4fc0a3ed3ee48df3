"""Bootstrap intervals for data-driven credits, by resampling journeys (Efron, 1979).

Journeys are resampled with replacement: the counts of (path, converted) cells are drawn from
a multinomial with the observed shares, each converting cell keeping its mean value. Each
resample is refitted and re-attributed with the same statistic as the point estimate; the
interval is the central `ci` share of the resampled results (percentile bootstrap).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from parcours.attribution.paths import (
    PathTable,
    as_table,
    collapse_repeats,
    counts,
    distinct,
    flatten,
    list_array,
    path_table,
    shares,
)
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput


class PathModel(Protocol):
    """What a bootstrap asks of a path model (model.py's `PathModel`, which imports this module)."""

    def refit(self, resampler: Resampler, conv: np.ndarray, nulls: np.ndarray, value: np.ndarray) -> Any: ...


class Model(Protocol):
    """What `warehouse_intervals` asks of any model (model.py's `Model`)."""

    def draws(self, wh: Storage, level: str, fit_level: str, samples: int, seed: int, incremental: bool,
              period: tuple[dt.datetime, dt.datetime] | None) -> Iterable[pd.Series]: ...


class Resampler:
    """Paths (uncollapsed, as journeys took them) prepared once for many refits: fitted with
    their repeats collapsed, as on a workspace, or as they are (`collapse=False`: a path file
    is fitted as written)."""

    def __init__(self, paths: PathTable, collapse: bool = True):
        table = as_table(paths)
        lists = list_array(table["path"])
        if collapse:
            collapsed = collapse_repeats(lists)
            first, self.collapsed_id = distinct(collapsed)
            self.collapsed = collapsed.take(pa.array(first))
        else:
            self.collapsed, self.collapsed_id = lists, np.arange(len(lists))
        self.step_path, self.step_code, self.channels = flatten(lists)
        # the level credits are spread at: the fitted one, or `split_path`'s, touch by touch
        _, self.split_code, self.split_names = (flatten(table["split_path"]) if "split_path" in table.column_names
                                                else (None, self.step_code, self.channels))
        self.length = np.bincount(self.step_path, minlength=len(lists))
        self.conv = counts(table, "conversions")
        # the conversions credits are reported for (a period's), the others only fitted on
        self.reported = counts(table, "period_conversions") if "period_conversions" in table.column_names else self.conv
        self.nulls = counts(table, "nulls")
        self.value = counts(table, "value")
        self._kept: dict[Hashable, Any] = {}

    def fit(self, model: PathModel, conv: np.ndarray, nulls: np.ndarray, value: np.ndarray) -> Any:
        """`model` fitted on the paths (collapsed, unless told) with these journey counts."""
        k = len(self.collapsed)
        return model.refit(self, *(np.bincount(self.collapsed_id, x, k) for x in (conv, nulls, value)))

    def frame(self, conv: np.ndarray, nulls: np.ndarray, value: np.ndarray) -> pa.Table:
        """The paths with these counts (one per distinct path fitted), as a model fits them."""
        return path_table(self.collapsed, conv, nulls, value)

    def kept(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """What a model prepares once for every draw (Markov's transitions: its counts are
        linear in the journeys', so they are listed once and reweighted)."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    def split(self, weights: dict[str, float], conv: np.ndarray) -> pd.Series:
        """Each path's conversions spread over its steps in proportion to their channel's
        weight (evenly when all weigh 0): the per-touch rule of `attributed`, on paths."""
        by_code = np.array([max(weights.get(c, 0.0), 0.0) for c in self.channels])
        share = shares(self.step_path, by_code[self.step_code], 1.0 / self.length[self.step_path])
        credit = np.bincount(self.split_code, share * conv[self.step_path], len(self.split_names))
        return pd.Series(credit, index=self.split_names)

    def resamples(self, samples: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """(conversions, nulls, value, reported conversions) per path, of journeys drawn with
        replacement: the cells (path, reported conversion | other conversion | null)."""
        rng = np.random.default_rng(seed)
        cells = np.concatenate([self.reported, self.conv - self.reported, self.nulls])
        mean_value = np.divide(self.value, self.conv, out=np.zeros_like(self.conv), where=self.conv > 0)
        k = len(self.conv)
        for _ in range(samples):
            c = rng.multinomial(int(cells.sum()), cells / cells.sum()).astype(float)
            conv = c[:k] + c[k:2 * k]
            yield conv, c[2 * k:], conv * mean_value, c[:k]


def intervals(paths: PathTable, make_model: Callable[[], PathModel], per_touch: bool = True,
              ci: float = 0.9, samples: int = 100, seed: int = 0) -> pd.DataFrame:
    """(lo, hi) per channel. per_touch: the statistic of `attributed` (warehouse, fitted on
    collapsed paths); else the model's own credits (weights x conversions) fitted on the
    paths as they are, as printed for path files."""
    _check(ci)
    return _bounds(draws(paths, make_model, per_touch, samples, seed), ci)


def draws(paths: PathTable, make_model: Callable[[], PathModel], per_touch: bool = True,
          samples: int = 100, seed: int = 0) -> Iterator[pd.Series]:
    """A path model's credits per channel (see `intervals`) under each resample."""
    r = Resampler(paths, collapse=per_touch)
    for conv, nulls, value, reported in r.resamples(samples, seed):
        fitted = r.fit(make_model(), conv, nulls, value)
        yield (r.split(fitted.weights(), reported) if per_touch
               else fitted.credits().set_index("channel").conversions)


def warehouse_intervals(model: Model, wh: Storage, level: str = "channel", fit_level: str = "channel",
                        ci: float = 0.9, samples: int = 100, seed: int = 0, incremental: bool = False,
                        period: tuple[dt.datetime, dt.datetime] | None = None) -> pd.DataFrame:
    """(lo, hi) per value of `level` of a data-driven model's per-touch credits on the
    warehouse, over the conversions of `period` [from, until) (default: every one built),
    the model refitted on every journey of each resample: path models resample the paths;
    the counterfactual model resamples journeys and refits on their exposure (`incremental`:
    of its incremental conversions instead, over every journey)."""
    _check(ci)
    return _bounds(model.draws(wh, level, fit_level, samples, seed, incremental, period), ci)


def _check(ci: float) -> None:
    if not 0 < ci < 1:
        raise InvalidInput("ci must be between 0 and 1, e.g. 0.9")


def _bounds(draws: Iterable[pd.Series], ci: float) -> pd.DataFrame:
    """The central `ci` share of the draws, per index value (percentile bootstrap)."""
    table = pd.concat(list(draws), axis=1).fillna(0.0)
    q = (1 - ci) / 2
    return pd.DataFrame({"lo": table.quantile(q, axis=1), "hi": table.quantile(1 - q, axis=1)})
