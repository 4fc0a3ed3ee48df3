"""Personal data (issue 16): erasure by any identifier from every table, raw and derived,
in one transaction, with an audit line that holds no value; retention; consent."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from builders import AS_OF, JANE, JANE_PHONE, A, C, day_at, load_rows, rows_of, who
from parcours.audiences import Book, person, refresh
from parcours.cli import app
from parcours.conditions import Audience, parse
from parcours.journeys import build_journeys
from parcours.privacy import AUDIT_FILE, forget, retain

A_VALUES = {"va1", "va2", "ua", "C1", JANE, JANE_PHONE, A, "jane.doe@example.com", "jane@x.fr"}


def every_value(ws) -> set[str]:
    """Every text, in every column (lists and maps too), of every table of the warehouse."""
    seen: set[str] = set()

    def walk(v):
        if isinstance(v, str):
            seen.add(v)
        elif isinstance(v, dict):
            for x in v.items():
                walk(x)
        elif isinstance(v, list | tuple):
            for x in v:
                walk(x)
    for name in ws.warehouse.tables():
        if not name.startswith("_"):
            for row in ws.warehouse.table(name).to_pyarrow().to_pylist():
                walk(list(row.values()))
    return seen


def where(ws, values) -> list[str]:
    return [n for n in ws.warehouse.tables() if not n.startswith("_") and values & set(
        json.dumps(ws.warehouse.table(n).to_pyarrow().to_pylist(), default=str).split('"'))]


def test_forget_erases_a_person_everywhere_by_an_email_as_typed(three):
    Book(three.path, three.config).save(Audience("buyers", parse({"converted": True})))
    refresh(three.warehouse, three.config, three.path)
    (three.path / "rejects").mkdir(exist_ok=True)
    (three.path / "rejects" / "old.rejects.csv").write_text("file,row,field,value,reason\nx.csv,2,user_id,ua,bad\n"
                                                            "x.csv,3,user_id,zz,bad\n")
    assert A_VALUES & every_value(three)
    deleted = forget(three.warehouse, three.config, "  JANE.Doe@example.com", three.path)
    assert deleted["touchpoints"] == 4 and deleted["conversions"] == 2 and deleted["crm"] == 1
    assert deleted["messages"] == 8 and deleted["identities"] == 2 and deleted["profiles"] == 1
    assert deleted["rejects/old.rejects.csv"] == 1
    left = A_VALUES & every_value(three)
    assert not left, where(three, left)  # no id, hash or recipient of A anywhere
    assert "ua" not in (three.path / "rejects" / "old.rejects.csv").read_text()
    assert person(three.warehouse, three.config, "ua") is None and person(three.warehouse, three.config, JANE) is None
    assert who(three, {"converted": True}) == {C}  # B and C untouched
    line = json.loads((three.path / AUDIT_FILE).read_text().splitlines()[-1])
    assert line["action"] == "forget" and line["identifier"] == "email" and line["rows"]["crm"] == 1
    assert not A_VALUES & set(json.dumps(line).split('"'))  # the audit names no value
    assert forget(three.warehouse, three.config, "ua", three.path) == {}  # nothing left, still audited
    assert len((three.path / AUDIT_FILE).read_text().splitlines()) == 2


def test_forget_by_a_visitor_id_and_from_the_command_line(three):
    three.close()
    res = CliRunner().invoke(app, ["forget", "vb", "-w", str(three.path)])
    assert res.exit_code == 0 and "erased: 1 rows of touchpoints" in res.output, res.output
    res = CliRunner().invoke(app, ["forget", "nobody", "-w", str(three.path)])
    assert res.exit_code == 0 and "nothing to erase" in res.output


def test_retention_drops_old_raw_rows_and_the_next_build_is_whole(three):
    (three.path / "parcours.toml").write_text("[privacy]\nretention_days = 9\n")
    three.__dict__.pop("config", None)
    dropped = retain(three.warehouse, three.config, AS_OF, three.path)  # before AS_OF - 9 days = day_at(1)
    assert dropped == {"touchpoints": 1}  # a1, day_at(0); a touch exactly 9 days before stays
    assert "a1" not in {r["event_id"] for r in rows_of(three, "touchpoints")}
    line = json.loads((three.path / AUDIT_FILE).read_text().splitlines()[-1])
    assert line["action"] == "retention" and line["identifier"] == "older than 9 days"
    assert retain(three.warehouse, three.config, AS_OF, three.path) == {}  # nothing older is left


def test_touches_without_consent_reach_no_person_level_output(ws):
    load_rows(ws, "touchpoints", [
        {"event_id": "k1", "ts": day_at(1), "visitor_id": "vk", "device": "mobile", "channel": "display",
         "consent": "false"},
        {"event_id": "k2", "ts": day_at(2), "visitor_id": "vk", "device": "desktop", "channel": "email"},
        {"event_id": "n1", "ts": day_at(1), "visitor_id": "vn", "device": "tablet", "channel": "social",
         "consent": "false"},
    ])
    load_rows(ws, "conversions", [{"conversion_id": "ok", "ts": day_at(3), "visitor_id": "vk", "revenue": "10",
                                   "device": "desktop"}])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    got = {r["person_id"]: r for r in rows_of(ws, "profiles")}
    assert set(got) == {"v:vk"}  # vn is known by nothing it consented to
    assert got["v:vk"]["channels"] == ["email"] and got["v:vk"]["devices"] == ["desktop"]
    assert who(ws, {"device": "tablet"}) == set() and who(ws, {"touched": "display"}) == set()
    j = {r["journey_id"]: r for r in rows_of(ws, "journeys")}
    assert j["c:ok"]["channels"] == ["display", "email"]  # aggregate reports still count it
    (ws.path / "parcours.toml").write_text("[privacy]\ncount_without_consent = false\n")
    ws.__dict__.pop("config", None)
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    j = {r["journey_id"]: r for r in rows_of(ws, "journeys")}
    assert j["c:ok"]["channels"] == ["email"] and "n:v:vn" not in j


def test_a_forget_request_without_an_identifier_is_a_400(three):
    from fastapi.testclient import TestClient

    from parcours.api import create_app

    (three.path / "parcours.toml").write_text(
        '[api]\ntokens = [{ token = "writer-token-123456", scopes = ["write"] }]\n')
    three.__dict__.pop("config", None)
    write = {"Authorization": "Bearer writer-token-123456"}
    with TestClient(create_app(three.path)) as client:
        for body in ({}, {"identifier": ""}, {"identifier": 3}, {"identifier": "x", "also": 1}):
            got = client.post("/api/v1/forget", json=body, headers=write)
            assert got.status_code == 400 and "field identifier" in got.json()["error"], body
        assert client.post("/api/v1/forget", json={"identifier": "vb"}).status_code == 401
