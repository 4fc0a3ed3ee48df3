"""Shapley: the count game (`shapley`) keeps its invariants on any paths; the conversion-rate
game (`shapley_rate`) against a hand-solved two-channel game and a brute-force n! reference."""

import itertools
from math import factorial

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours.attribution.paths import paths_from_frame
from parcours.attribution.shapley import MAX_EXACT, Shapley, ShapleyRate


def fit(rows):
    return ShapleyRate().fit(paths_from_frame(pd.DataFrame(rows, columns=["path", "conversions", "nulls"])))


def test_hand_solved_two_channel_game():
    # v(a) = 2/10, v(b) = 1/10, v(ab) = 9/30. phi_a = (0.2 + (0.3 - 0.1)) / 2 = 0.2,
    # phi_b = (0.1 + (0.3 - 0.2)) / 2 = 0.1; 9 conversions split 2:1.
    s = fit([("a", 2, 8), ("b", 1, 9), ("a > b", 6, 4)])
    assert s.values == pytest.approx({"a": 0.2, "b": 0.1}, abs=1e-12)
    assert s.credits().set_index("channel").conversions.to_dict() == pytest.approx({"a": 6, "b": 3})


def brute_force(rows):
    """Shapley by averaging marginal contributions over all n! orders."""
    sets = [(frozenset(s.strip() for s in p.split(">")), c, n) for p, c, n in rows]
    channels = sorted(set().union(*(s for s, _, _ in sets)))

    def v(coalition):
        inside = [(c, n) for s, c, n in sets if s <= coalition]
        seen = sum(c + n for c, n in inside)
        return sum(c for c, _ in inside) / seen if seen else 0.0

    phi = dict.fromkeys(channels, 0.0)
    for order in itertools.permutations(channels):
        members = set()
        for c in order:
            before = v(frozenset(members))
            members.add(c)
            phi[c] += v(frozenset(members)) - before
    return {c: p / factorial(len(channels)) for c, p in phi.items()}


rows = st.lists(st.tuples(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4).map(" > ".join),
                          st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=10)


@settings(max_examples=30, deadline=None)
@given(rows=rows)
def test_equals_the_brute_force_average_over_all_orders(rows):
    got = fit(rows)
    expected = brute_force(rows)
    assert got.values == pytest.approx(expected, abs=1e-12)
    assert sum(got.values.values()) == pytest.approx(got.conversion_rate, abs=1e-12)  # efficiency


def test_twenty_channels_are_exact_and_more_are_sampled_with_their_error():
    chans = [f"c{i:02}" for i in range(MAX_EXACT + 1)]
    rows = [(" > ".join(chans[i:i + 3]), 1 + i % 2, 3) for i in range(MAX_EXACT - 2)]
    s = fit(rows)
    assert len(s.values) == MAX_EXACT and sum(s.values.values()) == pytest.approx(s.conversion_rate)
    assert set(s.errors.values()) == {0.0}
    sampled = fit(rows + [(" > ".join(chans[-3:]), 1, 1)])
    assert len(sampled.values) == MAX_EXACT + 1 and max(sampled.errors.values()) > 0
    assert sum(sampled.values.values()) == pytest.approx(sampled.conversion_rate)  # every order sums to v(N)
    with pytest.raises(ValueError, match="Shapley goes up to 62"):
        fit([(" > ".join(f"x{i}" for i in range(63)), 1, 1)])


def test_sampled_estimates_land_within_their_error_of_the_exact_values():
    rows = [("a > b", 6, 4), ("a", 2, 8), ("b > c", 3, 3), ("c > d > a", 4, 1), ("d", 0, 5), ("e > b", 2, 2)]
    exact = fit(rows).values
    df = pd.DataFrame(rows, columns=["path", "conversions", "nulls"])
    sampled = ShapleyRate(exact_up_to=0, samples=4000, seed=1).fit(paths_from_frame(df))
    for c, value in exact.items():
        assert abs(sampled.values[c] - value) <= 5 * sampled.errors[c] + 1e-12


def count_game(rows):
    return Shapley().fit(paths_from_frame(pd.DataFrame(rows, columns=["path", "conversions", "nulls"])))


def test_the_count_game_splits_each_conversion_over_its_distinct_channels():
    # a > b > a (3 conv): a 1.5, b 1.5; a (2): a 2; rare > b (4): rare 2, b 2; c never converts
    s = count_game([("a > b > a", 3, 1), ("a", 2, 50), ("rare > b", 4, 0), ("c", 0, 9)])
    got = s.credits().set_index("channel").conversions.to_dict()
    assert got == pytest.approx({"a": 3.5, "b": 3.5, "rare": 2.0, "c": 0.0})
    # the rate game: more than its 4 conversions to the rare channel of an all-converting
    # path, and less than nothing to the channel that brought 5
    rate = fit([("a > b > a", 3, 1), ("a", 2, 50), ("rare > b", 4, 0), ("c", 0, 9)])
    rated = rate.credits().set_index("channel").conversions
    assert rated["rare"] > 4 and rated["a"] < 0 and rated["c"] < 0


count_rows = st.lists(st.tuples(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6).map(" > ".join),
                                st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(rows=count_rows)
def test_the_count_game_never_gives_negative_or_more_than_a_channels_paths_converted(rows):
    credits = count_game(rows).credits().set_index("channel").conversions
    assert (credits >= 0).all()
    assert credits.sum() == pytest.approx(sum(c for _, c, _ in rows))  # efficiency: the conversions
    for channel, credit in credits.items():
        own = sum(c for p, c, _ in rows if channel in [s.strip() for s in p.split(">")])
        assert credit <= own + 1e-9  # at most the conversions of the paths it is in


@settings(max_examples=30, deadline=None)
@given(rows=count_rows, names=st.permutations("abcdefgh"))
def test_renaming_channels_renames_their_count_game_credits(rows, names):
    rename = dict(zip("abcdefgh", names, strict=True))
    moved = [(" > ".join(rename[s.strip()] for s in p.split(">")), c, n) for p, c, n in rows]
    a = count_game(rows).credits().set_index("channel").conversions
    b = count_game(moved).credits().set_index("channel").conversions
    assert b.rename(index={v: k for k, v in rename.items()}).sort_index().to_dict() == \
        pytest.approx(a.sort_index().to_dict())
