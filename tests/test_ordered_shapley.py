"""Ordered Shapley (Zhao et al., 2018): hand-computed positions, and the per-channel sums
checked against the Shapley formula evaluated over all coalitions of the count game."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours.attribution import OrderedShapley
from parcours.attribution.paths import paths_from_frame
from parcours.attribution.shapley import _shapley, _subset_sums


def fit(rows, collapse=True):
    df = pd.DataFrame(rows, columns=["path", "conversions", "nulls", "value"])
    return OrderedShapley().fit(paths_from_frame(df, value="value", collapse=collapse))


def test_hand_computed_positions():
    # a > b (2 conv, 30): a@1 gets 1, b@2 gets 1 (15 each).
    # a > b > a (1 conv, 8): a's half split over positions 1 and 3 (1/4 each, 2 each), b@2 1/2 (4).
    # b (1 conv, 4): b@1 1. c never converts: 0.
    s = fit([("a > b", 2, 0, 30.0), ("a > b > a", 1, 3, 8.0), ("b", 1, 1, 4.0), ("c", 0, 5, 0.0)])
    got = {(c, p): (conv, v) for c, p, conv, v in s.positions.to_pandas().itertuples(index=False)}
    assert got == {("a", 1): (1.25, 17.0), ("a", 3): (0.25, 2.0), ("b", 1): (1.0, 4.0),
                   ("b", 2): (1.5, 19.0), ("c", 1): (0.0, 0.0)}  # quarters and halves: exact
    credits = s.credits().set_index("channel")
    assert credits.conversions.to_dict() == pytest.approx({"a": 1.5, "b": 2.5, "c": 0.0})
    assert credits.value.to_dict() == pytest.approx({"a": 19.0, "b": 23.0, "c": 0.0})
    assert s.weights() == pytest.approx({"a": 1.5 / 4, "b": 2.5 / 4, "c": 0.0})


def test_repeats_are_collapsed_before_positions():
    s = fit([("a > a > b", 1, 0, 0.0)])
    by_position = s.positions.to_pydict()
    assert list(zip(by_position["channel"], by_position["position"], strict=True)) == [("a", 1), ("b", 2)]
    written = fit([("a > a > b", 1, 0, 0.0)], collapse=False)  # a path file as written: a's half over its steps
    got = {(c, p): conv for c, p, conv, _ in written.positions.to_pandas().itertuples(index=False)}
    assert got == {("a", 1): 0.25, ("a", 2): 0.25, ("b", 3): 0.5}


rows = st.lists(st.tuples(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=5).map(" > ".join),
                          st.integers(0, 5), st.integers(0, 5), st.floats(0, 100)),
                min_size=1, max_size=10)


@settings(max_examples=40, deadline=None)
@given(rows=rows)
def test_positions_sum_to_the_shapley_value_of_the_count_game(rows):
    s = fit(rows)
    channels = sorted(s.values)
    bit = {c: i for i, c in enumerate(channels)}
    masks = [sum(1 << bit[x] for x in {x.strip() for x in p.split(">")}) for p, *_ in rows]
    for column, col in ((1, "conversions"), (3, "value")):
        exact = np.bincount(masks, weights=[r[column] for r in rows], minlength=1 << len(channels))
        phi = _shapley(_subset_sums(exact), len(channels))  # sum over all coalitions, weighted
        got = s.positions.to_pandas().groupby("channel")[col].sum()
        assert got[channels].to_numpy() == pytest.approx(phi, abs=1e-9)
        assert got.sum() == pytest.approx(sum(r[column] for r in rows), abs=1e-9)  # efficiency


@settings(max_examples=20, deadline=None)
@given(rows=rows, perm=st.permutations("abcdef"))
def test_permuting_channel_names_permutes_credits(rows, perm):
    rename = dict(zip("abcdef", perm, strict=True))
    renamed = [(" > ".join(rename[x.strip()] for x in p.split(">")), c, n, v) for p, c, n, v in rows]
    a, b = fit(rows).values, fit(renamed).values
    assert {rename[c]: x for c, x in a.items()} == pytest.approx(b, abs=1e-12)
