import pandas as pd
import pytest

from parcours.attribution import Markov, OrderedShapley, Shapley, attributed, paths_from_warehouse
from parcours.attribution.evaluate import coverage
from parcours.attribution.intervals import Resampler, intervals


def paths(rows):
    return pd.DataFrame(rows, columns=["path", "conversions", "nulls", "value"])


def test_a_single_path_has_no_sampling_spread():
    bounds = intervals(paths([(["a", "b"], 5, 0, 50.0)]), Markov, samples=20)
    assert bounds.lo.to_dict() == pytest.approx({"a": 2.5, "b": 2.5})
    assert bounds.hi.to_dict() == pytest.approx({"a": 2.5, "b": 2.5})


def test_intervals_widen_with_fewer_journeys():
    few = paths([(["a"], 2, 3, 0.0), (["b", "a"], 3, 2, 0.0), (["b"], 1, 4, 0.0)])
    many = few.assign(conversions=few.conversions * 100, nulls=few.nulls * 100)
    # relative to the conversions: 100 times the journeys, about a tenth of the spread
    width = [(b.hi - b.lo).sum() / p.conversions.sum() for b, p in (
        (intervals(few, Markov, samples=60), few), (intervals(many, Markov, samples=60), many))]
    assert width[0] > 3 * width[1] > 0


@pytest.mark.parametrize("order", [1, 2, 3])
def test_reweighted_transitions_fit_exactly_like_a_direct_fit(journeys, order):
    wh = journeys.warehouse
    r = Resampler(paths_from_warehouse(wh, collapse=False))
    refit = r.fit(Markov(order=order), r.conv, r.nulls, r.value)
    direct = Markov(order=order).fit(paths_from_warehouse(wh))
    assert refit.removal_effects == pytest.approx(direct.removal_effects, abs=1e-12)


@pytest.mark.parametrize("model", [Markov, Shapley, OrderedShapley])
def test_the_resampled_statistic_is_the_warehouse_attribution(journeys, model):
    wh = journeys.warehouse
    r = Resampler(paths_from_warehouse(wh, collapse=False))
    fitted = r.fit(model(), r.conv, r.nulls, r.value)
    point = attributed(model(), wh).to_pandas().set_index("channel").conversions.drop("(no touch)")
    assert r.split(fitted.weights(), r.conv).to_dict() == pytest.approx(point.to_dict(), abs=1e-9)


def test_coverage_counts_channels_whose_truth_is_inside():
    truth = pd.Series({"a": 4.0, "b": 2.0})
    attributed_ = pd.Series({"a": 8.0, "b": 4.0})  # scale 1/2
    bounds = pd.DataFrame({"lo": [6.0, 6.0], "hi": [10.0, 8.0]}, index=["a", "b"])  # a: 3..5, b: 3..4
    assert coverage(attributed_, bounds, truth) == 0.5


def test_ci_must_be_a_share():
    with pytest.raises(ValueError, match="between 0 and 1"):
        intervals(paths([(["a"], 1, 0, 0.0)]), Markov, ci=90)


@pytest.mark.parametrize("model", [Markov, OrderedShapley])
def test_fitted_at_channel_and_spread_at_another_level(journeys, model):
    wh = journeys.warehouse
    raw = paths_from_warehouse(wh, "channel", collapse=False, split_level="channel_group")
    r = Resampler(raw)
    fitted = r.fit(model(), r.conv, r.nulls, r.value)
    point = attributed(model(), wh, "channel_group", fit_level="channel").to_pandas()
    point = point.set_index("channel_group").conversions.drop("(no touch)")
    assert len(point) > 1
    assert r.split(fitted.weights(), r.conv).to_dict() == pytest.approx(point.to_dict(), abs=1e-9)
