"""The next best channel: per person, the channel whose next touch adds the most conversion
probability net of its cost, or "none" when no channel is worth its cost.

A counterfactual estimate from the propensity model itself (an "S-learner"): the person's
features as they are, and as they would be with one more touch of the channel now (its
count +1, days since 0, exposure +1, touches +1); the gain is the difference of the two
predicted probabilities. Chosen over per-channel uplift models (T-learners) because a touch
is not a yes/no treatment here but one more unit of a dose every person has some of, and one
model fitted on every person serves every channel, including the rarely used ones (fitted on
the touches that followed each cut-off instead, the effects were too rare to learn). Its known
limits: what the model learned is association, so a channel sent on intent (retargeting) looks
better than it is, and boosted trees shrink small effects towards zero.

A gain is the difference of two predictions, so its differences between persons are partly
the fit's noise; the best of six noisy gains is chosen for its noise (the winner's curse), and
a costly channel then wins where it should not. The two halves' models (`model.Halves`) give
each channel's split-half reliability (the correlation of their gains over persons, r, made
that of their mean: 2r / (1 + r)), and each person's gain is shrunk towards the channel's mean
gain by it (`shrink`): the person's own gain where the halves agree, the channel's mean where
they do not. With little to learn the recommendation becomes one channel for everyone, the
one worth most on average.

A touch is worth it when gain x value per conversion > cost per touch: the value is the mean
revenue of the history's conversions, a channel's cost per touch its cost over its touches in
the history (the costs table). Only channels with a cost are candidates: a channel nobody
pays for (direct, organic search) is not one the advertiser can send.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from parcours.predict.model import Halves, Model

NONE = "none"
BATCH_ROWS = 100_000  # inputs predicted in one call (`_gains`)


@dataclass(frozen=True)
class Candidate:
    channel: str
    index: int  # its place in the features' channels (n_<index>, days_<index>, exposure_<index>)
    cost_per_touch: float
    mix: float  # its share of the candidates' touches in the history: the current mix


def touched(features: pd.DataFrame, index: int) -> pd.DataFrame:
    """The features (or the model's input) with one more touch of channel `index` now."""
    out = features.copy()
    out[f"n_{index}"] = out[f"n_{index}"].fillna(0) + 1
    out[f"days_{index}"] = 0.0
    out[f"exposure_{index}"] = out[f"exposure_{index}"].fillna(0) + 1.0
    out["touches"] = out["touches"].fillna(0) + 1
    out["days_last"] = 0.0
    out["days_first"] = out["days_first"].fillna(0.0)
    return out


def gains(halves: Halves, features: pd.DataFrame,
          candidates: list[Candidate]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """([persons] the propensity, as `Halves.predict` gives it; [persons, candidates] each
    candidate's gain in probability from one more touch, by each half's model: `shrink` makes
    them one). The propensity is the gains' base: predicted once."""
    base_a, a = _gains(halves.a, features, candidates)
    base_b, b = _gains(halves.b, features, candidates)
    return (base_a + base_b) / 2, a, b


def _gains(model: Model, features: pd.DataFrame, candidates: list[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """(the probability as things are, each candidate's gain over it) by one model. The inputs
    (as things are, then one per candidate) are predicted together, up to BATCH_ROWS rows a
    call: each call costs the estimator about 10 ms before its first row, most of scoring the
    few persons of an incremental build (a row's probability does not depend on its batch)."""
    x = model.frame(features)
    inputs: list[Candidate | None] = [None, *candidates]  # None: as things are
    per = max(1, BATCH_ROWS // max(len(x), 1))
    probs = []
    for i in range(0, len(inputs), per):  # each batch's inputs made as it is predicted: a copy each
        batch = [x if c is None else touched(x, c.index) for c in inputs[i:i + per]]
        probs.append(model.predict_input(batch[0] if len(batch) == 1 else pd.concat(batch, ignore_index=True)))
    out = np.concatenate(probs).reshape(len(inputs), len(x))
    return out[0], (out[1:] - out[0]).T.reshape(len(x), len(candidates))


def shrink(a: np.ndarray, b: np.ndarray, reliability: np.ndarray | None = None,
           centre: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two halves' gains [persons, candidates] averaged and shrunk towards each candidate's
    mean by its split-half reliability 2r / (1 + r), r their correlation over persons (0 when
    they do not vary or disagree); and those reliabilities and means. A fit's own (`reliability`,
    `centre`) are given when scoring a few persons again: their gains are shrunk as at the fit."""
    mean = (a + b) / 2
    if reliability is None:
        r = np.zeros(a.shape[1])
        for j in range(a.shape[1]):
            if len(a) > 1 and a[:, j].std() > 0 and b[:, j].std() > 0:
                r[j] = max(0.0, float(np.corrcoef(a[:, j], b[:, j])[0, 1]))
        reliability = 2 * r / (1 + r)
    if centre is None:
        centre = mean.mean(axis=0) if len(mean) else np.zeros(a.shape[1])
    return centre + reliability * (mean - centre), reliability, centre


def best(gain: np.ndarray, candidates: list[Candidate], value: float) -> tuple[np.ndarray, np.ndarray]:
    """(channel, its gain) per person: the largest gain x value - cost when positive, else
    NONE (gain 0)."""
    if not candidates:
        return np.full(len(gain), NONE, dtype=object), np.zeros(len(gain))
    cost = np.array([c.cost_per_touch for c in candidates])
    net = gain * value - cost[None, :]
    pick = net.argmax(axis=1)
    worth = net[np.arange(len(net)), pick] > 0
    names = np.array([c.channel for c in candidates], dtype=object)
    return np.where(worth, names[pick], NONE), np.where(worth, gain[np.arange(len(gain)), pick], 0.0)
