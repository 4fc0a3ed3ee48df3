"""What tests build their workspaces with: rows written as real files and loaded as a user
would, and the hand-built datasets whose every expected number the tests work out by hand.
Fixtures that use them live in conftest.py."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from pathlib import Path

from parcours import Workspace
from parcours.ingest import LoadResult, load_file
from parcours.journeys import build_journeys

AS_OF = dt.date(2026, 11, 23)
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
