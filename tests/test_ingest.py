import csv
import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builders import load_rows, rows_of, write_csv
from parcours.contract.schema import KEYS, TABLES
from parcours.errors import InvalidInput
from parcours.load.ingest import load_file

TP = dict(event_id="e1", ts="2026-10-01T12:00:00+02:00", visitor_id="v1", device="Mobile",
          interaction="click", channel="display", pageviews="3", duration_s="12.5")


def reasons(result):
    return [(r.row, r.field, r.reason) for r in result.rejects]


def test_valid_rows_load_typed_with_timestamps_in_utc(ws):
    res = load_rows(ws, "touchpoints", [TP, {**TP, "event_id": "e2", "ts": "2026-10-01 09:00:00"}])
    assert (res.rows_read, res.inserted, res.rejected_rows) == (2, 2, 0)
    rows = rows_of(ws, "touchpoints", ["event_id"])
    assert rows[0]["ts"] == dt.datetime(2026, 10, 1, 10, 0)  # +02:00 normalised to UTC
    assert rows[1]["ts"] == dt.datetime(2026, 10, 1, 9, 0)  # naive input is taken as UTC
    assert rows[0]["device"] == "mobile" and rows[0]["pageviews"] == 3
    assert rows[0]["duration_s"] == 12.5 and rows[0]["user_id"] is None


def test_absent_optional_fields_take_their_defaults(ws):
    load_rows(ws, "touchpoints", [dict(event_id="e1", ts="2026-10-01", visitor_id="v1")])
    row = rows_of(ws, "touchpoints")[0]
    assert (row["device"], row["interaction"]) == ("other", "visit")


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("event_id", "", "missing"),
    ("visitor_id", "  ", "missing"),
    ("ts", "2026-13-45", "not a valid timestamp"),
    ("ts", "yesterday", "not a valid timestamp"),
    ("device", "phone", "must be one of desktop, mobile, tablet, other"),
    ("interaction", "hover", "must be one of click, view, visit, email, sms, call, store"),
    ("pageviews", "three", "not an integer"),
    ("pageviews", "-1", "must be >= 0"),
    ("duration_s", "12s", "not a number"),
    # numbers no one measured, and counts that are not whole
    ("pageviews", "1.5", "not an integer"),
    ("pageviews", "1e999", "not a finite number"),
    ("pageviews", "2e6", "must be <= 1e+06"),
    ("duration_s", "inf", "not a finite number"),
    ("duration_s", "-Infinity", "not a finite number"),
    ("duration_s", "NaN", "not a finite number"),
    ("duration_s", "1e999", "not a finite number"),
    ("duration_s", "1e308", "must be <= 1e+08"),
    # clocks out of any sane range
    ("ts", "1999-12-31T23:59:59Z", "before 2000-01-01"),
    ("ts", "2099-01-01", "in the future (after tomorrow)"),
])
def test_each_bad_touchpoint_field_is_rejected_with_row_field_and_reason(ws, field, value, reason):
    res = load_rows(ws, "touchpoints", [TP, {**TP, "event_id": "e2", field: value}])
    assert reasons(res) == [(2, field, reason)]
    assert res.inserted == 1 and [r["event_id"] for r in rows_of(ws, "touchpoints")] == ["e1"]


CONV = dict(conversion_id="c1", ts="2026-10-02T10:00:00Z", visitor_id="v1", kind="sale",
            revenue="120.50", new_customer="true", categories="home|beauty", origin="online",
            attributes='{"segment": "gold", "tier": 2}')


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"revenue": "12,5"}, "revenue", "not a number"),
    ({"revenue": "-3"}, "revenue", "must be >= 0"),
    ({"revenue": "NaN"}, "revenue", "not a finite number"),
    ({"revenue": "1e308"}, "revenue", "must be <= 1e+12"),
    ({"kind": "purchase"}, "kind", "must be one of sale, lead, custom"),
    ({"origin": "shop"}, "origin", "must be one of online, store, call_centre"),
    ({"new_customer": "maybe"}, "new_customer", "not a boolean (true/false)"),
    ({"attributes": "[1, 2]"}, "attributes", "not a JSON object of attributes"),
    ({"attributes": "segment=gold"}, "attributes", "not a JSON object of attributes"),
    ({"visitor_id": ""}, "visitor_id", "missing: a conversion needs a visitor_id, a user_id or a customer_id"),
])
def test_each_bad_conversion_field_is_rejected(ws, changes, field, reason):
    res = load_rows(ws, "conversions", [CONV, {**CONV, "conversion_id": "c2", **changes}])
    assert reasons(res) == [(2, field, reason)]
    assert res.inserted == 1


def test_conversion_values_are_parsed(ws):
    load_rows(ws, "conversions", [CONV, {**CONV, "conversion_id": "c2", "visitor_id": "",
                                         "user_id": "u9", "origin": "store", "revenue": "",
                                         "categories": "", "attributes": ""}])
    c1, c2 = rows_of(ws, "conversions", ["conversion_id"])
    assert c1["revenue"] == 120.5 and c1["new_customer"] is True
    assert c1["categories"] == ["home", "beauty"]
    assert dict(c1["attributes"]) == {"segment": "gold", "tier": "2"}
    assert (c2["user_id"], c2["visitor_id"], c2["revenue"], c2["origin"]) == ("u9", None, 0.0, "store")


def test_costs_and_identities_are_validated(ws):
    res = load_rows(ws, "costs", [dict(date="2026-10-01", channel="display", cost="10"),
                                  dict(date="01/10/2026", channel="display", cost="10"),
                                  dict(date="2026-10-02", channel="", cost="x")])
    assert reasons(res) == [(2, "date", "not a valid date (YYYY-MM-DD)"),
                            (3, "channel", "missing"), (3, "cost", "not a number")]
    cost = rows_of(ws, "costs")[0]
    assert (cost["date"], cost["source"], cost["campaign"], cost["cost"]) == (
        dt.date(2026, 10, 1), "(none)", "(none)", 10.0)  # channel-level cost
    res = load_rows(ws, "identities", [dict(visitor_id="v1", user_id="u1", ts=""),
                                       dict(visitor_id="v2", user_id="", ts="")])
    assert reasons(res) == [(2, "user_id", "missing")]


def test_a_key_twice_in_one_file_keeps_the_first_row(ws):
    res = load_rows(ws, "touchpoints", [TP, {**TP, "visitor_id": "v2"}])
    assert reasons(res) == [(2, "event_id", "duplicate key of row 1")]
    assert rows_of(ws, "touchpoints")[0]["visitor_id"] == "v1"


def test_a_csv_row_with_the_wrong_number_of_fields_is_rejected_and_rows_stay_numbered(ws, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("event_id,ts,visitor_id\n"
                    "e1,2026-10-01,v1\n"
                    "e2,2026-10-01,v2,extra\n"
                    "e3,2026-10-01\n"
                    "e4,bad,v4\n")
    res = load_file(ws.warehouse, "touchpoints", path)
    assert [(r.row, r.field) for r in res.rejects] == [(2, "*"), (3, "*"), (4, "ts")]
    assert "Expected Number of Columns: 3 Found: 4" in res.rejects[0].reason
    assert [r["event_id"] for r in rows_of(ws, "touchpoints")] == ["e1"]


def test_rejects_file_lists_every_rejected_field(ws):
    res = load_rows(ws, "touchpoints", [TP, {**TP, "event_id": "", "device": "phone"}])
    lines = res.rejects_file.read_text().splitlines()
    assert lines[0] == "file,row,field,value,reason"
    assert lines[1].endswith(",2,device,phone,\"must be one of desktop, mobile, tablet, other\"")
    assert lines[2].endswith(",2,event_id,,missing")


def test_loading_the_same_file_twice_adds_nothing(ws):
    path = write_csv(ws.path / "tp.csv", [TP, {**TP, "event_id": "e2"}])
    first = load_file(ws.warehouse, "touchpoints", path)
    again = load_file(ws.warehouse, "touchpoints", path)
    assert (first.inserted, again.inserted, again.already_loaded) == (2, 0, 2)
    assert ws.warehouse.count("touchpoints") == 2


def test_a_missing_required_column_refuses_the_file_and_stores_nothing(ws):
    load_rows(ws, "touchpoints", [TP])
    path = write_csv(ws.path / "nots.csv", [dict(event_id="e9", visitor_id="v9")])
    with pytest.raises(InvalidInput, match=r"nots.csv.*missing required column\(s\): ts"):
        load_file(ws.warehouse, "touchpoints", path)
    assert ws.warehouse.count("touchpoints") == 1


def test_semicolon_csv_with_extra_columns(ws):
    path = write_csv(ws.path / "fr.csv", [{**TP, "note": "x"}], delimiter=";")
    res = load_file(ws.warehouse, "touchpoints", path)
    assert res.inserted == 1 and res.ignored_columns == ["note"]


def test_json_lines_with_numbers_arrays_and_objects(ws):
    path = ws.path / "conv.jsonl"
    rows = [
        {**CONV, "revenue": 99.9, "new_customer": False, "categories": ["home", "kids"],
         "attributes": {"segment": "gold"}},
        {**CONV, "conversion_id": "c2", "revenue": "abc"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    res = load_file(ws.warehouse, "conversions", path)
    assert reasons(res) == [(2, "revenue", "not a number")]
    row = rows_of(ws, "conversions")[0]
    assert (row["revenue"], row["new_customer"], row["categories"]) == (99.9, False, ["home", "kids"])
    assert dict(row["attributes"]) == {"segment": "gold"}


def test_parquet_keeps_native_types(ws):
    path = ws.path / "tp.parquet"
    pq.write_table(pa.table({
        "event_id": ["e1", "e2"], "visitor_id": ["v1", "v2"], "pageviews": [2, -1],
        "ts": pa.array([dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)] * 2,
                       type=pa.timestamp("us", tz="Europe/Paris")),
    }), path)
    res = load_file(ws.warehouse, "touchpoints", path)
    assert reasons(res) == [(2, "pageviews", "must be >= 0")]
    assert rows_of(ws, "touchpoints")[0]["ts"] == dt.datetime(2026, 10, 1, 12)


def test_unknown_file_type_is_refused(ws):
    path = ws.path / "tp.xlsx"
    path.write_text("x")
    with pytest.raises(InvalidInput, match="unknown file type"):
        load_file(ws.warehouse, "touchpoints", path)


def test_a_parquet_column_of_the_wrong_type_rejects_its_rows_not_the_load(ws):
    path = ws.path / "epoch.parquet"
    pq.write_table(pa.table({"event_id": ["a", "b"], "visitor_id": ["v", "v"], "ts": [1, 2],
                             "pageviews": ["3", "x"]}), path)
    res = load_file(ws.warehouse, "touchpoints", path)
    assert reasons(res) == [(1, "ts", "not a valid timestamp"), (2, "pageviews", "not an integer"),
                            (2, "ts", "not a valid timestamp")]
    assert res.inserted == 0


def test_a_file_that_cannot_be_parsed_is_refused_with_where_it_broke(ws):
    path = ws.path / "bad.jsonl"
    path.write_text('{"event_id": "a", "ts": "2026-10-01", "visitor_id": "v"}\n{"event_id": "b", "ts": \n')
    with pytest.raises(InvalidInput, match=r"bad.jsonl: cannot read this json file: Malformed JSON.*line"):
        load_file(ws.warehouse, "touchpoints", path)
    assert ws.warehouse.count("touchpoints") == 0
    assert not [t for t in ws.warehouse.tables() if t.startswith("_stage")]


def test_a_parquet_file_rewritten_while_it_loads_is_refused_whole(ws, tmp_path):
    """A Parquet file is read in place, not copied first: changed before the load commits, it
    may have given rows of two versions, so nothing of it is stored and the load says why."""
    import os

    path = tmp_path / "tp.parquet"
    pq.write_table(pa.Table.from_pylist([dict(event_id=f"e{i}", ts="2026-10-01", visitor_id="v") for i in range(50)]),
                   path)

    def rewritten(pct: float) -> None:
        if pct >= 50:  # checked, not inserted yet
            os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))

    with pytest.raises(InvalidInput, match="tp.parquet: the file changed while it was loaded"):
        load_file(ws.warehouse, "touchpoints", path, progress=rewritten)
    assert ws.warehouse.count("touchpoints") == 0
    assert not [t for t in ws.warehouse.tables() if t.startswith("_stage")]
    assert load_file(ws.warehouse, "touchpoints", path).inserted == 50  # as it is now


def test_gzipped_csv_loads(ws):
    import gzip
    path = ws.path / "tp.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("event_id,ts,visitor_id\ne1,2026-10-01,v1\n")
    assert load_file(ws.warehouse, "touchpoints", path).inserted == 1


def test_typed_files_and_posted_batches_refuse_numbers_no_one_measured(ws, tmp_path):
    """A Parquet file's float NaN, infinity or 1e308, a float in an integer column, and a
    POSTed batch's JSON NaN: each row refused with its reason, the others loaded."""
    import math

    from parcours.load.ingest import load_events

    path = tmp_path / "tp.parquet"
    pq.write_table(pa.table({
        "event_id": ["e1", "e2", "e3", "e4", "e5"], "ts": ["2026-10-01"] * 5, "visitor_id": ["v"] * 5,
        "duration_s": [1.0, math.nan, math.inf, 1e308, 2.0], "pageviews": [1.0, 1.0, 1.0, 1.0, 2.5]}), path)
    res = load_file(ws.warehouse, "touchpoints", path)
    assert reasons(res) == [(2, "duration_s", "not a finite number"), (3, "duration_s", "not a finite number"),
                            (4, "duration_s", "must be <= 1e+08"), (5, "pageviews", "not an integer")]
    assert res.inserted == 1
    batch = [{**CONV, "conversion_id": "n1", "revenue": math.nan}, {**CONV, "conversion_id": "n2", "revenue": 5}]
    out = load_events(ws.warehouse, "conversions", batch, tmp_path)
    assert out["inserted"] == 1 and [(r["row"], r["field"], r["reason"]) for r in out["rejected"]] == [
        (1, "revenue", "not a finite number")]


@pytest.mark.parametrize("damage", ["truncated gzip", "truncated parquet", "damaged parquet page", "broken json lines"])
def test_a_file_cut_short_or_damaged_is_refused_whole(ws, tmp_path, damage):
    """Nothing of it is loaded, and the one-line reason says why (an engine would read a
    truncated gzip up to the cut, and a Parquet file without its footer is no table)."""
    import gzip

    rows = [dict(event_id=f"e{i}", ts="2026-10-01", visitor_id=f"v{i}") for i in range(5000)]
    if damage == "truncated gzip":
        whole = gzip.compress(write_csv(tmp_path / "tp.csv", rows).read_bytes())
        path, reason = tmp_path / "tp.csv.gz", "truncated or corrupt gzip file, nothing loaded"
        path.write_bytes(whole[: len(whole) // 2])
    elif damage == "truncated parquet":
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "whole.parquet")
        whole = (tmp_path / "whole.parquet").read_bytes()
        path, reason = tmp_path / "tp.parquet", "truncated or corrupt Parquet file, nothing loaded"
        path.write_bytes(whole[: len(whole) // 2])
    elif damage == "damaged parquet page":  # its footer whole: read in place, it fails in the middle of the load
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "whole.parquet", row_group_size=1000)
        whole = bytearray((tmp_path / "whole.parquet").read_bytes())
        whole[len(whole) // 3: len(whole) // 3 + 500] = bytes(500)
        path, reason = tmp_path / "tp.parquet", "cannot read this file, nothing loaded"
        path.write_bytes(whole)
    else:
        path, reason = tmp_path / "tp.jsonl", "cannot read this json file"
        path.write_text(json.dumps(rows[0]) + '\n{"event_id": "e2", "ts": "2026-10-0\n')
    with pytest.raises(InvalidInput, match=reason) as error:
        load_file(ws.warehouse, "touchpoints", path)
    assert str(path) in str(error.value) and "\n" not in str(error.value).strip()
    assert ws.warehouse.count("touchpoints") == 0
    whole_gzip = tmp_path / "ok.csv.gz"
    whole_gzip.write_bytes(gzip.compress(write_csv(tmp_path / "ok.csv", rows[:3]).read_bytes()))
    assert load_file(ws.warehouse, "touchpoints", whole_gzip).inserted == 3  # a whole one loads


# Issue 28.10 and 28.13: every text, date and identifier is checked as it comes in, and a rejects
# file (which users are told to open) never runs a formula or carries a NUL byte.
MINIMAL = {
    "touchpoints": dict(event_id="e1", ts="2026-10-01", visitor_id="v1"),
    "conversions": dict(conversion_id="c1", ts="2026-10-01", visitor_id="v1"),
    "identities": dict(visitor_id="v1", user_id="u1"),
    "costs": dict(date="2026-10-01", channel="display", cost="1"),
    "crm": dict(customer_id="C1"),
    "truth": dict(date="2026-10-01", channel="display", incremental_conversions="1"),
    "messages": dict(event_id="m1", ts="2026-10-01", journey="j", step="s", channel="email",
                     recipient="a@example.com", event="sent"),
    "messages_truth": dict(journey="j", days_after_entry="1", incremental_conversions="1"),
}
TEXTS = [(t, f.name) for t, fs in TABLES.items() for f in fs
         if f.type == "string" and not f.choices and not f.identifier and not f.plain]


def _one_per_field(table: str, fields: list[str], value: str, start: int = 0) -> list[dict]:
    """A row per field, that field given `value` (its key fields made unique from `start`)."""
    rows = []
    for i, name in enumerate(fields, start):
        row = {k: (f"{v}{i}" if k in KEYS[table] and k not in ("date", "ts") else v)
               for k, v in MINIMAL[table].items()}
        if table in ("costs", "truth"):
            row["channel"] = f"c{i}"
        rows.append({**row, name: value})
    return rows


@pytest.mark.parametrize("table", sorted({t for t, _ in TEXTS}))
def test_a_nul_or_control_character_is_refused_in_every_text_field(ws, table):
    fields = [f for t, f in TEXTS if t == table]
    marks = ("\x00", "\x1b", "\x85", "\u2028")  # C0, C1 (a line end to some readers), a line separator
    rows = [r for i, mark in enumerate(marks) for r in _one_per_field(table, fields, f"a{mark}b", i * len(fields))]
    res = load_rows(ws, table, rows)
    assert (res.inserted, res.rejected_rows) == (0, len(marks) * len(fields))
    wanted = [(i + 1, f, "contains a control character (a NUL byte, say)") for i, f in enumerate(fields * len(marks))]
    said = csv.DictReader(res.rejects_file.open(encoding="utf-8", newline=""))
    assert sorted((int(r["row"]), r["field"], r["reason"]) for r in said) == sorted(wanted)
    text = res.rejects_file.read_text(encoding="utf-8")
    assert not any(mark in text for mark in marks) and "a\ufffdb" in text


@pytest.mark.parametrize(("table", "field", "value"), [
    ("conversions", "categories", "store\x00x"), ("conversions", "categories", "a|b\x01"),
    ("conversions", "categories", '["a\\u0000b"]'), ("conversions", "attributes", '{"k": "v\\u0001"}'),
    ("conversions", "attributes", '{"k\\u0000": "v"}'), ("crm", "attributes", '{"segment": "a\\u0000b"}')])
def test_a_control_character_is_refused_in_lists_and_attributes_too(ws, table, field, value):
    """What a list or a JSON object holds is text like any other (a variant of issue 28.10)."""
    res = load_rows(ws, table, [{**MINIMAL[table], field: value}])
    assert reasons(res) == [(1, field, "contains a control character (a NUL byte, say)")]


@pytest.mark.parametrize("table", ["costs", "truth"])
@pytest.mark.parametrize(("day", "reason"), [("0001-01-01", "before 2000-01-01"), ("1999-12-31", "before 2000-01-01"),
                                             ("9999-12-31", "in the future (after tomorrow)")])
def test_a_date_outside_what_the_data_can_hold_is_refused(ws, table, day, reason):
    res = load_rows(ws, table, [{**MINIMAL[table], "date": day}])
    assert reasons(res) == [(1, "date", reason)]


@given(st.sampled_from([(t, f.name) for t, fs in TABLES.items() for f in fs if f.token]),
       st.sampled_from([" ", "\u202e", "\u200b", "\u00a0", "\t"]))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_id_with_a_space_or_an_invisible_character_is_refused(ws, where, mark):
    table, name = where
    res = load_rows(ws, table, [{**MINIMAL[table], name: f"id{mark}7"}])
    assert reasons(res) == [(1, name, "not an id: it holds a space or an invisible character")]


_MARKS = {"": None, "\x00": "control", "\x7f": "control", "\u2028": "control", " ": "space", "\u200b": "space"}
_TOUCH_TEXTS = [f.name for f in TABLES["touchpoints"] if f.type == "string" and not f.choices]
_SEEN = iter(range(10**9))  # event ids new to the workspace across examples


@given(st.lists(st.dictionaries(st.sampled_from(_TOUCH_TEXTS), st.sampled_from(sorted(_MARKS)), max_size=3),
                min_size=1, max_size=6))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_text_with_a_bad_character_is_found_whatever_else_the_row_holds(ws, marked):
    """The load searches each row's texts joined, once per character class (`Suspects`), then
    says which field is bad: the same rows and reasons as searching each field alone would."""
    token = {f.name for f in TABLES["touchpoints"] if f.token}
    rows, wanted = [], []
    for i, marks in enumerate(marked, start=1):
        row = {**TP, "event_id": f"e{next(_SEEN)}"}
        for name, mark in marks.items():
            row[name] = f"{row[name]}{mark}x" if name == "event_id" else f"a{mark}b"
            kind = _MARKS[mark]
            if kind == "control":
                wanted.append((i, name, "contains a control character (a NUL byte, say)"))
            elif kind == "space" and name in token:
                wanted.append((i, name, "not an id: it holds a space or an invisible character"))
        rows.append(row)
    res = load_rows(ws, "touchpoints", rows)
    assert sorted(reasons(res)) == sorted(wanted)
    assert res.inserted == len(rows) - len({r for r, _, _ in wanted})


_CHARS = [" ", "\t", "\n", "\r", "\v", "\f", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u200b", "\u00a0",
          "a", "B", "é"]


@given(st.sampled_from([(t, f) for t, fs in TABLES.items() for f in fs if f.type == "string" and not f.identifier
                        and not f.plain]),
       st.lists(st.none() | st.text(st.sampled_from(_CHARS), max_size=5) |
                st.sampled_from(["mobile", "Mobile", " mobile", "click\t", "x" * 257, " " + "x" * 256]),
                min_size=1, max_size=30))
@example(("costs", next(f for f in TABLES["costs"] if f.name == "channel")), [" ", "\t \f", "\v"])  # all trimmed away
@settings(max_examples=60, deadline=None)
def test_the_cheap_checks_flag_every_text_the_exact_checks_reject(where, texts):
    """`Suspects` reads a text field's checks on the text as written (no trim, no lowercase):
    every value the exact checks reject must be flagged, or a bad row would be stored."""
    import ibis

    from parcours.load.ingest import Suspects, _typed

    _, f = where
    rows = ibis.memtable(pa.table({"x": pa.array(texts, pa.string())}))
    suspects = Suspects()
    _, why = _typed(rows.x, f, suspects)
    out = rows.select(why=why, flagged=suspects.any()).to_pyarrow().to_pylist()
    assert [r for r in out if r["why"] is not None and not r["flagged"]] == []


@pytest.mark.parametrize("email", ["😀@example.com", "jane\u202e@example.com", "jane@exa\u200bmple.com",
                                   "jane@exam ple.com", "jane\x00@example.com", "jane@example..com"])
def test_what_looks_like_an_email_but_is_not_is_refused(ws, email):
    res = load_rows(ws, "crm", [{"customer_id": "C1", "email": email}])
    assert [(r.field, r.reason) for r in res.rejects] == [("email", "not an email address (name@domain.tld)")]


def test_an_email_and_a_hash_that_disagree_are_refused_not_one_taken(ws):
    from parcours.contract.identifiers import sha256

    jane, john = "jane@example.com", sha256("john@example.com")
    res = load_rows(ws, "crm", [{"customer_id": "C1", "email": jane, "email_sha256": john},
                                {"customer_id": "C2", "email": jane, "email_sha256": sha256(jane).upper()},
                                {"customer_id": "C3", "email": "", "email_sha256": john}])
    assert reasons(res) == [(1, "email_sha256", "not the SHA-256 of the row's email")]
    assert [(r["customer_id"], r["email_sha256"]) for r in rows_of(ws, "crm", ["customer_id"])] == [
        ("C2", sha256(jane)), ("C3", john)]


@pytest.mark.parametrize("value", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_rejects_file_never_runs_a_formula(ws, value):
    res = load_rows(ws, "touchpoints", [{**TP, "device": value}, {**TP, "event_id": "e2", "pageviews": value}])
    cells = [r["value"] for r in csv.DictReader(res.rejects_file.open(encoding="utf-8", newline=""))]
    assert cells == ["'" + value, "'" + value]
    assert [r.value for r in res.rejects] == [value, value]  # said as written elsewhere (a terminal, the API)


def test_an_id_is_one_token_alike_in_the_engine_and_in_python():
    """identifiers.NOT_TOKEN (ingest, in the engine) and is_token (forget, in Python) say the
    same of every character of the Basic Multilingual Plane."""
    import duckdb

    from parcours.contract.identifiers import NOT_TOKEN, is_token

    chars = pa.table({"c": [chr(i) for i in (*range(1, 0x10000), 0xE0100, 0xE01EF, 0xE01F0, 0x1F600)
                            if not 0xD800 <= i <= 0xDFFF]})
    con = duckdb.connect()
    con.register("chars", chars)
    said = con.execute("SELECT c, regexp_matches(c, ?) FROM chars", [NOT_TOKEN]).fetchall()
    assert [hex(ord(c)) for c, broken in said if broken == is_token(c)] == []
    assert not is_token("x" * 257) and is_token("x" * 256) and not is_token("")
    assert not any(is_token(f"a{c}b") for c in "\u034f\u3164\ufe0f\u200b\u202e")  # they show as nothing
