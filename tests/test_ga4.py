"""`parcours ingest ga4`: a GA4 BigQuery export (builders.ga4_export, written from the
export's published schema) into touchpoints, conversions and identities, every expected row
worked out by hand."""

import contextlib
import copy
import datetime as dt
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from builders import GA4_DAY, ga4_event, ga4_export, rows_of, write_ga4
from parcours.errors import InvalidInput, ParcoursError
from parcours.faces.cli import app
from parcours.load.ga4 import convert


def ingest(ws_path, *files):
    return CliRunner().invoke(app, ["ingest", "ga4", *map(str, files), "-w", str(ws_path)])


@pytest.mark.parametrize("suffix", [".parquet", ".json"])
def test_a_ga4_export_becomes_sessions_conversions_and_identities(tmp_path, suffix):
    from parcours import Workspace

    path = write_ga4(ga4_export(), tmp_path / f"events_20261014{suffix}")
    res = ingest(tmp_path / "ws", path)
    # the repeated T1 and the consent-mode purchase (no visitor, no user) are rejected
    assert res.exit_code == 1, res.output
    assert "ga4: 11 events read; 3 without a session id or a user_pseudo_id" in res.output
    assert "duplicate key of row 2 (value 'T1')" in res.output
    assert "needs a visitor_id, a user_id or a customer_id" in res.output
    with Workspace(tmp_path / "ws") as ws:
        from parcours.build.channels import classify

        tps = {t["event_id"]: t for t in rows_of(ws, "touchpoints")}
        assert set(tps) == {"p1.11", "p1.12", "p2.21", "p3.31"}  # a session each; none without ids
        classified = classify(ws.warehouse.table("touchpoints"), ws.config).select("event_id", "channel")
        channel = {r["event_id"]: r["channel"] for r in classified.to_pyarrow().to_pylist()}  # as the build sees them
        got = {k: (t["utm_source"], t["utm_medium"], t["utm_campaign"], t["interaction"], t["device"], channel[k])
               for k, t in tps.items()}
        assert got == {
            "p1.11": ("google", "cpc", "brand", "click", "desktop", "paid_search"),
            "p1.12": (None, None, None, "visit", "desktop", "direct"),  # (direct) / (none) is no source
            "p2.21": ("google", "cpc", "summer", "click", "mobile", "paid_search"),  # a gclid, the last-click campaign
            "p3.31": ("newsletter", "email", "oct", "click", "other", "email"),  # no session_start; parameters
        }
        assert tps["p1.11"]["url"] == "https://shop.example/?utm_source=google" and tps["p1.12"]["user_id"] == "u1"
        conv = {c["conversion_id"]: c for c in rows_of(ws, "conversions")}
        assert set(conv) == {"T1", f"p2.generate_lead.{1_792_000_000_000_000 + 3_600_000_000 + 9}"}
        t1 = conv["T1"]
        assert (t1["kind"], t1["revenue"], sorted(t1["categories"]), t1["user_id"]) == ("sale", 80.5, ["bags", "shoes"],
                                                                                       "u1")
        lead = next(c for k, c in conv.items() if k != "T1")
        assert (lead["kind"], lead["revenue"], lead["device"], lead["visitor_id"]) == ("lead", 0.0, "mobile", "p2")
        assert [(i["visitor_id"], i["user_id"]) for i in rows_of(ws, "identities")] == [("p1", "u1")]
    again = ingest(tmp_path / "ws", path)  # loading the export again adds nothing
    assert "0 loaded, 4 already loaded" in again.output


def test_a_file_that_is_no_ga4_export_is_refused_in_one_line(tmp_path):
    other = tmp_path / "events.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"event_id": ["e1"], "ts": ["2026-10-01"]}), other)
    res = ingest(tmp_path / "ws", other)
    assert res.exit_code == 2
    assert "not a GA4 export: no event_name, event_timestamp, user_pseudo_id column" in res.output
    lines = tmp_path / "events.json"
    lines.write_text('{"event_id": "e1", "ts": "2026-10-01"}\n')
    res = ingest(tmp_path / "ws", lines)
    assert res.exit_code == 2 and "not a GA4 export: no row has an event_name" in res.output
    res = ingest(tmp_path / "ws", tmp_path / "missing.parquet")
    assert res.exit_code == 2 and "no such file" in res.output


def test_an_export_lacking_nested_fields_reads_them_as_missing(tmp_path):
    """An older or trimmed export's records lack fields parcours reads: those are null, the
    rest loads as from a full export."""
    from parcours import Workspace

    without = ("device.category", "collected_traffic_source.gclid", "collected_traffic_source.manual_campaign_name",
               "ecommerce.purchase_revenue", "event_params.value.int_value", "items.item_category")
    rows = [e for e in ga4_export() if e["event_name"] != "page_view" or e["user_pseudo_id"] != "p3"]
    for e in rows:  # the session ids, int_values in the full export, as string_values here
        for p in e["event_params"]:
            if p["value"]["int_value"] is not None:
                p["value"]["string_value"] = str(p["value"]["int_value"])
    res = ingest(tmp_path / "ws", write_ga4(rows, tmp_path / "events_20261014.parquet", without=without))
    assert res.exit_code == 1 and "duplicate key of row 2" in res.output, res.output
    with Workspace(tmp_path / "ws") as ws:
        tps = {t["event_id"]: t for t in rows_of(ws, "touchpoints")}
        assert set(tps) == {"p1.11", "p1.12", "p2.21"} and {t["device"] for t in tps.values()} == {"other"}
        assert (tps["p1.11"]["utm_campaign"], tps["p2.21"]["utm_source"]) == (None, None)  # no campaign, no gclid
        assert tps["p2.21"]["utm_campaign"] == "summer"  # the last-click record still has it
        t1 = next(c for c in rows_of(ws, "conversions") if c["conversion_id"] == "T1")
        assert (t1["revenue"], t1["categories"]) == (0.0, None)


# -- bad input: one line naming the file, record and field; no partial file, ever -------------

def lines(rows, path):
    """The records as JSON Lines, each value of the JSON type it has here (not as text, as
    BigQuery writes integers), so a test can give a field any type."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def refused(res) -> str:
    """The output of a command refusing its input: exit 2 and one line (a traceback exits 1)."""
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    return res.output


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


@pytest.mark.parametrize(("value", "said"), [
    ("abc", 'text "abc"'), (1.5, "the number 1.5"), ("1.5", 'text "1.5"'), (True, "the boolean true"),
    ({"micros": 1}, 'a record {"micros":1}'), (2**64, "the number 18446744073709551616"),
    ("a" * 40 + "é" * 60, 'text "' + "a" * 39 + "..."),  # DuckDB's own message cuts an é in two
])
def test_an_event_timestamp_that_is_no_integer_refuses_the_file_at_its_record(tmp_path, value, said):
    rows = ga4_export()
    rows[2]["event_timestamp"] = value
    path = lines(rows, tmp_path / "events_20261014.json")
    out = refused(ingest(tmp_path / "ws", path))
    assert f"file {path}, row 3, field event_timestamp: {said}, where a GA4 export has a 64-bit integer" in out
    assert files_in(tmp_path / "ws" / "ga4") == {}


def test_a_device_that_is_no_record_refuses_the_file_at_its_record(tmp_path):
    rows = ga4_export()
    rows[5]["device"] = "mobile"
    path = lines(rows, tmp_path / "events_20261014.json")
    out = refused(ingest(tmp_path / "ws", path))
    assert f"file {path}, row 6, field device: text \"mobile\", where a GA4 export has a record" in out
    # the same export as Parquet: the column's type is wrong, named at its first record with a value
    for r in rows:
        r["device"] = "mobile" if r["user_pseudo_id"] == "p2" else None
    pq.write_table(pa.Table.from_pylist(rows), path := tmp_path / "events_20261014.parquet")
    out = refused(ingest(tmp_path / "ws", path))
    assert f"file {path}, row 6, field device: a column of type VARCHAR, where a GA4 export has a record" in out


@pytest.mark.parametrize(("change", "said"), [
    (lambda r: r["event_params"][0]["value"].update(int_value="eleven"),
     'field event_params.value.int_value: text "eleven", where a GA4 export has a 64-bit integer'),
    (lambda r: r.update(items=["shoes"]), 'field items: text "shoes", where a GA4 export has a record'),
    (lambda r: r.update(event_params={"ga_session_id": 11}),
     'field event_params: a record {"ga_session_id":11}, where a GA4 export has a list'),
    (lambda r: r["ecommerce"].update(purchase_revenue="lots"),
     'field ecommerce.purchase_revenue: text "lots", where a GA4 export has a number'),
    (lambda r: r.update(user_pseudo_id=["p1"]), 'field user_pseudo_id: a list ["p1"], where a GA4 export has text'),
])
def test_a_nested_field_of_another_type_is_named_by_its_path(tmp_path, change, said):
    rows = ga4_export()
    change(rows[3])
    path = lines(rows, tmp_path / "events_20261014.json")
    with pytest.raises(InvalidInput) as refusal:
        convert([path], tmp_path / "out")
    assert str(refusal.value) == f"file {path}, row 4, {said}"
    assert not (tmp_path / "out").exists()


def test_a_number_where_ga4_writes_text_is_its_text(tmp_path):
    """Text takes any value but a record or a list: a user id written as a number is that
    number's text."""
    rows = ga4_export()
    for r in rows:
        r["user_id"] = 7 if r["user_id"] else None
    got = convert([lines(rows, tmp_path / "events_20261014.json")], tmp_path / "out")
    assert pq.read_table(got.files["identities"]).to_pylist()[0]["user_id"] == "7"


@pytest.mark.parametrize("column", ["device", "event_params", "ecommerce", "items"])
def test_a_parquet_column_null_in_every_record_is_missing(tmp_path, column):
    """A writer types a column of nulls as it likes (pyarrow: null, read as INTEGER): it is
    read as missing, as in a trimmed export, not refused as of another type."""
    rows = ga4_export()
    for r in rows:
        r[column] = None
    nulls = pa.Table.from_pylist(rows)
    assert nulls.schema.field(column).type == pa.null()
    pq.write_table(nulls, path := tmp_path / "events_20261014.parquet")
    got = convert([path], tmp_path / "out")
    tps = pq.read_table(got.files["touchpoints"]).to_pylist()
    assert got.events == 11 and len(tps) == (0 if column == "event_params" else 4)  # no session id, no session
    assert {t["device"] for t in tps} <= ({"other"} if column == "device" else {"desktop", "mobile", "other"})


def test_lead_events_are_values_never_sql_text(tmp_path):
    from parcours import Workspace

    rows = [*ga4_export(), ga4_event("sign'up", GA4_DAY + 7, "p9", 91)]
    path = lines(rows, tmp_path / "events_20261014.json")
    got = convert([path], tmp_path / "out", ("sign'up", "x') OR event_name IS NOT NULL --"))
    kinds = sorted((c["visitor_id"] or "-", c["kind"]) for c in pq.read_table(got.files["conversions"]).to_pylist())
    assert kinds == [("-", "sale"), ("p1", "sale"), ("p1", "sale"), ("p9", "lead")]  # no generate_lead, no page_view
    res = CliRunner().invoke(app, ["ingest", "ga4", str(path), "-w", str(tmp_path / "ws"), "--lead-events", "sign'up"])
    assert res.exit_code == 1 and "duplicate key" in res.output, res.output  # T1 twice, as in every export here
    with Workspace(tmp_path / "ws") as ws:
        assert [c["visitor_id"] for c in rows_of(ws, "conversions") if c["kind"] == "lead"] == ["p9"]


def test_a_refused_export_leaves_no_file_and_keeps_the_earlier_ones(tmp_path):
    out = tmp_path / "ws" / "ga4"
    convert([write_ga4(ga4_export(), tmp_path / "events_20261014.json")], out)
    before = files_in(out)
    assert sorted(before) == [f"events_20261014.{t}.parquet" for t in ("conversions", "identities", "touchpoints")]
    rows = ga4_export()
    rows[0]["device"] = "mobile"
    (tmp_path / "again").mkdir()
    res = ingest(tmp_path / "ws", lines(rows, tmp_path / "again" / "events_20261014.json"))
    assert "field device" in refused(res)
    assert files_in(out) == before


def test_a_failure_while_writing_replaces_no_file(tmp_path, monkeypatch):
    from parcours.load import ga4

    out = tmp_path / "out"
    convert([write_ga4(ga4_export(), tmp_path / "events_20261014.json")], out)
    before = files_in(out)
    monkeypatch.setattr(ga4, "CONVERSIONS", "SELECT error('No space left on device') AS conversion_id")
    (tmp_path / "smaller").mkdir()
    smaller = write_ga4(ga4_export()[:4], tmp_path / "smaller" / "events_20261014.json")
    with pytest.raises(ParcoursError, match="No space left on device"):  # a full disk, said as one (DiskFull)
        convert([smaller], out)  # touchpoints written (they differ now), then conversions fail
    assert files_in(out) == before  # not replaced, and no temporary file left


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_an_event_at_a_time_parcours_does_not_load_is_rejected_and_counted(tmp_path, suffix):
    """A device's clock gives times no load takes (before 2000, after tomorrow): the event
    is rejected and counted, and its session keeps the time of its other events."""
    bad = [-1, 946_684_799_999_999, 4_102_444_800_000_000, None, 9_000_000_000_000_000_000]
    rows = [*ga4_export(), *(ga4_event("page_view", ts, "p1", 11) for ts in bad)]
    path = write_ga4(rows, tmp_path / f"events_20261014{suffix}")
    got = convert([path], tmp_path / "out")
    assert (got.events, got.rejected) == (16, 5)
    assert [(r.file, r.row, r.field, r.value, r.reason) for r in got.rejects] == [
        (str(path), 12, "event_timestamp", "-1", "before 2000-01-01"),
        (str(path), 13, "event_timestamp", "946684799999999", "before 2000-01-01"),
        (str(path), 14, "event_timestamp", "4102444800000000", "in the future (after tomorrow)"),
        (str(path), 15, "event_timestamp", None, "missing"),
        (str(path), 16, "event_timestamp", "9000000000000000000", "in the future (after tomorrow)")]
    assert got.rejects_files == [tmp_path / "out" / f"events_20261014{suffix}.rejects.csv"]
    assert got.rejects_files[0].read_text().splitlines()[0] == "file,row,field,value,reason"
    tps = {t["event_id"]: t for t in pq.read_table(got.files["touchpoints"]).to_pylist()}
    assert tps["p1.11"]["ts"] == dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=GA4_DAY)


def test_a_file_named_with_glob_characters_is_read_as_named(tmp_path):
    named = lines(ga4_export(), tmp_path / "events[1]*.json")
    lines(ga4_export()[:1], tmp_path / "events1x.json")  # what the name means as a pattern
    got = convert([named], tmp_path / "out")
    assert got.events == 11
    assert all(not set(p.name) & set("[]*?") for p in got.files.values())  # the load reads them as named too


# -- any malformed record: converted or refused in one line, never another error -------------

SPECIAL = ["\x00", "\u2028", "\ud800", "\ufeff", "é", "(direct)", "'; DROP TABLE ga4; --", "1792000000000000",
           "-1", "1e3", "NaN", "Infinity", " 11 ", ""]
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
           | st.sampled_from([*SPECIAL, -1, 0, 2**63 - 1, 2**63, -(2**63), 10**30, GA4_DAY, 1e300]))
KEYS = st.sampled_from(["category", "key", "value", "int_value", "string_value", "item_category",
                        "manual_campaign", "source", "purchase_revenue", "transaction_id"]) | st.text(max_size=3)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=6)
PATHS = [("event_timestamp",), ("event_name",), ("user_id",), ("user_pseudo_id",), ("event_params",),
         ("event_params", 0), ("event_params", 0, "key"), ("event_params", 0, "value"),
         ("event_params", 0, "value", "int_value"), ("event_params", 0, "value", "string_value"),
         ("event_params", 0, "value", "double_value"), ("device",), ("device", "category"),
         ("collected_traffic_source",), ("collected_traffic_source", "gclid"),
         ("session_traffic_source_last_click", "manual_campaign"),
         ("session_traffic_source_last_click", "manual_campaign", "source"), ("ecommerce",),
         ("ecommerce", "purchase_revenue"), ("ecommerce", "transaction_id"), ("items",), ("items", 0),
         ("items", 0, "item_category"), ()]


def changed(rows, record: int, path: tuple, value):
    """The records with one field (or, for the empty path, the whole record) set to `value`;
    as they were when an earlier change left no such field."""
    rows = copy.deepcopy(rows)
    if not path:
        rows[record] = value
        return rows
    with contextlib.suppress(KeyError, IndexError, TypeError):
        at = rows[record]
        for step in path[:-1]:
            at = at[step]
        if isinstance(at, list) and path[-1] == len(at):  # no item yet: this one
            at.append(value)
        else:
            at[path[-1]] = value
    return rows


def converted_or_refused(paths, out: Path, lead_events=("generate_lead",)):
    """The property: a conversion writes its three files whole, or is refused in one line and
    writes nothing; never another error, never a partial or temporary file."""
    try:
        got = convert(paths, out, lead_events)
    except InvalidInput as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message and "\r" not in message
        assert files_in(out) == {}
        return None
    assert sorted(files_in(out)) == sorted(p.name for p in [*got.files.values(), *got.rejects_files])
    for p in got.files.values():
        pq.read_table(p)
    return got


@given(changes=st.lists(st.tuples(st.integers(0, 10), st.sampled_from(PATHS), JSON_VALUES), min_size=1, max_size=3),
       delete=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_malformed_json_record_is_converted_or_refused_in_one_line(changes, delete):
    rows = ga4_export()
    for record, path, value in changes:
        if isinstance(rows[record], dict):
            rows = changed(rows, record, path, value)
    if delete and path and isinstance(rows[record], dict) and path[0] in rows[record]:
        del rows[record][path[0]]  # an older or trimmed export's record
    with tempfile.TemporaryDirectory() as tmp:
        converted_or_refused([lines(rows, Path(tmp) / "events_20261014.json")], Path(tmp) / "out")


PARQUET_VALUES = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=8)
                  | st.binary(max_size=4) | st.sampled_from(SPECIAL) | st.lists(st.integers(0, 9), max_size=2)
                  | st.dictionaries(st.sampled_from(["category", "int_value", "x"]), st.text(max_size=3), min_size=1))


@given(path=st.sampled_from([p for p in PATHS if p and not any(isinstance(s, int) for s in p)]),
       value=PARQUET_VALUES, every=st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_parquet_column_of_another_type_is_converted_or_refused_in_one_line(path, value, every):
    rows = ga4_export()
    for record in range(len(rows)) if every else [4]:
        rows = changed(rows, record, path, value)
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, OverflowError, UnicodeEncodeError):
        return  # no Parquet file can hold these records
    with tempfile.TemporaryDirectory() as tmp:
        pq.write_table(table, Path(tmp) / "events_20261014.parquet")
        converted_or_refused([Path(tmp) / "events_20261014.parquet"], Path(tmp) / "out")


@given(name=st.text(min_size=1, max_size=12).filter(lambda n: n != "purchase"))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_lead_event_name_is_a_value(name):
    rows = [*ga4_export(), ga4_event(name, GA4_DAY + 7, "p9", 91)]
    with tempfile.TemporaryDirectory() as tmp:
        got = converted_or_refused([lines(rows, Path(tmp) / "events.json")], Path(tmp) / "out", (name,))
        assert got is not None
        leads = [c for c in pq.read_table(got.files["conversions"]).to_pylist() if c["kind"] == "lead"]
        assert [c["visitor_id"] for c in leads] == ["p9"]
