"""Personal data (issue 16): erasure by any identifier from every table, raw and derived,
in one transaction, with an audit line that holds no value; retention; consent."""

from __future__ import annotations

import json
from contextlib import nullcontext
from fnmatch import fnmatch

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from builders import AS_OF, JANE, JANE_PHONE, A, C, day_at, load_rows, rows_of, who
from parcours.activation.audiences import Book, person, refresh
from parcours.activation.privacy import (
    AUDIT_FILE,
    BY_PERSON,
    FILES,
    WITHOUT_PERSON_TABLES,
    WITHOUT_PERSONS,
    forget,
    retain,
)
from parcours.build.journeys import build_journeys
from parcours.contract.conditions import Audience, parse
from parcours.errors import InvalidInput
from parcours.faces.cli import app

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

    from parcours.faces.api import create_app

    (three.path / "parcours.toml").write_text(
        '[api]\ntokens = [{ token = "writer-token-123456", scopes = ["write"] }]\n')
    three.__dict__.pop("config", None)
    write = {"Authorization": "Bearer writer-token-123456"}
    with TestClient(create_app(three.path), base_url="http://127.0.0.1") as client:
        for body in ({}, {"identifier": ""}, {"identifier": 3}, {"identifier": "x", "also": 1}):
            got = client.post("/api/v1/forget", json=body, headers=write)
            assert got.status_code == 400 and "field identifier" in got.json()["error"], body
        assert client.post("/api/v1/forget", json={"identifier": "vb"}).status_code == 401


REJECTS_HEADER = "file,row,field,value,reason\n"


def test_forget_blanks_only_the_persons_values_in_the_rejects_files(three):
    """Issue 28.2: a line goes only where a field naming a person holds the person's value; a
    row number, a reason or another field's value that happens to equal it stays."""
    folder = three.path / "rejects"
    folder.mkdir(exist_ok=True)
    lines = ["x.csv,3,pageviews,1.5,not an integer",  # row 3, "3" nowhere as an id
             "x.csv,4,visitor_id,va1,duplicate key of row 1",  # A's visitor id: blanked
             "x.csv,5,ts,va1,not a valid timestamp",  # A's id as a timestamp: not A's data
             "x.csv,6,revenue,x,not a finite number",
             "x.csv,7,email,JANE.DOE@example.com ,duplicate key of row 2",  # A's email as written
             "x.csv,8,user_id,'=ua,bad",  # a neutralised cell: not A's user id ua
             "x.csv,9,user_id,ua,bad",  # A's user id
             "x.csv,10,user_pseudo_id,va1,in the future"]  # a GA4 rejects file's id
    (folder / "x.rejects.csv").write_text(REJECTS_HEADER + "\n".join(lines) + "\n")
    kept = (folder / "x.rejects.csv").read_text()
    for not_ids in ("3", "row"):
        forget(three.warehouse, three.config, not_ids, three.path)
        assert (folder / "x.rejects.csv").read_text() == kept, not_ids
    with pytest.raises(InvalidInput, match="not an identifier"):
        forget(three.warehouse, three.config, "not a finite number", three.path)
    deleted = forget(three.warehouse, three.config, "jane.doe@example.com", three.path)
    assert deleted["rejects/x.rejects.csv"] == 4
    after = [line.split(",") for line in (folder / "x.rejects.csv").read_text().splitlines()[1:]]
    assert [r[3] for r in after] == ["1.5", "", "va1", "x", "", "'=ua", "", ""]
    assert [r[:3] + r[4:] for r in after] == [r[:3] + r[4:] for r in (line.split(",") for line in lines)]


NO_IDENTIFIERS = ["not a finite number", "", "   ", "a\u202eb", "x" * 300, "v\x00a", "two words", "\u200b"]


def test_what_is_no_identifier_is_refused_by_every_face(three):
    from parcours.front.jobs import Jobs

    for said in NO_IDENTIFIERS:
        with pytest.raises(InvalidInput, match="field identifier: not an identifier|field identifier: forget takes"):
            forget(three.warehouse, three.config, said, three.path)
    jobs = Jobs(three.config, nullcontext, nullcontext, door=lambda wh: three)
    try:
        for said in NO_IDENTIFIERS:
            with pytest.raises(InvalidInput, match="field identifier"):
                jobs.submit("forget", {"identifier": said})  # refused before the queue: the API's 400
    finally:
        jobs.stop()
    three.close()
    for said in NO_IDENTIFIERS[:4]:
        res = CliRunner().invoke(app, ["forget", said, "-w", str(three.path)])
        assert res.exit_code == 2 and "identifier" in res.output and "Traceback" not in res.output, res.output


def test_every_file_and_table_a_workspace_writes_is_declared_and_erased(three):
    """Issue 28.11: everything parcours writes into a workspace is either a place an erasure
    reaches (`FILES`, the warehouse's tables) or declared to hold no person; after forget, none
    of the person's ids is anywhere."""
    from builders import ga4_export, write_ga4
    from parcours.contract.schema import TABLES
    from parcours.predict import TABLES as PREDICTED

    Book(three.path, three.config).save(Audience("buyers", parse({"converted": True})))
    refresh(three.warehouse, three.config, three.path)
    load_rows(three, "touchpoints", [{"event_id": "bad", "ts": "never", "visitor_id": "va1"},
                                     {"event_id": "bad", "ts": day_at(1), "visitor_id": "va1"}])
    three.close()
    export = write_ga4(ga4_export(), three.path.parent / "events_20261014.parquet")
    CliRunner().invoke(app, ["ingest", "ga4", str(export), "-w", str(three.path)])
    CliRunner().invoke(app, ["ingest", "touchpoints", str(three.path / "touchpoints-1.csv"), "-w", str(three.path)])
    written = [p.relative_to(three.path).as_posix() for p in three.path.rglob("*") if p.is_file()]
    undeclared = [p for p in written if not any(fnmatch(p, g) for g in (*FILES, *WITHOUT_PERSONS, "*.csv"))]
    assert undeclared == []  # the test's own input files are CSVs at the top
    assert any(fnmatch(p, "ga4/*.parquet") for p in written) and any(fnmatch(p, "rejects/*.csv") for p in written)
    tables = set(three.warehouse.tables())
    assert tables <= {*TABLES, *BY_PERSON, *WITHOUT_PERSON_TABLES, *PREDICTED}, tables
    for identifier in ("jane.doe@example.com", "p1", "u1", "p2"):
        forget(three.warehouse, three.config, identifier, three.path)
    gone = A_VALUES | {"p1", "u1", "p2"}
    assert not gone & every_value(three), where(three, gone & every_value(three))
    for pattern in FILES:
        for path in three.path.glob(pattern):
            values = (set(pq.read_table(path).to_pandas().astype(str).to_numpy().ravel())
                      if path.suffix == ".parquet" else set(path.read_text().replace("\n", ",").split(",")))
            assert not gone & values, (path, gone & values)
