"""The simulator's truth for predictions: each person's probability to convert within the
horizon after the cut, and each channel's gain from one more touch; the heterogeneous world's
effects differ by person as declared."""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from parcours.simulate import CHANNELS, DECAY, simulate
from parcours.simulate.crm import segment, tier
from parcours.simulate.prediction import LOYAL

END, DAYS, HORIZON = dt.date(2026, 11, 23), 40, 7


def read(sim, name) -> pd.DataFrame:
    return pq.read_table(sim.files[name]).to_pandas()


@pytest.fixture(scope="module")
def additive(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("additive"), persons=4000, seed=3, days=DAYS, end=END, horizon=HORIZON)


@pytest.fixture(scope="module")
def heterogeneous(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("het"), persons=8000, seed=3, days=DAYS, end=END, horizon=HORIZON,
                    scenario="heterogeneous")


def test_the_truth_is_at_the_cut_horizon_days_before_the_end(additive):
    p = read(additive, "propensity_truth")
    assert len(p) == 4000 and p.person.is_unique
    assert (p.cut == END - dt.timedelta(days=HORIZON - 1)).all() and (p.horizon_days == HORIZON).all()
    assert p.probability.between(0, 1).all()
    g = read(additive, "channel_truth")
    assert len(g) == 4000 * len(CHANNELS) and set(g.channel) == {c.name for c in CHANNELS}


def test_converted_is_a_conversion_in_the_horizon(additive):
    p = read(additive, "propensity_truth").set_index("person")
    conv, persons = read(additive, "conversions"), read(additive, "persons_truth")
    who = persons.set_index("visitor_id").person
    buyer = conv.visitor_id.map(who).fillna(conv.user_id.str[1:].where(conv.user_id.str.startswith("u"))
                                            .astype(float))
    cut = pd.Timestamp(END - dt.timedelta(days=HORIZON - 1), tz="UTC")
    inside = set(buyer[conv.ts >= cut].dropna().astype(int))
    assert set(p.index[p.converted]) == inside


def test_the_probability_is_calibrated_against_what_happened(heterogeneous):
    p = read(heterogeneous, "propensity_truth")
    # the outcomes are the probabilities' draws: their sum is the expected count, within noise
    expected, seen = p.probability.sum(), p.converted.sum()
    assert abs(seen - expected) < 4 * np.sqrt((p.probability * (1 - p.probability)).sum())
    top = p.probability >= p.probability.quantile(0.9)
    assert p.converted[top].mean() > 3 * p.converted[~top].mean()


def test_in_the_additive_world_gains_follow_beta_exactly(additive):
    """lambda is linear in exposure, so one more touch of c multiplies 1 - p by
    exp(-k beta_c S) with S the touch's decayed sum: -ln(1 - gain / (1 - p)) / beta_c is the
    same for every channel of a person."""
    p = read(additive, "propensity_truth").set_index("person").probability
    g = read(additive, "channel_truth").pivot(index="person", columns="channel", values="gain")
    beta = {c.name: c.beta for c in CHANNELS}
    scaled = pd.DataFrame({c: -np.log1p(-g[c] / (1 - p)) / beta[c] for c in g.columns})
    S = (DECAY ** np.arange(HORIZON)).sum()
    k = scaled.mean(axis=1) / S  # the person's propensity
    assert np.allclose(scaled.sub(scaled.mean(axis=1), axis=0), 0, atol=1e-6 * scaled.abs().max().max())
    assert 0.5 < k.mean() < 1.5  # Gamma(2, 0.5): mean 1
    assert (g.idxmax(axis=1) == "store").all()  # the largest beta, for everyone


def test_a_channel_without_effect_gains_nothing(tmp_path):
    channels = tuple(dataclasses.replace(c, beta=0.0) if c.name == "sms" else c for c in CHANNELS)
    sim = simulate(tmp_path, persons=1000, seed=2, days=30, end=END, channels=channels, messages=False)
    g = read(sim, "channel_truth")
    assert (g[g.channel == "sms"].gain.abs() < 1e-12).all()  # 0, to the sums' rounding
    assert (g[g.channel == "email"].gain > 1e-6).all()


def test_heterogeneous_effects_are_where_the_world_puts_them(heterogeneous):
    g = read(heterogeneous, "channel_truth").pivot(index="person", columns="channel", values="gain")
    person = g.index.to_numpy()
    loyal_premium = (segment(person) == "premium") & np.isin(tier(person), LOYAL)
    # email's gain per unit of beta: 5 for premium loyal ones, 0.3 elsewhere (propensities alike)
    ratio = g.email[loyal_premium].mean() / g.email[~loyal_premium].mean()
    assert 10 < ratio < 25, ratio
    young = segment(person) == "young"
    assert g.sms[young].mean() > 5 * g.sms[~young].mean()  # young ones on a phone: x5, else x0.2
    best = g.drop(columns=["store", "call_centre"]).idxmax(axis=1)
    assert best.nunique() >= 3  # no single best channel for everyone
    assert (best[loyal_premium] == "email").mean() > 0.8
