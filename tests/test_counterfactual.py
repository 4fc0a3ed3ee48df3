"""The counterfactual model: its likelihood solved by hand, its windows worked out on a tiny
workspace, its fit recovering a hazard it was simulated from, and its credits' invariants."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import load_rows
from parcours.attribution import NO_TOUCH, Counterfactual, attributed, credited_touches
from parcours.attribution.counterfactual import HALF_LIVES, Exposure
from parcours.attribution.credit import fitted_model
from parcours.attribution.intervals import warehouse_intervals
from parcours.build.journeys import build_journeys


def exposure(converted, days, rows, features, fit=None) -> Exposure:
    """An Exposure from (journey, feature, a0, a1, count) rows, split at the feature's value."""
    r = np.array(rows, dtype=float).reshape(-1, 5)
    converted = np.asarray(converted, bool)
    return Exposure(converted=converted, days=np.asarray(days, float), end=np.ones(len(converted), np.int64),
                    fit=np.ones(len(converted), bool) if fit is None else np.asarray(fit, bool),
                    journey=r[:, 0].astype(np.int64), feature=r[:, 1].astype(np.int64), a0=r[:, 2], a1=r[:, 3],
                    count=r[:, 4], split=r[:, 1].astype(np.int64), features=np.array(features, dtype=object),
                    split_names=np.array(features, dtype=object))


def one_day_case() -> Exposure:
    """100 untouched one-day journeys, 10 converting: b = 10/100. 50 one-day journeys with a
    touch that day (exposure 1 on its one day, whatever h), 20 converting: b + beta = 20/50."""
    converted = [True] * 10 + [False] * 90 + [True] * 20 + [False] * 30
    rows = [(j, 0, 0, 0, 1) for j in range(100, 150)]
    return exposure(converted, [1] * 150, rows, ["email"])


def test_the_likelihood_is_maximised_where_the_hand_solves_it():
    x = one_day_case()
    m = Counterfactual().fit(x)
    assert m.base == pytest.approx(0.1, rel=1e-5)
    assert m.beta["email"] == pytest.approx(0.3, rel=1e-5)
    # A converting touched journey: 0.1 of its 0.4 is base; 10 untouched conversions all base.
    assert m.base_share == pytest.approx((10 + 20 * 0.25) / 30, rel=1e-5)
    # Credits: each of the 20 conversions wholly to its one touch; caused: 0.3 x 50 days = 15,
    # the 20 conversions less the 50 x 0.1 the base would have brought.
    assert m.split(x)["email"] == pytest.approx(20)
    assert m.incremental(x)["email"] == pytest.approx(15, rel=1e-5)


def test_a_feature_never_followed_by_a_conversion_has_no_effect():
    x = one_day_case()
    x = exposure(x.converted.tolist() + [False] * 40, [1] * 190,
                 [(j, 0, 0, 0, 1) for j in range(100, 150)] + [(j, 1, 0, 0, 1) for j in range(150, 190)],
                 ["email", "sms"])
    m = Counterfactual().fit(x)
    assert m.beta["sms"] == 0.0 and m.incremental(x)["sms"] == 0.0
    # The sms journeys are 40 more days at risk without a conversion: b = 10/140.
    assert m.base == pytest.approx(1 / 14, rel=1e-5)
    assert m.beta["email"] == pytest.approx(0.4 - 1 / 14, rel=1e-5)


def simulated(n: int, base: float, beta: np.ndarray, half_life: float, seed: int) -> Exposure:
    """Journeys of 30 days drawn from the model itself: touches of each feature on random
    days, a daily hazard b + sum beta 2^(-age/h); a journey ends at its first conversion."""
    rng = np.random.default_rng(seed)
    F, D = len(beta), 30
    touches = rng.poisson(0.08, (n, F, D)).astype(float)  # per journey, feature, day
    q = 2.0 ** (-1.0 / half_life)
    E = touches.copy()
    for d in range(1, D):  # today's touches plus yesterday's exposure, decayed
        E[:, :, d] += q * E[:, :, d - 1]
    hazard = base + np.einsum("f,nfd->nd", beta, E)
    converts = rng.random((n, D)) < 1 - np.exp(-hazard)
    first = np.where(converts.any(axis=1), converts.argmax(axis=1), D)  # conversion day, D: none
    end = np.minimum(first + 1, D)  # exclusive
    j, f, d = np.nonzero(touches)
    keep = d < end[j]
    j, f, d = j[keep], f[keep], d[keep]
    rows = np.column_stack([j, f, np.zeros(len(j)), end[j] - 1 - d, touches[j, f, d]])
    return exposure(first < D, end, rows, [f"c{i}" for i in range(F)])


def test_the_fit_recovers_the_hazard_it_was_simulated_from():
    beta = np.array([0.02, 0.005, 0.0])
    x = simulated(20_000, 0.002, beta, 3.0, seed=1)
    m = Counterfactual().fit(x)
    assert m.half_life == 3.0
    assert m.base == pytest.approx(0.002, rel=0.15)
    got = np.array([m.beta[f"c{i}"] for i in range(3)])
    assert got[:2] == pytest.approx(beta[:2], rel=0.15)
    assert got[2] < 0.001


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2), st.integers(0, 5), st.integers(0, 8),
                          st.integers(1, 3)), min_size=1, max_size=40),
       st.lists(st.booleans(), min_size=10, max_size=10), st.permutations([0, 1, 2]))
def test_credits_sum_to_conversions_and_follow_the_channels_not_their_names(rows, converted, perm):
    converted[rows[0][0]] = True  # at least one touched conversion
    rows = [(j, f, min(a0, a1), a1, n) for j, f, a0, a1, n in rows]
    x = exposure(converted, [10] * 10, rows, ["a", "b", "c"])
    m = Counterfactual().fit(x)
    credits = m.split(x)
    touched = {j for j, *_ in rows}
    assert credits.sum() == pytest.approx(sum(converted[j] for j in touched))
    assert (credits >= -1e-12).all() and all(v >= 0 for v in m.beta.values()) and m.base > 0
    # Renaming the channels renames their credits (the fit does not depend on the order of names)
    names = ["a", "b", "c"]
    renamed = exposure(converted, [10] * 10, [(j, perm[f], a0, a1, n) for j, f, a0, a1, n in rows],
                       [names[i] for i in range(3)])
    r = Counterfactual().fit(renamed).split(renamed)
    for f in range(3):
        assert r.get(names[perm[f]], 0.0) == pytest.approx(credits.get(names[f], 0.0), rel=1e-4, abs=1e-6)


DAY = dt.datetime(2026, 10, 1)


def _tp(event_id, visitor, channel, day, interaction="click", hour=10):
    return dict(event_id=event_id, ts=(DAY + dt.timedelta(days=day, hours=hour)).isoformat() + "Z",
                visitor_id=visitor, channel=channel, interaction=interaction, device="mobile")


def _conv(cid, visitor, day, hour=18, user=""):
    return dict(conversion_id=cid, ts=(DAY + dt.timedelta(days=day, hours=hour)).isoformat() + "Z",
                visitor_id=visitor, user_id=user, revenue="10", kind="sale", origin="online", device="mobile")


@pytest.fixture
def windows(ws):
    """P converts on days 5 and 9 and comes back on day 12; Q never converts. Data from day 0,
    cut at the start of day 20 (as of day 21, D-2... built as of the 21st: cut is the 20th)."""
    load_rows(ws, "touchpoints", [
        _tp("p1", "P", "email", 0), _tp("p2", "P", "display", 5, "view"), _tp("p3", "P", "paid_search", 7),
        _tp("p4", "P", "email", 12), _tp("q1", "Q", "email", 3), _tp("q2", "Q", "email", 3, hour=11),
    ])
    load_rows(ws, "conversions", [_conv("c1", "P", 5), _conv("c2", "P", 9)])
    build_journeys(ws.warehouse, ws.config, as_of=(DAY + dt.timedelta(days=21)).date())
    return ws


def test_windows_and_ages_are_counted_in_days_as_worked_out(windows):
    x = Exposure.from_warehouse(windows.warehouse, identified=False)
    # Journeys (days at risk): c1 days 0..5 (6, from the data's first day); c2 days 6..9 (4);
    # P's open journey days 10..19 (10); Q's open journey days 0..19 (20, lookback 30).
    got = sorted(zip(x.converted.tolist(), x.days.tolist(), strict=True))
    assert got == [(False, 10.0), (False, 20.0), (True, 4.0), (True, 6.0)]
    rows = pd.DataFrame({"feature": x.features[x.feature], "a0": x.a0, "a1": x.a1, "count": x.count,
                         "converted": x.converted[x.journey], "days": x.days[x.journey]})
    table = sorted(map(tuple, rows.to_numpy().tolist()))
    assert table == sorted([
        ("email", 0.0, 5.0, 1.0, True, 6.0),  # day 0, conversion day 5: age 5
        ("display:view", 0.0, 0.0, 1.0, True, 6.0),  # a view the conversion's day
        ("paid_search", 0.0, 2.0, 1.0, True, 4.0),  # day 7 to day 9
        ("email", 0.0, 7.0, 1.0, False, 10.0),  # day 12, at risk to day 19
        ("email", 0.0, 16.0, 2.0, False, 20.0),  # Q's two touches of day 3
    ])


def test_engine_credits_are_the_fitted_effects_normalised(windows):
    wh = windows.warehouse
    m = fitted_model(Counterfactual(), wh)
    c = credited_touches(Counterfactual(), wh).to_pandas().set_index("event_id")
    # c1's touches: email aged 5 days, the view aged 0: credits in proportion to their effects
    e, v = m.beta["email"] * 2 ** (-5 / m.half_life), m.beta.get("display:view", 0.0)
    if e + v > 0:
        assert c.loc["p1"].credit == pytest.approx(e / (e + v))
    assert c.loc["p3"].credit == pytest.approx(1.0)  # alone in c2
    assert c.credit.sum() == pytest.approx(2.0)
    totals = attributed(Counterfactual(), wh).to_pandas().set_index("channel").conversions
    assert totals.sum() == pytest.approx(2.0)


def test_no_touched_conversion_is_an_answer(ws):
    load_rows(ws, "touchpoints", [_tp("q1", "Q", "email", 3)])
    load_rows(ws, "conversions", [_conv("c1", "R", 5)])  # a conversion with no touch
    build_journeys(ws.warehouse, ws.config, as_of=(DAY + dt.timedelta(days=21)).date())
    m = fitted_model(Counterfactual(), ws.warehouse)
    assert m.beta == {"email": 0.0}
    rows = attributed(Counterfactual(), ws.warehouse).to_pyarrow().to_pylist()
    assert [(r["channel"], r["conversions"]) for r in rows] == [(NO_TOUCH, 1.0)]


def test_intervals_cover_every_credited_channel(journeys):
    wh = journeys.warehouse
    point = fitted_model(Counterfactual(), wh).split(Exposure.from_warehouse(wh))
    for incremental in (False, True):
        b = warehouse_intervals(Counterfactual(), wh, samples=30, incremental=incremental)
        assert set(b.index) == set(point.index)
        assert (b.lo >= 0).all() and (b.lo <= b.hi).all()
    assert (b.hi > 0).any()


def test_the_half_lives_tried_are_few_and_sorted():
    assert list(HALF_LIVES) == sorted(HALF_LIVES) and len(HALF_LIVES) <= 8
