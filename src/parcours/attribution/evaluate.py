"""How far each model's attributed conversions are from the simulator's truth.

The truth is, per channel, the conversions that would not have happened without it
(`parcours simulate` writes it as `truth.parquet`). Models credit every conversion, including
those that would have happened anyway, so attributed conversions are first scaled to the
truth's total; then NMAE = sum |attributed_c - true_c| / sum true_c (0 is perfect; a model
that gave everything to one channel scores near 2 at worst).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import pandas as pd

from parcours.attribution.credit import NO_TOUCH, attributed
from parcours.attribution.intervals import intervals
from parcours.attribution.paths import paths_from_warehouse
from parcours.attribution.rules import RuleModel
from parcours.storage import Storage

BASE = "(base)"  # the simulator's conversions that no channel caused


def true_incremental(truth: pd.DataFrame, cut: dt.datetime) -> pd.Series:
    """True incremental conversions per channel over the days that were built."""
    dates = pd.to_datetime(truth["date"])
    kept = truth[(dates < pd.Timestamp(cut)) & (truth.channel != BASE)]
    return kept.groupby("channel").incremental_conversions.sum()


def _scale(attributed_by_channel: pd.Series, truth: pd.Series) -> float:
    """The factor that brings attributed conversions (truth's channels only) to the truth total."""
    a = attributed_by_channel.drop(NO_TOUCH, errors="ignore").reindex(truth.index, fill_value=0.0)
    return truth.sum() / a.sum() if a.sum() > 0 else float("nan")


def nmae(attributed_by_channel: pd.Series, truth: pd.Series) -> float:
    a = attributed_by_channel.reindex(truth.index, fill_value=0.0) * _scale(attributed_by_channel, truth)
    return float((a - truth).abs().sum() / truth.sum()) if truth.sum() > 0 else float("nan")


def coverage(attributed_by_channel: pd.Series, bounds: pd.DataFrame, truth: pd.Series) -> float:
    """Share of channels whose true value lies in the (equally scaled) interval."""
    f = _scale(attributed_by_channel, truth)
    b = bounds.reindex(truth.index).fillna(0.0) * f
    return float(((b.lo <= truth) & (truth <= b.hi)).mean())


def evaluate(wh: Storage, truth: pd.DataFrame, models: dict[str, Any], ci: float = 0.9,
             samples: int = 100, progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    """One row per model: nmae, and for data-driven models the interval coverage at `ci`.
    `progress(done, total, model)` hears before each model (the bootstraps take minutes)."""
    cut = wh.table("build_meta").cut.max().execute()
    t = true_incremental(truth, cut)
    raw = paths_from_warehouse(wh, "channel", collapse=False)
    rows = []
    for i, (name, model) in enumerate(models.items()):
        if progress:
            progress(i, len(models), name)
        a = attributed(model, wh, "channel").to_pandas().set_index("channel").conversions
        row = {"model": name, "nmae": nmae(a, t), "ci_coverage": float("nan")}
        if not isinstance(model, RuleModel):
            bounds = intervals(raw, functools.partial(dataclasses.replace, model), ci=ci, samples=samples)
            row["ci_coverage"] = coverage(a, bounds, t)
        rows.append(row)
    if progress:
        progress(len(models), len(models), "")
    return pd.DataFrame(rows).sort_values("nmae", ignore_index=True)

