"""Exact Markov removal effects: a hand-solved chain, hand-listed k-gram transitions, and an
independent dense reference solve on random paths."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours.attribution.markov import (
    CONVERSION,
    DENSE_UP_TO,
    ITERATIVE_FROM,
    NULL,
    START,
    Markov,
    transitions,
)
from parcours.attribution.paths import paths_from_frame


def frame(rows, collapse=True):
    """Paths as a workspace fits them: repeats collapsed."""
    return paths_from_frame(pd.DataFrame(rows, columns=["path", "conversions", "nulls", "value"]),
                            value="value", collapse=collapse)


def test_hand_solved_first_order_chain():
    # start->a 2/3, start->b 1/3, a->b 1/2, a->null 1/2, b->conv 1: x(start) = 2/3.
    # Without a only start->b->conv remains: 1/3, RE_a = 1/2. Without b nothing converts: RE_b = 1.
    m = Markov().fit(frame([("a > b", 1, 0, 30.0), ("a", 0, 1, 0.0), ("b", 1, 0, 10.0)]))
    assert m.conversion_rate == pytest.approx(2 / 3, abs=1e-12)
    assert m.removal_effects == pytest.approx({"a": 0.5, "b": 1.0}, abs=1e-12)
    credits = m.credits().set_index("channel")
    assert credits.conversions.to_dict() == pytest.approx({"a": 2 / 3, "b": 4 / 3}, abs=1e-12)
    # value chain: b converts with (30 + 10) / 2 = 20 per exit (a first-order chain forgets how
    # it got to b), x_v(start) = 2/3 * 1/2 * 20 + 1/3 * 20 = 40/3; without a 20/3 (RE 1/2);
    # without b 0 (RE 1). Shares 1/3 and 2/3 of the 40 of value.
    assert credits.value.to_dict() == pytest.approx({"a": 40 / 3, "b": 80 / 3}, abs=1e-9)


def test_repeats_are_collapsed_before_building_states():
    p = frame([("a > a > b > b > a", 1, 0, 0.0)])
    t = transitions(p, 1)
    assert sorted(zip(t.src, t.dst, strict=True)) == [("(start)", "a"), ("a", "(conversion)"), ("a", "b"), ("b", "a")]
    written = transitions(frame([("a > a > b > b > a", 1, 0, 0.0)], collapse=False), 1)  # a path file as written
    assert sorted(zip(written.src, written.dst, strict=True)) == [
        ("(start)", "a"), ("a", "(conversion)"), ("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]


def test_order_two_states_are_pairs_after_a_first_single():
    t = transitions(frame([("a > b > c", 2, 1, 5.0)]), 2)
    got = {(s, d): (n, v) for s, d, n, v in zip(t.src, t.dst, t.n, t.value, strict=True)}
    assert got == {(START, "a"): (3, 0), ("a", "a>b"): (3, 0), ("a>b", "b>c"): (3, 0),
                   ("b>c", CONVERSION): (2, 5), ("b>c", NULL): (1, 0)}


def test_order_must_be_one_to_four():
    with pytest.raises(ValueError, match="order must be 1, 2, 3 or 4"):
        Markov(order=5)


def reference_removal_effects(rows, order):
    """Dense solve written independently: states from Python loops, removal by zeroing."""
    counts = {}
    for path, conv, null, _ in rows:
        steps = [s.strip() for s in path.split(">")]
        steps = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
        states = [">".join(steps[max(0, i - order + 1): i + 1]) for i in range(len(steps))]
        for a, b in zip(["S"] + states, states, strict=False):
            counts[(a, b)] = counts.get((a, b), 0) + conv + null
        counts[(states[-1], "C")] = counts.get((states[-1], "C"), 0) + conv
        counts[(states[-1], "N")] = counts.get((states[-1], "N"), 0) + null
    counts = {k: v for k, v in counts.items() if v}
    names = ["S"] + sorted({a for a, _ in counts} - {"S"})
    idx = {s: i for i, s in enumerate(names)}
    out = {s: sum(v for (a, _), v in counts.items() if a == s) for s in names}
    Q, r = np.zeros((len(names), len(names))), np.zeros(len(names))
    for (a, b), v in counts.items():
        if b == "C":
            r[idx[a]] += v / out[a]
        elif b != "N":
            Q[idx[a], idx[b]] += v / out[a]

    def x_start(drop):
        Qd, rd = Q.copy(), r.copy()
        for s in names[1:]:
            if drop in s.split(">"):
                Qd[idx[s]], rd[idx[s]] = 0, 0
        return np.linalg.solve(np.eye(len(names)) - Qd, rd)[0]

    base = x_start(None)
    channels = {c for s in names[1:] for c in s.split(">")}
    return {c: 1 - x_start(c) / base for c in channels}


path_rows = st.lists(
    st.tuples(st.lists(st.sampled_from("abcde"), min_size=1, max_size=6).map(" > ".join),
              st.integers(0, 5), st.integers(0, 5), st.just(0.0)),
    min_size=1, max_size=12,
).filter(lambda rows: sum(r[1] for r in rows) > 0)


@settings(max_examples=40, deadline=None)
@given(rows=path_rows, order=st.integers(1, 4))
def test_removal_effects_equal_a_dense_reference_solve(rows, order):
    m = Markov(order=order).fit(frame(rows))
    expected = reference_removal_effects(rows, order)
    assert set(m.removal_effects) == set(expected)
    for c, e in expected.items():
        assert m.removal_effects[c] == pytest.approx(e, abs=1e-9)
    assert m.credits().conversions.sum() == pytest.approx(sum(r[1] for r in rows))


@settings(max_examples=20, deadline=None)
@given(rows=path_rows, perm=st.permutations("abcde"))
def test_permuting_channel_names_permutes_credits(rows, perm):
    rename = dict(zip("abcde", perm, strict=True))
    renamed = [(" > ".join(rename[s.strip()] for s in p.split(">")), c, n, v) for p, c, n, v in rows]
    a = Markov().fit(frame(rows)).credits().set_index("channel").conversions
    b = Markov().fit(frame(renamed)).credits().set_index("channel").conversions
    for c in a.index:
        assert b[rename[c]] == pytest.approx(a[c], abs=1e-9)


def test_same_data_same_numbers():
    rows = [(" > ".join(p), 1 + i % 3, i % 2, 0.0)
            for i, p in enumerate(itertools.permutations("abcd", 3))]
    first = Markov(order=2).fit(frame(rows)).removal_effects
    assert Markov(order=2).fit(frame(rows)).removal_effects == first


@pytest.mark.parametrize(("channels", "order", "states"), [
    ("abcdefghijklm", 2, (DENSE_UP_TO, ITERATIVE_FROM)),  # sparse LU
    ("abcdefghij", 3, (ITERATIVE_FROM, 10_000)),  # BiCGSTAB
])
def test_larger_chains_still_match_the_dense_reference(channels, order, states):
    rng = np.random.default_rng(3)
    rows = [(" > ".join(rng.choice(list(channels), size=rng.integers(1, 7))), int(rng.integers(0, 4)),
             int(rng.integers(0, 6)), 0.0) for _ in range(600)]
    m = Markov(order=order).fit(frame(rows))
    assert states[0] < m.states + 1 <= states[1]  # that solver's branch ran (+1: start)
    expected = reference_removal_effects(rows, order)
    for c, e in expected.items():
        assert m.removal_effects[c] == pytest.approx(e, abs=1e-9)
