"""`parcours ingest ga4`: a GA4 BigQuery export (builders.ga4_export, written from the
export's published schema) into touchpoints, conversions and identities, every expected row
worked out by hand."""

import pytest
from typer.testing import CliRunner

from builders import ga4_export, rows_of, write_ga4
from parcours.cli import app


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
        from parcours.channels import classify

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
