"""Incremental builds (docs/architecture.md, "Incremental builds"): after a new day lands, a
build rebuilds only the persons the new rows and the moved D-2 cut can change, and its tables
are the tables a full build of the same data gives, row for row. The new day holds the
awkward cases: a login joining two persons, a late conversion splitting a journey, a new
visitor, rows loaded before the last build that the moved cut now lets in, customers whose
graph id is new or moves (a new sale pairs a customer with an account), and message
events that change a profile and no journey (an open the moved cut lets in, a click loaded
since, a late delivery that makes an earlier open a machine's)."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from builders import AS_OF, SPARK, load_rows
from parcours import Workspace
from parcours.build.journeys import build_journeys
from parcours.build.message_facts import CLICKS, CONTACTS, FACTS
from parcours.contract.schema import CARDS, CHANGES, CONDITIONS, MEMBERS, SIZES
from parcours.load.ingest import load_file
from parcours.simulate import simulate

INPUTS = ("touchpoints", "conversions", "identities")
LOADED = (*INPUTS, "messages")
DAY = dt.datetime.combine(AS_OF - dt.timedelta(days=1), dt.time())  # the new day's midnight


def _at(days_before_day: float) -> str:
    return (DAY - dt.timedelta(days=days_before_day)).isoformat(sep=" ")


# Hand-made rows of the new day, on persons the first build knows (ids from the simulator's
# naming are avoided: these persons are their own).
OLD = {
    "touchpoints": [
        {"event_id": "h1", "ts": _at(5), "visitor_id": "hA", "channel": "display"},
        {"event_id": "h2", "ts": _at(3), "visitor_id": "hA", "channel": "email"},
        {"event_id": "h3", "ts": _at(4), "visitor_id": "hB", "channel": "paid_search"},
        {"event_id": "h4", "ts": _at(2), "visitor_id": "hC", "channel": "social"},
        {"event_id": "h5", "ts": _at(1), "visitor_id": "hC", "channel": "affiliation"},
        {"event_id": "h6", "ts": _at(0.5), "visitor_id": "hD", "channel": "sms"},  # between the cuts
        {"event_id": "h11", "ts": _at(4), "visitor_id": "hE", "channel": "email"},  # hE, hF: messages alone change them
        {"event_id": "h12", "ts": _at(4), "visitor_id": "hF", "channel": "email"},
    ],
    "conversions": [{"conversion_id": "hx", "ts": _at(2.5), "user_id": "uB", "revenue": "30"},
                    # a CRM customer's store sale: a person of its own until an order's email links it
                    {"conversion_id": "hs", "ts": _at(1.2), "customer_id": "K1", "origin": "store", "revenue": "60"},
                    # customers known by their sales alone: K3 under its own graph id, K4 paired with uZ
                    {"conversion_id": "k3s", "ts": _at(3), "customer_id": "K3", "origin": "store", "revenue": "40"},
                    {"conversion_id": "k4a", "ts": _at(4), "visitor_id": "hZ", "user_id": "uZ", "customer_id": "K4",
                     "revenue": "20"},
                    {"conversion_id": "k4s", "ts": _at(3.5), "customer_id": "K4", "origin": "store", "revenue": "25"}],
    "identities": [{"visitor_id": "hB", "user_id": "uB"}, {"visitor_id": "hK", "user_id": "uK"}],
    "messages": [
        {"event_id": "m1", "ts": _at(3), "journey": "welcome", "step": "1", "channel": "email",
         "recipient": "hE@example.com", "event": "delivered", "visitor_id": "hE"},
        {"event_id": "m2", "ts": _at(0.5), "journey": "welcome", "step": "1", "channel": "email",
         "recipient": "hE@example.com", "event": "opened", "visitor_id": "hE"},  # between the cuts
        {"event_id": "m3", "ts": (DAY - dt.timedelta(days=3, seconds=-5)).isoformat(sep=" "), "journey": "welcome",
         "step": "1", "channel": "email", "recipient": "hF@example.com", "event": "opened", "visitor_id": "hF"},
    ],
}
CRM = [{"customer_id": "K1", "email": "k1@example.com"}]
NEW = {
    "touchpoints": [
        {"event_id": "h7", "ts": _at(-0.5), "visitor_id": "hA", "channel": "direct"},  # after the new cut
        {"event_id": "h8", "ts": _at(0.3), "visitor_id": "hNew", "channel": "referral"},
    ],
    "conversions": [
        {"conversion_id": "hy", "ts": _at(0.2), "visitor_id": "hA", "revenue": "80"},
        {"conversion_id": "late", "ts": _at(1.5), "visitor_id": "hC", "revenue": "12"},  # splits hC's journey
        {"conversion_id": "hz", "ts": _at(0.4), "visitor_id": "hD", "email": "K1@Example.com"},  # links K1 to hD
        # customers' graph ids that move: K3's older sale now uK's (paired by a sale after the new cut, of a
        # person known), K4's store sale leaves uZ for uA (the smaller account); and a customer never seen
        {"conversion_id": "k3o", "ts": _at(-0.5), "visitor_id": "hK", "user_id": "uK", "customer_id": "K3",
         "revenue": "15"},
        {"conversion_id": "k4b", "ts": _at(0.6), "visitor_id": "hY", "user_id": "uA", "customer_id": "K4",
         "revenue": "10"},
        {"conversion_id": "k5s", "ts": _at(0.7), "customer_id": "K5", "origin": "store", "revenue": "50"},
    ],
    "identities": [{"visitor_id": "hA", "user_id": "uB"}],  # joins hA's person and hB's
    "messages": [
        {"event_id": "m4", "ts": _at(0.2), "journey": "promo", "step": "1", "channel": "email",
         "recipient": "hE@example.com", "event": "clicked", "visitor_id": "hE"},
        # hF's open came 5 s after this delivery, loaded late: a machine's open, no longer a person's
        {"event_id": "m5", "ts": _at(3), "journey": "welcome", "step": "1", "channel": "email",
         "recipient": "hF@example.com", "event": "delivered", "visitor_id": "hF"},
    ],
}


def _split(data, folder):
    """Each simulated table cut at the new day: (before, the new day and after)."""
    folder.mkdir()
    parts = {}
    for table in INPUTS:
        t = pq.read_table(data / f"{table}.parquet")
        if "ts" not in t.column_names or table == "identities":
            before, after = t.slice(0, t.num_rows * 9 // 10), t.slice(t.num_rows * 9 // 10)
        else:
            early = pc.less(t["ts"], pa.scalar(DAY, type=t["ts"].type))
            before, after = t.filter(early), t.filter(pc.invert(early))
        for name, part in (("before", before), ("after", after)):
            pq.write_table(part, folder / f"{table}-{name}.parquet")
        parts[table] = folder
    return parts


def _tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    out = {}
    keys = {"persons": ["kind", "id"], "journeys": ["journey_id"], "touches": ["journey_id", "event_id"],
            "profiles": ["person_id"], FACTS: ["journey", "step", "recipient", "channel"],
            CONTACTS: ["journey", "step", "recipient", "user_id", "visitor_id"], CLICKS: ["event_id"]}
    for name, key in keys.items():
        df = ws.warehouse.table(name).to_pandas()
        for c in [c for c in df.columns if df[c].dtype == object]:  # lists and maps, compared as text
            df[c] = df[c].map(_text)
        out[name] = df.sort_values(key).reset_index(drop=True)
    meta = ws.warehouse.table("build_meta").to_pandas()
    mine = ["built_at", "persons_at", "config", "incremental", *(f"seq_{t}" for t in LOADED)]  # this build's
    out["build_meta"] = meta.drop(columns=mine).astype(str)
    return out


def _text(value) -> object:
    """A list (or an engine's array) or a map as the same text on either engine."""
    if isinstance(value, dict):
        return str(sorted(value.items()))
    if hasattr(value, "__len__") and not isinstance(value, str):
        return str([_text(v) if isinstance(v, dict) else v for v in value])
    return value


def _workspace(path, engine: str) -> Workspace:
    ws = Workspace.init(path)
    if engine == "spark":
        (ws.path / "parcours.toml").write_text(SPARK)
        ws.__dict__.pop("config", None)
    return ws


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    simulate(root / "data", persons=600, seed=21, days=45, end=AS_OF)
    _split(root / "data", root / "parts")
    return root


@pytest.fixture(scope="module")
def whole(data, tmp_path_factory):
    """A full build of every row on DuckDB, what an incremental build on either engine must
    equal (the parity test shows a full build is the same on both): (its result, its tables,
    its folder, read-only)."""
    full = _workspace(tmp_path_factory.mktemp("full") / "ws", "duckdb")
    load_rows(full, "crm", CRM)
    for table in LOADED:
        for part in ("before", "after") if table in INPUTS else ():
            load_file(full.warehouse, table, data / "parts" / f"{table}-{part}.parquet")
        load_rows(full, table, OLD[table] + NEW[table])
    with full:
        return build_journeys(full.warehouse, full.config, as_of=AS_OF), _tables(full), full.path


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_incremental_build_equals_full_build(data, whole, tmp_path, engine):
    inc = _workspace(tmp_path / "inc", engine)
    parts = data / "parts"
    load_rows(inc, "crm", CRM)
    for table in LOADED:
        if table in INPUTS:
            load_file(inc.warehouse, table, parts / f"{table}-before.parquet")
        load_rows(inc, table, OLD[table])
    first = build_journeys(inc.warehouse, inc.config, as_of=AS_OF - dt.timedelta(days=1))
    assert first.rebuilt is None  # nothing to start from: a full build
    p = inc.warehouse.table("profiles").to_pandas().set_index("person_id")
    assert list(p.messages_opened["v:hF"]) == ["welcome"] and list(p.messages_opened["v:hE"]) == []
    for table in LOADED:
        if table in INPUTS:
            load_file(inc.warehouse, table, parts / f"{table}-after.parquet")
        load_rows(inc, table, NEW[table])
    res = build_journeys(inc.warehouse, inc.config, as_of=AS_OF)
    full, want, _ = whole
    assert res.rebuilt is not None and 0 < res.rebuilt < full.persons / 2  # only what changed
    assert (res.persons, res.journeys, res.converting, res.touches) == \
        (full.persons, full.journeys, full.converting, full.touches)
    got = _tables(inc)
    for name in want:
        # sums of floats differ in their last bit with the order rows are added in
        pd.testing.assert_frame_equal(got[name], want[name], check_like=True, obj=name, rtol=1e-12)
    persons = got["persons"].set_index("id").person_id
    assert persons["hA"] == persons["hB"] == persons["uB"]  # the login joined two persons
    assert persons["crm:K1"] == persons["hD"] == "v:hD"  # the order's email joined the customer
    assert "crm:K3" not in persons and "crm:K5" in persons
    j = got["journeys"].set_index("journey_id")
    assert j.loc["c:k3s", "person_id"] == persons["hK"]  # K3's older sale follows its graph id to uK
    assert j.loc["c:k4s", "person_id"] == persons["hY"] != persons["hZ"]
    assert j.loc["c:late", "n_touches"] == 1 and j.loc["c:late", "channels"] == "['social']"
    assert "n:" + persons["hNew"] in j.index and j.loc["c:hy", "person_id"] == persons["hB"]
    # hA's touches join hB's in uB's journey to hx; hy, after it, starts afresh
    assert j.loc["c:hx", "channels"] == "['display', 'paid_search', 'email']" and j.loc["c:hy", "n_touches"] == 0
    # messages changed hE's and hF's profiles, and no journey of theirs
    p = got["profiles"].set_index("person_id")
    assert p.loc["v:hE", "messages_opened"] == "['welcome']" and p.loc["v:hE", "messages_clicked"] == "['promo']"
    assert p.loc["v:hF", "messages_opened"] == "[]"
    again = build_journeys(inc.warehouse, inc.config, as_of=AS_OF)  # nothing new: nobody rebuilt
    assert again.rebuilt == 0 and _tables(inc)["touches"].equals(got["touches"])
    inc.close()


def test_a_build_with_nothing_new_writes_nothing_but_when_it_looked(whole, tmp_path):
    """Nothing loaded since the last build and the same cut: no table is written again but
    build_meta, and the result is the last build's; a load of any row, or a moved cut, and
    the build looks again. A profile deleted by hand is the mark: a rewrite of it (its person
    has a new row) brings it back."""
    full, want, folder = whole
    ws = Workspace(shutil.copytree(folder, tmp_path / "ws"))
    wh = ws.warehouse
    p = wh.table("persons")
    mark = p.filter(p.id == "hA").person_id.execute().iloc[0]  # the person the new rows below are of

    def marked() -> bool:
        return mark not in wh.table("profiles").person_id.to_pyarrow().to_pylist()

    def unmark() -> None:
        wh.con.raw_sql(f"DELETE FROM profiles WHERE person_id = '{mark}'")

    unmark()
    looked = wh.table("build_meta").built_at.max().execute()
    res = build_journeys(wh, ws.config, as_of=AS_OF)
    assert res.rebuilt == 0 and (res.persons, res.journeys, res.converting, res.touches) == \
        (full.persons, full.journeys, full.converting, full.touches)
    got = _tables(ws)
    for name in ("persons", "journeys", "touches", "build_meta"):
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    assert marked() and wh.table("build_meta").built_at.max().execute() > looked
    load_rows(ws, "touchpoints", [{**NEW["touchpoints"][0], "event_id": "h9"}])  # after the cut: no journey changes...
    assert build_journeys(wh, ws.config, as_of=AS_OF).rebuilt == 0 and not marked()  # ...but it looked
    unmark()
    build_journeys(wh, ws.config, as_of=AS_OF + dt.timedelta(days=1))  # lets h7 and h9 in
    assert not marked()
    ws.close()


def test_a_rules_change_or_full_rebuilds_everything(whole, tmp_path):
    ws = Workspace(shutil.copytree(whole[2], tmp_path / "ws"))  # built in full, as of AS_OF
    assert build_journeys(ws.warehouse, ws.config, as_of=AS_OF).rebuilt == 0
    assert build_journeys(ws.warehouse, ws.config, as_of=AS_OF, full=True).rebuilt is None
    assert build_journeys(ws.warehouse, ws.config, as_of=AS_OF - dt.timedelta(days=3)).rebuilt is None  # cut went back
    ws.close()
    (ws.path / "parcours.toml").write_text("[journeys]\nlookback_days = 7\n")
    ws = Workspace(ws.path)
    assert build_journeys(ws.warehouse, ws.config, as_of=AS_OF).rebuilt is None
    ws.close()


AUDIENCES = {"recent-email": {"touched": "email", "within_days": 7},
             "buyers": {"converted": True, "within_days": 30},
             "welcome-openers": {"message": "opened", "journey": "welcome"},
             "mobile": {"device": "mobile"}}
# a handful of rows before the cut: a new visitor who buys, two known persons joined (one goes),
# an open of the welcome series
HANDFUL = {
    "touchpoints": [{"event_id": "h20", "ts": _at(1), "visitor_id": "hG", "channel": "email"}],
    "conversions": [{"conversion_id": "hg", "ts": _at(0.5), "visitor_id": "hG", "revenue": "20"}],
    "identities": [{"visitor_id": "hE", "user_id": "uF"}, {"visitor_id": "hF", "user_id": "uF"}],
    "messages": [{"event_id": "m6", "ts": _at(2), "journey": "welcome", "step": "1", "channel": "email",
                  "recipient": "hC@example.com", "event": "opened", "visitor_id": "hC"}],
}


def _audience_tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    """Members, cards, and the last refresh's sizes and changes, in a fixed order."""
    wh = ws.warehouse
    out = {"members": wh.table(MEMBERS).to_pandas().sort_values(["audience", "person_id"])}
    cards = wh.table(CARDS).to_pandas()
    out["cards"] = cards.assign(audiences=cards.audiences.map(list).map(str)).sort_values(["id", "person_id"])
    for name in (SIZES, CHANGES):
        t = wh.table(name)
        last = t.filter(t.built_at == t.built_at.max())
        last = last.drop(*(c for c in ("built_at", "batch", "as_of") if c in last.columns))
        out[name] = last.to_pandas().sort_values(list(last.columns))
    return {k: v.reset_index(drop=True) for k, v in out.items()}


def test_a_build_refreshes_the_changed_persons_audiences_as_a_full_refresh_would(whole, tmp_path):
    """After a handful of rows, the same cut and the same audiences, a build evaluates the
    audiences of the persons whose profile changed only: members, cards, sizes and changes
    are a full refresh's (a twin workspace refreshes everyone). An unchanged person's card
    deleted by hand is the mark it did not refresh everyone; a condition edited by hand, or a
    moved cut, and it does."""
    ws = Workspace(shutil.copytree(whole[2], tmp_path / "ws"))
    (ws.path / "parcours.toml").write_text("[predict]\nenabled = false\n")
    ws.__dict__.pop("config", None)
    for name, when in AUDIENCES.items():
        ws.save_audience(name, when)
    ws.build(as_of=AS_OF)  # nothing new: every audience evaluated, the first time
    ws.close()
    twin = Workspace(shutil.copytree(ws.path, tmp_path / "twin"))
    twin.warehouse.drop(CONDITIONS)  # what the last refresh evaluated, forgotten: everyone again
    p = ws.warehouse.table("persons")
    mark = p.filter(p.id == "hB").person_id.execute().iloc[0]  # no new row of hers

    def marked() -> bool:
        return mark not in ws.warehouse.table(CARDS).person_id.to_pyarrow().to_pylist()

    ws.warehouse.con.raw_sql(f"DELETE FROM {CARDS} WHERE person_id = '{mark}'")
    for w in (ws, twin):
        for table, rows in HANDFUL.items():
            load_rows(w, table, rows)
        w.build(as_of=AS_OF)
    got, want = _audience_tables(ws), _audience_tables(twin)
    assert marked()
    want["cards"] = want["cards"][want["cards"].person_id != mark].reset_index(drop=True)
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)
    joined = got[CHANGES].query("change == 'joined'")
    person = ws.warehouse.table("persons").to_pandas().set_index("id").person_id
    joins = set(zip(joined.audience, joined.person_id, strict=True))
    assert {("buyers", person["hG"]), ("welcome-openers", person["hC"])} <= joins
    twin.close()
    book = ws.path / "audiences.json"  # a condition edited by hand: everyone again
    book.write_text(book.read_text().replace('"within_days": 30', '"within_days": 31'))
    load_rows(ws, "touchpoints", [{"event_id": "h21", "ts": _at(1), "visitor_id": "hG", "channel": "sms"}])
    ws.build(as_of=AS_OF)
    assert not marked()
    ws.warehouse.con.raw_sql(f"DELETE FROM {CARDS} WHERE person_id = '{mark}'")
    ws.build(as_of=AS_OF + dt.timedelta(days=1))  # a moved cut: everyone again
    assert not marked()
    # a build the steps after it did not follow (here called alone; or one of them failed):
    # the next build's changed persons are not all the audiences have not seen
    load_rows(ws, "touchpoints", [{"event_id": "h22", "ts": _at(1), "visitor_id": "hG", "channel": "sms"}])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF + dt.timedelta(days=1))
    ws.warehouse.con.raw_sql(f"DELETE FROM {CARDS} WHERE person_id = '{mark}'")
    ws.build(as_of=AS_OF + dt.timedelta(days=1))  # nothing new since: everyone, as the last build was not followed
    assert not marked()
    ws.warehouse.con.raw_sql(f"DELETE FROM {CARDS} WHERE person_id = '{mark}'")
    ws.build(as_of=AS_OF + dt.timedelta(days=1))  # followed now: nothing new, no one
    assert marked()
    ws.close()
