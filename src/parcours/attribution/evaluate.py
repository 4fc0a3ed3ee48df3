"""How far each model's attributed conversions are from the simulator's truth.

The truth is, per channel, the conversions that would not have happened without it
(`parcours simulate` writes it as `truth.parquet`). Models credit every conversion, including
those that would have happened anyway, so attributed conversions are first scaled to the
truth's total; then NMAE = sum |attributed_c - true_c| / sum true_c (0 is perfect; a model
that gave everything to one channel scores near 2 at worst).

The counterfactual model is scored twice: its credits, like every model, and its own
counterfactual, the conversions it expects each channel caused over every journey
(`Counterfactual.incremental`), the number the truth measures.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from parcours.attribution.credit import NO_TOUCH, attributed
from parcours.attribution.intervals import warehouse_intervals
from parcours.attribution.model import Model
from parcours.build.journeys import build_journeys
from parcours.contract.config import Config
from parcours.contract.schema import TRUTH_BASE
from parcours.engine.storage import Storage
from parcours.engine.workspace import Folder
from parcours.load.ingest import load_file
from parcours.simulate import simulate

INCREMENTAL = "(incremental)"  # the counterfactual model's second row: its incremental conversions


def true_incremental(truth: pd.DataFrame, cut: dt.datetime) -> pd.Series:
    """True incremental conversions per channel over the days that were built."""
    dates = pd.to_datetime(truth["date"])
    kept = truth[(dates < pd.Timestamp(cut)) & (truth.channel != TRUTH_BASE)]
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


def evaluate(wh: Storage, truth: pd.DataFrame, models: dict[str, Model], ci: float = 0.9,
             samples: int = 100, progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    """One row per model: nmae, and for data-driven models the interval coverage at `ci`.
    `progress(done, total, model)` hears before each model (the bootstraps take minutes)."""
    cut = wh.table("build_meta").cut.max().execute()
    t = true_incremental(truth, cut)
    rows = []
    for i, (name, model) in enumerate(models.items()):
        if progress:
            progress(i, len(models), name)
        a = attributed(model, wh, "channel").to_pandas().set_index("channel").conversions
        row = {"model": name, "nmae": nmae(a, t), "ci_coverage": float("nan")}
        if model.data_driven:
            bounds = warehouse_intervals(model, wh, ci=ci, samples=samples)
            row["ci_coverage"] = coverage(a, bounds, t)
        rows.append(row)
        inc = model.own_incremental(wh)
        if inc is not None:  # a model's own counterfactual, beside its credits
            bounds = warehouse_intervals(model, wh, ci=ci, samples=samples, incremental=True)
            rows.append({"model": f"{name} {INCREMENTAL}", "nmae": nmae(inc, t),
                         "ci_coverage": coverage(inc, bounds, t)})
    if progress:
        progress(len(models), len(models), "")
    return pd.DataFrame(rows).sort_values("nmae", ignore_index=True)



def evaluate_worlds(folder: Path, worlds: list[str], models: Callable[[Config], dict[str, Any]],
                    persons: int = 100_000, seed: int = 1, days: int = 60, end: dt.date | None = None,
                    samples: int = 100, progress: Callable[[str], None] = lambda step: None) -> pd.DataFrame:
    """Every model in every world: each world simulated into `folder`, loaded, built and
    evaluated. One row per model: its NMAE in each world (column named after the world),
    then, for data-driven models, its interval coverage in each (`<world> ci`)."""
    end = end or dt.datetime.now(dt.UTC).date()
    scores = []
    for world in worlds:
        progress(f"{world}: simulating")
        data = simulate(folder / world / "data", persons=persons, seed=seed, days=days, end=end, scenario=world)
        with Folder.init(folder / world / "ws") as ws:
            progress(f"{world}: loading and building")
            for name in ("touchpoints", "conversions", "identities", "costs", "truth"):
                load_file(ws.warehouse, name, data.files[name])
            build_journeys(ws.warehouse, ws.config, as_of=end)
            truth = ws.warehouse.table("truth").to_pandas()
            scored = evaluate(ws.warehouse, truth, models(ws.config), samples=samples,
                              progress=functools.partial(_scoring, progress, world))
        scores.append(scored.assign(world=world))
    long = pd.concat(scores)
    nmae_ = long.pivot(index="model", columns="world", values="nmae")[worlds]
    ci = long.pivot(index="model", columns="world", values="ci_coverage")[worlds].add_suffix(" ci")
    table = nmae_.join(ci.loc[:, ci.notna().any()])
    return table.sort_values(worlds[0]).reset_index()


def _scoring(progress: Callable[[str], None], world: str, done: int, total: int, model: str) -> None:
    progress(f"{world}: scoring {model}" if model else f"{world}: scored")
