"""The next best channel: per person, the channel whose next touch adds the most conversion
probability net of its cost, or "none" when no channel is worth its cost.

A counterfactual estimate from the propensity model itself (an "S-learner"): the person's
features as they are, and as they would be with one more touch of the channel now (its
count +1, days since 0, exposure +1, touches +1); the gain is the difference of the two
predicted probabilities. Chosen over per-channel uplift models (T-learners) because a touch
is not a yes/no treatment here but one more unit of a dose every person has some of, and one
model fitted on every person serves every channel, including the rarely used ones. Its known
limits: what the model learned is association, so a channel sent on intent (retargeting) looks
better than it is, and boosted trees shrink small effects towards zero.

A touch is worth it when gain x value per conversion > cost per touch: the value is the mean
revenue of the history's conversions, a channel's cost per touch its cost over its touches in
the history (the costs table). Only channels with a cost are candidates: a channel nobody
pays for (direct, organic search) is not one the advertiser can send.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from parcours.predict.model import Model

NONE = "none"


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


def gains(model: Model, features: pd.DataFrame, base: np.ndarray, candidates: list[Candidate]) -> np.ndarray:
    """[persons, candidates]: each candidate's gain in probability from one more touch."""
    out = np.zeros((len(features), len(candidates)))
    x = model.frame(features)
    for j, c in enumerate(candidates):
        out[:, j] = model.predict_input(touched(x, c.index)) - base
    return out


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


def summary(gain: np.ndarray, channel: np.ndarray, candidates: list[Candidate]) -> pd.DataFrame:
    """Per candidate (and none): persons it is recommended to, their mean gain, its cost per
    touch and share of the current mix; the expected incremental conversions of one touch per
    person, by the recommendation and by the current mix, are `recommended_gain` and
    `mix_gain` summed."""
    rows = []
    mix = np.array([c.mix for c in candidates])
    per_mix = gain @ mix if candidates else np.zeros(len(gain))
    for j, c in enumerate(candidates):
        mine = channel == c.channel
        rows.append({"channel": c.channel, "persons": int(mine.sum()),
                     "mean_gain": float(gain[mine, j].mean()) if mine.any() else 0.0,
                     "recommended_gain": float(gain[mine, j].sum()), "mix_gain": float(per_mix[mine].sum()),
                     "cost_per_touch": c.cost_per_touch, "mix": c.mix})
    none = channel == NONE
    rows.append({"channel": NONE, "persons": int(none.sum()), "mean_gain": 0.0, "recommended_gain": 0.0,
                 "mix_gain": float(per_mix[none].sum()), "cost_per_touch": 0.0, "mix": 0.0})
    return pd.DataFrame(rows)
