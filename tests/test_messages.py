"""Message events of email and SMS journeys (issue 15): the `messages` table, loaded like
every canonical table, with the rules only messages have."""

import datetime as dt
import math

import pandas as pd

from builders import FIRST, at, load_rows, rows_of
from builders import build_messages as sample


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


def test_engagement_by_journey_as_worked_out_by_hand(ws):
    from parcours.reports.messaging_metrics import engagement

    sample(ws)
    got = engagement(ws.warehouse, "journey").set_index("journey").to_dict("index")
    # c's click without a tracked open counts as an open (its pixel was blocked), as Mailchimp counts it;
    # d's open is a machine's; b's bounce is a hard one
    assert got["welcome"] == dict(
        sends=5, deliveries=4, delivery_rate=0.8, bounces=1, hard_bounces=1, soft_bounces=0, bounce_rate=0.2,
        undelivered=0, undelivered_rate=None, opened=3, total_opens=3, open_rate=0.75, machine_opens=2, clicked=2,
        total_clicks=3, click_rate=0.5, clicks_per_unique_opens=2 / 3, unsubscribed=1, unsubscribe_rate=0.25,
        abuse_reports=1, abuse_rate=0.25, first_sent=FIRST)
    cart = got["cart"]  # SMS only: an open cannot be tracked, so opens are not applicable (not 0)
    assert all(math.isnan(cart.pop(k)) for k in ("opened", "total_opens", "machine_opens"))
    assert cart == dict(
        sends=2, deliveries=1, delivery_rate=0.5, bounces=0, hard_bounces=0, soft_bounces=0, bounce_rate=None,
        undelivered=1, undelivered_rate=0.5, open_rate=None, clicked=1, total_clicks=1, click_rate=1.0,
        clicks_per_unique_opens=None, unsubscribed=0, unsubscribe_rate=0.0, abuse_reports=0, abuse_rate=0.0,
        first_sent=FIRST)


def test_engagement_by_step_recipient_and_channel_adds_up(ws):
    from parcours.reports.messaging_metrics import engagement

    sample(ws)
    steps = engagement(ws.warehouse, "step", journey="welcome").set_index("step")
    assert steps.sends.to_dict() == {"w1": 4, "w2": 1} and steps.open_rate.to_dict() == {"w1": 2 / 3, "w2": 1.0}
    people = engagement(ws.warehouse, "recipient", journey="welcome", step="w1").set_index("recipient")
    assert people.clicked.to_dict() == {"a": 1, "b": 0, "c": 1, "d": 0}
    assert people.machine_opens.to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1}
    channels = engagement(ws.warehouse, "channel").set_index("channel")
    assert channels.sends.to_dict() == {"email": 5, "sms": 2} and channels.total_clicks.sum() == 4


def test_no_message_is_an_empty_answer_and_a_bad_grouping_one_line(ws):
    import pytest

    from parcours.reports.messaging_metrics import COLUMNS, engagement

    empty = engagement(ws.warehouse, "journey")
    assert len(empty) == 0 and list(empty.columns) == ["journey", *COLUMNS]
    sample(ws)
    assert len(engagement(ws.warehouse, "journey", journey="nope")) == 0
    with pytest.raises(ValueError, match="by must be one of journey, step, channel, recipient"):
        engagement(ws.warehouse, "device")


def test_orders_go_to_the_last_message_clicked_within_the_window(ws):
    """u1 clicks w1 then w2 and buys 2 days after w2's click (w2's order), and again 7 days
    after (outside 5 days: nobody's); visitor v2 clicks c1 and buys an hour later; u3 only
    opened w1 (an order only when opens count)."""
    from parcours.build.journeys import build_journeys
    from parcours.reports.messaging_metrics import orders

    def e(eid, step, recipient, event, minutes, **extra):
        channel = "sms" if step == "c1" else "email"
        return dict(event_id=eid, ts=at(minutes), journey="cart" if step == "c1" else "welcome", step=step,
                    channel=channel, recipient=recipient, event=event, **extra)

    day = 24 * 60
    load_rows(ws, "messages", [
        e("1", "w1", "a", "delivered", 0, user_id="u1"), e("2", "w1", "a", "clicked", 10, user_id="u1"),
        e("3", "w2", "a", "delivered", day, user_id="u1"), e("4", "w2", "a", "clicked", day + 10, user_id="u1"),
        e("5", "c1", "p", "delivered", 0, visitor_id="v2"), e("6", "c1", "p", "clicked", 5, visitor_id="v2"),
        e("7", "w1", "z", "delivered", 0, user_id="u3"), e("8", "w1", "z", "opened", 60, user_id="u3"),
        e("9", "w1", "y", "delivered", 0, user_id="u4"),  # delivered, never acted on
    ])
    load_rows(ws, "touchpoints", [dict(event_id="t1", ts=at(0), visitor_id="v2", channel="sms", interaction="sms")])

    def conv(cid, minutes, revenue, **who):
        return dict(conversion_id=cid, ts=at(minutes), revenue=str(revenue), **who)

    load_rows(ws, "conversions", [conv("o1", 3 * day + 10, 100, user_id="u1"),
                                  conv("o2", 8 * day + 10, 40, user_id="u1"),
                                  conv("o3", 65, 30, visitor_id="v2"), conv("o4", day, 20, user_id="u3")])
    build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))
    got = orders(ws.warehouse, "step").set_index("step").drop(columns="journey").to_dict("index")
    assert got["w2"] == dict(orders=1, order_rate=1.0, revenue=100.0, average_order_revenue=100.0,
                             revenue_per_recipient=100.0)
    assert got["c1"]["orders"] == 1 and got["c1"]["revenue"] == 30.0
    assert got["w1"] == dict(orders=0, order_rate=0.0, revenue=0.0, average_order_revenue=None,
                             revenue_per_recipient=0.0)  # 3 recipients delivered: a, z, y
    opens = orders(ws.warehouse, "step", on="opened").set_index("step")
    assert opens.orders.to_dict() == {"w1": 1, "w2": 0, "c1": 0} and opens.revenue["w1"] == 20.0
    wide = orders(ws.warehouse, "journey", window_days=10).set_index("journey")
    assert wide.orders.to_dict() == {"cart": 1, "welcome": 2}  # o2 within 10 days of w2's click


def test_orders_need_a_build_and_a_known_act(ws):
    import pytest

    from parcours.errors import NotBuilt
    from parcours.reports.messaging_metrics import orders

    sample(ws)
    with pytest.raises(NotBuilt, match="run `parcours build`"):
        orders(ws.warehouse, "journey")
    with pytest.raises(ValueError, match="on must be clicked or opened"):
        orders(ws.warehouse, "journey", on="delivered")


# -- the report `messaging` ------------------------------------------------------------------

def test_the_report_answers_from_messages_alone_steps_in_sending_order(ws):
    from parcours.contract.query import Query
    from parcours.reports import run_report

    sample(ws)
    r = run_report("messaging", ws.warehouse, ws.config, Query())
    assert [(j, s) for j, s in zip(r.table.journey, r.table.step, strict=True)] == [
        ("cart", "c1"), ("welcome", "w1"), ("welcome", "w2")]
    assert list(r.table.columns[:7]) == ["journey", "step", "status", "sends", "deliveries", "open_rate",
                                         "click_rate"]
    assert r.totals["sends"] == 7 and r.totals["total_clicks"] == 4 and "orders" not in r.totals
    assert [w.key for w in r.warnings] == ["orders_need_build"]
    assert r.headline == ["sends", "open_rate", "click_rate"]  # orders need a build
    assert r.link == {"set": {"journey": "journey", "step": "step"}, "and": {"by": "recipient"}}
    assert r.query["today_included"] and r.query["start"] == "2026-10-01"


def test_an_sms_only_journey_has_no_email_columns_and_a_paused_one_says_so(ws):
    import dataclasses

    from parcours.contract.query import Query
    from parcours.reports import run_report

    sample(ws)
    config = dataclasses.replace(ws.config, messaging=dataclasses.replace(ws.config.messaging, paused=("cart",)))
    r = run_report("messaging", ws.warehouse, config, Query(journey="cart"))
    assert not {"opened", "open_rate", "bounces", "machine_opens"} & set(r.table.columns)
    assert r.table.undelivered.tolist() == [1] and r.table.status.tolist() == ["paused"]
    assert r.headline == ["sends", "click_rate"]
    emails = run_report("messaging", ws.warehouse, ws.config, Query(journey="welcome", by="journey"))
    assert "undelivered" not in emails.table and emails.table.status.tolist() == ["active"]


def test_no_message_is_an_answer_that_says_so(ws):
    from parcours.contract.query import Query
    from parcours.reports import run_report

    r = run_report("messaging", ws.warehouse, ws.config, Query())
    assert r.is_empty and r.table.empty and [w.key for w in r.warnings] == ["no_messages"]
    sample(ws)
    nothing = run_report("messaging", ws.warehouse, ws.config, Query(journey="nope", by="recipient"))
    assert nothing.is_empty and list(nothing.table.columns[:1]) == ["recipient"]
    before = run_report("messaging", ws.warehouse, ws.config, Query(end=dt.date(2026, 9, 30)))
    assert before.is_empty
    later = run_report("messaging", ws.warehouse, ws.config, Query(start=dt.date(2099, 1, 1)))
    assert later.is_empty and [w.key for w in later.warnings] == ["after_last_day"]
    assert later.query["start"] == "2099-01-01" and not {"level", "top", "collapse"} & set(later.query)


def test_machine_opens_can_count_as_opens(ws):
    from parcours.contract.query import Query
    from parcours.reports import run_report

    sample(ws)
    apart = run_report("messaging", ws.warehouse, ws.config, Query(journey="welcome", by="journey"))
    counted = run_report("messaging", ws.warehouse, ws.config, Query(journey="welcome", by="journey",
                                                                      machine_opens=True))
    assert apart.table.opened.tolist() == [3] and counted.table.opened.tolist() == [4]  # d's flagged open
    assert apart.table.total_opens.tolist() == [3] and counted.table.total_opens.tolist() == [5]
    assert counted.table.machine_opens.tolist() == [2]  # still said apart


def lift_workspace(ws):
    """Journey j: u1..u4 sent (u1 by email and SMS: one person), u5 and u6 held out; u7 is a
    recipient no identity names. Orders within 14 days of entry: u1 two, u2 one, u5 one;
    u3's order comes 15 days after its entry (outside)."""
    from parcours.build.journeys import build_journeys

    day = 24 * 60
    rows, n = [], iter(range(100))

    def e(recipient, user, event, minutes=0, channel="email"):
        rows.append(dict(event_id=f"m{next(n)}", ts=at(minutes), journey="j", step="s1" if channel == "email"
                         else "s2", channel=channel, recipient=recipient, event=event, user_id=user))

    for i in (1, 2, 3, 4):
        e(f"u{i}@x", f"u{i}", "sent")
    e("+331", "u1", "sent", day, channel="sms")
    e("u7@x", "u7", "sent")
    e("u5@x", "u5", "held_out")
    e("u6@x", "u6", "held_out")
    load_rows(ws, "messages", rows)
    conv = [("o1", "u1", 60, 100), ("o2", "u1", 3 * day, 50), ("o3", "u2", day, 30), ("o4", "u5", 2 * day, 40),
            ("o5", "u3", 15 * day, 80)]
    load_rows(ws, "conversions", [dict(conversion_id=c, ts=at(m), user_id=u, revenue=str(r)) for c, u, m, r in conv])
    load_rows(ws, "touchpoints", [dict(event_id=f"t{i}", ts=at(-60), visitor_id=f"v{i}", user_id=f"u{i}",
                                       channel="direct", interaction="visit") for i in (4, 6)])
    build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))


def test_the_true_lift_is_sent_minus_held_out_per_entrant_worked_out_by_hand(ws):
    import math

    import pytest

    from parcours.reports.messaging_lift import lift
    from parcours.reports.messaging_metrics import Selection

    lift_workspace(ws)
    got = lift(ws.warehouse, Selection()).iloc[0]
    # sent: u1 2, u2 1, u3 0 (outside), u4 0, u7 0 (no identity): mean 3/5; held out: u5 1, u6 0: mean 1/2
    assert (got.entrants, got.held_out) == (5, 2)
    assert got.orders_per_entrant == pytest.approx(0.6) and got.orders_per_held_out == pytest.approx(0.5)
    assert got.incremental_orders == pytest.approx(5 * 0.1)
    var_sent = ((2 - .6) ** 2 + (1 - .6) ** 2 + 3 * .6 ** 2) / 4  # 0.8
    spread = 5 * math.sqrt(var_sent / 5 + 0.5 / 2) * 1.959964
    assert got.incremental_orders_low == pytest.approx(0.5 - spread, rel=1e-5)
    assert got.incremental_orders_high == pytest.approx(0.5 + spread, rel=1e-5)
    assert got.incremental_revenue == pytest.approx(5 * (180 / 5 - 40 / 2))
    assert got.relative_lift == pytest.approx(0.2)
    wider = lift(ws.warehouse, Selection(), window_days=30).iloc[0]
    assert wider.orders_per_entrant == pytest.approx(0.8)  # u3's order now counts


def test_no_holdout_no_lift_and_the_report_says_why(ws):
    from parcours.build.journeys import build_journeys
    from parcours.contract.query import Query
    from parcours.reports import run_report

    sample(ws)  # cart's holdout has one entrant and nobody sent... but welcome has none
    load_rows(ws, "conversions", [dict(conversion_id="o1", ts=at(60), user_id="u1", revenue="10")])
    build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))
    r = run_report("messaging", ws.warehouse, ws.config, Query(journey="welcome"))
    assert "lift" not in r.tables and [w.key for w in r.warnings] == ["no_holdout"]
    assert r.totals["orders"] == 0 and "orders" in r.headline


def test_each_step_earns_the_credit_of_the_touches_its_clicks_became(ws):
    """u1 clicks w1 (a touch 30 s later) then buys: last touch gives w1 the conversion; u2's
    click has no touch within 2 minutes (its visit 10 minutes later is not the click's)."""
    import pytest

    from parcours.build.journeys import build_journeys
    from parcours.contract.query import Query
    from parcours.reports import run_report

    rows = [dict(event_id=f"m{i}", ts=at(t), journey="welcome", step="w1", channel="email", recipient=r,
                 event=ev, user_id=u) for i, (t, r, ev, u) in enumerate([
                     (0, "a", "sent", "u1"), (1, "a", "delivered", "u1"), (5, "a", "clicked", "u1"),
                     (0, "b", "sent", "u2"), (1, "b", "delivered", "u2"), (5, "b", "clicked", "u2")])]
    load_rows(ws, "messages", rows)
    load_rows(ws, "touchpoints", [
        dict(event_id="t0", ts=at(-600), visitor_id="v1", user_id="u1", channel="display", interaction="click"),
        dict(event_id="t1", ts=at(5.5), visitor_id="v1", user_id="u1", channel="email", interaction="email"),
        dict(event_id="t2", ts=at(15), visitor_id="v2", user_id="u2", channel="email", interaction="email")])
    load_rows(ws, "conversions", [dict(conversion_id="o1", ts=at(20), user_id="u1", revenue="50"),
                                  dict(conversion_id="o2", ts=at(30), user_id="u2", revenue="70")])
    build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))
    r = run_report("messaging", ws.warehouse, ws.config, Query(models=("last_touch", "linear")))
    step = r.tables["in_the_journey"].iloc[0]
    assert step.last_click_orders == 2  # the emailing tools' count: both clicked within 5 days
    assert step.last_touch_conversions == pytest.approx(1.0) and step.last_touch_value == pytest.approx(50.0)
    assert step.linear_conversions == pytest.approx(0.5)  # display shares u1's conversion


def test_the_estimate_is_set_beside_the_simulators_truth(ws):
    import pandas as pd
    import pytest

    from parcours.reports.messaging_lift import against_truth

    lift_workspace(ws)
    truth = pd.DataFrame({"journey": ["j"] * 3 + ["other"], "days_after_entry": [0, 5, 14, 0],
                          "incremental_conversions": [0.2, 0.4, 9.0, 3.0], "incremental_revenue": [1.0, 2.0, 9.0, 0]})
    got = against_truth(ws.warehouse, truth, window_days=14).iloc[0]
    assert got.true_incremental_orders == pytest.approx(0.6)  # day 14 is outside; `other` has no holdout here
    assert got.error == pytest.approx(0.5 - 0.6) and bool(got.covered)
    with pytest.raises(ValueError, match="lacks column"):
        against_truth(ws.warehouse, truth.drop(columns="days_after_entry"))
    sales = truth.assign(incremental_orders=[0.1, 0.3, 9.0, 3.0])  # the sales among the conversions
    assert against_truth(ws.warehouse, sales, window_days=14).iloc[0].true_incremental_orders == pytest.approx(0.4)


def event_sets():
    """Any message events a sending tool could export: each event fitting its channel."""
    from hypothesis import strategies as st

    email = st.sampled_from(["sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained",
                             "held_out"])
    sms = st.sampled_from(["sent", "delivered", "undelivered", "clicked", "unsubscribed", "held_out"])
    one = st.tuples(st.sampled_from(["j1", "j2"]), st.sampled_from(["s1", "s2"]), st.sampled_from(["r1", "r2", "r3"]),
                    st.integers(0, 3000), st.booleans()).flatmap(
        lambda t: (email if t[4] else sms).map(lambda ev: (*t, ev)))
    return st.lists(one, min_size=1, max_size=40)


def test_every_grouping_adds_up_to_the_whole_and_no_rate_divides_by_zero(tmp_path_factory):
    from hypothesis import HealthCheck, given, settings

    from parcours import Workspace
    from parcours.reports.messaging_metrics import ADDITIVE, BY, RATES, TOTAL, Selection, engagement

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(event_sets())
    def check(rows):
        ws = Workspace.init(tmp_path_factory.mktemp("prop"))
        # a message keeps one channel: its journey, step and recipient decide it
        channel = {}
        events = [dict(event_id=f"e{i}", ts=at(seconds / 60), journey=j, step=s, channel=channel.setdefault(
                  (j, s, r), "email" if em else "sms"), recipient=r, event=ev)
                  for i, (j, s, r, seconds, em, ev) in enumerate(rows)]
        events = [e for e in events if e["channel"] == "email" or e["event"] not in ("opened", "bounced")]
        events = [e for e in events if e["channel"] == "sms" or e["event"] != "undelivered"]
        if not events:
            return
        load_rows(ws, "messages", events)
        whole = engagement(ws.warehouse, TOTAL, selection=Selection(), detail=True).iloc[0]
        for by in BY:
            rows_ = engagement(ws.warehouse, by, selection=Selection(), detail=True)
            for column in ADDITIVE:  # an SMS has no open: none where no email was sent
                total, expected = rows_[column].sum(min_count=1), whole[column]
                assert pd.isna(total) == pd.isna(expected), (by, column)
                assert pd.isna(total) or float(total) == float(expected), (by, column)
            for rate, (_, bottom) in RATES.items():
                assert ((rows_[rate].isna()) == (rows_[bottom].fillna(0) == 0)).all(), (by, rate)
            assert (rows_.opened_and_clicked <= rows_[["opened", "clicked"]].min(axis=1)).all()
            # a clicked email counts as opened though no open was tracked (its pixel blocked)
            assert (rows_.opened.fillna(0) <= rows_.total_opens.fillna(0) + rows_.clicked).all()
            assert (rows_.clicked <= rows_.total_clicks).all()
        assert whole.sends == sum(e["event"] == "sent" for e in events)
        assert whole.total_clicks == sum(e["event"] == "clicked" for e in events)
        ws.close()

    check()


def test_the_cli_reports_messaging_and_scores_the_lift_against_a_truth_file(ws):
    import pandas as pd
    from typer.testing import CliRunner

    from parcours.faces.cli import app

    lift_workspace(ws)
    run = CliRunner().invoke
    got = run(app, ["report", "messaging", "-w", str(ws.path), "--by", "journey", "--format", "csv"])
    assert got.exit_code == 0, got.output
    assert got.output.splitlines()[1].startswith("j,active,6,0,")  # six sends, no delivery event
    truth = ws.path / "messages_truth.csv"
    pd.DataFrame({"journey": ["j"], "days_after_entry": [0], "incremental_conversions": [0.6],
                  "incremental_revenue": [70.0]}).to_csv(truth, index=False)
    got = run(app, ["evaluate", "-w", str(ws.path), "--messages-truth", str(truth), "--format", "csv"])
    assert got.exit_code == 0, got.output
    assert "journey,entrants,held_out,incremental_orders" in got.output and "\nj,5,2,0.5," in got.output
    other = ws.path / "other.csv"
    pd.DataFrame({"journey": ["x"], "days_after_entry": [0], "incremental_conversions": [1.0],
                  "incremental_revenue": [0.0]}).to_csv(other, index=False)
    got = run(app, ["evaluate", "-w", str(ws.path), "--messages-truth", str(other)])
    assert got.exit_code == 2 and "no journey of the truth has a holdout group" in got.output
    bad = run(app, ["report", "messaging", "-w", str(ws.path), "--by", "device"])
    assert bad.exit_code == 2 and "by must be one of journey, step, channel, recipient" in bad.output


def test_a_contact_reached_by_email_and_sms_is_one_entrant_even_unknown_to_the_identity_graph(ws):
    from parcours.build.journeys import build_journeys
    from parcours.reports.messaging_lift import lift
    from parcours.reports.messaging_metrics import Selection

    def e(eid, recipient, event, channel, user=None, visitor=None):
        return dict(event_id=eid, ts=at(0), journey="k", step=channel, channel=channel, recipient=recipient,
                    event=event, user_id=user or "", visitor_id=visitor or "")

    load_rows(ws, "messages", [
        e("1", "u8@x", "sent", "email", user="u8"), e("2", "+338", "sent", "sms", user="u8"),
        e("3", "v9@x", "sent", "email", visitor="v9"), e("4", "+339", "sent", "sms", visitor="v9"),
        e("5", "anon@x", "sent", "email"), e("6", "h@x", "held_out", "email", user="u10")])
    load_rows(ws, "conversions", [dict(conversion_id="o1", ts=at(5), user_id="u11", revenue="5")])
    build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))
    got = lift(ws.warehouse, Selection()).iloc[0]
    assert (got.entrants, got.held_out, got.incremental_orders) == (3, 1, 0.0)  # u8, v9 and anon@x


def test_loaded_truth_stands_beside_the_estimate_for_the_whole_period_only(ws):
    import pytest

    from parcours.contract.query import Query
    from parcours.reports import run_report

    lift_workspace(ws)
    res = load_rows(ws, "messages_truth", [
        dict(journey="j", days_after_entry="0", incremental_conversions="0.25", incremental_revenue="10"),
        dict(journey="j", days_after_entry="3", incremental_conversions="0.25", incremental_revenue="5"),
        dict(journey="j", days_after_entry="20", incremental_conversions="9", incremental_revenue="90"),
        dict(journey="j", days_after_entry="-1", incremental_conversions="1")])
    assert [(r.row, r.field) for r in res.rejects] == [(4, "days_after_entry")]
    assert load_rows(ws, "messages_truth", [dict(journey="j", days_after_entry="0",
                                                 incremental_conversions="0.25")]).inserted == 0
    got = run_report("messaging", ws.warehouse, ws.config, Query()).tables["lift"].iloc[0]
    assert got.true_incremental_orders == pytest.approx(0.5) and got.true_incremental_revenue == pytest.approx(15)
    dated = run_report("messaging", ws.warehouse, ws.config, Query(start=dt.date(2026, 10, 1))).tables["lift"]
    assert "true_incremental_orders" not in dated  # the truth is of every entrant, not of a period's


def test_orders_are_sales_up_to_now_never_leads(ws):
    """Issue 28.5: a journey's orders are sales (`[messaging] order_kinds`), counted up to now,
    today's included (the report says today is included: the journeys stop at D-2); a lead is
    no order; the kind filter the report does not read is refused, not ignored."""
    import pytest

    from parcours.build.journeys import build_journeys
    from parcours.contract.query import Query
    from parcours.errors import InvalidInput
    from parcours.reports import run_report

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

    def ago(hours):
        return (now - dt.timedelta(hours=hours)).isoformat(sep=" ")

    load_rows(ws, "messages", [dict(event_id=f"m{i}", ts=ago(5 - i / 10), journey="j", step="s", channel="email",
                                    recipient="u1@x", user_id="u1", event=ev)
                               for i, ev in enumerate(("sent", "delivered", "clicked"))])
    load_rows(ws, "touchpoints", [dict(event_id="t", ts=ago(80), visitor_id="v1", user_id="u1")])
    load_rows(ws, "conversions", [dict(conversion_id="sale", ts=ago(2), user_id="u1", revenue="65.30"),
                                  dict(conversion_id="lead", ts=ago(1), user_id="u1", kind="lead")])
    build_journeys(ws.warehouse, ws.config)  # as of today: the sale and the lead are after its D-2 cut
    r = run_report("messaging", ws.warehouse, ws.config, Query(by="journey"))
    assert (r.totals["orders"], r.totals["revenue"], r.totals["average_order_revenue"]) == (1, 65.30, 65.30)
    (ws.path / "parcours.toml").write_text('[messaging]\norder_kinds = ["sale", "lead"]\n')
    ws.__dict__.pop("config", None)
    assert run_report("messaging", ws.warehouse, ws.config, Query(by="journey")).totals["orders"] == 2
    with pytest.raises(InvalidInput, match="field kinds: the messaging report does not read"):
        run_report("messaging", ws.warehouse, ws.config, Query(by="journey", kinds=("sale",)))


def test_the_headline_lift_carries_its_interval_and_journeys_add_up_in_quadrature():
    """Issue 28.26: the incremental-orders tile says how sure it is: the journeys' lifts add up,
    their 95% half-widths in quadrature (each holdout is its own random draw)."""
    import pandas as pd
    import pytest

    from parcours.reports.messaging import summed_lift

    gain = pd.DataFrame({"incremental_orders": [10.0, 2.0], "incremental_orders_low": [4.0, -2.0],
                         "incremental_orders_high": [16.0, 6.0], "incremental_revenue": [-5.0, 1.0],
                         "incremental_revenue_low": [-8.0, 0.0], "incremental_revenue_high": [-2.0, 2.0]})
    got = summed_lift(gain)
    half = (6 ** 2 + 4 ** 2) ** 0.5  # half-widths (16 - 4) / 2 and (6 + 2) / 2
    assert (got["incremental_orders"], got["incremental_orders_low"], got["incremental_orders_high"]) == \
        pytest.approx((12, 12 - half, 12 + half))
    assert (got["incremental_revenue_low"], got["incremental_revenue_high"]) == pytest.approx(
        (-4 - 10 ** 0.5, -4 + 10 ** 0.5))  # half-widths 3 and 1


def message_worlds():
    """Events of two journeys to a few recipients (some named by a user id, some opens a
    proxy's or flagged), orders of those users, and where the events are cut in two loads."""
    from hypothesis import strategies as st

    email = st.sampled_from(["sent", "delivered", "bounced", "opened", "opened", "clicked", "unsubscribed", "held_out"])
    sms = st.sampled_from(["sent", "delivered", "undelivered", "clicked", "held_out"])
    one = st.tuples(st.sampled_from(["j1", "j2"]), st.sampled_from(["s1", "s2"]),
                    st.sampled_from(["r1", "r2", "r3", "r4"]), st.integers(0, 3000),
                    st.sampled_from(["u1", "u2", "u3", None]),
                    st.sampled_from(["", "GoogleImageProxy", "flag"])).flatmap(
        lambda t: (email if t[2] in ("r1", "r2") else sms).map(lambda ev: (*t, ev)))
    orders = st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.integers(0, 4000)), max_size=6)
    split = st.lists(one, min_size=2, max_size=30).flatmap(lambda rows: st.tuples(st.just(rows),
                                                                                  st.integers(1, len(rows) - 1)))
    return st.tuples(split, orders).map(lambda t: (t[0][0], t[1], t[0][1]))


def test_the_report_from_the_builds_message_facts_is_the_report_from_every_event(tmp_path_factory):
    """What the build keeps of the messages (`message_facts`) gives the answers every event
    gives: once a build folds the events loaded since in (as a whole rewrite would), and read
    with events loaded since (to known and new recipients) and persons written since."""
    import ibis
    from hypothesis import HealthCheck, example, given, settings

    from builders import assert_same, canonical
    from parcours import Workspace
    from parcours.build import message_facts
    from parcours.build.journeys import build_journeys
    from parcours.contract.query import Query
    from parcours.reports import run_report
    from parcours.reports.messaging_lift import contacts
    from parcours.reports.messaging_metrics import Selection, clicked, messages

    picks = (Selection(), Selection("j1", "s1", machine_opens=True),
             Selection("j1", None, dt.date(2026, 10, 2), dt.date(2026, 10, 3)))  # messages first sent then

    def answers(ws):
        wh = ws.warehouse
        return [(name, read(wh, s).to_pandas()) for s in picks
                for name, read in (("messages", messages), ("contacts", contacts), ("clicks", clicked))]

    def same(ws, report=False):
        wh = ws.warehouse
        kept = answers(ws)
        whole = run_report("messaging", wh, ws.config, Query(by="recipient")) if report else None
        mark = wh.table(message_facts.MARK).to_pyarrow()
        wh.drop(message_facts.MARK)  # no facts: every answer from every event
        for (name, a), (_, b) in zip(kept, answers(ws), strict=True):
            assert_same(a[sorted(a.columns)], b[sorted(b.columns)], name)
        if whole is not None:
            b = run_report("messaging", wh, ws.config, Query(by="recipient"))
            assert_same(whole.table, b.table, "messaging")
            for key in whole.tables:
                assert_same(whole.tables[key], b.tables[key], key)
        wh.replace(message_facts.MARK, ibis.memtable(mark))

    def facts(ws):
        return {t: canonical(ws.warehouse.table(t).to_pandas()) for t in message_facts.MAKE}

    def as_rewritten(ws):  # what a build folded in is what a whole rewrite writes
        folded = facts(ws)
        message_facts.keep(ws.warehouse, full=True)
        for table, rewritten in facts(ws).items():
            pd.testing.assert_frame_equal(folded[table], rewritten, obj=table)

    @settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(message_worlds())
    @example(([("j1", "s1", "r1", 0, "u1", "", "sent"), ("j1", "s1", "r1", 10, "u1", "", "clicked"),  # r1: earlier
               ("j1", "s2", "r3", 2000, "u2", "", "sent"), ("j1", "s2", "r3", 2010, "u2", "", "clicked")],
              [("u1", 20), ("u2", 2020)], 2))
    def check(world):
        rows, orders, cut = world
        ws = Workspace.init(tmp_path_factory.mktemp("facts"))
        events = [dict(event_id=f"e{i}", ts=at(minutes), journey=j, step=s, recipient=r, event=ev,
                       channel="email" if r in ("r1", "r2") else "sms", user_id=u or "",
                       user_agent="Mozilla GoogleImageProxy" if agent == "GoogleImageProxy" else "",
                       machine_open="true" if agent == "flag" and ev == "opened" else "")
                  for i, (j, s, r, minutes, u, agent, ev) in enumerate(rows)]
        load_rows(ws, "touchpoints", [dict(event_id=f"t{u}", ts=at(-60), visitor_id=f"v{u}", user_id=u,
                                           channel="direct", interaction="visit") for u in ("u1", "u2")])
        load_rows(ws, "conversions", [dict(conversion_id=f"o{i}", ts=at(m), user_id=u, revenue="10")
                                      for i, (u, m) in enumerate(orders)] or
                  [dict(conversion_id="o", ts=at(-30), visitor_id="vu1", revenue="10")])
        load_rows(ws, "messages", events[:cut])
        build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))
        first = {t: ws.warehouse.table(t).to_pyarrow() for t in (*message_facts.MAKE, message_facts.MARK)}
        load_rows(ws, "messages", events[cut:])  # after the build: to known recipients and new ones
        load_rows(ws, "identities", [dict(visitor_id="vu2", user_id="u3", ts=at(-10))])  # u3 joins u2's person
        build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))  # folds the events in
        same(ws, report=True)
        as_rewritten(ws)
        # the first build's facts, as if the second had written its persons and stopped before
        # the facts: the events since and the persons it wrote are worked out by the reader
        for table, rows in first.items():
            ws.warehouse.replace(table, ibis.memtable(rows))
        same(ws)
        load_rows(ws, "identities", [dict(visitor_id="vu1", user_id="u3", ts=at(-5))])  # and now u1's too
        build_journeys(ws.warehouse, ws.config, as_of=dt.date(2026, 11, 1))  # no message: persons looked up again
        as_rewritten(ws)
        ws.close()

    check()
