"""Person profiles (issue 16): one row per person, every column worked out by hand on two
persons, and rewritten whole by each build."""

from __future__ import annotations

import datetime as dt

from builders import AS_OF, load_rows, rows_of
from parcours.journeys import build_journeys
from parcours.profiles import PROFILE_COLUMNS
from test_crm import JANE, JANE_PHONE

DAY = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=10)  # well before the D-2 cut


def at(days: float) -> str:
    return (DAY + dt.timedelta(days=days)).isoformat(sep=" ")


def _two_persons(ws):
    load_rows(ws, "crm", [{"customer_id": "C1", "user_id": "ua", "phone": "06 12 34 56 78",
                           "attributes": '{"segment": "premium"}'}])
    load_rows(ws, "touchpoints", [
        {"event_id": "a1", "ts": at(0), "visitor_id": "va1", "device": "desktop", "channel": "display",
         "funnel_stage": "awareness"},
        {"event_id": "a2", "ts": at(1), "visitor_id": "va2", "device": "mobile", "channel": "email",
         "funnel_stage": "cart"},
        {"event_id": "a3", "ts": at(2), "visitor_id": "va2", "device": "mobile", "channel": "display"},
        {"event_id": "a4", "ts": at(4), "visitor_id": "va1", "device": "desktop", "channel": "direct"},
        {"event_id": "b1", "ts": at(3), "visitor_id": "vb", "device": "tablet", "channel": "social"},
    ])
    load_rows(ws, "identities", [{"visitor_id": "va1", "user_id": "ua", "email": "Jane.Doe@example.com"},
                                 {"visitor_id": "va2", "user_id": "ua"}])
    load_rows(ws, "conversions", [
        {"conversion_id": "o1", "ts": at(2.5), "visitor_id": "va2", "revenue": "40", "new_customer": "true",
         "categories": "shoes|bags", "device": "mobile", "attributes": '{"segment": "mass"}'},
        {"conversion_id": "o2", "ts": at(5), "customer_id": "C1", "origin": "store", "revenue": "60",
         "categories": "shoes"},
    ])
    sent = at(1)
    load_rows(ws, "messages", [
        {"event_id": f"m{i}", "ts": ts, "journey": j, "step": f"{j}-1", "channel": "email",
         "recipient": "jane@x.fr", "event": ev, "user_id": "ua", **extra}
        for i, (ts, j, ev, extra) in enumerate([
            (sent, "welcome", "sent", {}), (sent, "welcome", "delivered", {}),
            (at(1.5), "welcome", "opened", {}),  # a person's open
            (sent, "cart", "sent", {}), (sent, "cart", "delivered", {}),
            (at(1.0001), "cart", "opened", {}),  # 9 s after delivery: a proxy's
            (at(1.2), "cart", "clicked", {}), (at(1.3), "cart", "unsubscribed", {}),
            (at(30), "promo", "opened", {}),  # after the cut: not yet in the profile
        ])])
    return build_journeys(ws.warehouse, ws.config, as_of=AS_OF)


def test_every_column_of_two_persons(ws):
    _two_persons(ws)
    got = {r["person_id"]: r for r in rows_of(ws, "profiles")}
    assert set(got) == {"v:va1", "v:vb"} and list(rows_of(ws, "profiles")[0]) == list(PROFILE_COLUMNS)
    a, b = got["v:va1"], got["v:vb"]
    assert (a["first_ts"], a["last_ts"], a["touches"]) == (DAY, DAY + dt.timedelta(days=4), 4)
    assert a["channels"] == ["direct", "display", "email"]
    assert dict(a["channel_touches"]) == {"direct": 1, "display": 2, "email": 1}
    assert dict(a["channel_last_ts"])["display"] == DAY + dt.timedelta(days=2)
    assert a["devices"] == ["desktop", "mobile"]  # the store sale has no device
    assert (a["stage"], a["stage_rank"]) == ("cart", 4)  # the furthest stage, not the last one
    assert (a["conversions"], a["revenue"]) == (2, 100.0)
    assert (a["first_conversion_ts"], a["last_conversion_ts"]) == (DAY + dt.timedelta(days=2.5),
                                                                    DAY + dt.timedelta(days=5))
    assert a["categories"] == ["bags", "shoes"] and a["returning"] is True  # two sales
    assert dict(a["attributes"]) == {"segment": "premium"}  # the CRM's, not the order's
    assert (a["messages_opened"], a["messages_clicked"], a["unsubscribed"]) == (["welcome"], ["cart"], True)
    assert (a["visitor_ids"], a["user_ids"], a["customer_ids"]) == (["va1", "va2"], ["ua"], ["C1"])
    assert (a["email_sha256"], a["phone_sha256"]) == ([JANE], [JANE_PHONE])
    assert (b["touches"], b["channels"], b["devices"], b["stage"], b["stage_rank"]) == (
        1, ["social"], ["tablet"], "awareness", 1)  # the funnel rules: social is awareness
    assert (b["conversions"], b["revenue"], b["returning"], b["attributes"]) == (0, 0.0, None, None)
    assert (b["messages_opened"], b["unsubscribed"], b["email_sha256"], b["customer_ids"]) == ([], False, [], [])


def test_profiles_follow_new_message_events_without_a_journey_changing(ws):
    _two_persons(ws)
    load_rows(ws, "messages", [{"event_id": "n1", "ts": at(3), "journey": "promo", "step": "promo-1",
                                "channel": "email", "recipient": "b@x.fr", "event": "clicked",
                                "visitor_id": "vb"}])
    res = build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    assert res.rebuilt == 0  # no journey changed...
    got = {r["person_id"]: r for r in rows_of(ws, "profiles")}
    assert got["v:vb"]["messages_clicked"] == ["promo"]  # ...and the profile did
