"""Journey rules on hand-built fixtures, each with the answer worked out by hand."""

import datetime as dt

import pytest

from builders import AS_OF, load_rows, rows_of
from parcours.build.journeys import build_journeys, report_cut


def touch(event_id, ts, visitor="v1", channel="display", interaction="click", **more):
    return dict(event_id=event_id, ts=ts, visitor_id=visitor, channel=channel,
                interaction=interaction, **more)


def conversion(conversion_id, ts, visitor="v1", **more):
    return dict(conversion_id=conversion_id, ts=ts, visitor_id=visitor, revenue="10", **more)


def build(ws, as_of=AS_OF):
    return build_journeys(ws.warehouse, ws.config, as_of=as_of)


def journey_events(ws):
    """journey_id -> event ids in position order."""
    out = {}
    for t in rows_of(ws, "touches", ["journey_id", "position"]):
        out.setdefault(t["journey_id"], []).append(t["event_id"])
    return out


def test_the_report_cut_is_midnight_starting_yesterday():
    assert report_cut(AS_OF, 2) == dt.datetime(2026, 11, 22)
    assert report_cut(AS_OF, 0) == dt.datetime(2026, 11, 24)


def test_lookback_includes_a_touch_exactly_30_days_before_and_not_a_second_more(ws):
    load_rows(ws, "touchpoints", [touch("old", "2026-09-30T23:59:59Z"),
                                  touch("edge", "2026-10-01T00:00:00Z"),
                                  touch("mid", "2026-10-15T00:00:00Z")])
    load_rows(ws, "conversions", [conversion("c1", "2026-10-31T00:00:00Z")])
    build(ws)
    assert journey_events(ws)["c:c1"] == ["edge", "mid"]


def test_a_journey_starts_after_the_previous_conversion(ws):
    load_rows(ws, "touchpoints", [touch("a", "2026-10-01T10:00:00Z"),
                                  touch("at_c1", "2026-10-02T10:00:00Z"),
                                  touch("b", "2026-10-03T10:00:00Z"),
                                  touch("after", "2026-10-05T10:00:00Z")])
    load_rows(ws, "conversions", [conversion("c1", "2026-10-02T10:00:00Z"),
                                  conversion("c2", "2026-10-04T10:00:00Z")])
    build(ws)
    # A touch at the very instant of c1 belongs to c1; c2 starts after it.
    j = journey_events(ws)
    assert j["c:c1"] == ["a", "at_c1"] and j["c:c2"] == ["b"]
    assert j["n:v:v1"] == ["after"]  # after the last conversion: a non-converting journey


def test_views_count_only_inside_the_post_view_window(ws):
    load_rows(ws, "touchpoints", [touch("click", "2026-10-01T12:00:00Z"),
                                  touch("view_25h", "2026-10-09T11:00:00Z", interaction="view"),
                                  touch("view_23h", "2026-10-09T13:00:00Z", interaction="view")])
    load_rows(ws, "conversions", [conversion("c1", "2026-10-10T12:00:00Z")])
    build(ws)
    assert journey_events(ws)["c:c1"] == ["click", "view_23h"]


def test_conversions_after_d_minus_2_are_not_built(ws):
    load_rows(ws, "touchpoints", [touch("t", "2026-11-20T10:00:00Z")])
    load_rows(ws, "conversions", [conversion("in", "2026-11-21T23:59:59Z"),
                                  conversion("out", "2026-11-22T00:00:00Z")])
    res = build(ws)
    assert res.cut == dt.datetime(2026, 11, 22)
    assert [j["conversion_id"] for j in rows_of(ws, "journeys") if j["converted"]] == ["in"]
    meta = rows_of(ws, "build_meta")[0]
    assert (meta["as_of"], meta["cut"]) == (AS_OF, dt.datetime(2026, 11, 22))


def test_an_offline_conversion_joins_the_online_journey_through_the_crm_id(ws):
    load_rows(ws, "touchpoints", [touch("web", "2026-10-01T10:00:00Z", visitor="phone", device="mobile",
                                        channel="email", interaction="email")])
    load_rows(ws, "identities", [dict(visitor_id="phone", user_id="crm42")])
    load_rows(ws, "conversions", [dict(conversion_id="shop", ts="2026-10-03T15:00:00Z", user_id="crm42",
                                       origin="store", revenue="80")])
    build(ws)
    j = rows_of(ws, "journeys")[0]
    assert (j["journey_id"], j["person_id"], j["origin"], j["channels"]) == (
        "c:shop", "v:phone", "store", ["email"])
    assert j["devices"] == ["mobile"] and j["n_devices"] == 1  # the store is not a device
    assert j["lag_s"] == 2 * 86400 + 5 * 3600


def test_a_cross_device_journey_has_every_device_and_the_path_in_order(ws):
    load_rows(ws, "identities", [dict(visitor_id="phone", user_id="u1"), dict(visitor_id="laptop", user_id="u1")])
    load_rows(ws, "touchpoints", [
        touch("t1", "2026-10-01T10:00:00Z", visitor="phone", device="mobile", channel="social"),
        touch("t2", "2026-10-02T10:00:00Z", visitor="laptop", device="desktop", channel="paid_search"),
        touch("t3", "2026-10-02T11:00:00Z", visitor="laptop", device="desktop", channel="paid_search"),
    ])
    load_rows(ws, "conversions", [conversion("c1", "2026-10-02T11:30:00Z", visitor="laptop", device="desktop")])
    build(ws)
    j = rows_of(ws, "journeys")[0]
    assert j["channels"] == ["social", "paid_search", "paid_search"]
    assert (j["n_touches"], j["n_channels"], j["n_devices"]) == (3, 2, 2)
    assert j["devices"] == ["desktop", "mobile"]
    assert j["first_ts"] == dt.datetime(2026, 10, 1, 10) and j["lag_s"] == 86400 + 5400
    touches = rows_of(ws, "touches", ["position"])
    assert [(t["position"], t["n"]) for t in touches] == [(1, 3), (2, 3), (3, 3)]


def test_a_conversion_without_touches_is_kept_with_an_empty_path(ws):
    load_rows(ws, "conversions", [dict(conversion_id="c1", ts="2026-10-02", user_id="u1", origin="call_centre")])
    load_rows(ws, "touchpoints", [touch("other", "2026-10-01", visitor="v9")])
    build(ws)
    j = {r["journey_id"]: r for r in rows_of(ws, "journeys")}
    assert (j["c:c1"]["n_touches"], j["c:c1"]["channels"], j["c:c1"]["lag_s"]) == (0, [], None)
    assert j["n:v:v9"]["converted"] is False and j["n:v:v9"]["n_touches"] == 1


def test_touches_are_classified_with_sub_channel_group_and_stage(ws):
    load_rows(ws, "touchpoints", [
        dict(event_id="t1", ts="2026-10-01", visitor_id="v1", utm_source="google", utm_medium="cpc",
             utm_campaign="Brand_FR", interaction="click"),
        dict(event_id="t2", ts="2026-10-02", visitor_id="v1", referrer="https://www.qwant.com/?q=x"),
        dict(event_id="t3", ts="2026-10-03", visitor_id="v1"),
    ])
    load_rows(ws, "conversions", [conversion("c1", "2026-10-04")])
    build(ws)
    got = [(t["channel"], t["source"], t["campaign"], t["sub_channel"], t["channel_group"], t["funnel_stage"])
           for t in rows_of(ws, "touches", ["position"])]
    assert got == [
        ("paid_search", "google", "Brand_FR", "paid_search_brand", "paid", "consideration"),
        ("organic_search", "qwant.com", "(none)", "organic_search", "earned", "consideration"),
        ("direct", "(none)", "(none)", "direct", "direct", "intent"),
    ]


def test_workspace_config_changes_the_journey_rules(ws):
    (ws.path / "parcours.toml").write_text("[journeys]\nlookback_days = 7\n")
    load_rows(ws, "touchpoints", [touch("t8", "2026-10-02T00:00:00Z"), touch("t6", "2026-10-04T00:00:00Z")])
    load_rows(ws, "conversions", [conversion("c1", "2026-10-10T00:00:00Z")])
    build(ws)
    assert journey_events(ws)["c:c1"] == ["t6"]


def test_rebuilding_gives_the_same_tables(ws, tmp_path):
    from parcours.load.ingest import load_file
    from parcours.simulate import simulate
    files = simulate(tmp_path / "sim", persons=800, seed=3, end=dt.date(2026, 11, 23)).files
    for table in ("touchpoints", "conversions", "identities"):
        load_file(ws.warehouse, table, files[table])
    keys = {"persons": ["kind", "id"], "journeys": ["journey_id"], "touches": ["journey_id", "position"]}

    def tables():  # rows in key order: tables are sets of rows, stored in no promised order
        return {n: ws.warehouse.table(n).order_by(k).to_pyarrow() for n, k in keys.items()}

    build(ws)
    first = tables()
    build(ws)
    for name, table in tables().items():
        assert table.equals(first[name]), name
    assert first["journeys"].num_rows > 100


@pytest.mark.parametrize("n_conversions", [1, 3])
def test_every_reportable_conversion_has_exactly_one_journey(ws, n_conversions):
    load_rows(ws, "touchpoints", [touch(f"t{i}", f"2026-10-0{i + 1}T08:00:00Z") for i in range(5)])
    load_rows(ws, "conversions", [conversion(f"c{i}", f"2026-10-0{i + 2}T09:00:00Z")
                                  for i in range(n_conversions)])
    build(ws)
    journeys = rows_of(ws, "journeys")
    assert sorted(j["conversion_id"] for j in journeys if j["converted"]) == [
        f"c{i}" for i in range(n_conversions)]
    touched = [t["event_id"] for t in rows_of(ws, "touches")]
    assert len(touched) == len(set(touched)) == 5  # each touch in one journey only


def test_a_view_never_beats_a_click_for_last_touch(ws):
    load_rows(ws, "touchpoints", [
        touch("click", "2026-10-09T10:00:00Z", channel="email", interaction="email"),
        touch("view", "2026-10-10T10:00:00Z", channel="display", interaction="view"),
        touch("only_view", "2026-10-10T10:00:00Z", visitor="v2", channel="social", interaction="view"),
    ])
    load_rows(ws, "conversions", [conversion("c1", "2026-10-10T11:00:00Z"),
                                  conversion("c2", "2026-10-10T11:00:00Z", visitor="v2")])
    build(ws)
    last = {t["event_id"]: t["is_last"] for t in rows_of(ws, "touches")}
    assert last == {"click": True, "view": False, "only_view": True}
    j = {r["journey_id"]: r for r in rows_of(ws, "journeys")}
    assert (j["c:c1"]["first_channel"], j["c:c1"]["last_channel"]) == ("email", "email")
    assert j["c:c2"]["last_channel"] == "social"


def test_the_journey_summary_in_passes_equals_one_pass(ws, tmp_path):
    """Past the memory limit the summary runs once per hash bucket of journeys; the buckets
    together are exactly the one-pass table (no journey lost, none twice)."""
    import pyarrow as pa

    from parcours.build.journeys import _conversions, _journeys
    from parcours.load.ingest import load_file
    from parcours.simulate import simulate
    files = simulate(tmp_path / "sim", persons=800, seed=4, end=dt.date(2026, 11, 23)).files
    for table in ("touchpoints", "conversions", "identities"):
        load_file(ws.warehouse, table, files[table])
    build(ws)
    wh = ws.warehouse
    conv = _conversions(wh.table("conversions"), wh.table("persons"))
    conv = conv.filter(conv.conversion_id.isin(wh.table("journeys").conversion_id))
    whole = _journeys(wh.table("touches"), conv, ws.config.funnel_stages).order_by("journey_id").to_pyarrow()
    parts = [_journeys(wh.table("touches"), conv, ws.config.funnel_stages, bucket=(b, 3)).to_pyarrow()
             for b in range(3)]
    assert all(p.num_rows > 0 for p in parts)
    assert pa.concat_tables(parts).sort_by("journey_id").equals(whole)
    assert whole.equals(wh.table("journeys").order_by("journey_id").to_pyarrow())


@pytest.mark.parametrize(("as_of", "said"), [
    (dt.date(9999, 12, 31), "is after today"), (dt.date(1, 1, 1), "is before 2000-01-01"),
    (dt.date(1999, 1, 1), "is before 2000-01-01"), (dt.date(2026, 10, 1), "nothing happened before its cut")])
def test_a_day_the_data_cannot_support_is_refused_and_the_served_tables_kept(shop, as_of, said):
    """Issue 28.8: `--as-of` 1999 replaced every served journey with none; 9999 reported days
    not over; 0001 crashed (OverflowError)."""
    from parcours.errors import InvalidInput

    before = shop.warehouse.count("journeys")
    with pytest.raises(InvalidInput, match=f"field as_of: .*{said}"):
        build_journeys(shop.warehouse, shop.config, as_of=as_of)
    assert shop.warehouse.count("journeys") == before > 0
