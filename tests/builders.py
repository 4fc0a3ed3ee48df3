"""What tests build their workspaces with: rows written as real files and loaded as a user
would, and the hand-built datasets whose every expected number the tests work out by hand.
Fixtures that use them live in conftest.py."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from parcours import Workspace
from parcours.build.journeys import build_journeys
from parcours.load.ingest import LoadResult, load_file

AS_OF = dt.date(2026, 11, 23)
# A Spark workspace's settings: two cores, and no whole-stage code generation, which costs
# each query more time compiling than the tests' few thousand rows take to run (a 600-person
# build took 43.5 s without it, 52 s with it, in one run each); and a JVM that compiles with
# C1 only and collects garbage on one thread: a test's JVM lives a minute, too short for C2's
# work to pay back, and the CPU it spares is the other test worker's (a 300-person load and two
# builds took 97-148 s of the JVM's CPU with the defaults, 64-84 s so, in three paired runs).
# C1 alone reserves 48 MB for compiled code, full after 40 s of builds: the JVM then stops
# compiling ("CodeCache is full") and interprets whatever it meets later, for the rest of a test
# worker's Spark tests; 256 MB keeps it compiling (those tests 249 s to 209 s, one run each).
SPARK_TABLES = ("touchpoints", "conversions", "identities", "costs", "messages", "crm")  # parity loads
SPARK = ('[warehouse]\nengine = "spark"\nspark_master = "local[2]"\nspark_memory = "2g"\n'
         'spark_conf = ["spark.sql.codegen.wholeStage=false", '
         '"spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=256m"]\n')
_files = itertools.count()


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    header = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header, delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path




def load_rows(ws: Workspace, table: str, rows: list[dict]) -> LoadResult:
    """Write `rows` to a CSV file in the workspace and load it like a user would."""
    path = write_csv(ws.path / f"{table}-{next(_files)}.csv", rows)
    return load_file(ws.warehouse, table, path, rejects_file=path.with_suffix(".rejects.csv"))


def rows_of(ws: Workspace, table: str, order_by: list[str] | None = None) -> list[dict]:
    t = ws.warehouse.table(table)
    if order_by:
        t = t.order_by(order_by)
    return t.to_pyarrow().to_pylist()


SHOP_CONV = dt.datetime(2026, 10, 15, 12)


def _shop_at(days_before: float) -> str:
    return (SHOP_CONV - dt.timedelta(days=days_before)).isoformat() + "Z"


def _shop_tp(event_id, visitor, channel, days, device, interaction="click", pageviews="", duration="",
       source="", campaign=""):
    return dict(event_id=event_id, ts=_shop_at(days), visitor_id=visitor, channel=channel, device=device,
                interaction=interaction, pageviews=pageviews, duration_s=duration, source=source,
                campaign=campaign)


def _shop_conv(cid, revenue, device, new, categories, segment, kind="sale", visitor=None, user=None, origin="online"):
    return dict(conversion_id=cid, ts=_shop_at(0), visitor_id=visitor or "", user_id=user or "", device=device,
                revenue=str(revenue), new_customer=new, categories=categories, kind=kind, origin=origin,
                attributes=f'{{"segment": "{segment}"}}' if segment else "")


def build_shop(ws):
    """Hand-built journeys A-F of the report tests; every expected number is worked out from these."""
    load_rows(ws, "touchpoints", [
        _shop_tp("a1", "A", "display", 14, "mobile", pageviews="2", duration="60", source="site1", campaign="c1"),
        _shop_tp("a2", "A", "paid_search", 7, "desktop", pageviews="3", duration="120", source="google",
                 campaign="brand"),
        _shop_tp("a3", "A", "direct", 0.01, "desktop", "visit", pageviews="5", duration="300"),
        _shop_tp("b1", "B", "email", 1, "mobile", "email", pageviews="1", duration="30", source="newsletter"),
        _shop_tp("c1", "C", "affiliation", 2, "mobile", pageviews="4", duration="240", source="partnerX"),
        _shop_tp("c2", "C", "display", 0.5, "mobile", "view", source="site2", campaign="c2"),
        _shop_tp("d1", "D", "direct", 3, "tablet", "visit", pageviews="1", duration="10"),
        _shop_tp("d2", "D", "direct", 1, "tablet", "visit", pageviews="2", duration="20"),
        _shop_tp("f1", "F", "display", 5, "mobile", pageviews="1", duration="0", source="site1"),
        _shop_tp("f2", "F", "paid_search", 4, "desktop", pageviews="2", duration="60", source="google"),
    ])
    load_rows(ws, "conversions", [
        _shop_conv("A", 100, "desktop", "true", "shoes", "premium", visitor="A"),
        _shop_conv("B", 50, "mobile", "false", "bags", "mass", visitor="B"),
        _shop_conv("C", 30, "mobile", "true", "shoes|bags", "premium", visitor="C"),
        _shop_conv("D", 20, "tablet", "false", "", "mass", kind="lead", visitor="D"),
        _shop_conv("E", 10, "other", "true", "", "", user="unknown", origin="store"),
    ])
    load_rows(ws, "costs", [
        dict(date="2026-10-01", channel="display", source="site1", campaign="c1", cost="50"),
        dict(date="2026-10-10", channel="paid_search", source="google", campaign="brand", cost="30"),
        dict(date="2026-08-01", channel="email", cost="999"),  # outside the period
    ])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    return ws


RULES_CONV = dt.datetime(2026, 10, 15)


def _rules_at(days_before: float) -> str:
    return (RULES_CONV - dt.timedelta(days=days_before)).isoformat() + "Z"


def _rules_tp(event_id, visitor, channel, days_before, interaction="click"):
    return dict(event_id=event_id, ts=_rules_at(days_before), visitor_id=visitor, channel=channel,
                interaction=interaction)


def build_rule_journeys(ws):
    """Hand-built journeys A-E of the attribution tests."""
    load_rows(ws, "touchpoints", [
        # A: display 14 d, paid_search 7 d, direct 0 d before the conversion
        _rules_tp("a1", "A", "display", 14), _rules_tp("a2", "A", "paid_search", 7),
        _rules_tp("a3", "A", "direct", 0, "visit"),
        # B: one email
        _rules_tp("b1", "B", "email", 1, "email"),
        # C: affiliation click 2 d, then a display view 0.5 d before
        _rules_tp("c1", "C", "affiliation", 2), _rules_tp("c2", "C", "display", 0.5, "view"),
        # D: only direct
        _rules_tp("d1", "D", "direct", 3, "visit"), _rules_tp("d2", "D", "direct", 1, "visit"),
    ])
    load_rows(ws, "conversions", [
        dict(conversion_id="A", ts=_rules_at(0), visitor_id="A", revenue="100"),
        dict(conversion_id="B", ts=_rules_at(0), visitor_id="B", revenue="50"),
        dict(conversion_id="C", ts=_rules_at(0), visitor_id="C", revenue="30"),
        dict(conversion_id="D", ts=_rules_at(0), visitor_id="D", revenue="20"),
        dict(conversion_id="E", ts=_rules_at(0), user_id="unknown", origin="store", revenue="10"),
    ])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    return ws


# --- a GA4 BigQuery export (events_YYYYMMDD), written from the export's published schema ---

def _ga4_value(v):
    """A GA4 parameter value: one of string_value, int_value, float_value, double_value."""
    return {"string_value": v if isinstance(v, str) else None, "int_value": v if isinstance(v, int) else None,
            "float_value": None, "double_value": v if isinstance(v, float) else None}


def ga4_event(name, micros, pseudo, session=None, user_id=None, device="desktop", params=None, collected=None,
              last_click=None, ecommerce=None, items=None):
    ps = {**({"ga_session_id": session} if session is not None else {}), **(params or {})}
    blank = {"manual_campaign_id": None, "manual_campaign_name": None, "manual_source": None,
             "manual_medium": None, "manual_term": None, "manual_content": None, "gclid": None,
             "dclid": None, "srsltid": None}
    return {
        "event_date": "20261014", "event_timestamp": micros, "event_name": name,
        "event_params": [{"key": k, "value": _ga4_value(v)} for k, v in ps.items()],
        "user_id": user_id, "user_pseudo_id": pseudo,
        "user_properties": [],
        "device": {"category": device, "operating_system": "Linux", "language": "fr-fr"},
        "traffic_source": {"name": "(direct)", "medium": "(none)", "source": "(direct)"},
        "collected_traffic_source": {**blank, **(collected or {})},
        "session_traffic_source_last_click": {"manual_campaign": {
            "campaign_id": None, "campaign_name": None, "source": None, "medium": None, **(last_click or {})}},
        "ecommerce": {"total_item_quantity": None, "purchase_revenue_in_usd": None, "purchase_revenue": None,
                      "transaction_id": None, **(ecommerce or {})},
        "items": [{"item_id": f"i{n}", "item_name": f"item {n}", "item_category": c, "price": 10.0, "quantity": 1}
                  for n, c in enumerate(items or [])],
    }


GA4_DAY = 1_792_000_000_000_000  # 2026-10-14, in microseconds since 1970


def ga4_export():
    """Sessions and conversions with the export's awkward cases; what each must give is in
    test_ga4.py."""
    h = 3_600_000_000  # an hour, in microseconds
    return [
        # P1: a paid search session (collected utm), then a direct session with a purchase
        ga4_event("session_start", GA4_DAY, "p1", 11, collected={"manual_source": "google", "manual_medium": "cpc",
                                                                  "manual_campaign_name": "brand"},
                  params={"page_location": "https://shop.example/?utm_source=google"}),
        ga4_event("page_view", GA4_DAY + 1, "p1", 11),
        ga4_event("session_start", GA4_DAY + 2 * h, "p1", 12, user_id="u1",
                  collected={"manual_source": "(direct)", "manual_medium": "(none)"}),
        ga4_event("purchase", GA4_DAY + 2 * h + 5, "p1", 12, user_id="u1",
                  ecommerce={"transaction_id": "T1", "purchase_revenue": 80.5}, items=["shoes", "bags", "shoes"]),
        # the same purchase sent twice: kept once
        ga4_event("purchase", GA4_DAY + 2 * h + 6, "p1", 12, user_id="u1",
                  ecommerce={"transaction_id": "T1", "purchase_revenue": 80.5}, items=["shoes"]),
        # P2: a gclid without utm (google / cpc), on a phone, from the last-click record's campaign
        ga4_event("session_start", GA4_DAY + h, "p2", 21, device="mobile", collected={"gclid": "abc"},
                  last_click={"campaign_name": "summer"}),
        ga4_event("generate_lead", GA4_DAY + h + 9, "p2", 21, device="mobile"),
        # P3: a session with no session_start event, its source in event parameters
        ga4_event("page_view", GA4_DAY + 3 * h, "p3", 31, device="smart tv",
                  params={"source": "newsletter", "medium": "email", "campaign": "oct"}),
        # an event without a session id: no touchpoint
        ga4_event("page_view", GA4_DAY + 4 * h, "p3", None),
        # consent mode: no user_pseudo_id, a purchase without a transaction id
        ga4_event("session_start", GA4_DAY + 5 * h, None, 51),
        ga4_event("purchase", GA4_DAY + 5 * h + 1, None, 51, ecommerce={"purchase_revenue": 20.0}),
    ]


def write_ga4(rows, path, without=()):
    """The rows as the export's Parquet (nested records typed as BigQuery has them) or, for
    .json, as BigQuery's JSON Lines (integers as strings). `without`: dotted fields the
    Parquet schema lacks, as an older or trimmed export's does ("device.category")."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix == ".json":
        def bq(v):
            if isinstance(v, dict):
                return {k: bq(x) for k, x in v.items()}
            if isinstance(v, list):
                return [bq(x) for x in v]
            return str(v) if isinstance(v, int) and not isinstance(v, bool) else v
        path.write_text("".join(json.dumps(bq(r)) + "\n" for r in rows))
        return path
    value = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()), ("float_value", pa.float64()),
                       ("double_value", pa.float64())])
    params = pa.list_(pa.struct([("key", pa.string()), ("value", value)]))
    campaign = pa.struct([(k, pa.string()) for k in ("campaign_id", "campaign_name", "source", "medium")])
    schema = pa.schema([
        ("event_date", pa.string()), ("event_timestamp", pa.int64()), ("event_name", pa.string()),
        ("event_params", params), ("user_id", pa.string()), ("user_pseudo_id", pa.string()),
        ("user_properties", params),
        ("device", pa.struct([(k, pa.string()) for k in ("category", "operating_system", "language")])),
        ("traffic_source", pa.struct([("name", pa.string()), ("medium", pa.string()), ("source", pa.string())])),
        ("collected_traffic_source", pa.struct([(k, pa.string()) for k in (
            "manual_campaign_id", "manual_campaign_name", "manual_source", "manual_medium", "manual_term",
            "manual_content", "gclid", "dclid", "srsltid")])),
        ("session_traffic_source_last_click", pa.struct([("manual_campaign", campaign)])),
        ("ecommerce", pa.struct([("total_item_quantity", pa.int64()), ("purchase_revenue_in_usd", pa.float64()),
                                 ("purchase_revenue", pa.float64()), ("transaction_id", pa.string())])),
        ("items", pa.list_(pa.struct([("item_id", pa.string()), ("item_name", pa.string()),
                                      ("item_category", pa.string()), ("price", pa.float64()),
                                      ("quantity", pa.int64())]))),
    ])

    def trim(kind, path):
        if pa.types.is_struct(kind):
            return pa.struct([pa.field(f.name, trim(f.type, f"{path}.{f.name}")) for f in kind
                              if f"{path}.{f.name}" not in without])
        if pa.types.is_list(kind):
            return pa.list_(trim(kind.value_type, path))
        return kind
    schema = pa.schema([(f.name, trim(f.type, f.name)) for f in schema])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


# -- messaging journeys: two journeys worked out by hand (test_messages) ----------------------

FIRST = dt.datetime(2026, 10, 1, 9)  # every journey's first send


def at(minutes: float) -> str:
    return (dt.datetime(2026, 10, 1, 9) + dt.timedelta(minutes=minutes)).isoformat() + "Z"


def build_messages(ws):
    """Two journeys worked out by hand: welcome (email, steps w1 and w2), cart (SMS, c1)."""
    n = iter(range(1000))

    def e(step, recipient, event, minutes=0.0, channel="email", journey="welcome", **extra):
        return dict(event_id=f"e{next(n)}", ts=at(minutes), journey=journey, step=step, channel=channel,
                    recipient=recipient, event=event, **extra)

    cart = dict(channel="sms", journey="cart")
    load_rows(ws, "messages", [
        # a: a proxy's open 5 s after delivery, two human opens, two clicks, then unsubscribes
        e("w1", "a", "sent"), e("w1", "a", "delivered", 1), e("w1", "a", "opened", 1 + 5 / 60,
                                                              user_agent="Mozilla/5.0 via ggpht.com GoogleImageProxy"),
        e("w1", "a", "opened", 60), e("w1", "a", "opened", 120), e("w1", "a", "clicked", 130),
        e("w1", "a", "clicked", 131), e("w1", "a", "unsubscribed", 140),
        e("w1", "b", "sent"), e("w1", "b", "bounced", 1, bounce_type="hard"),  # b bounces
        e("w1", "c", "sent"), e("w1", "c", "delivered", 1), e("w1", "c", "clicked", 300),  # a click, no open
        e("w1", "d", "sent"), e("w1", "d", "delivered", 1), e("w1", "d", "opened", 60, machine_open="true"),
        e("w2", "a", "sent"), e("w2", "a", "delivered", 1), e("w2", "a", "opened", 30),
        e("w2", "a", "complained", 31),
        e("c1", "p", "sent", **cart), e("c1", "p", "delivered", 1, **cart), e("c1", "p", "clicked", 9, **cart),
        e("c1", "q", "sent", **cart), e("c1", "q", "undelivered", 1, **cart),
        e("c1", "r", "held_out", **cart),  # not sent: in no count
    ])


# The documented test vectors of hashed identifiers (docs/architecture.md, "CRM and hashed identifiers").
JANE = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
JANE_PHONE = "42d573cfc315801d4cd8eddd5416b416a0bf298b9b9e12d6b07442c91db42bd8"  # +33612345678

DAY = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=10)  # well before the D-2 cut


def day_at(days: float) -> str:
    return (DAY + dt.timedelta(days=days)).isoformat(sep=" ")


def build_two_persons(ws):
    load_rows(ws, "crm", [{"customer_id": "C1", "user_id": "ua", "phone": "06 12 34 56 78",
                           "attributes": '{"segment": "premium"}'}])
    load_rows(ws, "touchpoints", [
        {"event_id": "a1", "ts": day_at(0), "visitor_id": "va1", "device": "desktop", "channel": "display",
         "funnel_stage": "awareness"},
        {"event_id": "a2", "ts": day_at(1), "visitor_id": "va2", "device": "mobile", "channel": "email",
         "funnel_stage": "cart"},
        {"event_id": "a3", "ts": day_at(2), "visitor_id": "va2", "device": "mobile", "channel": "display"},
        {"event_id": "a4", "ts": day_at(4), "visitor_id": "va1", "device": "desktop", "channel": "direct"},
        {"event_id": "b1", "ts": day_at(3), "visitor_id": "vb", "device": "tablet", "channel": "social"},
    ])
    load_rows(ws, "identities", [{"visitor_id": "va1", "user_id": "ua", "email": "Jane.Doe@example.com"},
                                 {"visitor_id": "va2", "user_id": "ua"}])
    load_rows(ws, "conversions", [
        {"conversion_id": "o1", "ts": day_at(2.5), "visitor_id": "va2", "revenue": "40", "new_customer": "true",
         "categories": "shoes|bags", "device": "mobile", "attributes": '{"segment": "mass"}'},
        {"conversion_id": "o2", "ts": day_at(5), "customer_id": "C1", "origin": "store", "revenue": "60",
         "categories": "shoes"},
    ])
    sent = day_at(1)
    load_rows(ws, "messages", [
        {"event_id": f"m{i}", "ts": ts, "journey": j, "step": f"{j}-1", "channel": "email",
         "recipient": "jane@x.fr", "event": ev, "user_id": "ua", **extra}
        for i, (ts, j, ev, extra) in enumerate([
            (sent, "welcome", "sent", {}), (sent, "welcome", "delivered", {}),
            (day_at(1.5), "welcome", "opened", {}),  # a person's open
            (sent, "cart", "sent", {}), (sent, "cart", "delivered", {}),
            (day_at(1.0001), "cart", "opened", {}),  # 9 s after delivery: a proxy's
            (day_at(1.2), "cart", "clicked", {}), (day_at(1.3), "cart", "unsubscribed", {}),
            (day_at(30), "promo", "opened", {}),  # after the cut: not yet in the profile
        ])])
    return build_journeys(ws.warehouse, ws.config, as_of=AS_OF)


def build_three(ws):
    """build_two_persons' A and B, and C: an email touch at day_at(6.5) on a phone, then 300 of
    bags at day_at(7), a new customer. Built as of AS_OF."""
    load_rows(ws, "touchpoints", [{"event_id": "c1", "ts": day_at(6.5), "visitor_id": "vc", "device": "mobile",
                                   "channel": "email"}])
    load_rows(ws, "conversions", [{"conversion_id": "oc", "ts": day_at(7), "visitor_id": "vc", "revenue": "300",
                                   "new_customer": "true", "categories": "bags", "device": "mobile"}])
    build_two_persons(ws)
    return ws


A, B, C = "v:va1", "v:vb", "v:vc"  # build_three's persons


def who(ws, when) -> set[str]:
    """The persons of an audience condition."""
    from parcours.activation.audiences import members
    from parcours.contract.conditions import parse

    return set(members(ws.warehouse, ws.config, parse(when)).person_id.to_pyarrow().to_pylist())


# --- parity: one table from two engines ----------------------------------------------------

def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order, lists and maps as comparable text (engines order rows freely)."""
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: json.dumps(sorted(v.items()), default=str) if isinstance(v, dict)
                              else json.dumps(list(v), default=str)
                              if isinstance(v, (list, tuple, np.ndarray)) else v)
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    keys = [c for c in df.columns if c not in floats] + floats
    return df.sort_values(keys, na_position="first").reset_index(drop=True) if keys else df


def assert_same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns), what
    pd.testing.assert_frame_equal(canonical(a), canonical(b), check_dtype=False,
                                  rtol=1e-9, atol=0, obj=what)


def loaded_after(commands: list[list[str]], modules: tuple[str, ...]) -> subprocess.CompletedProcess:
    """A fresh interpreter runs each `parcours` command (its arguments), then prints, as its
    last line, which of `modules` it loaded: one `parcours.lazy` merely registered is not."""
    script = f"""
import sys
from parcours.faces.cli import app
for args in {commands!r}:
    try:
        app(args)
    except SystemExit as done:
        assert not done.code, (args, done.code)
print(sorted(m for m in {modules!r} if m in sys.modules and type(sys.modules[m]).__name__ != "_LazyModule"))
"""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
