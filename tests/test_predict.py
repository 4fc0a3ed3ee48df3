"""Prediction (parcours.predict): features known only from before their cut-off, worked by
hand; the held-out figures; the next best channel's decision rule."""

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours import Workspace
from parcours.predict import Fitted, _scored, channels_summary, cutoffs, totals
from parcours.predict.features import Events, columns, features, labels
from parcours.predict.model import MIN_CONVERSIONS, fit_halves, quality
from parcours.predict.recommend import NONE, Candidate, best, shrink

CUT = dt.datetime(2026, 11, 1)
DAY = dt.timedelta(days=1)


def events(touches, conversions=(), messages=None, channels=("display", "email")) -> Events:
    def table(rows, schema):
        frame = pd.DataFrame(list(rows), columns=list(schema)).astype({k: "string" for k, v in schema.items()
                                                                     if v == "string"})
        return ibis.memtable(frame.astype({"ts": "datetime64[us]"}), schema=schema)

    t = table(touches, {"person_id": "string", "ts": "timestamp", "channel": "string", "device": "string"})
    c = table(conversions, {"person_id": "string", "ts": "timestamp", "revenue": "float64"})
    m = None if messages is None else table(messages, {"person_id": "string", "ts": "timestamp", "event": "string"})
    return Events(t, c, m, None, tuple(channels), ())


def frame(ev: Events, cut=CUT, history=90, half_life=7.0) -> pd.DataFrame:
    return features(ev, cut, history, half_life).to_pandas().sort_values("person_id", ignore_index=True)


def rows(ev: Events) -> dict:
    return {r["person_id"]: r for r in frame(ev).to_dict("records")}


def test_features_worked_by_hand():
    ev = events([("a", CUT - 2 * DAY, "email", "mobile"), ("a", CUT - 14 * DAY, "display", "desktop"),
                 ("a", CUT - 14 * DAY, "display", "desktop"), ("b", CUT - 3 * DAY, "display", "mobile"),
                 ("a", CUT, "email", "mobile"),  # at the cut: after it, unseen
                 ("c", CUT - 100 * DAY, "email", "mobile")],  # before the 90 days of history
                conversions=[("a", CUT - 7 * DAY, 50.0), ("a", CUT - 1 * DAY, 30.0), ("b", CUT + DAY, 10.0)],
                messages=[("b", CUT - DAY, "opened"), ("b", CUT - DAY, "clicked"), ("b", CUT - DAY, "opened")])
    got = rows(ev)
    assert set(got) == {"a", "b"}  # c's only touch is older than the history; b's sale comes after
    a, b = got["a"], got["b"]
    # channel 0 is display, 1 email; each touch weighs 0.5 ** (age / 7)
    assert (a["n_0"], a["n_1"]) == (2, 1)
    assert (a["days_0"], a["days_1"]) == (14.0, 2.0)
    assert a["exposure_0"] == pytest.approx(2 * 0.25) and a["exposure_1"] == pytest.approx(0.5 ** (2 / 7))
    assert (a["touches"], a["days_first"], a["days_last"], a["devices"]) == (3, 14.0, 2.0, 2)
    assert a["mobile_share"] == pytest.approx(1 / 3)
    assert (a["conversions"], a["days_conversion"], a["revenue"]) == (2, 1.0, 80.0)
    assert (a["opens"], a["clicks"], a["unsubscribed"]) == (0, 0, 0)
    assert (b["n_0"], b["n_1"], b["exposure_1"]) == (1, 0, 0.0)
    assert np.isnan(b["days_1"])  # never touched by email: no "days since"
    assert (b["conversions"], b["revenue"], b["opens"], b["clicks"]) == (0, 0.0, 2, 1)
    assert list(features(ev, CUT, 90, 7.0).columns) == ["person_id", *columns(ev)]


def test_a_label_is_a_conversion_from_the_cut_to_before_the_horizon():
    ev = events([], conversions=[("a", CUT, 1.0), ("b", CUT + 7 * DAY, 1.0), ("c", CUT - dt.timedelta(seconds=1), 1.0),
                                 ("d", CUT + 7 * DAY - dt.timedelta(seconds=1), 1.0)])
    got = set(labels(ev, CUT, 7).to_pandas().person_id)
    assert got == {"a", "d"}


def test_cutoffs_never_learn_what_the_check_looks_at():
    cut = dt.datetime(2026, 12, 1)
    held, training = cutoffs(cut, 7, 3)
    assert held == dt.datetime(2026, 11, 24)
    assert training == [dt.datetime(2026, 11, 17), dt.datetime(2026, 11, 10), dt.datetime(2026, 11, 3)]
    assert all(t + 7 * DAY <= held for t in training)  # every training label ends by the held-out cut-off


when = st.integers(min_value=-40 * 24, max_value=40 * 24).map(lambda h: CUT + dt.timedelta(hours=h))
event = st.tuples(st.sampled_from("abc"), when, st.sampled_from(["display", "email"]),
                  st.sampled_from(["mobile", "desktop"]))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(event, max_size=25), st.lists(st.tuples(st.sampled_from("abc"), when, st.floats(0, 500)), max_size=8),
       st.lists(st.tuples(st.sampled_from("abc"), when, st.sampled_from(["opened", "clicked", "unsubscribed"])),
                max_size=8))
def test_features_know_nothing_after_their_cut_off(touches, conversions, messages):
    """Every event at or after the cut-off taken away: the same features."""
    before = ([e for e in touches if e[1] < CUT], [c for c in conversions if c[1] < CUT],
              [m for m in messages if m[1] < CUT])
    pd.testing.assert_frame_equal(frame(events(touches, conversions, messages)), frame(events(*before)),
                                  check_dtype=False)


def test_quality_worked_by_hand():
    # 20 persons: the 2 highest scores convert, one more in the middle
    p = np.linspace(0.01, 0.2, 20)
    y = np.zeros(20, dtype=int)
    y[[19, 18, 10]] = 1
    figures, curve = quality(y, p)
    assert figures["base_rate"] == pytest.approx(3 / 20)
    assert figures["top_decile_rate"] == 1.0  # the top 2 both converted
    assert figures["top_decile_lift"] == pytest.approx(20 / 3)
    # AUC: of the 3 x 17 pairs, a converter ranks below a non-converter only for person 10
    # (below persons 11-17, the 7 non-converters above it)
    assert figures["auc"] == pytest.approx(1 - 7 / 51)
    assert len(curve) == 10 and curve.persons.sum() == 20
    assert curve.observed.tolist() == [0, 0, 0, 0, 0, 0.5, 0, 0, 0, 1.0]
    assert curve.predicted.iloc[0] == pytest.approx(p[:2].mean())
    ece = (curve.persons * (curve.predicted - curve.observed).abs()).sum() / 20
    assert figures["calibration_error"] == pytest.approx(ece)


def test_no_channel_is_worth_its_cost_when_its_gain_is_none():
    offered = [Candidate("email", 0, 0.01, 0.5), Candidate("sms", 1, 0.05, 0.5)]
    gain = np.array([[0.0, 0.0], [0.0, 0.002], [0.001, 0.002]])
    channel, chosen = best(gain, offered, value=50.0)
    # person 0: no gain; person 1: sms 0.002 x 50 = 0.10 > 0.05; person 2: email 0.05 - 0.01 = 0.04 <
    # sms 0.10 - 0.05 = 0.05
    assert channel.tolist() == [NONE, "sms", "sms"] and chosen.tolist() == [0.0, 0.002, 0.002]


def test_costs_change_the_recommendation():
    gain = np.array([[0.001, 0.002]])
    cheap = [Candidate("email", 0, 0.001, 0.5), Candidate("sms", 1, 0.01, 0.5)]
    dear = [Candidate("email", 0, 0.001, 0.5), Candidate("sms", 1, 0.09, 0.5)]
    assert best(gain, cheap, 50.0)[0].tolist() == ["sms"]  # 0.1 - 0.01 > 0.05 - 0.001
    assert best(gain, dear, 50.0)[0].tolist() == ["email"]  # 0.1 - 0.09 < 0.05 - 0.001
    assert best(gain, dear, 0.0)[0].tolist() == [NONE]  # a conversion worth nothing: nothing is worth a cost
    assert best(gain, [], 50.0)[0].tolist() == [NONE]  # nothing the advertiser pays for


def test_the_summary_adds_up(tmp_path):
    """The recommendation per channel, summed by the engine from the persons' scores."""
    offered = [Candidate("email", 0, 0.01, 0.25), Candidate("sms", 1, 0.05, 0.75)]
    gain = np.array([[0.0, 0.0], [0.0, 0.002], [0.004, 0.002]])
    fitted = Fitted(CUT, {}, None, ("email", "sms"), (), offered, np.array([0.5, 0.25]), np.zeros(2), 50.0)
    with Workspace.init(tmp_path / "ws") as ws:
        scored = _scored(fitted, pd.Series(["a", "b", "c"]), np.array([0.1, 0.2, 0.3]), gain, CUT)
        ws.warehouse.replace("predictions", ibis.memtable(scored))
        per = channels_summary(ws.warehouse, fitted).set_index("channel")
    assert scored.next_best_channel.tolist() == [NONE, "sms", "email"]  # 0.004 x 50 - 0.01 > 0.002 x 50 - 0.05
    assert per.persons.to_dict() == {"email": 1, "sms": 1, "none": 1}
    assert per.recommended_gain.sum() == pytest.approx(0.002 + 0.004)
    # the current mix: a quarter email, three quarters sms, for everyone
    assert per.mix_gain.sum() == pytest.approx(0.75 * 0.002 + 0.25 * 0.004 + 0.75 * 0.002)
    assert per.reliability.to_dict() == {"email": 0.5, "sms": 0.25, "none": 0.0}
    figures = totals(50.0, per.reset_index())
    assert figures["recommended_cost"] == pytest.approx(0.01 + 0.05)
    assert figures["mix_cost"] == pytest.approx(3 * (0.25 * 0.01 + 0.75 * 0.05))


def test_gains_are_shrunk_to_the_channel_mean_by_how_well_the_halves_agree():
    # email: the halves agree exactly (r = 1): each person's own gain, unshrunk
    # sms: the halves' differences between persons are opposite (r = -1, taken as 0): the channel's mean
    # display: a = (0, 1, 2, 3), b = (0, 1, 3, 2) (x 0.001); centred (-1.5, -0.5, 0.5, 1.5) and
    #   (-1.5, -0.5, 1.5, 0.5): r = (2.25 + 0.25 + 0.75 + 0.75) / 5 = 0.8, reliability 1.6 / 1.8 = 8/9;
    #   the halves' mean (0, 1, 2.5, 2.5) around 1.5: 1.5 + 8/9 x (-1.5, -0.5, 1, 1)
    a = np.array([[0.001, 0.004, 0.0], [0.003, 0.0, 0.001], [0.002, 0.004, 0.002], [0.002, 0.0, 0.003]])
    b = np.array([[0.001, 0.0, 0.0], [0.003, 0.004, 0.001], [0.002, 0.0, 0.003], [0.002, 0.004, 0.002]])
    gain, reliability, centre = shrink(a, b)
    assert reliability == pytest.approx([1.0, 0.0, 8 / 9])
    assert gain[:, 0] == pytest.approx([0.001, 0.003, 0.002, 0.002])
    assert gain[:, 1] == pytest.approx([0.002] * 4)
    assert gain[:, 2] * 1000 == pytest.approx([1.5 - 8 / 9 * 1.5, 1.5 - 8 / 9 * 0.5, 1.5 + 8 / 9, 1.5 + 8 / 9])
    # a half that does not vary says nothing (no correlation): the channel's mean
    flat, _, _ = shrink(np.array([[0.001], [0.003]]), np.array([[0.002], [0.002]]))
    assert flat[:, 0] == pytest.approx([0.002, 0.002])
    # one person: nothing to correlate, their mean gain is the channel's
    one, r, _ = shrink(np.array([[0.001, 0.002]]), np.array([[0.003, 0.002]]))
    assert one.tolist() == [pytest.approx([0.002, 0.002])] and r.tolist() == [0.0, 0.0]
    # a few persons scored again by a kept fit are shrunk by the fit's reliability and towards its means
    assert centre == pytest.approx([0.002, 0.002, 0.0015])
    again, kept_r, kept_centre = shrink(a[2:], b[2:], reliability, centre)
    assert again == pytest.approx(gain[2:]) and kept_r is reliability and kept_centre is centre


@pytest.mark.parametrize("seed", range(4))
def test_two_halves_learn_from_as_few_as_min_conversions(seed):
    """Each half gets half of the conversions, and each of its models keeps one to calibrate on
    and two to learn from: MIN_CONVERSIONS in all are enough, whatever the random split."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"x": rng.random(400)})
    y = np.zeros(400, dtype=np.int64)
    y[rng.choice(400, MIN_CONVERSIONS, replace=False)] = 1
    p = fit_halves(f, y, ["x"], seed=seed).predict(f)
    assert p.shape == (400,) and ((p > 0) & (p < 1)).all()


def test_a_number_known_for_too_few_persons_to_split_on_is_no_crash():
    """A channel touched by three persons (launched yesterday): its columns are empty in a half,
    and the estimator's binning failed on a number known for no one (the build crashed)."""
    rng = np.random.default_rng(3)
    f = pd.DataFrame({"x": rng.random(3000), "rare": np.nan})
    f.loc[[5, 17, 2900], "rare"] = 1.0
    y = (rng.random(3000) < 0.1 + 0.2 * f.x).astype(np.int64)
    halves = fit_halves(f, y, ["x", "rare"], seed=1)
    assert {*halves.a.unknown, *halves.b.unknown} == {"rare"}
    p = halves.predict(f)
    assert ((p > 0) & (p < 1)).all() and np.corrcoef(p, f.x)[0, 1] > 0.5  # x, known to all, still counts
    assert halves.predict(f.assign(rare=1.0)) == pytest.approx(p)  # nothing learnt from three persons


@pytest.mark.parametrize("batch", [1, 9, 25, 10**6])
def test_gains_predicted_in_batches_are_each_candidates_prediction_alone(monkeypatch, batch):
    """`_gains` predicts the inputs as things are and one per candidate together, BATCH_ROWS
    rows a call (a batch of one input, of several, every input at once): the same floats as
    predicting each input alone."""
    from parcours.predict import recommend

    rng = np.random.default_rng(5)
    cols = [f"{k}_{i}" for i in range(2) for k in ("n", "days", "exposure")] + ["touches", "days_last", "days_first"]
    f = pd.DataFrame(rng.random((3000, len(cols))) * 5, columns=cols)
    f.loc[rng.random(3000) < 0.3, "n_1"] = np.nan
    y = (rng.random(3000) < 0.02 + 0.15 * f.n_0 - 0.03 * f.days_0).astype(np.int64)
    model = fit_halves(f, y, cols, seed=2).a
    offered = [Candidate("display", 0, 1.0, 0.5), Candidate("email", 1, 0.1, 0.5)]
    few = f.iloc[:9]
    alone = model.predict_input(model.frame(few))
    by_one = np.column_stack([model.predict_input(recommend.touched(model.frame(few), c.index)) - alone
                              for c in offered])
    monkeypatch.setattr(recommend, "BATCH_ROWS", batch)
    base, gain = recommend._gains(model, few, offered)
    assert np.array_equal(base, alone) and np.array_equal(gain, by_one) and gain.shape == (9, 2)
    assert np.abs(gain).sum() > 0  # the touched inputs were predicted, not the first one again
    assert recommend._gains(model, few, [])[1].shape == (9, 0)
    assert [x.shape for x in recommend._gains(model, few.iloc[:0], offered)] == [(0,), (0, 2)]


@pytest.mark.parametrize("limit", [3, 11, 1000])
def test_training_rows_are_the_sample_of_every_cut_off_read_in_turn(tmp_path, limit):
    """`_training` reads each cut-off's features and keeps its rows of the sample: the same rows,
    in the same order, as sampling the concatenation of every cut-off's frame (what it replaced),
    and their conversions before the sample; under the limit, every row."""
    import dataclasses

    from parcours.contract.config import load_config
    from parcours.predict import _frame, _sample, _training

    rng = np.random.default_rng(3)
    touches = [(f"p{i}", CUT - DAY * float(rng.uniform(0, 60)), "display" if i % 2 else "email", "desktop")
               for i in range(12) for _ in range(3)]
    conversions = [(f"p{i}", CUT - DAY * float(rng.uniform(0, 40)), 10.0) for i in range(0, 12, 3)]
    ev = events(touches, conversions)
    config = load_config(tmp_path)
    config = dataclasses.replace(config, predict=dataclasses.replace(config.predict, max_training_rows=limit))
    training = [CUT - DAY * 7 * k for k in (1, 2, 3)]
    frames = [_frame(ev, t, config) for t in training]
    got, positives = _training(ev, training, config)
    whole = pd.concat(frames, ignore_index=True)
    want = whole if len(whole) <= limit else whole.sample(limit, random_state=0).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(_sample(frames, limit), want)  # the final fit's sample of two frames, likewise
    assert positives == sum(int(f.converted.sum()) for f in frames) > 0
    assert len(got) == min(limit, sum(len(f) for f in frames))
