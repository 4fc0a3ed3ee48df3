"""Prediction after each build: who is about to convert, and which channel would move each
person most (docs/architecture.md, "Prediction").

`run` fits the propensity model on earlier cut-offs and checks it on a later one, never
reading past a cut-off (`features`), then scores every profiled person at the build's cut and
recommends their next best channel (`recommend`); it writes `predictions` (one row per
person), `prediction_quality` (the held-out figures), `prediction_calibration` (the curve),
`prediction_channels` (the recommendation per channel) and `prediction_model` (the fit), and
puts the scores in `profiles`.

Fitting is the costly part, and a day's data barely moves a model, so a build fits again only
every `[predict] refit_every_days` (or when the settings changed, or on request: `parcours
predict fit`); in between it scores with the kept fit only the persons whose profile changed
(a fingerprint of the profile, kept beside the score), and every other score stays as of the
cut it was computed at (`predictions.scored_cut`): at most that many days old.

Cut-offs, with h the horizon and C the build's cut: the held-out one is V = C - h (its labels
end at C); the training ones are V - h, V - 2h, ... (their labels end by V, so nothing the
check looks at was learnt). The model that scores is fitted again on every cut-off, V
included: the held-out figures are those of the same recipe on less data.
"""

from __future__ import annotations

import datetime as dt
import pickle
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from parcours.build.journeys import require_built
from parcours.build.profiles import SCORES
from parcours.contract.config import Config
from parcours.contract.exprs import via_arrow
from parcours.engine.storage import Storage
from parcours.predict import features as feats
from parcours.predict.model import MIN_CONVERSIONS, Halves, fit_halves, quality
from parcours.predict.recommend import NONE, Candidate, best, gains, shrink

TABLES = ("predictions", "prediction_quality", "prediction_calibration", "prediction_channels", "prediction_model")
TEMPS = ("_pred_raw", "_pred_touches", "_pred_conversions", "_pred_messages", "_pred_attributes", "_pred_whom",
         "_pred_new")
# prediction_quality's columns that are not the fit's figures or the totals
NOT_FIGURES = ("cut", "held_out_cutoff", "scored_cut", "scored", "refit")
# of `Fitted` (2: attributes as category codes): bump when it or its models' input change (a kept fit of
# another version is not read)
FITTED_VERSION = 2
# what a fit depends on: another value of any of these, and the kept fit is not used
FIT_SETTINGS = ("horizon_days", "history_days", "half_life_days", "training_cutoffs", "max_training_rows",
                "min_conversions")


@dataclass
class Fitted:
    """What scoring needs of a fit, kept pickled in `prediction_model` until the next fit (the
    warehouse is trusted as the code is: only parcours writes it)."""

    cut: dt.datetime  # the build's cut it was fitted at
    settings: dict[str, object]  # FIT_SETTINGS as fitted, and the scikit-learn version
    model: Halves
    channels: tuple[str, ...]  # the features' channels: n_<i> is channels[i]
    attribute_keys: tuple[str, ...]
    candidates: list[Candidate]
    reliability: np.ndarray  # [candidates]: split-half, over the persons scored at the fit
    centre: np.ndarray  # [candidates]: their mean gain over those persons, what a gain is shrunk towards
    value: float  # per conversion


@dataclass
class Prediction:
    """Everything `predict_at` found at one cut: the held-out figures and curve, each person's
    propensity and next best channel, and every candidate's gain for every person."""

    fitted: Fitted
    held_out_cutoff: dt.datetime
    figures: dict[str, float]
    curve: pd.DataFrame
    persons: pd.DataFrame  # SCORED's columns
    gain: np.ndarray  # [persons, candidates], shrunk by the reliability
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def candidates(self) -> list[Candidate]:
        return self.fitted.candidates

    @property
    def value(self) -> float:
        return self.fitted.value


@dataclass
class Outcome:
    """What `run` did: the figures `parcours build` prints, or why there is no model."""

    scored: int = 0  # persons scored by this run (at a kept fit's build: those whose profile changed)
    skipped: str = ""  # why no model (too few conversions...)
    figures: dict[str, float] = field(default_factory=dict)  # the fit's held-out figures, the totals of every score
    seconds: dict[str, float] = field(default_factory=dict)
    fitted_cut: dt.datetime | None = None  # the cut the model was fitted at
    refit: str = ""  # why this run fitted ("asked", "a full build", "no model yet"...); "" when a kept fit scored


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
    return via_arrow(f.mutate(converted=f.converted.fill_null(0)).order_by("person_id"))


def _pick(total: int, limit: int) -> np.ndarray | None:
    """The rows of `total` that `DataFrame.sample(limit, random_state=0)` takes, in its order
    (None: all of them, in theirs)."""
    return None if total <= limit else np.random.RandomState(0).choice(total, size=limit, replace=False)


def _sample(frames: list[pd.DataFrame], limit: int) -> pd.DataFrame:
    """`limit` rows sampled from the frames' concatenation (`_pick`), taken from each frame in
    turn, where the concatenation copied every row (1.7 million at a million persons) for them."""
    pick = _pick(sum(len(f) for f in frames), limit)
    if pick is None:
        return pd.concat(frames, ignore_index=True)
    parts, offset = [], 0
    for f in frames:
        parts.append(f.iloc[_within(pick, offset, len(f))])
        offset += len(f)
    return _in_pick_order(pd.concat(parts, ignore_index=True), pick)


def _within(pick: np.ndarray, offset: int, n: int) -> np.ndarray:
    """The picked rows of the frame whose `n` rows start at row `offset` of the concatenation,
    as its own positions, in its order."""
    return np.sort(pick[(pick >= offset) & (pick < offset + n)]) - offset


def _in_pick_order(rows: pd.DataFrame, pick: np.ndarray) -> pd.DataFrame:
    """The picked rows, taken in the concatenation's order, in the sample's: row i is pick[i]."""
    return rows.iloc[np.searchsorted(np.sort(pick), pick)].reset_index(drop=True)


def _training(ev: feats.Events, training: list[dt.datetime], config: Config) -> tuple[pd.DataFrame, int]:
    """The training rows of every cut-off, sampled to `max_training_rows` as `_sample` samples
    their concatenation (the same rows, in the same order), and their conversions before the
    sample. Each cut-off's frame is read and cut to its sampled rows in turn: at a million
    persons, the frames of four cut-offs together took gigabytes for a sample of 400,000."""
    s = config.predict
    sizes = [int(feats.people(ev, t, s.history_days).count().execute()) for t in training]
    pick = _pick(sum(sizes), s.max_training_rows)
    parts, positives, offset = [], 0, 0
    for t, n in zip(training, sizes, strict=True):
        frame = _frame(ev, t, config)
        positives += int(frame.converted.sum())
        if pick is not None:
            frame = frame.iloc[_within(pick, offset, n)]
        parts.append(frame)
        offset += n
    train = pd.concat(parts, ignore_index=True)
    return (train if pick is None else _in_pick_order(train, pick)), positives


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
        check = _frame(ev, held, config)
        train, positives = _training(ev, training, config) if training else (check.iloc[:0], 0)
        held_positives = int(check.converted.sum())
        least = max(s.min_conversions, MIN_CONVERSIONS)
        if positives < least or held_positives == 0:
            return (f"{positives} conversions within {s.horizon_days} days of the {len(training)} training cut-offs "
                    f"and {held_positives} of the held-out one: too few to learn from (at least {least}: "
                    "[predict] min_conversions)")
        seconds["features"] = time.perf_counter() - clock
        report("fitting the propensity model")
        clock = time.perf_counter()
        columns = feats.columns(ev)
        learnt = fit_halves(train, train.converted.to_numpy(), columns)
        figures, curve = quality(check.converted.to_numpy(), learnt.predict(check))
        every = _sample([train, check], s.max_training_rows)
        model = fit_halves(every, every.converted.to_numpy(), columns)
        figures |= {"train_rows": len(train), "held_out_rows": len(check)}
        del train, check, every  # what scoring everyone needs, it needs without them
        seconds["fit"] = time.perf_counter() - clock
        report("scoring persons")
        clock = time.perf_counter()
        since = cut - dt.timedelta(days=s.history_days)
        offered = candidates(wh, ev, since, cut)
        conv = ev.conversions.filter((ev.conversions.ts >= since) & (ev.conversions.ts < cut))
        value = float(conv.revenue.mean().execute() or 0.0)
        frame = _features(wh.table("profiles").select("person_id"), ev, cut, config)
        p, a, b = _gains_by_part(model, frame, offered)
        gain, reliability, centre = shrink(a, b)
        fitted = Fitted(cut, settings(config), model, ev.channels, ev.attribute_keys, offered, reliability, centre,
                        value)
        persons = _scored(fitted, frame.person_id, p, gain, cut)
        seconds["score"] = time.perf_counter() - clock
    finally:
        for name in TEMPS:
            wh.drop(name)
    figures |= {"training_cutoffs": len(training), "horizon_days": s.horizon_days}
    return Prediction(fitted, held, figures, curve, persons, gain, seconds)


SCORE_ROWS = 200_000  # persons scored at once: each candidate's input is a copy of theirs


def _gains_by_part(model: Halves, frame: pd.DataFrame,
                   offered: list[Candidate]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`gains` of every person, SCORE_ROWS at a time (a prediction depends on its row alone)."""
    if len(frame) <= SCORE_ROWS:
        return gains(model, frame, offered)
    parts = [gains(model, frame.iloc[i:i + SCORE_ROWS], offered) for i in range(0, len(frame), SCORE_ROWS)]
    return (np.concatenate([x[0] for x in parts]), np.concatenate([x[1] for x in parts]),
            np.concatenate([x[2] for x in parts]))


def settings(config: Config) -> dict[str, object]:
    """What a fit depends on (FIT_SETTINGS) and the scikit-learn that made it."""
    import sklearn

    return {k: getattr(config.predict, k) for k in FIT_SETTINGS} | {"sklearn": sklearn.__version__,
                                                                    "fitted": FITTED_VERSION}


def _features(whom: ir.Table, ev: feats.Events, cut: dt.datetime, config: Config) -> pd.DataFrame:
    """The features at `cut` of the persons of `whom` (person_id), counts 0 for a person with
    no event in the history (a CRM customer who never came online)."""
    s = config.predict
    f = feats.features(ev, cut, s.history_days, s.half_life_days)
    rows = via_arrow(whom.left_join(f, "person_id").drop("person_id_right").order_by("person_id"))
    for col in filter(feats.counted, rows.columns):
        rows[col] = rows[col].fillna(0)
    return rows


def _scored(fitted: Fitted, person_id: pd.Series, p: np.ndarray, gain: np.ndarray,
            cut: dt.datetime) -> pd.DataFrame:
    """The `predictions` rows (SCORED) of persons with propensity `p` and (shrunk) gains."""
    channel, chosen = best(gain, fitted.candidates, fitted.value)
    mix = np.array([c.mix for c in fitted.candidates])
    return pd.DataFrame({"person_id": person_id.astype(str), "propensity": p,
                         "next_best_channel": channel.astype(str), "next_best_gain": chosen,
                         "mix_gain": gain @ mix if len(mix) else np.zeros(len(p)),
                         "scored_cut": pd.Series([cut] * len(p), dtype="datetime64[us]")})


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


def unpickling(wh: Storage) -> Future[Any] | None:
    """The kept fit, being read on a thread (None when there is none). Unpickling it imports
    scikit-learn, which takes about as long as a small build's journeys: a build starts this
    before them and `run` waits for it (`kept`), so the import runs while the engine works (its
    Python still takes turns with the build's for the interpreter)."""
    if not wh.has("prediction_model"):
        return None
    try:
        blob = _blob(wh)
    except Exception:  # no row, another shape: `kept` reads it again and says why
        return None
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parcours-fit")
    pending = pool.submit(pickle.loads, blob)
    pool.shutdown(wait=False)  # the thread ends with the one task
    return pending


def preload() -> None:
    """Import what a kept fit is made of (scikit-learn: a second of imports). A server does it
    while idle at start-up, so its first build scores as quickly as its next ones."""
    import sklearn.calibration  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.frozen  # noqa: F401


def _blob(wh: Storage) -> bytes:
    """The kept fit as pickled (`prediction_model`'s one row)."""
    return wh.table("prediction_model").blob.execute().iloc[0]


def kept(wh: Storage, config: Config, cut: dt.datetime,
         pending: Future[Any] | None = None) -> tuple[Fitted | None, str]:
    """The fit a build at `cut` may score with (`pending`: `unpickling`'s, when started), or None
    and why it fits again: none kept, other settings, fitted `refit_every_days` or more before
    `cut` (or after it), unreadable."""
    if not wh.has("prediction_model") or not wh.has("predictions"):
        return None, "no model yet"
    try:
        fitted = pending.result() if pending is not None else pickle.loads(_blob(wh))
    except Exception as e:  # another version's pickle, a damaged row: fitting again mends it
        return None, f"the kept model could not be read ({type(e).__name__})"
    if not isinstance(fitted, Fitted) or fitted.settings != settings(config):
        return None, "the settings changed"
    age, every = (cut - fitted.cut).days, config.predict.refit_every_days
    if not 0 <= age < every:
        return None, f"fitted {age} days before the cut ([predict] refit_every_days = {every})"
    return fitted, ""


def channels_summary(wh: Storage, fitted: Fitted) -> pd.DataFrame:
    """Per candidate (and none), from `predictions`: the persons it is recommended to, their
    mean gain, its cost per touch, share of the current mix and split-half reliability; the
    expected incremental conversions of one touch per person, by the recommendation and by the
    current mix, are `recommended_gain` and `mix_gain` summed."""
    p = wh.table("predictions")
    got = {r["next_best_channel"]: r for r in p.group_by("next_best_channel").agg(
        persons=p.count(), mean_gain=p.next_best_gain.mean(), recommended_gain=p.next_best_gain.sum(),
        mix_gain=p.mix_gain.sum()).to_pyarrow().to_pylist()}
    rows = []
    for j, c in enumerate([*fitted.candidates, Candidate(NONE, -1, 0.0, 0.0)]):
        r = got.get(c.channel, {})
        rows.append({"channel": c.channel, "persons": int(r.get("persons") or 0),
                     "mean_gain": 0.0 if c.channel == NONE else float(r.get("mean_gain") or 0.0),
                     "recommended_gain": float(r.get("recommended_gain") or 0.0),
                     "mix_gain": float(r.get("mix_gain") or 0.0), "cost_per_touch": c.cost_per_touch, "mix": c.mix,
                     "reliability": float(fitted.reliability[j]) if c.channel != NONE else 0.0})
    return pd.DataFrame(rows)


def totals(value: float, channels: pd.DataFrame) -> dict[str, float]:
    """What one touch per person is expected to bring, by the recommendation and by the current
    mix: the channels' summary rows added up."""
    sent = channels[channels.channel != NONE]
    return {"value_per_conversion": value, "recommended_conversions": float(channels.recommended_gain.sum()),
            "recommended_cost": float((sent.persons * sent.cost_per_touch).sum()),
            "recommended_persons": int(sent.persons.sum()), "mix_conversions": float(channels.mix_gain.sum()),
            "mix_cost": float(channels.persons.sum() * (sent.cost_per_touch * sent.mix).sum())}


def fingerprints(profiles: ir.Table) -> ir.Table:
    """(person_id, profile_hash): a hash of each profile without its scores; a person whose
    hash moved has something new to be scored on. Maps hash as their keys and values (Spark
    refuses to hash a map)."""
    cols = {}
    for name in profiles.columns:
        if name in SCORES or name == "person_id":
            continue
        col = profiles[name]
        if col.type().is_map():
            cols[f"{name}_keys"], cols[f"{name}_values"] = col.keys(), col.values()
        else:
            cols[name] = col
    return profiles.select("person_id", profile_hash=ibis.struct(cols).hash())


def run(wh: Storage, config: Config, report: Callable[[str], None] = lambda step: None,
        refit: str = "asked", changed: ir.Table | None = None, pending: Future[Any] | None = None) -> Outcome:
    """Predict as of the last build's cut; write TABLES and the profiles' SCORES (or, with too
    few conversions, drop them: the profiles' scores stay null). `refit`: why to fit now; ""
    fits only when due, else a kept fit (`kept`) scores the persons whose profile changed
    (among `changed` when given: a build's, which no one else's can have; `pending`: the kept
    fit as `unpickling` reads it)."""
    cut = require_built(wh)["cut"]
    fitted, why = (None, refit) if refit else kept(wh, config, cut, pending)
    if fitted is None:
        got = predict_at(wh, config, cut, report)
        if isinstance(got, str):
            drop(wh)
            return Outcome(skipped=got)
        fitted, scored, figures, seconds = got.fitted, len(got.persons), got.figures, got.seconds
        wh.replace("predictions", ibis.memtable(got.persons).join(fingerprints(wh.table("profiles")), "person_id"))
        wh.replace("prediction_model", ibis.memtable(pd.DataFrame({"blob": [pickle.dumps(fitted)]})))
        wh.replace("prediction_calibration", ibis.memtable(got.curve))
        held = got.held_out_cutoff
    else:
        scored, seconds = _rescore(wh, config, fitted, cut, report, changed)
        row = wh.table("prediction_quality").to_pandas().iloc[0].to_dict()
        held = row["held_out_cutoff"]
        figures = {k: v for k, v in row.items() if k not in NOT_FIGURES and not k.endswith("_seconds")}
    channels = channels_summary(wh, fitted)
    figures |= totals(fitted.value, channels)
    wh.replace("prediction_channels", ibis.memtable(channels))
    wh.replace("prediction_quality", ibis.memtable(pd.DataFrame([{
        "cut": fitted.cut, "held_out_cutoff": held, "scored_cut": cut, "scored": scored,
        "refit": why, **figures, **{f"{k}_seconds": v for k, v in seconds.items()}}])))
    _put_scores(wh, every=bool(why))
    return Outcome(scored, "", figures, seconds, fitted.cut, why)


def drop(wh: Storage) -> bool:
    """No predictions: TABLES dropped and the profiles' scores null (an incremental build
    keeps the scores of the profiles it does not write). Whether a profile's scores changed."""
    for name in TABLES:
        wh.drop(name)
    if wh.has("profiles"):
        p = wh.table("profiles")
        if int(p.propensity.notnull().sum().execute() or 0):
            wh.replace("profiles", p.mutate(propensity=ibis.null("float64"), next_best_channel=ibis.null("string"),
                                            next_best_gain=ibis.null("float64")))
            return True
    return False


def _put_scores(wh: Storage, every: bool) -> None:
    """The SCORES of `predictions` into the profiles: every profile's, or (not `every`) those
    of the profiles the build wrote again (their scores null) and of the persons scored again
    (`_pred_whom`)."""
    profiles = wh.table("profiles")
    rest = [c for c in profiles.columns if c not in SCORES]
    scores = wh.table("predictions").select("person_id", *SCORES)
    if every:
        joined = profiles.select(*rest).left_join(scores, "person_id").select(*rest, *SCORES)
        wh.replace("_scored_profiles", joined)  # a table is not replaced by a query of itself
        wh.replace("profiles", wh.table("_scored_profiles"))
        wh.drop("_scored_profiles")
        return
    try:
        fix = profiles.filter(profiles.propensity.isnull()).select("person_id")
        fix = fix.union(wh.table("_pred_whom").select("person_id"), distinct=True)
        rows = wh.materialize("_scored_profiles", fix.left_join(scores, "person_id").select("person_id", *SCORES))
        with wh.transaction():  # in place: the profiles' other columns stay as the build wrote them
            wh.update("profiles", "person_id", rows)
    finally:
        for name in ("_pred_whom", "_scored_profiles"):
            wh.drop(name)


def _rescore(wh: Storage, config: Config, fitted: Fitted, cut: dt.datetime,
             report: Callable[[str], None], changed: ir.Table | None = None) -> tuple[int, dict[str, float]]:
    """Score with `fitted`, at `cut`, the persons whose profile is new or changed since their
    score (`fingerprints`; only those of `changed` are looked at when given); drop the scores
    of persons no longer profiled. (persons scored, seconds.)"""
    report("scoring persons whose profile changed")
    clock = time.perf_counter()
    s = config.predict
    profiles, before = wh.table("profiles"), wh.table("predictions")
    if changed is not None:
        profiles, before = (t.semi_join(changed.select("person_id"), "person_id") for t in (profiles, before))
    now = wh.materialize("_pred_new", fingerprints(profiles))
    whom = wh.materialize("_pred_whom", now.anti_join(before, ["person_id", "profile_hash"]))
    try:  # `_pred_whom` stays for `_put_scores`
        n = int(whom.count().execute())
        if n:
            ev = feats.events(wh, config, cut - dt.timedelta(days=s.history_days), cut, whom.select("person_id"),
                              fitted.channels, fitted.attribute_keys)
            frame = _features(whom.select("person_id"), ev, cut, config)
            for col in fitted.model.a.columns:  # an attribute the CRM no longer has: unknown for everyone
                if col not in frame.columns:
                    frame[col] = None
            p, a, b = gains(fitted.model, frame, fitted.candidates)
            gain, _, _ = shrink(a, b, fitted.reliability, fitted.centre)
            new = ibis.memtable(_scored(fitted, frame.person_id, p, gain, cut)).join(whom, "person_id")
        gone = before.anti_join(now, "person_id").select("person_id")
        wh.delete("predictions", "person_id", ibis.union(whom.select("person_id"), gone))
        if n:
            wh.insert("predictions", new)
    finally:
        for name in TEMPS:
            if name != "_pred_whom":
                wh.drop(name)
    return n, {"score": time.perf_counter() - clock}
