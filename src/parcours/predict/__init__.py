"""Prediction after each build: who is about to convert, and which channel would move each
person most (docs/architecture.md, "Prediction").

`run` fits the propensity model on earlier cut-offs and checks it on a later one, never
reading past a cut-off (`features`), then scores every profiled person at the build's cut and
recommends their next best channel (`recommend`); it writes `predictions` (one row per
person), `prediction_quality` (the held-out figures), `prediction_calibration` (the curve) and
`prediction_channels` (the recommendation per channel), and puts the scores in `profiles`.

Cut-offs, with h the horizon and C the build's cut: the held-out one is V = C - h (its labels
end at C); the training ones are V - h, V - 2h, ... (their labels end by V, so nothing the
check looks at was learnt). The model that scores is fitted again on every cut-off, V
included: the held-out figures are those of the same recipe on less data.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd

from parcours.build.journeys import require_built
from parcours.build.profiles import SCORES
from parcours.contract.config import Config
from parcours.engine.storage import Storage
from parcours.predict import features as feats
from parcours.predict.model import MIN_CONVERSIONS, Halves, fit_halves, quality
from parcours.predict.recommend import NONE, Candidate, best, gains, summary

TABLES = ("predictions", "prediction_quality", "prediction_calibration", "prediction_channels")
TEMPS = ("_pred_touches", "_pred_conversions", "_pred_messages", "_pred_attributes")


@dataclass
class Prediction:
    """Everything `predict_at` found at one cut: the held-out figures and curve, each person's
    propensity and next best channel, and every candidate's gain for every person."""

    cut: dt.datetime
    held_out_cutoff: dt.datetime
    figures: dict[str, float]
    curve: pd.DataFrame
    persons: pd.DataFrame  # person_id, propensity, next_best_channel, next_best_gain
    gain: np.ndarray  # [persons, candidates], shrunk by the reliability
    reliability: np.ndarray  # [candidates]: split-half, of the gains' differences between persons
    candidates: list[Candidate]
    value: float  # per conversion
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Outcome:
    """What `run` did: the figures `parcours build` prints, or why there is no model."""

    scored: int = 0
    skipped: str = ""  # why no model (too few conversions...)
    figures: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def cutoffs(cut: dt.datetime, horizon_days: int, n: int) -> tuple[dt.datetime, list[dt.datetime]]:
    """(the held-out cut-off, the training ones, latest first)."""
    h = dt.timedelta(days=horizon_days)
    held = cut - h
    return held, [held - h * (i + 1) for i in range(n)]


def _frame(ev: feats.Events, cut: dt.datetime, config: Config) -> pd.DataFrame:
    """Features at `cut` with their label (converted: 0 or 1)."""
    s = config.predict
    f = feats.features(ev, cut, s.history_days, s.half_life_days)
    f = f.left_join(feats.labels(ev, cut, s.horizon_days), "person_id").drop("person_id_right")
    # in one order: the sample and the calibration split are then the same at every run
    return f.mutate(converted=f.converted.fill_null(0)).order_by("person_id").to_pandas()


def _sample(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    return frame if len(frame) <= limit else frame.sample(limit, random_state=0).reset_index(drop=True)


def predict_at(wh: Storage, config: Config, cut: dt.datetime,
               report: Callable[[str], None] = lambda step: None) -> Prediction | str:
    """Fit on the cut-offs before `cut`, check on the held-out one, score every profiled person
    at `cut`; or why not (a text) when there are too few conversions to learn from."""
    s = config.predict
    held, training = cutoffs(cut, s.horizon_days, s.training_cutoffs)
    first = wh.table("touchpoints").ts.min().execute() if wh.has("touchpoints") else None
    training = [t for t in training if first is not None and t - dt.timedelta(days=1) > first]
    seconds = {}
    clock = time.perf_counter()
    report("reading events")
    since = (training[-1] if training else held) - dt.timedelta(days=s.history_days)
    ev = feats.events(wh, config, since, cut)
    try:
        c = ev.conversions
        if int(c.filter(c.ts >= (training[-1] if training else held)).count().execute()) < s.min_conversions:
            return (f"fewer than {s.min_conversions} conversions since the first cut-off: too few to learn from "
                    "([predict] min_conversions)")
        report("computing features")
        frames = [_frame(ev, t, config) for t in training]
        check = _frame(ev, held, config)
        train = pd.concat(frames, ignore_index=True) if frames else check.iloc[:0]
        positives, held_positives = int(train.converted.sum()), int(check.converted.sum())
        least = max(s.min_conversions, MIN_CONVERSIONS)
        if positives < least or held_positives == 0:
            return (f"{positives} conversions within {s.horizon_days} days of the {len(training)} training cut-offs "
                    f"and {held_positives} of the held-out one: too few to learn from (at least {least}: "
                    "[predict] min_conversions)")
        seconds["features"] = time.perf_counter() - clock
        report("fitting the propensity model")
        clock = time.perf_counter()
        columns = feats.columns(ev)
        train = _sample(train, s.max_training_rows)
        learnt = fit_halves(train, train.converted.to_numpy(), columns)
        figures, curve = quality(check.converted.to_numpy(), learnt.predict(check))
        every = _sample(pd.concat([train, check], ignore_index=True), s.max_training_rows)
        model = fit_halves(every, every.converted.to_numpy(), columns)
        seconds["fit"] = time.perf_counter() - clock
        report("scoring persons")
        clock = time.perf_counter()
        persons, gain, reliability, offered, value = _score(wh, ev, config, model, cut)
        seconds["score"] = time.perf_counter() - clock
    finally:
        for name in TEMPS:
            wh.drop(name)
    figures |= {"train_rows": len(train), "held_out_rows": len(check), "training_cutoffs": len(training),
                "horizon_days": s.horizon_days}
    return Prediction(cut, held, figures, curve, persons, gain, reliability, offered, value, seconds)


def _score(wh: Storage, ev: feats.Events, config: Config, model: Halves,
           cut: dt.datetime) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[Candidate], float]:
    """Every profiled person's propensity at `cut` and their next best channel: (persons,
    gain per candidate, each candidate's reliability, the candidates, the value per conversion)."""
    s = config.predict
    profiled = wh.table("profiles").select("person_id")
    f = feats.features(ev, cut, s.history_days, s.half_life_days)
    frame = profiled.left_join(f, "person_id").drop("person_id_right").to_pandas()
    for col in filter(feats.counted, frame.columns):  # a person with no event in the history: no touch...
        frame[col] = frame[col].fillna(0)
    since = cut - dt.timedelta(days=s.history_days)
    offered = candidates(wh, ev, since, cut)
    conv = ev.conversions.filter((ev.conversions.ts >= since) & (ev.conversions.ts < cut))
    value = float(conv.revenue.mean().execute() or 0.0)
    p, gain, reliability = gains(model, frame, offered)
    channel, chosen = best(gain, offered, value)
    persons = pd.DataFrame({"person_id": frame.person_id, "propensity": p,
                            "next_best_channel": channel.astype(str), "next_best_gain": chosen})
    return persons, gain, reliability, offered, value


def candidates(wh: Storage, ev: feats.Events, since: dt.datetime, cut: dt.datetime) -> list[Candidate]:
    """The channels the advertiser pays for in the history (the costs table), with their cost
    per touch and share of the paid touches."""
    if not wh.has("costs"):
        return []
    c = wh.table("costs")
    c = c.filter((c.date >= since.date()) & (c.date < cut.date()))
    cost = {r["channel"]: r["cost"] for r in c.group_by("channel").agg(cost=c.cost.sum()).to_pyarrow().to_pylist()}
    t = ev.touches.filter((ev.touches.ts >= since) & (ev.touches.ts < cut))
    n = {r["channel"]: r["n"] for r in t.group_by("channel").agg(n=t.count()).to_pyarrow().to_pylist()}
    paid = [ch for ch in ev.channels if (cost.get(ch) or 0) > 0 and n.get(ch, 0) > 0]
    total = sum(n[ch] for ch in paid)
    return [Candidate(ch, ev.channels.index(ch), float(cost[ch]) / n[ch], n[ch] / total) for ch in paid]


def totals(p: Prediction, channels: pd.DataFrame) -> dict[str, float]:
    """What one touch per person is expected to bring, by the recommendation and by the current
    mix: `recommend.summary`'s rows (`channels`) added up."""
    sent = channels[channels.channel != NONE]
    return {"value_per_conversion": p.value, "recommended_conversions": float(channels.recommended_gain.sum()),
            "recommended_cost": float((sent.persons * sent.cost_per_touch).sum()),
            "recommended_persons": int(sent.persons.sum()), "mix_conversions": float(channels.mix_gain.sum()),
            "mix_cost": float(len(p.persons) * (sent.cost_per_touch * sent.mix).sum())}


def run(wh: Storage, config: Config, report: Callable[[str], None] = lambda step: None) -> Outcome:
    """Predict as of the last build's cut; write TABLES and the profiles' SCORES (or, with too
    few conversions, drop them: the profiles' scores stay null)."""
    got = predict_at(wh, config, require_built(wh)["cut"], report)
    if isinstance(got, str):
        for name in TABLES:
            wh.drop(name)
        return Outcome(skipped=got)
    channels = summary(got.gain, got.persons.next_best_channel.to_numpy(), got.candidates, got.reliability)
    figures = {**got.figures, **totals(got, channels)}
    wh.replace("predictions", ibis.memtable(got.persons))
    wh.replace("prediction_channels", ibis.memtable(channels))
    wh.replace("prediction_calibration", ibis.memtable(got.curve))
    wh.replace("prediction_quality", ibis.memtable(pd.DataFrame([{
        "cut": got.cut, "held_out_cutoff": got.held_out_cutoff, **figures,
        **{f"{k}_seconds": v for k, v in got.seconds.items()}}])))
    profiles = wh.table("profiles")
    kept = [c for c in profiles.columns if c not in SCORES]
    joined = profiles.select(*kept).left_join(wh.table("predictions"), "person_id")
    wh.replace("_scored_profiles", joined.select(*kept, *SCORES))  # a table is not replaced by a query of itself
    wh.replace("profiles", wh.table("_scored_profiles"))
    wh.drop("_scored_profiles")
    return Outcome(len(got.persons), "", figures, got.seconds)
