"""Rule-based models: each gives every touch of a converting journey a weight, in the engine.

Credits are weights normalised per journey, so each journey's credits sum to 1 conversion
(and to its revenue).

Each rule is an Ibis expression over the touches (`weight`), and its NumPy twin over the
steps of a path file (`path_weight`), where every step is a click of a converting path and no
engine is needed: a command attributing a file starts in a fraction of a second.
tests/test_path_files.py checks every twin against its expression on random path files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from parcours import lazy
from parcours.attribution.model import Model
from parcours.attribution.paths import PathTable, as_table, counts, flatten, positions, shares
from parcours.attribution.registry import register_model
from parcours.contract.model_params import PARAMS
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from parcours.engine.storage import Storage
else:
    ibis = lazy.module("ibis")


@dataclass(frozen=True)
class Steps:
    """The steps of converting paths, each a click: its path, 1-based position, its path's
    length and its channel (the columns `weight` reads on a touch)."""

    path: np.ndarray
    position: np.ndarray
    n: np.ndarray
    channel: np.ndarray


class RuleModel(Model):
    """A weight per touch; `touch_credits` normalises it per journey."""

    def touch_credit(self, t: ir.Table, weights: Mapping[str, ir.FloatingValue]) -> ir.FloatingValue:
        return credit(self, t)

    def credits_on_paths(self, paths: PathTable) -> pa.Table:
        """Each distinct converting path is one journey of clicks, weighted by its conversions
        (as ChannelAttribution's heuristic models read them), credited by `path_weight`."""
        table = as_table(paths)
        converting = table.filter(pa.array(counts(table, "conversions") > 0))
        pid, code, names = flatten(converting["path"])
        rows = converting.num_rows
        lens, position = positions(pid, rows)
        n = lens[pid]
        w = np.maximum(self.path_weight(Steps(pid, position, n, names[code])).astype(float), 0.0)
        share = shares(pid, w, 1.0 / n)
        out = pa.table({
            "channel": pa.array(names, pa.string()),
            "conversions": np.bincount(code, share * counts(converting, "conversions")[pid], len(names)),
            "value": np.bincount(code, share * counts(converting, "value")[pid], len(names)),
        })
        return out.sort_by([("conversions", "descending"), ("channel", "ascending")])

    def path_weight(self, s: Steps) -> np.ndarray:  # pragma: no cover - interface
        """`weight`'s twin over the steps of converting paths, all clicks."""
        raise NotImplementedError

    def weight(self, t: ir.Table) -> ir.FloatingValue:  # pragma: no cover - interface
        raise NotImplementedError

    def total(self, t: ir.Table) -> ir.FloatingValue | None:
        """The journey's sum of weights when it has a closed form (saves a window pass over
        every touch); None: summed in the engine."""
        return None


@register_model("first_touch", 1, ("First touch", "Premier contact"))
@dataclass(frozen=True)
class FirstTouch(RuleModel):

    def weight(self, t: ir.Table) -> ir.FloatingValue:
        return ibis.ifelse(t.position == 1, 1.0, 0.0)

    def path_weight(self, s: Steps) -> np.ndarray:
        return (s.position == 1).astype(float)

    def total(self, t: ir.Table) -> ir.FloatingValue | None:
        return ibis.literal(1.0)


@register_model("last_touch", 2, ("Last touch", "Dernier contact"))
@dataclass(frozen=True)
class LastTouch(RuleModel):
    """The journey's last touch; a view only when the journey has nothing but views."""


    def weight(self, t: ir.Table) -> ir.FloatingValue:
        return ibis.ifelse(t.is_last, 1.0, 0.0)

    def path_weight(self, s: Steps) -> np.ndarray:
        return (s.position == s.n).astype(float)

    def total(self, t: ir.Table) -> ir.FloatingValue | None:
        return ibis.literal(1.0)  # exactly one touch per journey is_last


@register_model("last_non_direct", 3, ("Last non-direct touch", "Dernier contact non direct"),
                params=("direct",))
@dataclass(frozen=True)
class LastNonDirect(RuleModel):
    """The last touch outside the direct channel(s); direct only when there is nothing else.
    Views still never beat a click: the last non-direct click, else non-direct view."""

    direct: tuple[str, ...] = ("direct",)

    def weight(self, t: ir.Table) -> ir.FloatingValue:
        # Rank every touch once (non-direct click 3, non-direct view 2, the journey's last
        # touch 1, others 0), then position within rank: one window picks the winner.
        other = ~t.channel.isin(self.direct)
        rank = ibis.cases((other & (t.interaction != "view"), 3), (other, 2), (t.is_last, 1), else_=0)
        key = rank.cast("int64") * 1_000_000_000 + t.position
        return ibis.ifelse(key == key.max().over(ibis.window(group_by=t.journey_id)), 1.0, 0.0)

    def path_weight(self, s: Steps) -> np.ndarray:
        rank = np.where(~np.isin(s.channel, list(self.direct)), 3, np.where(s.position == s.n, 1, 0))
        key = rank.astype(np.int64) * 1_000_000_000 + s.position
        best = np.zeros(int(s.path.max(initial=-1)) + 1, dtype=np.int64)
        np.maximum.at(best, s.path, key)
        return (key == best[s.path]).astype(float)

    def total(self, t: ir.Table) -> ir.FloatingValue | None:
        return ibis.literal(1.0)  # positions are unique: one key is the largest


@register_model("linear", 4, ("Linear", "Linéaire"))
@dataclass(frozen=True)
class Linear(RuleModel):

    def weight(self, t: ir.Table) -> ir.FloatingValue:
        return ibis.literal(1.0)

    def path_weight(self, s: Steps) -> np.ndarray:
        return np.ones(len(s.position))

    def total(self, t: ir.Table) -> ir.FloatingValue | None:
        return t.n.cast("float64")


@register_model("custom", 7, ("Custom weights", "Pondération personnalisée"),
                params=("weights",),
                build=lambda weights=PARAMS["weights"].default: Custom(*weights))
@dataclass(frozen=True)
class Custom(RuleModel):
    """User weights for the first, middle and last touches, normalised per journey.

    One touch takes everything; two touches split first:last; with n >= 3 each middle touch
    has middle / (n - 2), so the three shares keep their proportions whatever n is."""

    first: float = 1.0
    middle: float = 1.0
    last: float = 1.0

    def __post_init__(self) -> None:
        if min(self.first, self.middle, self.last) < 0 or self.first + self.middle + self.last <= 0:
            raise InvalidInput("custom weights must be >= 0 and not all 0")

    def weight(self, t: ir.Table) -> ir.FloatingValue:
        return ibis.cases(
            (t.n == 1, 1.0),
            (t.position == 1, float(self.first)),
            (t.position == t.n, float(self.last)),
            else_=float(self.middle) / (t.n - 2).cast("float64"),
        )

    def path_weight(self, s: Steps) -> np.ndarray:
        middle = float(self.middle) / np.maximum(s.n - 2, 1)
        return np.select([s.n == 1, s.position == 1, s.position == s.n], [1.0, float(self.first), float(self.last)],
                         middle)

    def total(self, t: ir.Table) -> ir.FloatingValue | None:
        return ibis.cases((t.n == 1, 1.0), (t.n == 2, float(self.first + self.last)),
                          else_=float(self.first + self.middle + self.last))


@register_model("position_based", 5, ("Position-based (40/20/40)", "En U (40/20/40)"))
@dataclass(frozen=True)
class PositionBased(Custom):
    """40/20/40 by default: first and last 40% each, 20% shared by the middle touches;
    1 touch 100%, 2 touches 50/50."""

    first: float = 0.4
    middle: float = 0.2
    last: float = 0.4

    def weight(self, t: ir.Table) -> ir.FloatingValue:
        return ibis.ifelse(t.n == 2, 0.5, super().weight(t))

    def path_weight(self, s: Steps) -> np.ndarray:
        return np.where(s.n == 2, 0.5, super().path_weight(s))

    def total(self, t: ir.Table) -> ir.FloatingValue | None:
        return ibis.ifelse(t.n <= 2, 1.0, float(self.first + self.middle + self.last))


@register_model("time_decay", 6, ("Time decay", "Dégressif dans le temps"),
                params=("half_life_days",))
@dataclass(frozen=True)
class TimeDecay(RuleModel):
    """weight = 2^(-age / half_life), age = conversion time - touch time (normalised)."""

    on_paths = False  # needs touch times

    half_life_days: float = 7.0

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise InvalidInput("half_life_days must be > 0")

    def weight(self, t: ir.Table) -> ir.FloatingValue:
        age_days = (t.conv_ts.epoch_seconds() - t.ts.epoch_seconds()).cast("float64") / 86400.0
        return ibis.literal(2.0).pow(-age_days / self.half_life_days)


def converting_touches(wh: Storage) -> ir.Table:
    """Touches of converting journeys with the conversion's time (conv_ts) and revenue."""
    from parcours.build.journeys import require_built

    require_built(wh)
    t = wh.table("touches")
    return t.filter(t.converted).mutate(conv_ts=t.end_ts)


def credit(model: RuleModel, t: ir.Table) -> ir.FloatingValue:
    """The expression of each touch's share of its journey's conversion under `model`."""
    w = model.weight(t).cast("float64")
    total = model.total(t)
    return w / (w.sum().over(ibis.window(group_by=t.journey_id)) if total is None else total)


def touch_credits(model: RuleModel, touches: ir.Table) -> ir.Table:
    """`touches` with `credit` (sums to 1 per journey) and `value` (sums to its revenue)."""
    w = touches.mutate(credit=credit(model, touches))
    return w.mutate(value=w.credit * w.revenue)
