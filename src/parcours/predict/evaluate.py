"""Predictions against the simulator's truth (`parcours evaluate --predictions DATA`).

The simulator writes, at its cut (`horizon` days before its end), each true person's
probability to convert within the horizon and whether they did (`propensity_truth`), and each
channel's true gain in that probability from one more touch (`channel_truth`). Here the
workspace predicts as of that same cut (`predict_at`: fitted on the cut-offs before it, as
after a build on that day), each workspace person is matched to their true person through
`persons_truth` (a person split over unstitched devices keeps the one with the most visitor
ids), and:

- propensity: AUC against what happened, the rank correlation (Spearman) with the true
  probability, the calibration error against what happened and the mean predicted vs true;
- next best channel: the share of persons whose recommendation is the true best channel (by
  the same rule: the largest true gain x value - cost, else none), and the true incremental
  conversions and cost of one touch per person chosen by the recommendation, by the channel
  of the current mix most used (for everyone), by the one channel for everyone that the
  truth says is worth most (what personalising must beat: it needs hindsight), by a channel
  drawn at random, and by the truth itself (the best any policy could do); and their net
  value (conversions x the value per conversion - cost), what the recommendation maximises.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from parcours.contract.config import Config
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput
from parcours.predict import Prediction, predict_at
from parcours.predict.model import quality
from parcours.predict.recommend import NONE, best

FILES = ("propensity_truth", "channel_truth", "persons_truth")


def read_truth(folder: Path) -> dict[str, pd.DataFrame]:
    """The simulation's truth files (parquet or csv), or InvalidInput naming the missing one."""
    out = {}
    for name in FILES:
        found = [folder / f"{name}.{ext}" for ext in ("parquet", "csv") if (folder / f"{name}.{ext}").exists()]
        if not found:
            raise InvalidInput(f"no {name}.parquet (or .csv) here: `parcours simulate` writes it", file=str(folder))
        out[name] = pd.read_parquet(found[0]) if found[0].suffix == ".parquet" else pd.read_csv(found[0])
    return out


def _true_persons(wh: Storage, persons_truth: pd.DataFrame) -> pd.DataFrame:
    """(person_id, person): each true person's one workspace person, the one with the most of
    their visitor ids (a person split over unstitched devices is judged by one part, its
    largest); each workspace person is the true person of most of its visitor ids."""
    p = wh.table("persons")
    ids = p.filter(p.kind == "visitor").select(visitor_id="id", person_id="person_id")
    m = ids.join(ibis.memtable(persons_truth[["visitor_id", "person"]]), "visitor_id")
    per = m.group_by("person_id").agg(person=m.person.mode(), ids=m.count())
    ranked = per.mutate(r=ibis.row_number().over(group_by="person", order_by=[ibis.desc("ids"), "person_id"]))
    return ranked.filter(ranked.r == 0).select("person_id", "person").to_pandas()


def evaluate(wh: Storage, config: Config, folder: Path) -> tuple[pd.DataFrame, Prediction]:
    """(metric, value) rows, and the prediction they judge."""
    truth = read_truth(folder)
    pt = truth["propensity_truth"]
    horizon = int(pt.horizon_days.iloc[0])
    cut = pd.Timestamp(pt.cut.iloc[0]).to_pydatetime().replace(tzinfo=None)
    config = dataclasses.replace(config, predict=dataclasses.replace(config.predict, horizon_days=horizon))
    got = predict_at(wh, config, cut)
    if isinstance(got, str):
        raise InvalidInput(f"no model at the truth's cut {cut:%Y-%m-%d}: {got}", field="--predictions")
    scored = got.persons.assign(_row=np.arange(len(got.persons)))
    persons = scored.merge(_true_persons(wh, truth["persons_truth"]), on="person_id")
    rows = persons._row.to_numpy()  # their rows in got.gain
    gain_model = got.gain[rows]
    t = pt.set_index("person").loc[persons.person]
    prob, happened = t.probability.to_numpy(), t.converted.to_numpy().astype(int)
    p = persons.propensity.to_numpy()
    figures, _ = quality(happened, p)
    from scipy.stats import spearmanr

    rho = float(spearmanr(p, prob).statistic)
    names = [c.channel for c in got.candidates]
    g = truth["channel_truth"].pivot(index="person", columns="channel", values="gain")
    true_gain = g.reindex(columns=names).loc[persons.person].to_numpy()
    true_channel, _ = best(true_gain, got.candidates, got.value)
    rec = persons.next_best_channel.to_numpy()
    idx = {c: j for j, c in enumerate(names)}
    cost = np.array([c.cost_per_touch for c in got.candidates])
    mix = np.array([c.mix for c in got.candidates])

    def policy(choice: np.ndarray) -> tuple[float, float]:
        """(true incremental conversions, cost) of one touch per person of `choice` (a channel or none)."""
        sent = choice != NONE
        j = np.array([idx.get(c, 0) for c in choice])
        return float(true_gain[np.arange(len(choice)), j][sent].sum()), float(cost[j][sent].sum())

    common = names[int(mix.argmax())] if names else NONE
    # the one channel for everyone that the truth says is worth most: what personalising must beat
    uniform = names[int((true_gain.sum(axis=0) * got.value - len(rec) * cost).argmax())] if names else NONE
    rows_out = [
        ("persons evaluated", len(persons)), ("horizon (days)", horizon), ("cut", f"{cut:%Y-%m-%d}"),
        ("propensity AUC vs what happened", figures["auc"]),
        ("propensity rank correlation with the true probability (Spearman)", rho),
        ("calibration error vs what happened", figures["calibration_error"]),
        ("mean predicted probability", float(p.mean())), ("mean true probability", float(prob.mean())),
        ("top decile lift", figures["top_decile_lift"]),
        ("next best channel = true best channel (share of persons)", float((rec == true_channel).mean())),
        ("... among persons with a channel recommended", float((rec == true_channel)[rec != NONE].mean())
         if (rec != NONE).any() else float("nan")),
        ("the model's gain vs the true gain of the recommended channel (rank correlation)",
         float(spearmanr(gain_model.max(axis=1), true_gain.max(axis=1)).statistic) if names else float("nan")),
    ]
    for label, choice in (("the recommendation", rec), (f"everyone the most used channel ({common})",
                                                        np.full(len(rec), common, dtype=object)),
                          (f"everyone the one channel worth most in hindsight ({uniform})",
                           np.full(len(rec), uniform, dtype=object)),
                          ("the truth's best channel (the most any policy could do)", true_channel)):
        conversions, spent = policy(choice)
        rows_out += [(f"true incremental conversions: {label}", conversions), (f"cost: {label}", spent),
                     (f"net value (conversions x value - cost): {label}", conversions * got.value - spent)]
    if names:
        conversions, spent = float(true_gain.mean(axis=1).sum()), float(len(rec) * cost.mean())
        rows_out += [("true incremental conversions: a channel at random (expected)", conversions),
                     ("cost: a channel at random (expected)", spent),
                     ("net value (conversions x value - cost): a channel at random", conversions * got.value - spent)]
    return pd.DataFrame(rows_out, columns=["metric", "value"]), got
