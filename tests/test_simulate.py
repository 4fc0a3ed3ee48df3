import dataclasses
import datetime as dt

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from builders import rows_of
from parcours.channels import classify
from parcours.ingest import load_file
from parcours.simulate import CHANNELS, simulate

END = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("sim"), persons=3000, seed=5, end=END)


def read(sim, name):
    return pq.read_table(sim.files[name])


def test_one_file_per_table_named_after_it(sim):
    assert {n: p.name for n, p in sim.files.items()} == {
        n: f"{n}.parquet" for n in ("touchpoints", "conversions", "identities", "persons_truth",
                                   "costs", "truth")}
    assert read(sim, "touchpoints").num_rows == sim.touchpoints > 20_000


def test_same_seed_same_data_other_seed_other_data(sim, tmp_path):
    again = simulate(tmp_path / "a", persons=3000, seed=5, end=END)
    other = simulate(tmp_path / "b", persons=3000, seed=6, end=END)
    for name in ("touchpoints", "conversions", "truth"):
        assert read(again, name).equals(read(sim, name))
    assert not read(other, "conversions").equals(read(sim, "conversions"))


def test_the_period_ends_on_the_given_day_so_the_d2_cut_shows(sim):
    days = pc.unique(pc.cast(read(sim, "touchpoints")["ts"], "date32")).to_pylist()
    assert max(days) == END and min(days) == END - dt.timedelta(days=89) and len(days) == 90


def test_conversions_cover_online_store_and_call_centre_with_ids_to_join_them(sim):
    conv = read(sim, "conversions").to_pandas()
    assert set(conv.origin) == {"online", "store", "call_centre"}
    offline = conv[conv.origin != "online"]
    assert offline.visitor_id.isna().all() and offline.user_id.notna().all()
    assert (conv[conv.kind == "lead"].revenue == 0).all() and (conv[conv.kind == "sale"].revenue > 0).all()


def test_truth_is_the_resimulation_with_the_channel_switched_off(sim, tmp_path):
    truth = read(sim, "truth").to_pandas()
    total = sim.conversions
    off = tuple(dataclasses.replace(c, beta=0.0) if c.name == "paid_search" else c for c in CHANNELS)
    without = simulate(tmp_path / "off", persons=3000, seed=5, end=END, channels=off)
    gained = truth[truth.channel == "paid_search"].incremental_conversions.sum()
    assert gained > 0 and without.conversions == total - gained
    none = tuple(dataclasses.replace(c, beta=0.0) for c in CHANNELS)
    base = simulate(tmp_path / "none", persons=3000, seed=5, end=END, channels=none)
    assert base.conversions == truth[truth.channel == "(base)"].incremental_conversions.sum()
    assert (truth.incremental_conversions >= 0).all()


def test_csv_output_loads_without_rejects(tmp_path, ws):
    files = simulate(tmp_path / "csv", persons=300, seed=2, end=END, fmt="csv").files
    for table in ("touchpoints", "conversions", "identities", "costs"):
        res = load_file(ws.warehouse, table, files[table])
        assert res.rejected_rows == 0 and res.inserted > 0, table
    assert any(c["categories"] for c in rows_of(ws, "conversions"))


def test_classification_recovers_every_simulated_channel(sim, ws):
    """Half the touches carry only utm/referrer: the default rules must find their channel."""
    load_file(ws.warehouse, "touchpoints", sim.files["touchpoints"])
    t = classify(ws.warehouse.table("touchpoints"), ws.config)
    counts = {r["channel"]: r["n"] for r in t.group_by("channel").agg(n=t.count()).to_pyarrow().to_pylist()}
    assert counts == sim.touches_by_channel
