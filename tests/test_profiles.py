"""Person profiles (issue 16): one row per person, every column worked out by hand on two
persons, and rewritten whole by each build."""

from __future__ import annotations

import datetime as dt

from builders import AS_OF, DAY, JANE, JANE_PHONE, build_two_persons, day_at, load_rows, rows_of
from parcours.build.journeys import build_journeys
from parcours.build.profiles import PROFILE_COLUMNS


def test_every_column_ofbuild_two_persons(ws):
    build_two_persons(ws)
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
    build_two_persons(ws)
    load_rows(ws, "messages", [{"event_id": "n1", "ts": day_at(3), "journey": "promo", "step": "promo-1",
                                "channel": "email", "recipient": "b@x.fr", "event": "clicked",
                                "visitor_id": "vb"}])
    res = build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    assert res.rebuilt == 0  # no journey changed...
    got = {r["person_id"]: r for r in rows_of(ws, "profiles")}
    assert got["v:vb"]["messages_clicked"] == ["promo"]  # ...and the profile did
