"""Parity: one simulated workspace built and reported on DuckDB and on Spark (local[2]) gives
the same tables (floats to 1e-9 relative) for the build, all ten reports under several
queries, every model and the summary. Also the Spark workspace's Parquet store: loads are
idempotent and all-or-nothing, and a build replaces its tables in one commit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
from hashlib import sha256

import ibis
import pandas as pd
import pytest

from builders import AS_OF, SPARK, SPARK_TABLES, assert_same
from parcours import Workspace
from parcours.attribution import NAMES
from parcours.build.journeys import build_journeys
from parcours.contract.query import DEFAULTS, Query
from parcours.engine.spark import SparkWarehouse
from parcours.errors import InvalidInput
from parcours.load.ingest import load_file
from parcours.reports import REPORTS, run_report, summary
from parcours.simulate import simulate

pytestmark = pytest.mark.spark

ALL = dict(models=NAMES, start=AS_OF - dt.timedelta(days=60))  # the whole simulated period
QUERIES = {
    "default": Query(models=NAMES),  # the last 30 built days
    "filtered": Query(**ALL, new_customer=False, crm=(("segment", ("family", "premium")),),
                      devices=("mobile", "desktop"), without_channels=("affiliate",)),
    "filtered 2": Query(**ALL, categories=("beauty", "sports", "home"), origins=("online",),
                        kinds=("sale",), with_channels=("email", "display", "paid_search")),
    "drill-down": Query(**ALL).drill("display"),
    "other levels": Query(**ALL, level="channel_group", collapse=False, distinct=True),
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    simulate(root / "data", persons=1500, seed=5, days=60, end=AS_OF)
    duck = Workspace.init(root / "duck")
    spark = Workspace.init(root / "spark")
    (spark.path / "parcours.toml").write_text(SPARK)
    spark.__dict__.pop("config", None)
    for ws in (duck, spark):
        for table in SPARK_TABLES:
            load_file(ws.warehouse, table, root / "data" / f"{table}.parquet")
        build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    assert isinstance(spark.warehouse, SparkWarehouse)
    yield duck, spark
    duck.close()
    spark.close()


def test_the_build_gives_the_same_tables(pair):
    duck, spark = pair
    for name in (*SPARK_TABLES, "persons", "journeys", "touches", "profiles", "customer_ids"):
        a = duck.warehouse.table(name).to_pandas()
        assert len(a) > 0, name
        assert_same(a, spark.warehouse.table(name).to_pandas(), name)


# one audience per kind of test, and the combinators (tests/test_audiences.py has their meaning)
AUDIENCES = [
    {"touched": "email", "within_days": 14}, {"device": "tablet"}, {"not": {"converted": True, "within_days": 20}},
    {"bought": "beauty"}, {"revenue_over": 100}, {"customer": "returning"},
    {"attribute": "segment", "equals": ["premium", "young"]}, {"stage_reached": "cart"},
    {"message": "opened", "journey": "welcome"}, {"field": "touches", "op": ">=", "value": 5},
    {"all": [{"touched": "display"}, {"any": [{"device": "mobile"}, {"not": {"customer": "new"}}]}]},
]


def test_audiences_give_the_same_members(pair):
    from parcours.activation.audiences import members
    from parcours.contract.conditions import parse

    duck, spark = pair
    for when in AUDIENCES:
        got = [set(members(ws.warehouse, ws.config, parse(when)).person_id.to_pyarrow().to_pylist())
               for ws in (duck, spark)]
        assert got[0] == got[1] and got[0], when


def test_prediction_features_and_labels_are_the_same(pair):
    """The propensity model's input, at two cut-offs: the same Ibis expressions on both engines."""
    from parcours.predict import features as feats

    duck, spark = pair
    cut = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=10)
    for c in (cut, cut - dt.timedelta(days=20)):
        got = []
        for ws in (duck, spark):
            ev = feats.events(ws.warehouse, ws.config, c - dt.timedelta(days=60), c + dt.timedelta(days=7))
            f = feats.features(ev, c, 60, 7.0).left_join(feats.labels(ev, c, 7), "person_id")
            got.append(f.drop("person_id_right").to_pandas())
            for name in ("_pred_touches", "_pred_conversions", "_pred_messages", "_pred_attributes"):
                ws.warehouse.drop(name)
        assert len(got[0]) > 100 and got[0].converted.sum() > 0
        assert_same(got[0], got[1], f"features at {c}")


def test_a_few_persons_scored_again_read_their_own_features(pair):
    """A build between fits reads the events of the persons whose profile changed alone (their
    profile's hash moved: one per profile on either engine): their features are theirs among
    everyone's."""
    from parcours.predict import features as feats
    from parcours.predict import fingerprints

    duck, spark = pair
    cut = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=10)
    got = []
    for ws in (duck, spark):
        wh = ws.warehouse
        hashes = fingerprints(wh.table("profiles")).to_pandas()
        assert hashes.person_id.is_unique and hashes.profile_hash.notnull().all()
        assert hashes.profile_hash.nunique() > len(hashes) * 0.99  # distinct profiles, distinct hashes
        whom = wh.table("profiles").select("person_id").order_by("person_id").limit(40)
        frames = []
        for few in (None, whom):
            ev = feats.events(wh, ws.config, cut - dt.timedelta(days=60), cut, few)
            frames.append(feats.features(ev, cut, 60, 7.0).semi_join(whom, "person_id").to_pandas())
            for name in ("_pred_touches", "_pred_conversions", "_pred_messages", "_pred_attributes"):
                wh.drop(name)
        assert len(frames[0]) > 10
        assert_same(frames[1], frames[0], "the few persons' features")
        got.append(frames[1])
    assert_same(got[0], got[1], "the few persons' features on both engines")


def test_rows_updated_in_place_and_the_cards_that_differ_are_the_same_on_both_engines(pair):
    """`update` (a build's new scores into the profiles: in place on DuckDB, the table written
    again on Spark) and the persons whose cards differ (`audiences.differing`: only theirs are
    written again), on scratch tables of both engines."""
    from parcours.activation.audiences import differing

    cards = {"id": ["a", "b", "c", "d", "e"], "person_id": ["p1", "p1", "p2", "p3", "p4"],
             "audiences": [["x"], ["x", "y"], [], ["y"], []]}
    old = {"id": ["a", "b", "c", "d", "f"], "person_id": ["p1", "p1", "p2", "p3", "p5"],
           "audiences": [["x"], ["x", "y"], ["z"], ["y"], []]}
    got = []
    for ws in pair:
        wh = ws.warehouse
        p = wh.table("profiles")
        t = wh.replace("_update_test", p.select("person_id", "touches", "stage").order_by("person_id").limit(30))
        before = t.to_pandas().sort_values("person_id", ignore_index=True)
        few = t.order_by("person_id").limit(5)
        rows = wh.materialize("_update_rows", few.select("person_id", touches=few.touches + 1000,
                                                         stage=ibis.null("string")))
        with wh.transaction():
            wh.update("_update_test", "person_id", rows)
        after = wh.table("_update_test").to_pandas().sort_values("person_id", ignore_index=True)
        assert (after.touches[:5] >= 1000).all() and after.stage[:5].isnull().all() and len(after) == 30
        pd.testing.assert_frame_equal(after[5:], before[5:])  # the others as they were
        for name, rows in (("_cards_test", cards), ("_cards_old_test", old)):
            wh.replace(name, ibis.memtable(rows, schema={"id": "string", "person_id": "string",
                                                         "audiences": "array<string>"}))
        differ = differing(wh.table("_cards_test"), wh.table("_cards_old_test")).to_pandas()
        assert sorted(differ.person_id) == ["p2", "p4", "p5"]  # other audiences, a card added, a card gone
        got.append(after)
        for name in ("_update_test", "_update_rows", "_cards_test", "_cards_old_test"):
            wh.drop(name)
    assert_same(got[0], got[1], "a table after an update")


def test_a_crm_reload_on_spark_replaces_the_changed_customers_once(tmp_path):
    """A Parquet part never changes: the replaced customer's table is written anew, in the load's commit."""
    from builders import load_rows, rows_of

    spark = Workspace.init(tmp_path / "s")
    (spark.path / "parcours.toml").write_text(SPARK)
    spark.__dict__.pop("config", None)
    load_rows(spark, "crm", [{"customer_id": "C1", "email": "a@example.com"}, {"customer_id": "C2"}])
    res = load_rows(spark, "crm", [{"customer_id": "C1", "attributes": '{"segment": "vip"}'}, {"customer_id": "C2"}])
    assert (res.inserted, res.updated, res.already_loaded) == (0, 1, 1)
    rows = rows_of(spark, "crm", ["customer_id"])
    assert [(r["customer_id"], r["email_sha256"], r["attributes"]) for r in rows] == [
        ("C1", sha256(b"a@example.com").hexdigest(), [("segment", "vip")]), ("C2", None, None)]  # email kept
    spark.close()


@pytest.mark.parametrize("label", QUERIES)
def test_every_report_and_model_gives_the_same_tables(pair, label):
    duck, spark = pair
    for name in REPORTS:
        unread = REPORTS[name].unread(QUERIES[label])  # a report refuses a filter it does not read
        query = dataclasses.replace(QUERIES[label], **{field: DEFAULTS[field] for field in unread})
        a = run_report(name, duck.warehouse, duck.config, query)
        b = run_report(name, spark.warehouse, spark.config, query)
        what = f"{name} ({label})"
        assert len(a.table) > 0 or name.startswith("mono"), what  # empty vs empty proves nothing
        assert_same(a.table, b.table, what)
        assert a.tables.keys() == b.tables.keys(), what
        for key in a.tables:
            assert_same(a.tables[key], b.tables[key], f"{what}: {key}")
        assert a.totals == pytest.approx(b.totals, rel=1e-9), what
        assert a.warnings == b.warnings, what
        if name == "model-comparison":
            assert {f"{m}_conversions" for m in NAMES} <= set(a.table.columns)


def test_the_summary_gives_the_same_table(pair):
    duck, spark = pair
    a = summary(duck.warehouse, duck.config, today=AS_OF)
    b = summary(spark.warehouse, spark.config, today=AS_OF)
    assert_same(a.table, b.table, "summary")
    assert a.totals == pytest.approx(b.totals, rel=1e-9)


PEOPLE = Query(journey="welcome", step="welcome-2", by="recipient", start=AS_OF - dt.timedelta(days=30),
               end=AS_OF - dt.timedelta(days=3))


@pytest.mark.parametrize("query", [Query(), Query(by="journey", machine_opens=True), PEOPLE],
                         ids=["steps", "journeys", "people"])
def test_the_messaging_report_gives_the_same_tables(pair, query):
    duck, spark = pair
    a = run_report("messaging", duck.warehouse, duck.config, query)
    b = run_report("messaging", spark.warehouse, spark.config, query)
    assert len(a.table) > 0 and {"lift", "in_the_journey"} <= a.tables.keys()
    assert_same(a.table, b.table, "messaging")
    assert a.tables.keys() == b.tables.keys()
    for key in a.tables:
        assert_same(a.tables[key], b.tables[key], f"messaging: {key}")
    empty = [k for k, v in a.totals.items() if v is None]  # a rate of nothing, on both
    assert empty == [k for k, v in b.totals.items() if v is None] and a.warnings == b.warnings
    assert {k: v for k, v in a.totals.items() if k not in empty} == pytest.approx(
        {k: v for k, v in b.totals.items() if k not in empty}, rel=1e-9)


def test_spark_tables_are_parquet_named_by_one_manifest(pair, monkeypatch):
    _, spark = pair
    store = spark.warehouse.store
    manifest = json.loads((store.root / "_manifest.json").read_text())["tables"]
    assert set(manifest) >= {*SPARK_TABLES, "persons", "journeys", "touches", "build_meta"}
    assert not (spark.path / "parcours.duckdb").exists()
    # A rebuild replaces the derived tables: the old parts are retired (kept for readers
    # still on them) and gone at the first commit past the grace, whatever it commits; the
    # rows are the same.
    before = {n: store.parts(n) for n in ("touches", "journeys")}
    n_touches = spark.warehouse.count("touches")
    build_journeys(spark.warehouse, spark.config, as_of=AS_OF, full=True)
    retired = json.loads((store.root / "_manifest.json").read_text())["retired"]
    for name, parts in before.items():
        assert all(p.exists() and str(p.relative_to(store.root)) in retired for p in parts), name
        assert store.parts(name) != parts
    monkeypatch.setattr("parcours.engine.tablestore.GRACE", 0.0)
    with store.writing():
        store.commit({})  # the next commit, a load's or a build's alike
    assert not any(p.exists() for parts in before.values() for p in parts)
    assert spark.warehouse.count("touches") == n_touches


def test_spark_loads_are_idempotent_and_all_or_nothing(pair, tmp_path):
    _, spark = pair
    wh = spark.warehouse
    data = spark.path.parent / "data"
    n = wh.count("touchpoints")
    version = wh.data_version()
    again = load_file(wh, "touchpoints", data / "touchpoints.parquet")
    assert (again.inserted, again.already_loaded) == (0, again.rows_read)
    assert wh.count("touchpoints") == n

    parts = wh.store.parts("touchpoints")
    folder = wh.store.root / "touchpoints"
    with wh.loader() as loader, pytest.raises(RuntimeError), loader.transaction():  # noqa: PT012 (a load killed inside its transaction)
        t = loader.table("touchpoints")
        loader.insert("touchpoints", t.limit(3).mutate(event_id="copy-" + t.event_id))
        assert loader.count("touchpoints") == n + 3  # the transaction sees its own rows
        raise RuntimeError("killed mid-load")
    assert wh.store.parts("touchpoints") == parts and sorted(folder.iterdir()) == sorted(parts)
    assert wh.count("touchpoints") == n
    with pytest.raises(InvalidInput):
        load_file(wh, "touchpoints", tmp_path / "missing.csv")
    new = tmp_path / "new.csv"
    new.write_text("event_id,ts,visitor_id,interaction\nnew-1,2026-11-01 10:00:00,v1,click\n"
                   "new-2,not a time,v2,click\n")
    res = load_file(wh, "touchpoints", new)
    assert (res.inserted, res.rejected_rows) == (1, 1)
    assert res.rejects[0].row == 2 and res.rejects[0].field == "ts"
    assert wh.data_version() != version  # kept answers are asked again
    assert wh.count("touchpoints") == n + 1
    assert wh.store.parts("touchpoints")[: len(parts)] == parts  # appended, nothing rewritten
    assert load_file(wh, "touchpoints", new).inserted == 0


def test_a_failed_spark_build_step_leaves_the_tables_as_they_were(pair):
    _, spark = pair
    wh = spark.warehouse
    parts, n = wh.store.parts("journeys"), wh.count("journeys")
    with pytest.raises(RuntimeError), wh.transaction():  # noqa: PT012 (a build step killed inside its transaction)
        wh.replace("journeys", wh.table("journeys").limit(1))
        assert wh.count("journeys") == 1
        raise RuntimeError("killed mid-build")
    assert wh.store.parts("journeys") == parts
    retired = {wh.store.root / p for p in json.loads((wh.store.root / "_manifest.json").read_text())["retired"]}
    assert set((wh.store.root / "journeys").iterdir()) - retired == set(parts)  # the failed step's part went
    assert wh.count("journeys") == n


def test_two_loads_of_one_file_at_once_store_it_once(tmp_path):
    """Two processes load the same file into one Spark workspace at the same time (loads
    need no Spark): the store's write lock makes the second see the first's rows."""
    ws = Workspace.init(tmp_path / "ws")
    (ws.path / "parcours.toml").write_text(SPARK)
    N = 300_000  # long enough an insert that both processes are past staging before one commits
    rows = "".join(f"e{i},2026-11-01 10:00:00,v{i % 97},click\n" for i in range(N))
    path = tmp_path / "tp.csv"
    path.write_text("event_id,ts,visitor_id,interaction\n" + rows)
    cmd = [sys.executable, "-m", "parcours.faces.cli", "ingest", "touchpoints", str(path), "-w", str(ws.path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(f"{N:,} loaded" in o for o in outs) == [False, True], outs
    with Workspace(ws.path) as again, again.warehouse.loader() as loader:
        assert loader.count("touchpoints") == N
        assert int(loader.table("touchpoints").event_id.nunique().execute()) == N
