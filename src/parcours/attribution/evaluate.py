"""How far each model's attributed conversions are from the simulator's truth.

The truth is, per channel, the conversions that would not have happened without it
(`parcours simulate` writes it as `truth.parquet`). Models credit every conversion, including
those that would have happened anyway, so attributed conversions are first scaled to the
truth's total; then NMAE = sum |attributed_c - true_c| / sum true_c (0 is perfect; a model
that gave everything to one channel scores near 2 at worst).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from parcours.attribution.credit import NO_TOUCH, attributed
from parcours.warehouse import Warehouse

BASE = "(base)"  # the simulator's conversions that no channel caused


def true_incremental(truth: pd.DataFrame, cut: dt.datetime) -> pd.Series:
    """True incremental conversions per channel over the days that were built."""
    dates = pd.to_datetime(truth["date"])
    kept = truth[(dates < pd.Timestamp(cut)) & (truth.channel != BASE)]
    return kept.groupby("channel").incremental_conversions.sum()


def nmae(attributed_by_channel: pd.Series, truth: pd.Series) -> float:
    a = attributed_by_channel.drop(NO_TOUCH, errors="ignore").reindex(truth.index, fill_value=0.0)
    if a.sum() <= 0 or truth.sum() <= 0:
        return float("nan")
    a = a / a.sum() * truth.sum()
    return float((a - truth).abs().sum() / truth.sum())


def evaluate(wh: Warehouse, truth: pd.DataFrame, models: dict[str, object]) -> pd.DataFrame:
    """One row per model: nmae and the attributed vs true conversions per channel."""
    cut = wh.table("build_meta").cut.max().execute()
    t = true_incremental(truth, cut)
    rows = []
    for name, model in models.items():
        a = attributed(model, wh, "channel").to_pandas().set_index("channel").conversions
        rows.append({"model": name, "nmae": nmae(a, t)})
    return pd.DataFrame(rows).sort_values("nmae", ignore_index=True)
