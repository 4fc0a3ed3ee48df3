"""The ten reports on hand-built journeys; every expected number is worked out by hand here.

Journeys (conversions on CONV; funnel stages from the default rules: display awareness,
paid_search/affiliation consideration, direct/email intent):
  A  display (mobile, 14 d) > paid_search (desktop, 7 d) > direct visit (desktop, 0.01 d);
     100, new customer, shoes, premium; converts on desktop          devices {desktop, mobile}
  B  email (mobile, 1 d); 50, returning, bags, mass; mobile            {mobile}
  C  affiliation (mobile, 2 d) > display view (mobile, 0.5 d); 30, new, shoes+bags, premium
  D  direct (tablet, 3 d) > direct (tablet, 1 d); 20, returning, lead, mass; tablet
  E  a store sale by an unknown customer, no touch; 10, new
  F  no conversion: display (mobile, 5 d) > paid_search (desktop, 4 d)
"""

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import AS_OF
from parcours.contract.query import Query
from parcours.reports import run_report, summary


def report(ws, name, **query):
    return run_report(name, ws.warehouse, ws.config, Query(**query))


def rows(result, key="row", table=None):
    df = result.table if table is None else result.tables[table]
    return {r[key]: r for r in df.to_dict("records")}


def test_default_period_is_the_30_days_up_to_the_last_conversion(shop):
    r = report(shop, "time-lag")
    assert (r.query["start"], r.query["end"]) == ("2026-09-16", "2026-10-15")
    assert r.totals["conversions"] == 5 and r.totals["revenue"] == 210


def test_a_period_past_d_minus_2_is_cut_and_says_so(shop):
    r = report(shop, "time-lag", start=dt.date(2026, 10, 1), end=AS_OF)
    assert r.query["end"] == "2026-11-21" and r.query["last_reported_day"] == "2026-11-21"
    assert any("Period cut at 2026-11-21 (D-2)" in w for w in r.warnings)


def test_time_lag(shop):
    r = report(shop, "time-lag")
    got = {b: (c, v) for b, c, v in zip(r.table.bucket, r.table.conversions, r.table.revenue, strict=True) if c}
    assert got == {"1": (1, 50), "2": (1, 30), "3": (1, 20), "14": (1, 100), "(no touch)": (1, 10)}
    # the buckets follow the 30-day lookback, a day each: bars of one width, nothing past 30 days
    assert r.table.bucket.tolist() == ["<1", *map(str, range(1, 31)), "(no touch)"]
    cum = dict(zip(r.table.bucket, r.table.cumulative_share_touched, strict=True))
    assert (cum["<1"], cum["1"], cum["3"], cum["13"], cum["14"], cum["30"]) == \
        pytest.approx((0, 0.25, 0.75, 0.75, 1.0, 1.0))  # of the 4 conversions with a touch
    assert math.isnan(cum["(no touch)"]) and r.table.share.sum() == pytest.approx(1.0)
    line = r.figure.data[1]
    assert list(line.x)[-1] == "30"  # the cumulative line ends on the last lag, not on "(no touch)"
    lag_a = 14.0  # lags in days: 1, 2, 3, 14 (E has none)
    assert r.totals["median_days"] == pytest.approx(2.5)
    assert r.totals["p90_days"] == pytest.approx(3 + 0.7 * (lag_a - 3))  # linear interpolation
    by = rows(r, table="by_first_touch")
    assert {k: v["median_days"] for k, v in by.items()} == pytest.approx(
        {"display": 14, "email": 1, "affiliation": 2, "direct": 3})


def test_the_first_touch_rows_at_every_level_and_under_a_parent(shop):
    """The journeys' first channel answers the channel level; other levels and drill-downs read
    the first touches themselves (A's first is display/site1, 14 days; F's display/site1 never
    converts; C's display touch comes second, so C is under no display row)."""
    for level, parent, want in [
            ("channel", (), {"display": 14, "email": 1, "affiliation": 2, "direct": 3}),
            ("source", (), {"site1": 14, "newsletter": 1, "partnerX": 2, "(none)": 3}),
            ("source", (("channel", "display"),), {"site1": 14}),
            ("channel", (("channel", "display"),), {"display": 14})]:
        lag = rows(report(shop, "time-lag", level=level, parent=parent), table="by_first_touch")
        assert {k: v["median_days"] for k, v in lag.items()} == pytest.approx(want), (level, parent)
        entry = rows(report(shop, "velocity", level=level, parent=parent), table="by_entry")
        first = "display" if level == "channel" else "site1"
        assert (entry[first]["journeys"], entry[first]["conversions"]) == (2, 1)  # A and F
        assert entry[first]["median_days_to_conversion"] == pytest.approx(14)


def test_path_length_in_touches_and_in_distinct_channels(shop):
    r = report(shop, "path-length")
    got = {b: (c, v) for b, c, v in zip(r.table.length, r.table.conversions, r.table.revenue, strict=True) if c}
    assert got == {"0": (1, 10), "1": (1, 50), "2": (2, 50), "3": (1, 100)}
    assert (r.totals["mean_length"], r.totals["median_length"]) == (2, 2)
    assert {k: v["mean_length"] for k, v in rows(r, table="by_row").items()} == \
        {"display": 2.5, "paid_search": 3, "direct": 2.5, "email": 1, "affiliation": 2}
    d = report(shop, "path-length", distinct=True)
    got = {b: c for b, c in zip(d.table.length, d.table.conversions, strict=True) if c}
    assert got == {"0": 1, "1": 2, "2": 1, "3": 1}


def test_mono_device(shop):
    r = report(shop, "mono-device")
    got = {k: (v["conversions"], v["revenue"]) for k, v in rows(r, "device").items()}
    assert got == {"mobile": (2, 80), "tablet": (1, 20), "multi-device": (1, 100), "(no device)": (1, 10)}
    assert rows(r, "device")["mobile"]["revenue_share"] == pytest.approx(80 / 210)
    assert r.totals["mono_device_conversions"] == 3 and r.totals["mono_device_share"] == pytest.approx(0.6)


def test_mono_channel(shop):
    r = report(shop, "mono-channel")
    got = {k: (v["conversions"], v["revenue"], v["share_of_conversions"], v["share_of_last_touch"])
           for k, v in rows(r).items()}
    assert got == {"email": (1, 50, 0.2, 1.0), "direct": (1, 20, 0.2, 0.5)}
    assert r.totals["mono_channel_share"] == pytest.approx(0.4)


def test_assists(shop):
    r = report(shop, "assists")
    got = {k: (v["last_touch_conversions"], v["last_touch_value"], v["assisted_conversions"], v["assisted_value"],
               v["first_touch_conversions"], v["role"]) for k, v in rows(r).items()}
    assert got == {
        "display": (0, 0, 2, 130, 1, "introducer"),  # introduces A, assists C: ties go to the earlier role
        "paid_search": (0, 0, 1, 100, 0, "assister"),
        "direct": (2, 120, 0, 0, 1, "closer"),
        "email": (1, 50, 0, 0, 1, "closer"),
        "affiliation": (1, 30, 0, 0, 1, "closer"),
    }
    ratio = {k: v["assisted_last_ratio"] for k, v in rows(r).items()}
    assert math.isnan(ratio["display"]) and ratio["direct"] == 0


def test_cross_device(shop):
    r = report(shop, "cross-device")
    assert dict(zip(r.table.devices, r.table.conversions, strict=True)) == {"0": 1, "1": 3, "2": 1, "3+": 0}
    assert r.totals["multi_device_share"] == pytest.approx(0.2)
    seq = dict(zip(r.tables["sequences"].sequence, r.tables["sequences"].conversions, strict=True))
    assert seq == {"mobile": 2, "mobile > desktop": 1, "tablet": 1}
    grid = r.tables["first_x_converting"].set_index("first_device")
    assert grid.loc["mobile", "mobile"] == 2 and grid.loc["mobile", "desktop"] == 1
    assert grid.loc["tablet", "tablet"] == 1 and grid.loc["(no touch)", "store"] == 1
    by = {k: v["multi_device_share"] for k, v in rows(r, table="by_row").items()}
    assert by == {"display": 0.5, "paid_search": 1.0, "direct": 0.5, "email": 0.0, "affiliation": 0.0}


def test_top_paths(shop):
    r = report(shop, "top-paths")
    got = {p: (c, v, length) for p, c, v, length in zip(r.table.path, r.table.conversions, r.table.revenue,
                                                         r.table.avg_length, strict=True)}
    assert got == {"display > paid_search > direct": (1, 100, 3), "email": (1, 50, 1),
                   "affiliation > display": (1, 30, 2), "direct": (1, 20, 2), "(no touch)": (1, 10, 0)}
    assert list(r.table.path) == sorted(got)  # ties ordered by path
    assert rows(r, "path")["display > paid_search > direct"]["avg_lag_days"] == pytest.approx(14)
    raw = report(shop, "top-paths", collapse=False)
    assert "direct > direct" in set(raw.table.path)
    flow = r.tables["flow"]
    assert flow[(flow.source == "1. display") & (flow.target == "2. paid_search")].conversions.sum() == 1
    assert flow[flow.target == "conversion"].conversions.sum() == 4  # every path with a touch


def test_engagement(shop):
    r = report(shop, "engagement")
    got = {k: (v["touches"], v["visits"], v["pageviews"], round(v["time_on_site_hours"] * 3600, 9),
               round(v["engagement"], 9),
               v["journeys"], v["conversions"]) for k, v in rows(r).items()}
    assert got == ({
        "display": (3, 2, 3, 60, 4.0, 3, 2), "paid_search": (2, 2, 5, 180, 8.0, 2, 1),
        "direct": (3, 3, 8, 330, 13.5, 2, 2), "email": (1, 1, 1, 30, 1.5, 1, 1),
        "affiliation": (1, 1, 4, 240, 8.0, 1, 1)})
    assert rows(r)["display"]["engagement_share"] == pytest.approx(4 / 35)
    assert rows(r)["display"]["conversion_rate"] == pytest.approx(2 / 3)
    inv = rows(r, "involvement", table="involvement")
    # scores: A 18, C 8 (medium); B 1.5, D 3.5, E 0, F 4 (low)
    assert (inv["low"]["journeys"], inv["low"]["conversions"], inv["low"]["revenue"]) == (4, 3, 80)
    assert (inv["medium"]["journeys"], inv["medium"]["conversions"], inv["medium"]["revenue"]) == (2, 2, 130)
    assert inv["high"]["journeys"] == 0 and inv["low"]["conversion_rate"] == 0.75


def test_engagement_under_a_conversion_only_filter_leaves_rates_out(shop):
    r = report(shop, "engagement", new_customer=True)
    assert r.table.conversion_rate.isna().all() and any("rates left out" in w for w in r.warnings)
    assert r.totals["conversions"] == 3


def test_velocity(shop):
    r = report(shop, "velocity")
    got = {s: (j, n) for s, j, n in zip(r.table.stage, r.table.journeys, r.table.reached_next, strict=True)}
    # Reach is this stage or a later one (or the conversion): A-E all converted, so they
    # reached every stage; F touched awareness and consideration and went no further.
    assert got["awareness"] == (6, 6) and got["consideration"] == (6, 5) and got["intent"] == (5, 5)
    assert got["cart"] == (5, 5) and got["conversion"][0] == 5
    assert list(r.table.journeys) == sorted(r.table.journeys, reverse=True)  # monotone
    st = rows(r, "stage")
    assert st["consideration"]["rate_to_next"] == pytest.approx(5 / 6)
    assert st["intent"]["share_of_first_stage"] == pytest.approx(5 / 6)
    # awareness -> consideration: A 7 days, F 1 day (C went the other way round)
    assert st["awareness"]["median_days_to_next"] == pytest.approx(4)
    assert st["awareness"]["p90_days_to_next"] == pytest.approx(1 + 0.9 * 6)
    assert st["awareness"]["rate_to_next"] == 1
    assert st["consideration"]["median_days_to_next"] == pytest.approx(6.99)
    entry = rows(r, table="by_entry")
    assert (entry["display"]["journeys"], entry["display"]["conversions"]) == (2, 1)
    assert entry["display"]["median_days_to_conversion"] == pytest.approx(14)
    assert entry["display"]["p90_days_to_conversion"] == pytest.approx(14)  # A alone: F did not convert
    assert entry["display"]["conversion_rate"] == 0.5


def test_model_comparison_with_costs(shop):
    r = report(shop, "model-comparison", models=("last_touch", "first_touch", "linear"))
    got = {k: (v["last_touch_conversions"], v["first_touch_conversions"], round(v["linear_conversions"], 9))
           for k, v in rows(r).items()}
    assert got == {
        "direct": (2, 1, round(1 / 3 + 1, 9)), "email": (1, 1, 1), "affiliation": (1, 1, 0.5),
        "display": (0, 1, round(1 / 3 + 0.5, 9)), "paid_search": (0, 0, round(1 / 3, 9)), "(no touch)": (1, 1, 1)}
    d = rows(r)
    assert d["direct"]["linear_vs_last_pct"] == pytest.approx(-100 / 3)
    assert d["affiliation"]["linear_vs_last_pct"] == pytest.approx(-50)
    assert d["display"]["linear_vs_last_pct"] is None or math.isnan(d["display"]["linear_vs_last_pct"])
    assert d["display"]["cost"] == 50 and d["email"]["cost"] == 0  # email's cost is outside the period
    assert d["display"]["linear_cpa"] == pytest.approx(50 / (5 / 6))
    assert d["display"]["linear_roas"] == pytest.approx((100 / 3 + 15) / 50)
    assert d["paid_search"]["linear_cpa"] == pytest.approx(90)
    for m in ("last_touch", "first_touch", "linear"):
        assert r.totals[f"{m}_conversions"] == pytest.approx(5)


def test_model_comparison_bias_view_and_the_truth(shop):
    """Each model's difference from the counterfactual model, and the simulator's truth as loaded
    (its base and the days outside the period left out), scaled to the touched conversions."""
    from builders import load_rows
    from parcours.attribution import Counterfactual, attributed

    load_rows(shop, "truth", [
        dict(date="2026-10-15", channel="direct", incremental_conversions="1.5"),
        dict(date="2026-10-15", channel="email", incremental_conversions="0.5"),
        dict(date="2026-10-15", channel="(base)", incremental_conversions="2"),
        dict(date="2026-08-01", channel="email", incremental_conversions="9"),  # before the period
    ])
    r = report(shop, "model-comparison", models=("last_touch", "linear"), measure="vs_counterfactual")
    assert list(r.table.columns[:4]) == ["row", "cost", "last_touch_vs_counterfactual", "linear_vs_counterfactual"]
    cf = attributed(Counterfactual(), shop.warehouse).to_pandas().set_index("channel").conversions
    d = rows(r)
    assert d["direct"]["last_touch_vs_counterfactual"] == pytest.approx(2 - cf["direct"])
    assert d["display"]["linear_vs_counterfactual"] == pytest.approx(1 / 3 + 0.5 - cf.get("display", 0.0))
    assert d["(no touch)"]["linear_vs_counterfactual"] == 0
    assert d["direct"]["counterfactual_conversions"] == pytest.approx(cf["direct"])  # the reference, shown
    assert "(no touch)" not in r.figure.data[0].x  # 0 under every model: not drawn
    # 4 touched conversions; truth 2 in the period: scaled x2; direct 3 - cf, email 1 - cf
    assert d["direct"]["truth_vs_counterfactual"] == pytest.approx(3 - cf["direct"])
    assert d["email"]["truth_vs_counterfactual"] == pytest.approx(1 - cf["email"])
    assert r.figure.data[-1].name == "Truth (simulated)" and len(r.figure.data) == 3
    full = report(shop, "model-comparison", models=("last_touch",), measure="conversions")
    t = rows(full)
    assert (t["direct"]["truth_conversions"], t["direct"]["truth_scaled"]) == (1.5, 3.0)
    assert math.isnan(t["display"]["truth_conversions"])
    # The truth knows channels of every journey: not sources, not a filtered set
    for q in ({"level": "source"}, {"new_customer": True}):
        other = report(shop, "model-comparison", models=("last_touch",), measure="conversions", **q)
        assert not {"truth_conversions", "truth_scaled"} & set(other.table.columns)
    assert "last_touch_vs_counterfactual" not in report(shop, "model-comparison", models=("last_touch",)).table


def test_drill_down_sums_to_the_parent_row(shop):
    top = rows(report(shop, "model-comparison", models=("linear", "markov")))
    q = Query(models=("linear", "markov")).drill("display")
    assert q.level == "source" and q.parent == (("channel", "display"),)
    down = run_report("model-comparison", shop.warehouse, shop.config, q)
    assert {k: v["linear_conversions"] for k, v in rows(down).items()} == pytest.approx({"site1": 1 / 3, "site2": 0.5})
    for m in ("linear", "markov"):
        assert down.table[f"{m}_conversions"].sum() == pytest.approx(top["display"][f"{m}_conversions"])
    assert rows(down)["site1"]["linear_cpa"] == pytest.approx(150)  # site1's 50 / (1/3)


@pytest.mark.parametrize(("filters", "expected"), [
    ({"new_customer": True}, {"A", "C", "E"}),
    ({"new_customer": False}, {"B", "D"}),
    ({"crm": (("segment", ("premium",)),)}, {"A", "C"}),
    ({"audiences": ("mass",)}, {"B", "D"}),  # an audience of the CRM attribute segment = mass
    ({"audiences": ("mass", "tablets")}, {"B", "D"}),  # any of them: D is both
    ({"audiences": ("tablets",), "new_customer": False}, {"D"}),
    ({"categories": ("bags",)}, {"B", "C"}),
    ({"with_channels": ("display",)}, {"A", "C"}),
    ({"without_channels": ("direct",)}, {"B", "C", "E"}),
    ({"first_channel": ("direct",)}, {"D"}),
    ({"last_channel": ("direct",)}, {"A", "D"}),
    ({"devices": ("tablet",)}, {"D"}),
    ({"mono_device": True}, {"B", "C", "D"}),
    ({"first_device": ("mobile",)}, {"A", "B", "C"}),
    ({"first_device": ("desktop",)}, set()),
    ({"converting_device": ("desktop",)}, {"A"}),
    ({"converting_device": ("store", "tablet")}, {"D", "E"}),
    ({"first_device": ("mobile",), "converting_device": ("desktop",)}, {"A"}),  # a cross-device cell
    ({"origins": ("store",)}, {"E"}),
    ({"min_revenue": 50}, {"A", "B"}),
    ({"kinds": ("lead",)}, {"D"}),
    ({"new_customer": True, "with_channels": ("display",)}, {"A", "C"}),
    ({"new_customer": True, "with_channels": ("display",), "min_revenue": 50}, {"A"}),
    ({"mono_device": True, "categories": ("shoes", "bags"), "without_channels": ("email",)}, {"C"}),
])
def test_each_filter_alone_and_combined(shop, filters, expected):
    if "audiences" in filters:
        from parcours.activation.audiences import Book, refresh
        from parcours.contract.conditions import Audience, parse

        book = Book(shop.path, shop.config)
        book.save(Audience("mass", parse({"attribute": "segment", "equals": "mass"})))
        book.save(Audience("tablets", parse({"device": "tablet"})))
        refresh(shop.warehouse, shop.config, shop.path)
    r = report(shop, "top-paths", **filters)
    paths = {"display > paid_search > direct": "A", "email": "B", "affiliation > display": "C", "direct": "D",
             "(no touch)": "E"}
    assert {paths[p] for p in r.table.path} == expected
    assert r.totals["conversions"] == len(expected)


def test_filters_refuse_unknown_values():
    with pytest.raises(ValueError, match="devices: unknown 'phone'"):
        Query(devices=("phone",))
    with pytest.raises(ValueError, match="level must be one of"):
        Query(level="country")
    with pytest.raises(ValueError, match="starts"):
        Query(start=dt.date(2026, 2, 1), end=dt.date(2026, 1, 1))


def test_low_volume_rows_and_results_are_flagged(shop):
    r = report(shop, "assists")
    assert r.table.low_volume.all()
    assert any("Low volume: 5 conversions" in w for w in r.warnings)


def test_summary_from_the_raw_tables_matches_the_journeys(shop):
    s = summary(shop.warehouse, shop.config, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31), today=AS_OF)
    got = dict(zip(s.table.channel, s.table.conversions, strict=True))
    assert got == {"direct": 2, "email": 1, "affiliation": 1, "(no touch)": 1}  # C's display view never wins
    assert s.totals["journeys_conversions"] == 5 and s.totals["difference"] == 0 and s.warnings == []


def test_a_period_entirely_after_the_cut_reports_nothing_and_says_why(shop):
    r = report(shop, "path-length", start=dt.date(2026, 11, 22))
    assert r.totals["conversions"] == 0 and (r.query["start"], r.query["end"]) == ("2026-11-22", "2026-10-15")
    assert any("nothing to report" in w for w in r.warnings)
    assert Query(min_revenue=0).as_dict()["min_revenue"] == 0


@pytest.mark.parametrize(("lookback", "labels"), [
    (1, ["<1", "1"]), (7, ["<1", "1", "2", "3", "4", "5", "6", "7"]),
    (30, ["<1", *map(str, range(1, 31))]),
    (90, ["0-6", "7-13", "14-20", "21-27", "28-34", "35-41", "42-48", "49-55", "56-62", "63-69", "70-76",
          "77-83", "84-90"]),
    (365, ["0-29", "30-59", "60-89", "90-119", "120-149", "150-179", "180-209", "210-239", "240-269", "270-299",
           "300-329", "330-359", "360-365"])])
def test_time_lag_buckets_follow_the_lookback(lookback, labels):
    from parcours.reports.time_lag import buckets

    assert [label for label, _ in buckets(lookback)] == labels


@given(st.integers(1, 3660))
def test_time_lag_buckets_cover_every_day_of_any_lookback_once(lookback):
    from parcours.reports.time_lag import buckets

    found = buckets(lookback)
    starts = [first for _, first in found]
    assert starts == sorted(set(starts)) and starts[0] == 0 and starts[-1] <= lookback
    assert int(found[-1][0].split("-")[-1]) == lookback  # the last bucket ends with the lookback
    widths = {b - a for a, b in zip(starts, starts[1:], strict=False)}
    assert len(widths) <= 1 and len(found) <= 32  # one width (the last may be cut short); a chart's worth


@pytest.mark.parametrize("only", [dict(devices=("mobile",)), dict(origins=("online",)), dict(kinds=("sale",)),
                                  dict(new_customer=True), dict(min_revenue=1.0),
                                  dict(crm=(("segment", ("family",)),))])
def test_cost_measures_are_left_out_under_a_filter_spend_cannot_follow(shop, only):
    """Issue 28.7: spend is known by day, channel, source and campaign; under a device (origin,
    kind...) filter a channel's whole spend would be divided by its filtered conversions."""
    r = report(shop, "model-comparison", models=("linear",), **only)
    assert not {"cost", "linear_cpa", "linear_roas"} & set(r.table.columns)
    assert any(w.startswith("Cost, cost per conversion and revenue per cost are left out") for w in r.warnings)
    whole = report(shop, "model-comparison", models=("linear",), measure="cpa")
    assert rows(whole)["display"]["linear_cpa"] == pytest.approx(50 / (5 / 6))  # unfiltered: the same spend
    assert not any("left out" in w for w in whole.warnings)


def test_an_unpaid_channel_has_no_cost_where_a_paid_one_outside_the_period_has_0(shop):
    d = rows(report(shop, "model-comparison", models=("linear",)))
    assert math.isnan(d["direct"]["cost"]) and math.isnan(d["direct"]["linear_cpa"])  # nothing loaded for direct
    assert d["email"]["cost"] == 0  # spend loaded, on other days


def test_cost_measures_at_a_level_spend_is_not_known_by_are_left_out_and_said(shop):
    r = report(shop, "model-comparison", models=("linear",), level="device")
    assert "cost" not in r.table.columns
    assert ("Cost, cost per conversion and revenue per cost are left out: spend is known by day, channel, source "
            "and campaign, not by device.") in r.warnings
