"""CRM onboarding (issue 16): emails and phones normalised and hashed at load as ad platforms
hash them, CRM customers matched to online identities by those hashes, and their store sales
joining the journeys that preceded them."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import AS_OF, JANE, JANE_PHONE, load_rows, rows_of
from parcours.build.journeys import build_journeys
from parcours.contract import identifiers
from parcours.contract.config import CrmSettings
from parcours.load.ingest import load_file


def test_the_documented_vectors():
    assert identifiers.hashed("email", "  Jane.Doe@Example.COM ", "FR") == JANE
    assert hashlib.sha256(b"jane.doe@example.com").hexdigest() == JANE
    for written in ("06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "0033612345678", "06.12.34.56.78"):
        assert identifiers.normal_phone(written, "FR") == "+33612345678", written
        assert identifiers.hashed("phone", written, "FR") == JANE_PHONE
    assert identifiers.hashed("phone", "+33612345678", "US") == JANE_PHONE  # international: any country
    assert identifiers.normal_phone("(415) 555-2671", "US") == "+14155552671"
    assert identifiers.hashed("email", JANE.upper(), "FR") == JANE  # already hashed: kept, lower-cased


@pytest.mark.parametrize("text", ["", "jane", "jane@", "@example.com", "jane@example", "ja ne@example.com",
                                  "a@b@example.com"])
def test_what_is_no_email(text):
    assert identifiers.normal_email(text) is None


@pytest.mark.parametrize("text", ["", "12", "abc", "06 12 34", "+999 1234567"])
def test_what_is_no_phone(text):
    assert identifiers.normal_phone(text, "FR") is None


@given(local=st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True),
       domain=st.from_regex(r"[a-z0-9-]{1,12}\.[a-z]{2,6}", fullmatch=True),
       pad=st.tuples(st.text(" \t", max_size=3), st.text(" \t", max_size=3)),
       upper=st.lists(st.booleans(), min_size=40, max_size=40))
@settings(max_examples=200, deadline=None)
def test_an_email_hashes_alike_however_it_is_written(local, domain, pad, upper):
    email = f"{local}@{domain}"
    cased = "".join(c.upper() if u else c for c, u in zip(email, upper + [False] * len(email), strict=False))
    written = pad[0] + cased + pad[1]
    assert identifiers.normal_email(written) == email
    assert identifiers.hashed("email", written, "FR") == hashlib.sha256(email.encode()).hexdigest()
    assert identifiers.normal_email(identifiers.normal_email(written)) == email  # idempotent


@given(digits=st.from_regex(r"6[0-24-8][0-9]{7}", fullmatch=True),  # ranges in use (ARCEP)
       style=st.sampled_from(["0{d}", "+33{d}", "0033{d}", "+33 {s}", "0{s}"]))
@settings(max_examples=200, deadline=None)
def test_a_french_mobile_hashes_alike_however_it_is_written(digits, style):
    spaced = " ".join([digits[0], *(digits[i:i + 2] for i in range(1, 9, 2))])
    written = style.format(d=digits, s=spaced)
    assert identifiers.normal_phone(written, "FR") == "+33" + digits


def test_crm_load_hashes_rejects_and_replaces_what_changed(ws):
    res = load_rows(ws, "crm", [
        {"customer_id": "C1", "email": "  Jane.Doe@Example.COM ", "phone": "06 12 34 56 78",
         "attributes": '{"segment": "premium"}'},
        {"customer_id": "C2", "email": "not-an-email"},
        {"customer_id": "C3", "phone": "12"},
        {"customer_id": "C4", "email_sha256": "xyz"},
        {"customer_id": "C5", "email_sha256": JANE.upper()},
    ])
    assert (res.inserted, res.rejected_rows) == (2, 3)
    assert [(r.row, r.field, r.value, r.reason) for r in res.rejects] == [
        (2, "email", "not-an-email", "not an email address (name@domain.tld)"),
        (3, "phone", "12", "not a valid phone number (international, or national in FR)"),
        (4, "email_sha256", "xyz", "not a SHA-256 hash (64 hex digits)")]
    rows = rows_of(ws, "crm", ["customer_id"])
    assert [(r["customer_id"], r["email_sha256"], r["phone_sha256"]) for r in rows] == [
        ("C1", JANE, JANE_PHONE), ("C5", JANE, None)]
    assert all(r["email"] is None and r["phone"] is None for r in rows)  # no plain value stored by default
    text = (ws.path / "parcours.duckdb").read_bytes()
    assert b"Jane" not in text and b"jane.doe" not in text and b"612345678" not in text

    # the same extract again adds nothing; a changed customer replaces its row, once
    again = load_rows(ws, "crm", [{"customer_id": "C1", "email": "jane.doe@example.com", "phone": "0612345678",
                                   "attributes": '{"segment": "premium"}'}])
    assert (again.inserted, again.updated, again.already_loaded) == (0, 0, 1)
    moved = load_rows(ws, "crm", [{"customer_id": "C1", "email": "jane.doe@example.com",
                                   "attributes": '{"segment": "gold"}'}, {"customer_id": "C6"}])
    assert (moved.inserted, moved.updated, moved.already_loaded) == (1, 1, 0)
    rows = rows_of(ws, "crm", ["customer_id"])
    assert [(r["customer_id"], r["phone_sha256"], r["attributes"]) for r in rows] == [
        ("C1", JANE_PHONE, [("segment", "gold")]), ("C5", None, None), ("C6", None, None)]  # no phone column: kept


COLUMNS = {"user_id": "u1", "email": "jane.doe@example.com", "phone": "0612345678",
           "attributes": '{"segment": "premium"}'}


@given(given_columns=st.sets(st.sampled_from(sorted(COLUMNS))), blank=st.sets(st.sampled_from(sorted(COLUMNS))),
       fmt=st.sampled_from(["csv", "jsonl", "parquet"]))
@settings(max_examples=18, deadline=None)
def test_a_crm_file_without_a_column_keeps_its_stored_values(tmp_path_factory, given_columns, blank, fmt):
    """Issue 28.3: an extract of some columns updates those columns; a column it lacks keeps
    the stored values (a blank cell of a column it has is a blank value), in every format (a
    JSON Lines file's missing key blanked them)."""
    import pandas as pd

    from parcours import Workspace

    root = tmp_path_factory.mktemp("crm")
    ws = Workspace.init(root / "ws")
    load_rows(ws, "crm", [{"customer_id": "C1", **COLUMNS}])
    before = rows_of(ws, "crm")[0]
    extract = pd.DataFrame([{"customer_id": "C1", **{c: "" if c in blank else COLUMNS[c] for c in given_columns}}])
    path = root / f"extract.{fmt}"
    {"csv": lambda: extract.to_csv(path, index=False), "parquet": lambda: extract.to_parquet(path),
     "jsonl": lambda: extract.to_json(path, orient="records", lines=True)}[fmt]()
    load_file(ws.warehouse, "crm", path)
    after = rows_of(ws, "crm")[0]
    stored_as = {"user_id": ["user_id"], "email": ["email_sha256"], "phone": ["phone_sha256"],
                 "attributes": ["attributes"]}
    for column, stored in stored_as.items():
        for name in stored:
            blanked = column in given_columns and column in blank
            assert after[name] == (None if blanked else before[name]), (column, given_columns, blank)
    ws.close()


def test_plain_values_are_kept_only_when_the_config_says(ws):
    path = ws.path / "crm.csv"
    path.write_text("customer_id,email,phone\nC1,  Jane.Doe@Example.COM ,0612345678\n")
    load_file(ws.warehouse, "crm", path, crm=CrmSettings(keep_plain=True))
    row = rows_of(ws, "crm")[0]
    assert (row["email"], row["phone"], row["email_sha256"]) == ("jane.doe@example.com", "+33612345678", JANE)


def _day(days_before: float) -> str:
    return (dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=days_before + 3)).isoformat(sep=" ")


def _shop_with_a_crm(ws, crm_rows):
    load_rows(ws, "crm", crm_rows)
    load_rows(ws, "touchpoints", [
        {"event_id": "t1", "ts": _day(6), "visitor_id": "v1", "utm_medium": "cpc", "utm_source": "google"},
        {"event_id": "t2", "ts": _day(3), "visitor_id": "v1", "utm_medium": "display", "utm_source": "criteo"},
        {"event_id": "t3", "ts": _day(3), "visitor_id": "v2", "utm_medium": "email", "utm_source": "crm"},
    ])
    load_rows(ws, "conversions", [
        # an online guest order whose checkout email is the CRM customer C1's
        {"conversion_id": "o1", "ts": _day(5), "visitor_id": "v1", "email": "JANE.DOE@example.com",
         "revenue": "50"},
        # the customers' store sales, by loyalty card
        {"conversion_id": "s1", "ts": _day(1), "customer_id": "C1", "origin": "store", "store": "Paris 2",
         "revenue": "80"},
        {"conversion_id": "s2", "ts": _day(1), "customer_id": "C2", "origin": "store", "revenue": "30"},
        {"conversion_id": "s3", "ts": _day(1), "customer_id": "C9", "origin": "store", "revenue": "10"},
    ])
    return build_journeys(ws.warehouse, ws.config, as_of=AS_OF)


def test_a_matched_customers_store_sale_joins_the_journey_before_it(ws):
    _shop_with_a_crm(ws, [
        {"customer_id": "C1", "email": "jane.doe@example.com"},  # matched by the order's email hash
        {"customer_id": "C2", "user_id": "u2"},  # the CRM names the site account
        # C9 is not in the CRM extract: its sale is a person of its own
    ])
    load_rows(ws, "identities", [{"visitor_id": "v2", "user_id": "u2"}])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF, full=True)
    persons = {r["id"]: r["person_id"] for r in rows_of(ws, "persons")}
    assert persons["crm:C1"] == persons["v1"] == "v:v1"
    assert persons["u2"] == persons["v2"] and "crm:C2" not in persons
    assert persons["crm:C9"] == "u:crm:C9"
    j = {r["conversion_id"]: r for r in rows_of(ws, "journeys") if r["converted"]}
    assert j["s1"]["person_id"] == "v:v1" and j["s1"]["channels"] == ["display"]  # after o1: its own journey
    assert j["s1"]["last_channel"] == "display" and j["s1"]["origin"] == "store"
    assert j["s2"]["channels"] == ["email"]
    assert j["s3"]["channels"] == []
    meta = rows_of(ws, "build_meta")[0]
    assert {k: meta[k] for k in ("crm_customers", "crm_linked", "crm_by_account", "crm_by_email",
                                 "crm_by_phone")} == dict(crm_customers=2, crm_linked=2, crm_by_account=1,
                                                          crm_by_email=1, crm_by_phone=0)


def test_a_sale_carrying_the_site_account_and_the_card_ties_them(ws):
    """The CRM does not know C3's site account, but a sale made logged in with the loyalty
    card carries both: C3's store sale, by card alone, joins u3's journey."""
    load_rows(ws, "touchpoints", [{"event_id": "t9", "ts": _day(4), "visitor_id": "v3", "user_id": "u3",
                                   "utm_medium": "sms", "utm_source": "x"}])
    load_rows(ws, "conversions", [
        {"conversion_id": "w1", "ts": _day(3), "user_id": "u3", "customer_id": "C3", "origin": "call_centre"},
        {"conversion_id": "w2", "ts": _day(1), "customer_id": "C3", "origin": "store"}])
    _shop_with_a_crm(ws, [{"customer_id": "C3", "email": "c3@example.com"}])
    persons = {r["id"]: r["person_id"] for r in rows_of(ws, "persons")}
    assert persons["u3"] == persons["v3"] and "crm:C3" not in persons
    j = {r["conversion_id"]: r for r in rows_of(ws, "journeys") if r["converted"]}
    assert j["w2"]["person_id"] == persons["u3"]
    meta = rows_of(ws, "build_meta")[0]
    assert (meta["crm_customers"], meta["crm_linked"], meta["crm_by_account"]) == (1, 1, 1)
    # a later sale pairing another card with an account moves that card's graph id: the next
    # build rebuilds the persons of its old id and its new one, as a whole build would
    load_rows(ws, "conversions", [{"conversion_id": "w3", "ts": _day(1), "user_id": "u9", "customer_id": "C1",
                                   "origin": "store"}])
    assert build_journeys(ws.warehouse, ws.config, as_of=AS_OF).rebuilt == 1  # crm:C1's person, now u9's
    tables = {t: rows_of(ws, t, key) for t, key in (("persons", ["kind", "id"]), ("journeys", ["journey_id"]))}
    j = {r["conversion_id"]: r for r in tables["journeys"] if r["converted"]}
    assert j["s1"]["person_id"] == j["w3"]["person_id"]  # C1's older sale follows its card to u9
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF, full=True)
    assert tables == {t: rows_of(ws, t, key) for t, key in (("persons", ["kind", "id"]), ("journeys", ["journey_id"]))}


def test_a_hash_shared_by_many_customers_links_nobody(ws):
    shared = [{"customer_id": f"C{i}", "email": "contact@example.com"} for i in range(1, 8)]
    load_rows(ws, "conversions", [{"conversion_id": "o9", "ts": _day(2), "visitor_id": "v9",
                                   "email": "contact@example.com"}])
    _shop_with_a_crm(ws, shared)
    persons = {r["id"]: r["person_id"] for r in rows_of(ws, "persons")}
    assert persons["crm:C1"] == "u:crm:C1" and persons["v9"] == "v:v9"
    assert rows_of(ws, "build_meta")[0]["crm_linked"] == 0


def test_a_crm_load_rebuilds_every_person(ws):
    _shop_with_a_crm(ws, [{"customer_id": "C2"}])
    load_rows(ws, "crm", [{"customer_id": "C1", "email": "jane.doe@example.com"}])
    res = build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    assert res.rebuilt is None  # a full build: the new customer links persons it may not name
    persons = {r["id"]: r["person_id"] for r in rows_of(ws, "persons")}
    assert persons["crm:C1"] == "v:v1"
