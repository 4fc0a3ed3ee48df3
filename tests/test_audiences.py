"""Audiences (issue 16): each kind of test's members worked out by hand on three persons, the
combinators as set algebra over any tree (hypothesis), the grammar's errors naming the key,
the workspace's saved audiences, exports, the API and the command line."""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from builders import AS_OF, JANE, JANE_PHONE, A, B, C, day_at, load_rows, who
from parcours import Workspace
from parcours.activation.audiences import TESTS, Book, export, members
from parcours.build.journeys import build_journeys
from parcours.contract.conditions import KINDS, Audience, parse, plain
from parcours.errors import InvalidInput
from parcours.faces.api import create_app
from parcours.faces.cli import app

EVERYONE = {A, B, C}


# A touched display (at 0 and 2), email (1), direct (4); mobile and desktop; stage cart; 2 sales
# (40 new, then 60 in store), bags+shoes; CRM segment premium; opened welcome, clicked cart,
# unsubscribed. B touched social (3) on a tablet; nothing else. C touched email (6.5) on mobile,
# bought bags for 300 (7), a new customer. The cut (D-2) is 9 days after day_at(0).
CASES = [
    ({"touched": "display"}, {A}),
    ({"touched": "email"}, {A, C}),
    ({"touched": "email", "within_days": 7}, {C}),  # A's email touch was 8 days before the cut
    ({"touched": "email", "within_days": 8}, {A, C}),  # exactly 8 days before counts
    ({"touched": "sms"}, set()),
    ({"device": "mobile"}, {A, C}),
    ({"device": "tablet"}, {B}),
    ({"converted": True}, {A, C}),
    ({"converted": False}, {B}),
    ({"converted": True, "within_days": 3}, {C}),  # A's last, 4 days before the cut
    ({"converted": False, "within_days": 3}, {A, B}),
    ({"converted": True, "within_days": 4}, {A, C}),
    ({"bought": "shoes"}, {A}),
    ({"bought": "bags"}, {A, C}),
    ({"revenue_over": 100}, {C}),
    ({"revenue_over": 99.5}, {A, C}),  # A: 40 + 60
    ({"customer": "returning"}, {A}),
    ({"customer": "new"}, {C}),
    ({"attribute": "segment", "equals": "premium"}, {A}),
    ({"attribute": "segment", "equals": ["gold", "silver"]}, set()),
    ({"stage_reached": "awareness"}, {A, B, C}),  # reached it or went further; social is awareness
    ({"stage_reached": "cart"}, {A}),
    ({"stage_reached": "intent"}, {A, C}),  # email is intent: C reached it
    ({"message": "opened"}, {A}),
    ({"message": "opened", "journey": "cart"}, set()),  # a proxy's open only
    ({"message": "clicked", "journey": "cart"}, {A}),
    ({"message": "unsubscribed"}, {A}),
    ({"field": "touches", "op": ">=", "value": 4}, {A}),
    ({"field": "conversions", "op": "=", "value": 0}, {B}),
    ({"field": "revenue", "op": "<", "value": 100}, {B}),  # A: exactly 100
    ({"field": "revenue", "op": "<=", "value": 100}, {A, B}),
    # no prediction in these workspaces (tests/test_predict_flow.py has them): null scores meet no test
    ({"field": "propensity", "op": ">=", "value": 0}, set()),
    ({"next_best_channel": "email"}, set()),
    ({"not": {"next_best_channel": "email"}}, {A, B, C}),
    ({"all": [{"touched": "email"}, {"not": {"device": "desktop"}}]}, {C}),
    ({"any": [{"device": "tablet"}, {"revenue_over": 200}]}, {B, C}),
    ({"not": {"any": [{"device": "tablet"}, {"revenue_over": 200}]}}, {A}),
]


def test_each_kind_of_test_has_an_engine_expression():
    assert set(TESTS) == set(KINDS)


def test_every_case_by_hand(three):
    got = {json.dumps(when): who(three, when) for when, _ in CASES}
    assert got == {json.dumps(when): want for when, want in CASES}
    assert {json.dumps(w)[2:].split('"')[0] for w, _ in CASES} >= set(KINDS)  # every kind is worked out


ATOMS = [when for when, _ in CASES[:-3]]


def trees(depth: int = 3) -> st.SearchStrategy:
    leaf = st.sampled_from(range(len(ATOMS))).map(lambda i: ("atom", i))
    return st.recursive(leaf, lambda kids: st.one_of(
        st.tuples(st.just("all"), st.lists(kids, min_size=1, max_size=3)),
        st.tuples(st.just("any"), st.lists(kids, min_size=1, max_size=3)),
        st.tuples(st.just("not"), kids)), max_leaves=8)


def _plain(tree) -> dict:
    how, arg = tree
    if how == "atom":
        return ATOMS[arg]
    if how == "not":
        return {"not": _plain(arg)}
    return {how: [_plain(t) for t in arg]}


def _sets(tree, atoms: dict[int, set[str]]) -> set[str]:
    how, arg = tree
    if how == "atom":
        return atoms[arg]
    if how == "not":
        return EVERYONE - _sets(arg, atoms)
    parts = [_sets(t, atoms) for t in arg]
    return set.intersection(*parts) if how == "all" else set.union(*parts)


@pytest.fixture
def atoms(three):
    return three, {i: who(three, when) for i, when in enumerate(ATOMS)}


@given(tree=trees())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_tree_is_the_set_algebra_of_its_tests(atoms, tree):
    ws, sets = atoms
    when = _plain(tree)
    assert who(ws, when) == _sets(tree, sets)
    assert parse(plain(parse(when))) == parse(when)  # the plain form reads back the same


DEEP: dict = {"device": "mobile"}
for _ in range(11):
    DEEP = {"not": DEEP}


@pytest.mark.parametrize(("when", "field", "reason"), [
    ([], "when", "a condition is one test"),
    ({}, "when", "a condition is one test"),
    ({"touched": "email", "device": "mobile"}, "when", "expected exactly one of"),
    ({"smelled": "roses"}, "when", "expected exactly one of"),
    ({"all": []}, "when.all", "non-empty list"),
    ({"all": [{"touched": "email"}, {"device": "phone"}]}, "when.all[1].device", "expected one of desktop"),
    ({"touched": "email", "within_days": 0}, "when.within_days", "whole number of days"),
    ({"touched": "email", "within_days": 2.5}, "when.within_days", "whole number of days"),
    ({"touched": "email", "within_days": True}, "when.within_days", "expected a number"),
    ({"touched": "email", "since": 3}, "when.since", "unknown key"),
    ({"touched": ""}, "when.touched", "expected a text"),
    ({"converted": "yes"}, "when.converted", "true or false"),
    ({"revenue_over": float("nan")}, "when.revenue_over", "expected a number"),
    ({"attribute": "segment"}, "when.equals", "missing"),
    ({"attribute": "segment", "equals": []}, "when.equals", "a text or a list of texts"),
    ({"field": "touches", "op": "~", "value": 1}, "when.op", "expected one of"),
    ({"field": "email_sha256", "op": "=", "value": 1}, "when.field", "expected one of"),
    (DEEP, "when" + ".not" * 11, "levels deep"),
])
def test_a_bad_condition_names_its_key(when, field, reason):
    with pytest.raises(InvalidInput) as caught:
        parse(when)
    assert caught.value.field == field and reason in caught.value.reason


def test_an_unknown_funnel_stage_is_refused_at_evaluation(three):
    with pytest.raises(InvalidInput, match="unknown funnel stage 'checkout'"):
        who(three, {"stage_reached": "checkout"})


def test_the_workspace_book_saves_lists_and_deletes(ws):
    (ws.path / "parcours.toml").write_text('[[audiences]]\nname = "buyers"\nwhen = { converted = true }\n')
    ws.__dict__.pop("config", None)
    book = Book(ws.path, ws.config)
    assert [(a.name, a.source) for a in book.all()] == [("buyers", "config")]
    book.save(Audience("mobile", parse({"device": "mobile"}), "phones"))
    book.save(Audience("mobile", parse({"device": "tablet"}), "tablets"))  # replaced, not added
    assert [(a.name, a.description) for a in book.all()] == [("buyers", ""), ("mobile", "tablets")]
    with pytest.raises(InvalidInput, match="defined in .*parcours.toml: edit it there"):
        book.delete("buyers")
    with pytest.raises(InvalidInput, match="no audience named 'nope'; audiences: buyers, mobile"):
        book.delete("nope")
    book.delete("mobile")
    assert [a.name for a in book.all()] == ["buyers"]



def test_a_saved_audience_this_version_cannot_run_is_said_and_skipped_and_kept(ws):
    """Issue 28.12: an audience an older version saved (or whose funnel stage the config lost)
    is reported and skipped, never fatal; saving another keeps it in the file as it was."""
    old = [{"name": "x", "when": {"device": "phone"}}, {"name": "y", "when": {"stage_reached": "gone"}},
           {"name": "z", "when": {"device": "mobile"}}, "not an audience"]
    (ws.path / "audiences.json").write_text(json.dumps({"audiences": old}))
    book = Book(ws.path, ws.config)
    assert [a.name for a in book.all()] == ["z"]
    assert book.problems == [
        "audiences.json: audiences[0].when.device: expected one of desktop, mobile, tablet, other, not 'phone' "
        "(audience 'x' skipped)",
        "audiences.json: audiences[1].when.stage_reached: unknown funnel stage 'gone'; stages: awareness, "
        "consideration, intent, cart (audience 'y' skipped)",
        "audiences.json: audiences[3]: an audience is an object: a name, a description if any, and its condition "
        "(when) (skipped)"]
    book.save(Audience("w", parse({"device": "tablet"})))
    kept = json.loads((ws.path / "audiences.json").read_text())["audiences"]
    assert [e for e in kept if e in old] == [old[3], old[0], old[1]] and len(kept) == 5
    assert [a.name for a in book.all()] == ["w", "z"]


@pytest.mark.parametrize("when", [{"stage_reached": "checkout_v2"}, {"all": [{"device": "mobile"},
                                  {"not": {"stage_reached": "nope"}}]}])
def test_a_refused_audience_is_never_saved(ws, when):
    book = Book(ws.path, ws.config)
    with pytest.raises(InvalidInput, match="unknown funnel stage"):
        book.save(Audience("bad", parse(when)))
    assert not (ws.path / "audiences.json").exists() and book.all() == []


@pytest.mark.parametrize(("when", "field"), [
    ({"bought": "bags\x00"}, "when.bought"), ({"attribute": "segment", "equals": ["a", "b\x00c"]}, "when.equals[1]"),
    ({"touched": "x" * 1001}, "when.touched"), ({"attribute": "segment", "equals": ["v"] * 1001}, "when.equals"),
    ({"any": [{"bought": "\x1b[31m"}]}, "when.any[0].bought")])
def test_a_condition_value_is_a_bounded_text_without_control_characters(when, field):
    with pytest.raises(InvalidInput, match=f"field {re.escape(field)}: expected (a text of at most|at most 1,000)"):
        parse(when)


def test_a_bad_config_audience_is_a_config_error_naming_its_key(ws):
    from parcours.contract.config import load_config
    from parcours.errors import ConfigError

    (ws.path / "parcours.toml").write_text(
        '[[audiences]]\nname = "x"\nwhen = { touched = "email", within_days = -1 }\n')
    with pytest.raises(ConfigError, match=r"field audiences\[0\].when.within_days: expected a whole number"):
        load_config(ws.path)


def test_exports_by_hand(three, tmp_path):
    a = Audience("crm", parse({"attribute": "segment", "equals": "premium"}))
    assert export(three.warehouse, three.config, a, "csv", tmp_path / "a.csv") == {"members": 1, "rows": 1}
    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert rows == [{"person_id": A, "visitor_ids": "va1|va2", "user_ids": "ua", "customer_ids": "C1",
                     "email_sha256": JANE, "phone_sha256": JANE_PHONE,  # no prediction yet: empty scores
                     "propensity": "", "next_best_channel": "", "next_best_gain": ""}]
    export(three.warehouse, three.config, a, "parquet", tmp_path / "a.parquet")
    assert pq.read_table(tmp_path / "a.parquet").to_pylist()[0]["visitor_ids"] == ["va1", "va2"]
    everyone = Audience("all", parse({"any": [{"converted": True}, {"converted": False}]}))
    counts = export(three.warehouse, three.config, everyone, "customer-match", tmp_path / "cm.csv")
    assert counts == {"members": 3, "rows": 1}  # only A has hashes
    assert (tmp_path / "cm.csv").read_text().splitlines() == ["Email,Phone", f"{JANE},{JANE_PHONE}"]
    with pytest.raises(InvalidInput, match="format must be one of csv, parquet, customer-match"):
        export(three.warehouse, three.config, a, "xml", tmp_path / "a.xml")


def test_the_api_saves_sizes_previews_exports_and_refuses_with_the_key(three):
    (three.path / "parcours.toml").write_text(
        '[api]\ntokens = [{ token = "reader-token-123456", scopes = ["read"] }, '
        '{ token = "writer-token-123456", scopes = ["read", "write"] }]\n')
    three.__dict__.pop("config", None)
    read = {"Authorization": "Bearer reader-token-123456"}
    write = {"Authorization": "Bearer writer-token-123456"}
    with TestClient(create_app(three.path), base_url="http://127.0.0.1") as client:
        assert client.get("/api/v1/audiences", headers=read).json() == []
        body = {"description": "email, no order", "when": {"all": [{"touched": "email"}, {"converted": False}]}}
        assert client.put("/api/v1/audiences/quiet", json=body, headers=read).status_code == 403
        saved = client.put("/api/v1/audiences/quiet", json=body, headers=write)
        assert saved.status_code == 200 and saved.json()["size"] == 0
        body["when"] = {"touched": "email"}
        assert client.put("/api/v1/audiences/quiet", json=body, headers=write).json()["size"] == 2
        listed = client.get("/api/v1/audiences", headers=read).json()
        assert [(a["name"], a["size"], a["source"], a["when"], [h["size"] for h in a["history"]], a["overlap"])
                for a in listed] == [("quiet", 2, "workspace", {"touched": "email"}, [2], {"quiet": 2})]
        # issue 28.4: every report filters by it at once; an unknown audience is refused by name
        everyone = client.get("/api/v1/reports/path-length?start=2026-11-01", headers=read).json()
        assert client.put("/api/v1/audiences/bags", json={"when": {"revenue_over": 150}}, headers=write).json()[
            "members_ready"]
        summary = client.get("/api/v1/reports/path-length?audiences=bags&start=2026-11-01", headers=read).json()
        assert (summary["totals"]["conversions"], everyone["totals"]["conversions"]) == (1, 3)  # C: 300, A: 100
        assert client.delete("/api/v1/audiences/bags", headers=write).status_code == 200
        bad = client.get("/api/v1/reports/path-length?audiences=nope", headers=read)
        assert bad.status_code == 400 and "no audience named 'nope'; audiences: quiet" in bad.json()["error"]
        # issue 28.12: a refused audience is not saved, and nothing breaks
        refused = client.put("/api/v1/audiences/lost", json={"when": {"stage_reached": "checkout_v2"}}, headers=write)
        assert refused.status_code == 400
        assert "field when.stage_reached: unknown funnel stage" in refused.json()["error"]
        assert [a["name"] for a in client.get("/api/v1/audiences", headers=read).json()] == ["quiet"]
        assert client.post("/api/v1/audiences/preview", json={"when": {"device": "tablet"}},
                           headers=read).json() == {"size": 1, "persons": 3}
        bad = client.post("/api/v1/audiences/preview", json={"when": {"device": "phone"}}, headers=read)
        assert bad.status_code == 400 and "field when.device: expected one of" in bad.json()["error"]
        bad = client.put("/api/v1/audiences/Not a name", json=body, headers=write)
        assert bad.status_code == 400 and "field audience.name" in bad.json()["error"]
        assert client.get("/api/v1/audiences/nope", headers=read).status_code == 404  # issue 28.23
        assert client.delete("/api/v1/audiences/nope", headers=write).status_code == 404
        got = client.get("/api/v1/audiences/quiet/export?format=csv", headers=read)
        assert got.status_code == 200
        assert sorted(r["person_id"] for r in csv.DictReader(io.StringIO(got.text))) == [A, C]
        assert client.get("/api/v1/audiences/quiet/export?format=xml", headers=read).status_code == 422
        assert client.delete("/api/v1/audiences/quiet", headers=write).json() == {"deleted": "quiet"}
        assert client.get("/api/v1/audiences", headers=read).json() == []
        gone = client.get("/api/v1/reports/path-length?audiences=quiet", headers=read)
        assert gone.status_code in (400, 409)
        assert "quiet" not in client.get("/api/v1/meta", headers=read).json()["audiences"]


def test_the_api_tells_the_page_its_grammar_the_crm_match_and_each_audiences_past(three):
    from parcours.activation.audiences import refresh
    from parcours.contract.conditions import KINDS

    book = Book(three.path, three.config)
    book.save(Audience("emailed", parse({"touched": "email"})))
    book.save(Audience("desktop", parse({"device": "desktop"})))
    with TestClient(create_app(three.path), base_url="http://127.0.0.1") as client:
        kinds = client.get("/api/v1/conditions").json()
        assert [k["kind"] for k in kinds] == list(KINDS)
        touched = kinds[0]
        assert touched["labels"] == {"en": "Touched the channel", "fr": "A touché le levier"}
        assert touched["offers"] == "channels" and touched["more"]["within_days"]["required"] is False
        message = next(k for k in kinds if k["kind"] == "message")
        assert message["choice_labels"]["opened"]["fr"] == "a ouvert un message"
        assert client.get("/api/v1/profiles").json() == {
            "persons": 3, "last_reported_day": "2026-11-21", "cut": "2026-11-22 00:00:00",  # AS_OF 23 Nov
            "crm": {"customers": 1, "linked": 1, "by_account": 1, "by_email": 0, "by_phone": 0, "match_rate": 1.0}}
        refresh(three.warehouse, three.config, three.path)
        listed = {a["name"]: a for a in client.get("/api/v1/audiences").json()}
        assert [h["size"] for h in listed["emailed"]["history"]] == [2]
        assert listed["emailed"]["overlap"] == {"desktop": 1, "emailed": 2}  # A is both; C is emailed only
        assert listed["desktop"]["overlap"] == {"desktop": 1, "emailed": 1}
        assert client.get("/api/v1/audiences/desktop").json()["history"][0]["size"] == 1


def test_an_audience_history_before_any_refresh_is_empty(three):
    from parcours.activation.audiences import history, standing

    assert history(three.warehouse).to_pyarrow().num_rows == 0
    assert standing(three.warehouse) == {}


def test_the_command_line(three, tmp_path):
    run = CliRunner().invoke
    w = ["-w", str(three.path)]
    three.close()
    res = run(app, ["audience", "save", "phones", "--when", '{"device": "mobile"}', "--description", "on phones", *w])
    assert res.exit_code == 0 and "saved audience phones: 2 persons" in res.output, res.output
    res = run(app, ["audience", "list", *w])
    assert "phones" in res.output and "on phones" in res.output
    assert json.loads(run(app, ["audience", "show", "phones", *w]).output)["size"] == 2
    assert "1 persons" in run(app, ["audience", "size", "--when", '{"device": "tablet"}', *w]).output
    res = run(app, ["audience", "export", "phones", "--format", "customer-match", "-o", str(tmp_path / "p.csv"), *w])
    assert res.exit_code == 0 and "2 persons, 1 rows" in res.output
    res = run(app, ["audience", "size", "--when", '{"device": }', *w])
    assert res.exit_code == 2 and "field --when: not JSON" in res.output
    # issue 28.4: a report filters by it at once, and refuses an audience it does not know, by name
    res = run(app, ["report", "path-length", "--audience", "phones", "--start", "2026-11-01", "--format", "json", *w])
    assert res.exit_code == 0 and json.loads(res.stdout)["totals"]["conversions"] == 3, res.output
    res = run(app, ["report", "path-length", "--audience", "phone", *w])
    assert res.exit_code == 2 and "no audience named 'phone'; audiences: phones" in res.output, res.output
    res = run(app, ["audience", "delete", "phones", *w])
    assert res.exit_code == 0 and run(app, ["audience", "list", *w]).output.startswith("no audience yet")
    # issue 28.12: a saved audience this version cannot run is said and skipped by the build, never fatal
    (three.path / "audiences.json").write_text('{"audiences": [{"name": "x", "when": {"stage_reached": "gone"}}]}')
    res = run(app, ["build", *w])
    assert res.exit_code == 0 and "audiences[0].when.stage_reached: unknown funnel stage 'gone'" in res.output
    res = run(app, ["audience", "save", "y", "--when", '{"stage_reached": "nope"}', *w])
    assert res.exit_code == 2 and "field when.stage_reached: unknown funnel stage 'nope'" in res.output, res.output


def test_before_a_build_an_audience_is_saved_and_its_size_waits(ws):
    from parcours.errors import NotBuilt

    book = Book(ws.path, ws.config)
    book.save(Audience("later", parse({"device": "mobile"})))
    with pytest.raises(NotBuilt):
        members(ws.warehouse, ws.config, book.get("later").when)
    load_rows(ws, "touchpoints", [{"event_id": "x", "ts": day_at(1), "visitor_id": "v", "device": "mobile"}])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    assert who(ws, {"device": "mobile"}) == {"v:v"}


def test_a_workspace_can_be_reopened(three):
    three.close()
    with Workspace(three.path) as again:
        assert who(again, {"device": "tablet"}) == {B}


def test_each_build_keeps_sizes_who_joined_and_left_and_the_person_cards(three):
    from builders import rows_of
    from parcours.activation.audiences import history, overlap, person, refresh

    book = Book(three.path, three.config)
    book.save(Audience("phones", parse({"device": "mobile"})))
    book.save(Audience("buyers", parse({"converted": True})))
    book.save(Audience("quiet", parse({"touched": "sms"})))
    wh = three.warehouse
    assert refresh(wh, three.config, three.path) == {"buyers": 2, "phones": 2, "quiet": 0}
    first = rows_of(three, "audience_changes")
    assert sorted((r["audience"], r["person_id"], r["change"]) for r in first) == [
        ("buyers", A, "joined"), ("buyers", C, "joined"), ("phones", A, "joined"), ("phones", C, "joined")]
    # B converts; "phones" is redefined as tablets
    load_rows(three, "conversions", [{"conversion_id": "ob", "ts": day_at(6), "visitor_id": "vb", "revenue": "5"}])
    build_journeys(wh, three.config, as_of=AS_OF)
    book.save(Audience("phones", parse({"device": "tablet"})))
    assert refresh(wh, three.config, three.path) == {"buyers": 3, "phones": 1, "quiet": 0}
    t = wh.table("audience_changes")
    latest = t.filter(t.built_at == t.built_at.max()).to_pyarrow().to_pylist()
    assert sorted((r["audience"], r["person_id"], r["change"]) for r in latest) == [
        ("buyers", B, "joined"), ("phones", A, "left"), ("phones", B, "joined"), ("phones", C, "left")]
    sizes = history(wh).to_pyarrow().to_pylist()
    assert [(r["audience"], r["size"]) for r in sizes] == [("buyers", 2), ("buyers", 3), ("phones", 2),
                                                           ("phones", 1), ("quiet", 0), ("quiet", 0)]
    pairs = {(r["audience"], r["other"]): r["persons"] for r in overlap(wh).to_pyarrow().to_pylist()}
    assert pairs == {("buyers", "buyers"): 3, ("buyers", "phones"): 1, ("phones", "buyers"): 1,
                     ("phones", "phones"): 1}
    # the person API's lookups: any identifier, an email as people type it, a person id
    for ident in ("va2", "ua", "C1", JANE, " Jane.Doe@EXAMPLE.com", "06 12 34 56 78", A):
        found = person(wh, three.config, ident)
        assert found is not None and found["person_id"] == A and found["audiences"] == ["buyers"], ident
    assert person(wh, three.config, "vb")["audiences"] == ["buyers", "phones"]
    assert person(wh, three.config, "nobody@example.com") is None and person(wh, three.config, "v:zz") is None
    assert person(wh, three.config, "vb")["attributes"] is None
    assert person(wh, three.config, "ua")["attributes"] == {"segment": "premium"}


def test_saving_or_deleting_one_audience_refreshes_it_as_a_whole_refresh_would(three):
    """An audience saved between builds: its members, size and the cards of who joined or left
    it are written at once (refresh(only=...)), the same rows a whole refresh writes."""
    from builders import rows_of
    from parcours.activation.audiences import refresh

    book, wh = Book(three.path, three.config), three.warehouse

    def tables() -> tuple:
        cards = sorted((r["id"], r["person_id"], tuple(r["audiences"])) for r in rows_of(three, "person_cards"))
        members = sorted((r["audience"], r["person_id"]) for r in rows_of(three, "audience_members"))
        t = wh.table("audience_sizes")
        sizes = sorted((r["audience"], r["size"]) for r in t.filter(t.built_at == t.built_at.max()).to_pyarrow()
                       .to_pylist())
        return cards, members, sizes

    book.save(Audience("phones", parse({"device": "mobile"})))
    book.save(Audience("buyers", parse({"converted": True})))
    refresh(wh, three.config, three.path)
    for step in ("edit", "add", "delete"):
        if step == "edit":
            book.save(Audience("phones", parse({"device": "tablet"})))
            name = "phones"
        elif step == "add":
            book.save(Audience("big", parse({"revenue_over": 150})))
            name = "big"
        else:
            book.delete("buyers")
            name = "buyers"
        refresh(wh, three.config, three.path, only=name)
        one = tables()
        refresh(wh, three.config, three.path)
        assert tables() == one, step
    assert tables()[1] == [("big", C), ("phones", B)]


def test_the_person_api(three):
    from parcours.activation.audiences import refresh

    Book(three.path, three.config).save(Audience("buyers", parse({"converted": True})))
    with TestClient(create_app(three.path), base_url="http://127.0.0.1") as client:
        assert client.get("/api/v1/persons/ua").status_code == 409  # no refresh yet: a build makes one
        refresh(three.warehouse, three.config, three.path)
        got = client.get("/api/v1/persons/Jane.Doe@example.com")
        assert got.status_code == 200 and got.json()["audiences"] == ["buyers"]
        assert got.json()["channels"] == ["direct", "display", "email"] and got.json()["stage"] == "cart"
        assert client.get("/api/v1/persons/someone-else").status_code == 404


def test_an_export_for_people_never_runs_an_id_as_a_formula(ws, tmp_path):
    """Issue 28.13's class: an id from data that a spreadsheet would run (`=1+2`) is written as
    text in an audience's CSV export, as in every file parcours writes for people."""
    load_rows(ws, "touchpoints", [{"event_id": "x", "ts": day_at(1), "visitor_id": "=1+2", "device": "mobile"}])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    export(ws.warehouse, ws.config, Audience("phones", parse({"device": "mobile"})), "csv", tmp_path / "a.csv")
    row = next(csv.DictReader((tmp_path / "a.csv").open(encoding="utf-8")))
    assert (row["person_id"], row["visitor_ids"]) == ("v:=1+2", "'=1+2")
