"""Every input answered (issue 12): an empty answer is an answer, bad parameters are a 4xx or
exit 2 naming the field, no number that is not finite reaches JSON; and a property test runs
generated queries through the library, the API and the CLI."""

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from builders import AS_OF, load_rows
from parcours.attribution import NAMES
from parcours.build.journeys import build_journeys
from parcours.contract.query import LEVELS, MAX_VALUES, SPECS, Query, cli_option
from parcours.errors import InvalidInput
from parcours.faces.api import create_app
from parcours.faces.cli import app
from parcours.reports import CATALOGUE, run_report
from parcours.reports.base import NO_MATCH

EMPTY = {"min_revenue": {"min_revenue": 1e9},
         "future": {"start": dt.date(2030, 1, 1), "end": dt.date(2030, 1, 2)},
         "contradictory": {"with_channels": ("display",), "without_channels": ("display",)}}
BUCKETED = {"time-lag": "conversions", "path-length": "conversions", "cross-device": "conversions",
            "mono-device": "conversions"}


def as_json(result) -> dict:
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))


@pytest.mark.parametrize("case", EMPTY)
def test_a_query_matching_nothing_is_an_empty_answer(shop, case):
    for name in CATALOGUE:
        query = Query(**{k: v for k, v in EMPTY[case].items() if k in CATALOGUE[name].fields})
        r = run_report(name, shop.warehouse, shop.config, query)
        assert r.is_empty and r.totals.get("conversions", 0) == 0, name  # messaging: no message, no conversion
        assert (r.empty or NO_MATCH) in r.warnings and not any("Low volume" in w for w in r.warnings), name
        assert all(v is None or v == v for v in r.totals.values()), name  # no NaN
        as_json(r)
        json.loads(r.figure.to_json())


def test_the_page_shows_the_empty_state_over_the_api(shop):
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        for name in (n for n, r in CATALOGUE.items() if r.period):
            r = api.get(f"/api/v1/reports/{name}", params={"start": "2030-01-01", "end": "2030-01-02"})
            assert r.status_code == 200, (name, r.text)
            assert r.json()["empty"] is True, name


@pytest.mark.parametrize(("params", "message"), [
    ({"with_channels": "a\x00b"}, "with_channels: 'a\\x00b' holds a control character"),
    ({"crm": "segment=a\x00"}, "crm: 'a\\x00' holds a control character"),
    ({"with_channels": [f"c{i}" for i in range(MAX_VALUES + 1)]}, f"with_channels: at most {MAX_VALUES} values"),
    ({"crm": [f"k{i}=v" for i in range(MAX_VALUES + 1)]}, f"crm: at most {MAX_VALUES} values"),
    ({"min_revenue": "nan"}, "min_revenue"),  # pydantic's bound check refuses it first: a 422
    ({"min_revenue": "inf"}, "min_revenue"),
])
def test_bad_parameters_are_a_4xx_naming_the_field(shop, params, message):
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        r = api.get("/api/v1/reports/time-lag", params=params)
    assert r.status_code in (400, 422) and message in r.json()["error"]


def test_a_value_given_twice_is_asked_once(shop):
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        r = api.get("/api/v1/reports/model-comparison", params={"models": ["markov"] * 50}).json()
    assert [c for c in r["table"][0] if c.startswith("markov")] == ["markov_conversions", "markov_value",
                                                                     "markov_vs_last_pct", "markov_cpa",
                                                                     "markov_roas"]
    assert Query(devices=("mobile", "mobile", "tablet")).devices == ("mobile", "tablet")


def test_a_comma_inside_a_value_is_escaped_with_a_backslash():
    q = Query.from_params({"categories": ["shoes\\, bags", "hats,caps"], "parent": "campaign=a\\,b"})
    assert q.categories == ("shoes, bags", "hats", "caps") and q.parent == (("campaign", "a,b"),)


def test_the_cli_answers_an_empty_query_and_refuses_a_bad_one(shop):
    runner = CliRunner()
    res = runner.invoke(app, ["report", "velocity", "-w", str(shop.path), "--min-revenue", "1e9"])
    assert res.exit_code == 0, res.output
    assert "No conversion matches" in res.output
    res = runner.invoke(app, ["report", "time-lag", "-w", str(shop.path), "--with-channel", "a\x00b"])
    assert res.exit_code == 2 and "control character" in res.output and "Traceback" not in res.output


CHANNELS = ["display", "paid_search", "direct", "email", "affiliation", "store", "nope"]
DAYS = st.one_of(st.none(), st.dates(dt.date(2026, 9, 1), dt.date(2026, 12, 31)).map(str))
QUERIES = st.fixed_dictionaries({}, optional={
    "start": DAYS, "end": DAYS, "level": st.sampled_from(LEVELS),
    "parent": st.sampled_from(["channel=display", "channel=paid_search", "source=site1", "channel=nope"]),
    "kinds": st.lists(st.sampled_from(["sale", "lead", "custom"]), max_size=2),
    "new_customer": st.sampled_from(["true", "false"]),
    "crm": st.sampled_from(["segment=premium", "segment=mass|premium", "nope=x"]),
    "categories": st.lists(st.sampled_from(["shoes", "bags", "hats"]), max_size=2),
    "with_channels": st.lists(st.sampled_from(CHANNELS), max_size=2),
    "without_channels": st.lists(st.sampled_from(CHANNELS), max_size=2),
    "first_channel": st.lists(st.sampled_from(CHANNELS), max_size=2),
    "last_channel": st.lists(st.sampled_from(CHANNELS), max_size=2),
    "devices": st.lists(st.sampled_from(["desktop", "mobile", "tablet", "other"]), max_size=2),
    "mono_device": st.sampled_from(["true", "false"]),
    "origins": st.lists(st.sampled_from(["online", "store", "call_centre"]), max_size=2),
    "min_revenue": st.sampled_from(["0", "25", "1000000000"]),
    "top": st.integers(1, 20).map(str), "collapse": st.sampled_from(["true", "false"]),
    "distinct": st.sampled_from(["true", "false"]),
    "models": st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),
})


def check_result(name: str, body: dict) -> None:
    """Invariants of any answer: totals add up, buckets sum to the conversions."""
    json.dumps(body, allow_nan=False)
    column = BUCKETED.get(name)
    if column and body["table"]:
        assert sum(r[column] for r in body["table"]) == pytest.approx(body["totals"]["conversions"]), name
    if name == "summary" and body["table"]:
        assert sum(r["conversions"] for r in body["table"]) == pytest.approx(body["totals"]["conversions"])


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=QUERIES, name=st.sampled_from(list(CATALOGUE)))
def test_any_query_through_every_face(shop, params, name):
    with TestClient(create_app(shop.path), raise_server_exceptions=False, base_url="http://127.0.0.1") as api:
        for report in CATALOGUE:  # the API: every report, never a 5xx, valid JSON, sums that hold
            r = api.get(f"/api/v1/reports/{report}", params=params)
            assert r.status_code in (200, 400), (report, params, r.text)
            if r.status_code == 200:
                check_result(report, r.json())
    try:  # the library
        result = run_report(name, shop.warehouse, shop.config, Query.from_params(params))
    except (ValueError, InvalidInput):  # a bad value, or a field this report does not read
        result = None
    if result is not None:
        check_result(name, as_json(result))
    args = ["report", name, "-w", str(shop.path), "--format", "json"]  # the CLI
    for key, value in params.items():
        option, spec = cli_option(key), SPECS[key]
        if spec.kind == "bool" and not spec.value_labels:  # a flag: --distinct, --no-collapse
            args += [option] if value == ("false" if spec.cli_invert else "true") else []
        else:
            for v in value if isinstance(value, list) else [value]:
                if v is not None:
                    args += [option, v]
    res = CliRunner().invoke(app, args)
    assert res.exit_code in (0, 2), (args, res.output)
    assert "Traceback" not in res.output
    assert (res.exit_code == 0) == (result is not None), (args, res.output)


EVIL = '<a href="https://example.com">evil</a>'


@pytest.fixture
def evil_shop(ws):
    load_rows(ws, "touchpoints", [dict(event_id="e1", ts="2026-10-14T10:00:00Z", visitor_id="v1", channel=EVIL),
                                  dict(event_id="e2", ts="2026-10-14T11:00:00Z", visitor_id="v1", channel="AT&T")])
    load_rows(ws, "conversions", [dict(conversion_id="c1", ts="2026-10-15T10:00:00Z", visitor_id="v1", revenue="5")])
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    return ws


def test_a_label_is_text_in_every_chart(evil_shop):
    for name in CATALOGUE:
        figure = run_report(name, evil_shop.warehouse, evil_shop.config, Query()).figure.to_json()
        assert "<a href" not in figure, name
    # an axis's order too (issue 28.17), in either language
    with TestClient(create_app(evil_shop.path), base_url="http://127.0.0.1") as api:
        for name in CATALOGUE:
            for lang in ("en", "fr"):
                figure = json.dumps(api.get(f"/api/v1/reports/{name}", params={"lang": lang}).json()["figure"])
                assert "<a href" not in figure, (name, lang)
    r = run_report("model-comparison", evil_shop.warehouse, evil_shop.config, Query(models=("linear",)))
    assert set(r.figure.to_dict()["data"][0]["x"]) == {"&lt;a href=\"https://example.com\"&gt;evil&lt;/a&gt;",
                                                       "AT&amp;T"}
    assert set(r.table.row) == {EVIL, "AT&T"}  # the table keeps the real names


def chart_texts(figure: dict) -> set[str]:
    """The fixed texts a chart draws: axis, legend and subplot titles, annotations."""
    layout = figure["layout"]
    texts = {layout[k]["title"]["text"] for k in layout
             if k.startswith(("xaxis", "yaxis")) and layout[k].get("title", {}).get("text")}
    texts |= {a["text"] for a in layout.get("annotations", [])}
    if layout.get("legend", {}).get("title", {}).get("text"):
        texts.add(layout["legend"]["title"]["text"])
    return texts


def test_every_chart_text_has_its_french(shop):
    from parcours.reports.labels import FRENCH

    missing = set()
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        for name in CATALOGUE:
            for extra in ({"start": "2026-10-01"}, {"distinct": "true"}, {"models": "linear,markov"}):
                extra = {k: v for k, v in extra.items() if k in CATALOGUE[name].fields}
                en = api.get(f"/api/v1/reports/{name}", params=extra).json()["figure"]
                fr = api.get(f"/api/v1/reports/{name}", params={"lang": "fr", **extra})
                missing |= chart_texts(en) - set(FRENCH)
                texts = chart_texts(fr.json()["figure"])
                assert not texts & (set(FRENCH) - set(FRENCH.values())), name  # nothing left in English
    assert missing == set()


def test_french_charts_name_models_and_series_in_french(shop):
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        fr = api.get("/api/v1/reports/model-comparison", params={"models": "last_touch,markov", "lang": "fr"}).json()
        assert [t["name"] for t in fr["figure"]["data"]] == ["Dernier contact", "Chaîne de Markov"]
        fr = api.get("/api/v1/reports/velocity", params={"lang": "fr"}).json()
        assert {t.get("name") for t in fr["figure"]["data"]} >= {"jours (médiane)", "jours (90e centile)"}
        en = api.get("/api/v1/reports/model-comparison", params={"models": "last_touch"}).json()
        assert en["figure"]["data"][0]["name"] == "Last touch"


def test_a_filter_a_report_does_not_read_is_refused_by_every_face_naming_it(shop):
    """Issue 28.6: a report never drops a filter silently (the summary's total under a device
    filter was the unfiltered one): the library raises, the API answers 400 and the command
    exits 2, each naming the filter and the report; a field the report reads is still taken."""
    cases = [(name, field) for name, r in CATALOGUE.items() for field in ("devices", "journey", "min_revenue", "top")
             if field not in r.fields]
    values = {"devices": "mobile", "journey": "welcome", "min_revenue": "10", "top": "3"}
    assert ("summary", "devices") in cases and ("time-lag", "journey") in cases
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        for name, field in cases:
            with pytest.raises(InvalidInput, match=f"field {field}: the {name} report does not read"):
                run_report(name, shop.warehouse, shop.config, Query.from_params({field: values[field]}))
            got = api.get(f"/api/v1/reports/{name}", params={field: values[field]})
            assert got.status_code == 400 and f"the {name} report does not read" in got.json()["error"], (name, field)
    shop.close()
    res = CliRunner().invoke(app, ["report", "summary", "--device", "mobile", "-w", str(shop.path)])
    assert res.exit_code == 2 and "field devices: the summary report does not read Devices used" in res.output
