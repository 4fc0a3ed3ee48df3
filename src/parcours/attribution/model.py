"""What every attribution model offers the code that credits touches, bootstraps intervals
and scores models against a truth, so that code asks a model, never its class.

Three families implement it: rule models (`rules.py`: a weight per touch, nothing fitted),
path models (`PathModel`: fitted on the paths, a weight per level value: Markov, the Shapley
games) and the counterfactual model (fitted on each journey's exposure; a touch's effect
also depends on its age and kind).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from parcours import lazy
from parcours.attribution.paths import PathTable, paths_from_warehouse
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    import pandas as pd

    from parcours.attribution.intervals import Resampler
    from parcours.engine.storage import Storage
else:
    ibis = lazy.module("ibis")


@dataclasses.dataclass
class FitSource:
    """What a data-driven model is fitted on: one build of a warehouse at one level. The
    paths are read once and shared by the path models fitted on the same build."""

    wh: Storage
    fit_level: str
    read_paths: Callable[[], pa.Table]

    def paths(self) -> pa.Table:
        return self.read_paths()


class Model:
    """The interface; `name` is set by `registry.register_model`."""

    name: ClassVar[str]
    data_driven: ClassVar[bool] = False  # fitted on the data, or a rule per touch
    on_paths: ClassVar[bool] = True  # works on aggregated paths (a path file); False: needs touch times

    def fit_on(self, source: FitSource) -> Model:
        """This model fitted on the build (a fresh copy; a rule model is itself)."""
        return self

    def weights_by_value(self) -> dict[str, dict[str, float]]:
        """Weights per value of the fit level to join to the touches, by a suffix of the
        model's name ("" for one set): `touch_credit` receives them as columns."""
        return {}

    def touch_credit(self, t: ir.Table, weights: Mapping[str, ir.FloatingValue]) -> ir.FloatingValue:
        """Each touch's share of its journey's conversion (sums to 1 per journey)."""
        raise NotImplementedError  # pragma: no cover - every family implements it

    def credits_on_paths(self, paths: PathTable) -> pa.Table:
        """(channel, conversions, value, ...) of aggregated paths, as a path file is read (only
        asked of a model `on_paths`), largest first."""
        raise NotImplementedError  # pragma: no cover - every model on paths implements it

    def draws(self, wh: Storage, level: str, fit_level: str, samples: int, seed: int, incremental: bool,
              period: tuple[dt.datetime, dt.datetime] | None) -> Iterable[pd.Series]:
        """Credits per value of `level` under `samples` refits on resampled journeys."""
        raise InvalidInput(f"{self.name} is a rule: intervals are for the data-driven models")

    def own_incremental(self, wh: Storage) -> pd.Series | None:
        """The conversions the model itself expects each channel caused, when it has a
        counterfactual (scored beside its credits); None otherwise."""
        return None


def weighted(t: ir.Table, w: ir.FloatingValue) -> ir.FloatingValue:
    """w / the journey's total; evenly when all its touches weigh 0 (negative weights count
    as 0: the join clips them)."""
    total = w.sum().over(ibis.window(group_by=t.journey_id))
    return ibis.ifelse(total > 0, w / total, 1.0 / t.n.cast("float64"))


class PathModel(Model):
    """Fitted on the paths; a weight per level value (`weights()`), each journey's conversion
    split over its touches in proportion to its values' weights."""

    data_driven = True

    def fit(self, paths: PathTable) -> Any:  # pragma: no cover - every path model implements it
        raise NotImplementedError

    def weights(self) -> dict[str, float]:  # pragma: no cover - every path model implements it
        raise NotImplementedError

    def credit_table(self) -> pa.Table:  # pragma: no cover - every path model implements it
        """The fitted model's (channel, conversions, value, ...), largest first."""
        raise NotImplementedError

    def credits(self) -> pd.DataFrame:
        """`credit_table()` as a DataFrame."""
        return self.credit_table().to_pandas()

    def fit_on(self, source: FitSource) -> Model:
        return dataclasses.replace(self).fit(source.paths())  # type: ignore[type-var]

    def weights_by_value(self) -> dict[str, dict[str, float]]:
        return {"": self.weights()}

    def touch_credit(self, t: ir.Table, weights: Mapping[str, ir.FloatingValue]) -> ir.FloatingValue:
        return weighted(t, weights[""])

    def credits_on_paths(self, paths: PathTable) -> pa.Table:
        return self.fit(paths).credit_table()

    def refit(self, resampler: Resampler, conv: np.ndarray, nulls: np.ndarray, value: np.ndarray) -> Any:
        """Fitted on the resampler's paths with these journey counts (a bootstrap draw)."""
        return self.fit(resampler.frame(conv, nulls, value))

    def draws(self, wh: Storage, level: str, fit_level: str, samples: int, seed: int, incremental: bool,
              period: tuple[dt.datetime, dt.datetime] | None) -> Iterable[pd.Series]:
        from parcours.attribution.intervals import draws  # pandas: only a bootstrap needs it

        raw = paths_from_warehouse(wh, fit_level, collapse=False, split_level=level if level != fit_level else None,
                                   period=period)
        return draws(raw, functools.partial(dataclasses.replace, self),  # type: ignore[type-var]
                     samples=samples, seed=seed)
