"""Ordered Shapley: Shapley values of the conversion-count game, broken down by position.

Zhao, Mahboobi & Bagheri (2018), "Shapley Value Methods for Attribution Modeling in Online
Advertising", arXiv:1804.05327. Game: v(S) = conversions of the journeys whose channel set is
a subset of S, i.e. v(S) = sum over T subset of S of R(T), with R(T) the conversions of the
journeys whose channel set is exactly T. R(T) are v's Harsanyi dividends, so the Shapley
value has the closed form phi_j = sum over T containing j of R(T) / |T| (their simplified
formula; Harsanyi, 1963): every converting journey gives 1/|T| of itself to each distinct
channel it used. It is exact for any number of channels and sums to the conversions.

Ordered (their section 3.2): each journey's 1/|T| share for channel j is credited to the
position(s) where j appears in the repeat-collapsed path, split evenly when j comes back
(a > b > a: a's half goes 1/4 to position 1 and 1/4 to position 3). Summing the positions
gives phi_j back. Value (revenue) is credited the same way.

`shapley` is this game's per-channel totals; `shapley_rate` is a different game (conversion
rate of the journeys inside S, which also uses non-converting journeys): both are exact
Shapley values of the game they state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from parcours.attribution.model import PathModel
from parcours.attribution.paths import PathTable, as_table, counts, flatten, list_array, numbered, positions
from parcours.attribution.registry import register_model


@register_model("ordered_shapley", 10, ("Ordered Shapley", "Shapley ordonné"))
@dataclass
class OrderedShapley(PathModel):
    """`OrderedShapley().fit(paths)`; `credits()` per channel, `positions` per (channel, position)."""

    values: dict[str, float] = field(default_factory=dict, init=False)  # phi per channel
    # (channel, position, conversions, value), by channel then position
    positions: pa.Table = field(default_factory=lambda: _by_position([], [], [], []), init=False)
    conversions: float = field(default=0.0, init=False)
    value: float = field(default=0.0, init=False)

    def fit(self, paths: PathTable) -> OrderedShapley:
        table = as_table(paths)
        lists = list_array(table["path"])
        pid, code, names = flatten(lists)
        lens, position = positions(pid, len(lists))
        pair = numbered(pid * len(names) + code)[0]  # (path, channel)
        occurrences = np.bincount(pair)[pair]
        first = np.unique(pair, return_index=True)[1]  # a step per (path, channel)
        distinct = np.bincount(pid[first], minlength=len(lists))  # |T| of each path
        share = 1.0 / (distinct[pid] * occurrences)
        conv, value = counts(table, "conversions"), counts(table, "value")
        order = np.argsort(names)  # the channels by name
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        width = lens.max(initial=0) + 1
        cell, keys = numbered(rank[code] * width + position)  # by channel name, then position
        channel = names[order][keys // width]
        self.positions = _by_position(channel, keys % width, np.bincount(cell, share * conv[pid], len(keys)),
                                      np.bincount(cell, share * value[pid], len(keys)))
        per_channel = pa.TableGroupBy(self.positions, "channel", use_threads=False).aggregate(
            [("conversions", "sum")])
        self.values = dict(zip(per_channel["channel"].to_pylist(), per_channel["conversions_sum"].to_pylist(),
                               strict=True))
        self.conversions, self.value = float(conv.sum()), float(value.sum())
        return self

    def weights(self) -> dict[str, float]:
        total = sum(self.values.values())
        return {c: (p / total if total else 0.0) for c, p in self.values.items()}

    def credit_table(self) -> pa.Table:
        by = pa.TableGroupBy(self.positions, "channel", use_threads=False).aggregate(
            [("conversions", "sum"), ("value", "sum")])
        return by.rename_columns(["channel", "conversions", "value"]).sort_by([("conversions", "descending")])


def _by_position(channel: object, position: object, conversions: object, value: object) -> pa.Table:
    return pa.table({"channel": pa.array(channel, pa.string()), "position": pa.array(position, pa.int64()),
                     "conversions": pa.array(conversions, pa.float64()), "value": pa.array(value, pa.float64())})
