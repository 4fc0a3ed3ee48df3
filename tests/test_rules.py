"""Rule-based attribution on hand-built journeys; every expected number worked out by hand."""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import AS_OF, load_rows
from builders import RULES_CONV as CONV
from parcours.attribution import (
    NO_TOUCH,
    Custom,
    FirstTouch,
    LastNonDirect,
    LastTouch,
    Linear,
    PositionBased,
    TimeDecay,
    attributed,
    touch_credits,
)
from parcours.attribution.rules import converting_touches
from parcours.build.journeys import build_journeys


def by_channel(ws, model):
    rows = attributed(model, ws.warehouse).to_pyarrow().to_pylist()
    return {r["channel"]: (round(r["conversions"], 9), round(r["value"], 9)) for r in rows}


DECAY_C = (2 ** (-2 / 7), 2 ** (-0.5 / 7))  # affiliation, display view in journey C


@pytest.mark.parametrize(("model", "expected"), [
    (FirstTouch(), {"display": (1, 100), "email": (1, 50), "affiliation": (1, 30), "direct": (1, 20)}),
    # C's last touch is the affiliation click: a view never beats a click
    (LastTouch(), {"direct": (2, 120), "email": (1, 50), "affiliation": (1, 30)}),
    # A: paid_search (direct skipped); D: only direct, so direct keeps it
    (LastNonDirect(), {"paid_search": (1, 100), "email": (1, 50), "affiliation": (1, 30), "direct": (1, 20)}),
    (Linear(), {"display": (1 / 3 + 1 / 2, 100 / 3 + 15), "paid_search": (1 / 3, 100 / 3),
                "direct": (1 / 3 + 1, 100 / 3 + 20), "email": (1, 50), "affiliation": (0.5, 15)}),
    # A: 40/20/40; C: two touches 50/50
    (PositionBased(), {"display": (0.4 + 0.5, 40 + 15), "paid_search": (0.2, 20),
                       "direct": (0.4 + 1, 40 + 20), "email": (1, 50), "affiliation": (0.5, 15)}),
    # A: weights 2^-2, 2^-1, 2^0 = 1/4, 1/2, 1 over 7/4
    (TimeDecay(), {"display": (1 / 7 + DECAY_C[1] / sum(DECAY_C), 100 / 7 + 30 * DECAY_C[1] / sum(DECAY_C)),
                   "paid_search": (2 / 7, 200 / 7), "direct": (4 / 7 + 1, 400 / 7 + 20), "email": (1, 50),
                   "affiliation": (DECAY_C[0] / sum(DECAY_C), 30 * DECAY_C[0] / sum(DECAY_C))}),
    # first 3, middle 1, last 0: A 3/4, 1/4, 0; C (two touches) 3:0
    (Custom(first=3, middle=1, last=0), {"display": (0.75, 75), "paid_search": (0.25, 25), "direct": (1, 20),
                                         "email": (1, 50), "affiliation": (1, 30)}),
])
def test_hand_computed_credits(journeys, model, expected):
    got = by_channel(journeys, model)
    assert got.pop(NO_TOUCH) == (1, 10)  # E: a store sale with no known touch
    expected = {k: (round(c, 9), round(v, 9)) for k, (c, v) in expected.items()}
    assert {k: v for k, v in got.items() if v != (0, 0)} == expected


def test_drill_down_sums_to_the_channel(journeys):
    ws = journeys
    for level in ("source", "campaign", "sub_channel", "channel_group", "device"):
        rows = attributed(Linear(), ws.warehouse, level).to_pyarrow().to_pylist()
        assert round(sum(r["conversions"] for r in rows), 9) == 5
        assert round(sum(r["value"] for r in rows), 9) == 210


def test_bad_parameters_are_refused(journeys):
    with pytest.raises(ValueError, match="half_life_days must be > 0"):
        TimeDecay(half_life_days=0)
    with pytest.raises(ValueError, match="custom weights must be >= 0 and not all 0"):
        Custom(first=0, middle=0, last=0)
    with pytest.raises(ValueError, match="level must be one of"):
        attributed(Linear(), journeys.warehouse, "colour")


MODELS = [FirstTouch(), LastTouch(), LastNonDirect(), Linear(), PositionBased(), TimeDecay(),
          Custom(first=2, middle=1, last=5)]
CHANNELS = ["display", "email", "direct", "social"]
# Each journey is a person's own, so an example builds many at once: 4 builds of up to 18
# journeys try as many journeys as 12 builds of up to 6 did, in a third of the time (a build
# costs seconds whatever its size).
paths = st.lists(st.lists(st.tuples(st.sampled_from(CHANNELS), st.sampled_from(["click", "view", "visit"]),
                                    st.integers(0, 20)), min_size=1, max_size=6), min_size=1, max_size=18)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths=paths)
def test_every_journey_credits_sum_to_one_conversion_and_its_revenue(ws, paths):
    wh = ws.warehouse
    wh.ensure_canonical_tables()
    for table in ("touchpoints", "conversions"):
        wh.con.raw_sql(f"DELETE FROM {table}")
    touches, conversions = [], []
    for j, path in enumerate(paths):
        for k, (channel, interaction, hours) in enumerate(path):
            # views must fall in the 1-day post-view window to be kept: hours <= 20
            touches.append(dict(event_id=f"{j}-{k}", ts=(CONV - dt.timedelta(hours=hours + k)).isoformat(),
                                visitor_id=f"v{j}", channel=channel, interaction=interaction))
        conversions.append(dict(conversion_id=f"c{j}", ts=CONV.isoformat(), visitor_id=f"v{j}",
                                revenue=str(10 * (j + 1))))
    load_rows(ws, "touchpoints", touches)
    load_rows(ws, "conversions", conversions)
    build_journeys(wh, ws.config, as_of=AS_OF)
    base = converting_touches(wh)
    for model in MODELS:
        c = touch_credits(model, base)
        per = c.group_by("journey_id").agg(credit=c.credit.sum(), value=c.value.sum(), revenue=c.revenue.max())
        for r in per.to_pyarrow().to_pylist():
            assert r["credit"] == pytest.approx(1.0), model.name
            assert r["value"] == pytest.approx(r["revenue"]), model.name
        one = c.filter(c.n == 1)
        assert all(x == pytest.approx(1.0) for x in one.credit.to_pyarrow().to_pylist()), model.name
