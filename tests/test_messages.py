"""Message events of email and SMS journeys (issue 15): the `messages` table, loaded like
every canonical table, with the rules only messages have."""

import datetime as dt

from builders import load_rows, rows_of


def msg(event_id, event, channel="email", recipient="a@x.fr", step="welcome-1", **extra):
    return dict(event_id=event_id, ts="2026-10-01T09:00:00Z", journey="welcome", step=step, channel=channel,
                recipient=recipient, event=event, **extra)


def reasons(res):
    return [(r.row, r.field, r.reason) for r in res.rejects]


def test_message_events_load_typed_and_a_reload_adds_nothing(ws):
    rows = [msg("m1", "sent"), msg("m2", "delivered"), msg("m3", "opened", user_agent="Mozilla/5.0"),
            msg("m4", "clicked", url="https://shop.fr/a", user_id="u1"),
            msg("m5", "bounced", recipient="b@x.fr", bounce_type="HARD"),
            msg("m6", "undelivered", channel="SMS", recipient="+33600000000"),
            msg("m7", "held_out", recipient="c@x.fr"), msg("m8", "opened", machine_open="true")]
    res = load_rows(ws, "messages", rows)
    assert (res.rejected_rows, res.inserted) == (0, 8)
    got = {r["event_id"]: r for r in rows_of(ws, "messages")}
    assert got["m1"]["ts"] == dt.datetime(2026, 10, 1, 9) and got["m1"]["journey"] == "welcome"
    assert (got["m5"]["bounce_type"], got["m6"]["channel"], got["m8"]["machine_open"]) == ("hard", "sms", True)
    assert got["m4"]["user_id"] == "u1" and got["m1"]["machine_open"] is None
    again = load_rows(ws, "messages", rows)
    assert (again.inserted, again.already_loaded) == (0, 8)


def test_an_event_its_channel_cannot_have_is_rejected_with_row_and_field(ws):
    res = load_rows(ws, "messages", [
        msg("m1", "opened", channel="sms"),  # an SMS is never opened (no tracking pixel)
        msg("m2", "bounced", channel="sms"),  # an SMS is undelivered, an email bounces
        msg("m3", "undelivered", channel="email"),
        msg("m4", "read"),
        msg("m5", "clicked", channel="fax"),
        msg("m6", "sent", recipient=""),
        msg("m7", "bounced", bounce_type="permanent"),
        msg("m8", "clicked", channel="sms"),  # SMS links are tracked: a click is fine
    ])
    assert reasons(res) == [
        (1, "event", "opened is for channel email only"),
        (2, "event", "bounced is for channel email only"),
        (3, "event", "undelivered is for channel sms only"),
        (4, "event", "must be one of sent, delivered, bounced, opened, clicked, unsubscribed, complained, "
                     "undelivered, held_out"),
        (5, "channel", "must be one of email, sms"),
        (6, "recipient", "missing"),
        (7, "bounce_type", "must be one of hard, soft"),
    ]
    assert [r["event_id"] for r in rows_of(ws, "messages")] == ["m8"]


def test_a_file_without_a_required_column_is_refused_whole(ws):
    import pytest

    from parcours.errors import InvalidInput

    rows = [{k: v for k, v in msg("m1", "sent").items() if k != "journey"}]
    with pytest.raises(InvalidInput, match="missing required column"):
        load_rows(ws, "messages", rows)
    assert rows_of(ws, "messages") == []
