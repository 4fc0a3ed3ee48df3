"""Aggregated path files (`parcours attribute --paths`): each step is a touch as written,
collapsing repeats is asked for, numbers are checked, and large files read whole."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv  # noqa: F401  (pa.csv)
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from parcours.attribution import (
    NAMES,
    Custom,
    LastNonDirect,
    Linear,
    Markov,
    OrderedShapley,
    paths_from_frame,
    paths_from_warehouse,
)
from parcours.attribution.catalogue import attribute_paths, make_model
from parcours.attribution.registry import MODELS
from parcours.attribution.rules import converting_touches, touch_credits
from parcours.faces.cli import app


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def credits(path_file, *extra) -> dict[str, float]:
    res = run("attribute", "--paths", path_file, "--delimiter", ";", "--format", "csv", *extra)
    assert res.exit_code == 0, res.output
    rows = [line.split(",") for line in res.output.strip().splitlines()[1:]]
    return {r[0]: round(float(r[1]), 6) for r in rows}


def test_rule_models_credit_every_step_as_written(tmp_path):
    paths = tmp_path / "paths.csv"
    paths.write_text("path;total_conversions\na > a > b;3\n")
    assert credits(paths, "--model", "linear") == {"a": 2.0, "b": 1.0}  # two thirds, one third
    assert credits(paths, "--model", "linear", "--collapse-repeats") == {"a": 1.5, "b": 1.5}
    assert credits(paths, "--model", "position_based") == {"a": 1.8, "b": 1.2}  # 40 + 20 / 40
    assert credits(paths, "--model", "first_touch") == {"a": 3.0, "b": 0.0}  # every channel listed
    assert credits(paths, "--model", "custom", "--weights", "1,2,1") == {"a": 2.25, "b": 0.75}


def test_a_path_file_is_credited_as_the_workspace_credits_its_journeys(journeys, ws):
    """Linear on the workspace's own journeys, touch by touch, and on the same journeys
    written as a path file: the same channel totals (a collapsed file would not give them)."""
    t = touch_credits(Linear(), converting_touches(ws.warehouse))
    want = t.group_by("channel").agg(conversions=t.credit.sum()).to_pandas().set_index("channel").conversions
    paths = paths_from_warehouse(ws.warehouse, collapse=False)
    assert any(len(p) > len(set(p)) for p in paths["path"].to_pylist())  # repeats are there to collapse
    got = attribute_paths(Linear(), paths).to_pandas().set_index("channel").conversions
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)


PATH = st.lists(st.sampled_from("abcd"), min_size=1, max_size=6).map(" > ".join)
ROWS = st.lists(st.tuples(PATH, st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=12)


@settings(max_examples=30, deadline=None)
@given(ROWS)
def test_collapsing_repeats_leaves_first_order_markov_and_shapley_totals_alone(rows):
    df = pd.DataFrame(rows, columns=["path", "conversions", "nulls"])
    if df.conversions.sum() == 0:
        df.loc[0, "conversions"] = 1
    written, collapsed = (paths_from_frame(df, collapse=c) for c in (False, True))
    for model in (Markov(), OrderedShapley()):
        a = model.fit(written).credits().set_index("channel").conversions
        b = type(model)().fit(collapsed).credits().set_index("channel").conversions
        pd.testing.assert_series_equal(a.sort_index(), b.sort_index(), check_names=False, rtol=1e-9, atol=1e-9)
    for name in NAMES:  # every model: credits sum to the conversions, written or collapsed
        if MODELS[name].on_paths:
            for p in (written, collapsed):
                got = attribute_paths(make_model(name), p)["conversions"].to_numpy()
                assert got.sum() == pytest.approx(df.conversions.sum())


RULE_PATHS = st.lists(st.tuples(st.lists(st.sampled_from(["a", "b", "direct", "c"]), min_size=1, max_size=6)
                                .map(" > ".join), st.integers(0, 4), st.floats(0, 50)), min_size=1, max_size=10)


@settings(max_examples=15, deadline=None)
@given(RULE_PATHS)
@example([("c > direct", 2, 5.0), ("a > direct > b > direct", 1, 1.0), ("c > c", 0, 0.0)])
def test_every_rule_credits_a_path_file_as_its_engine_expression(rows):
    """A rule's NumPy twin on a path file (`path_weight`) against its Ibis expression run on the
    same steps as touches (all clicks), for every rule model on paths and uneven custom weights."""
    df = pd.DataFrame(rows, columns=["path", "conversions", "value"]).assign(nulls=1)
    df.loc[0, "conversions"] += 1  # at least one converting path
    paths = paths_from_frame(df, value="value")
    converting = paths.filter(pc.greater(paths["conversions"], 0))
    lists = converting["path"].combine_chunks()
    pid = pc.list_parent_indices(lists).to_numpy()
    lens = np.bincount(pid)
    position = np.arange(len(pid)) - np.repeat(np.cumsum(lens) - lens, lens) + 1
    steps = ibis.memtable(pa.table({
        "journey_id": pid, "channel": lists.flatten(), "position": position, "n": lens[pid],
        "is_last": position == lens[pid], "interaction": pa.array(["click"] * len(pid)),
        "conversions": converting["conversions"].to_numpy()[pid].astype(float),
        "revenue": converting["value"].to_numpy()[pid]}))
    rules = [make_model(n) for n in NAMES if MODELS[n].on_paths and not MODELS[n].data_driven]
    for model in [*rules, Custom(0.0, 2.0, 1.0), Custom(3.0, 0.0, 0.5), LastNonDirect(direct=("direct", "c"))]:
        c = touch_credits(model, steps)
        want = c.group_by("channel").agg(conversions=(c.credit * c.conversions).sum(), value=c.value.sum())
        want = want.to_pandas().set_index("channel").sort_index()
        got = attribute_paths(model, paths).to_pandas().set_index("channel").sort_index()
        pd.testing.assert_frame_equal(got, want, rtol=1e-9, obj=str(model))


def test_no_path_is_an_empty_answer_for_every_model():
    empty = paths_from_frame(pd.DataFrame({"path": [], "conversions": [], "nulls": []}))
    for name in NAMES:
        if MODELS[name].on_paths:
            credits = attribute_paths(make_model(name), empty)
            assert len(credits) == 0 and {"channel", "conversions", "value"} <= set(credits.column_names), name


@pytest.mark.parametrize(("body", "message"), [
    ("path;total_conversions\na > b;1.5\n", "column 'total_conversions': not a whole count on data row(s) 1"),
    ("path;total_conversions\na;1\nb;-2\n", "not a whole count on data row(s) 2"),
    ("path;total_conversions\na;1\nb;lots\n", "column 'total_conversions': not a number on data row(s) 2"),
    ("path;total_conversions\na;inf\n", "column 'total_conversions': not a number on data row(s) 1"),
    ("path;total_conversions;v\na;1;1e999\n", "column 'v': not a finite number on data row(s) 1"),
    ("path;total_conversions;v\na;1;nan\n", "column 'v': not a number on data row(s) 1"),
    ("path;conv\na;1\n", "missing column(s): total_conversions"),
    ("path;total_conversions\na > b;1\n > ;2\n", "column 'path': empty path on data row(s) 2"),
    ("path;total_conversions\na;1;2;3\n", "not a readable CSV file"),
    ("path;total_conversions\n", "no path to attribute: the file has a header and no rows"),
    ("", "not a readable CSV file: Empty CSV file"),
])
def test_a_bad_path_file_is_one_line_naming_column_and_row(tmp_path, body, message):
    paths = tmp_path / "paths.csv"
    paths.write_text(body)
    extra = ("--value-column", "v") if ";v" in body else ()
    res = run("attribute", "--paths", paths, "--delimiter", ";", "--model", "linear", *extra)
    assert res.exit_code == 2 and message in res.output, res.output
    assert "paths.csv" in res.output and "Traceback" not in res.output


def test_a_million_line_path_file(tmp_path):
    """Read whole (a path column in many chunks), every model, credits summing to the file's."""
    rng = np.random.default_rng(3)
    lines = 1_000_000
    lens = rng.integers(1, 8, lines)
    steps = pa.DictionaryArray.from_arrays(rng.integers(0, 4, lens.sum()).astype(np.int32),
                                           ["email", "search", "display", "social"]).cast(pa.string())
    lists = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lens)]), pa.int32()), steps)
    conversions = rng.integers(0, 4, lines)
    table = pa.table({"path": pc.binary_join(lists, " > "), "total_conversions": conversions,
                      "total_null": rng.integers(0, 9, lines)})
    path_file = tmp_path / "paths.csv"
    pa.csv.write_csv(table, path_file, pa.csv.WriteOptions(delimiter=";", quoting_style="none"))
    assert path_file.stat().st_size > 20_000_000
    for model in ("linear", "markov", "ordered_shapley"):
        got = credits(path_file, "--model", model, "--nulls-column", "total_null")
        assert set(got) == {"email", "search", "display", "social"}
        assert sum(got.values()) == pytest.approx(conversions.sum(), rel=1e-9)
