"""What a person reads: every column, value, tooltip and warning has its words in English and
French, amounts carry the workspace currency, channel names come from the config, and an
export for people is written in the page's language."""

import csv
import io
import re

import openpyxl
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from builders import build_shop
from parcours import Workspace
from parcours.contract.config import parse_config
from parcours.contract.query import Query
from parcours.errors import ConfigError
from parcours.faces.api import create_app
from parcours.reports import CATALOGUE, run_report
from parcours.reports.labels import (
    COLOURS,
    COLUMNS,
    FRENCH,
    MESSAGES,
    PALETTE,
    VALUES,
    Column,
    Columns,
    Fields,
    Level,
    Message,
    Values,
    Words,
    _model_column,
    colours,
)

VARIANTS = ({"distinct": "true"}, {"models": "linear,markov"}, {"measure": "value"}, {"level": "source"})


def answers(api, lang="fr"):
    for name, report in CATALOGUE.items():
        for extra in ({}, *(v for v in VARIANTS if set(v) <= set(report.fields))):
            start = {"start": "2026-10-01"} if "start" in report.fields else {}
            res = api.get(f"/api/v1/reports/{name}", params={**start, "lang": lang, **extra})
            assert res.status_code == 200, (name, extra, res.text)
            yield name, extra, res.json()


def test_every_column_and_secondary_table_has_its_words(shop):
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        for name, _, body in answers(api):
            for column in body["columns"]:
                known = column in COLUMNS or _model_column(column) or column in VALUES or column == "row"
                assert known, f"{name}: column {column!r} has no label"
            assert set(body["titles"]) == set(body["tables"]), name
            assert all(not title.islower() or " " in title for title in body["titles"].values())


def test_every_tooltip_label_is_said_in_french(shop):
    english = set()
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        for name, _, body in answers(api, "en"):
            for trace in body["figure"]["data"]:
                templates = [trace.get("hovertemplate")]
                templates += [trace.get(part, {}).get("hovertemplate") for part in ("node", "link")]
                for template in filter(None, templates):
                    assert template.endswith("<extra></extra>"), (name, template)  # no stray trace box
                    for line in template.removesuffix("<extra></extra>").split("<br>")[1:]:
                        label = line.split(": ")[0]
                        if not label.startswith("%"):
                            english.add(label)
        assert len(english) > 5 and english - set(FRENCH) == set()
        for name, _, body in answers(api, "fr"):
            for trace in body["figure"]["data"]:
                template = trace.get("hovertemplate") or ""
                assert not any(f"<br>{label}:" in template for label in english if FRENCH[label] != label), name


def test_french_numbers_in_charts_and_names_of_values(shop):
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        fr = api.get("/api/v1/reports/mono-channel", params={"lang": "fr"}).json()
        assert fr["figure"]["layout"]["separators"] == ", "
        assert set(fr["figure"]["data"][0]["x"]) == {"Accès direct", "E-mail"}  # the channels, by name
        assert fr["names"]["paid_search"] == "Recherche payante"
        down = api.get("/api/v1/reports/mono-channel", params={"lang": "fr", "level": "source"}).json()
        assert "paid_search" not in down["names"]  # a source may be called "email": channels named as rows only
        assert (down["names"]["awareness"], down["names"]["paid"]) == ("Découverte", "Payant")  # stages, groups: always
        en = api.get("/api/v1/reports/cross-device").json()
        assert "Desktop" in en["figure"]["data"][0]["x"] and en["columns"]["revenue"] == {
            "label": "Revenue (EUR)", "short": "Revenue", "unit": "money"}


def test_every_warning_is_said_in_both_languages():
    parts = {"day": "2026-10-13", "rows": 3, "columns": Columns(["revenue"]), "total": 1915.5, "limit": 30,
             "column": Column("conversions"), "filters": Fields(["kinds", "min_revenue"]), "built": 5, "raw": 6,
             "diff": "+20.0%", "values": Values(("channel", ("paid_search", "email"), 2)), "of": Column("devices"),
             "low": -12.5, "high": 30.0, "level": Level("media_plan")}
    for key in MESSAGES:
        message = Message(key, **parts)
        assert str(message) == message.said("en") and message.said("fr") != message.said("en"), key
    assert Message("low_volume", total=1915.5, limit=30).said("fr").startswith("Faible volume : 1\u202f915,50")
    # no internal name in a message: filters, columns and rows are said by their labels and names
    assert Message("rates_left_out", **parts).said("fr").startswith(
        "Les taux demandent les parcours sans conversion, qu'un filtre types de conversion, chiffre d'affaires minimum")
    assert Message("cost_level", **parts).said("fr").endswith("pas par plan média.")
    assert Message("low_rows", **parts) == ("3 row(s) under 30 conversions, flagged low volume: Paid search, Email "
                                            "and 2 more.")
    assert Message("not_computed", **parts).said("fr").endswith("pour Chiffre d'affaires (EUR) (division par 0) : "
                                                              "laissées vides.")


def test_a_french_page_exports_csv_for_a_french_spreadsheet(shop):
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        res = api.get("/api/v1/reports/assists", params={"format": "csv", "lang": "fr"})
        text = res.content.decode("utf-8")
        assert text.startswith("\ufeffLevier;Conversions au dernier contact;CA au dernier contact (EUR);")
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
        display = next(r for r in rows if r["Levier"] == "Display")
        assert display["Conversions assistées"] == "2" and display["Faible volume"] == "oui"
        assert display["Assistées par conversion au dernier contact"] == ""  # no last touch: no ratio
        direct = next(r for r in rows if r["Levier"] == "Accès direct")
        assert direct["CA assisté (EUR)"] == "0,0" and direct["CA au dernier contact (EUR)"] == "120,0"
        # asked otherwise, it is; a comma cannot separate decimal commas
        res = api.get("/api/v1/reports/assists",
                      params={"format": "csv", "lang": "fr", "delimiter": ",", "bom": "false"})
        assert res.status_code == 400 and "decimal comma" in res.json()["error"]
        plain = api.get("/api/v1/reports/assists", params={"format": "csv"}).text
        assert plain.startswith("row,last_touch_conversions,")  # no lang: keys, for programs
        xlsx = api.get("/api/v1/reports/assists", params={"format": "xlsx", "lang": "fr"})
        sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["assists"]
        assert sheet["A1"].value == "Levier" and "EUR" in sheet["C2"].number_format


def test_channel_names_and_currency_come_from_the_config(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    text = (ws.path / "parcours.toml").read_text()
    text = text.replace('names = {}', 'names = { display = "Bannières", email = { en = "Mail", fr = "Courriel" } }')
    text = text.replace('currency = "EUR"', 'currency = "USD"')
    (ws.path / "parcours.toml").write_text(text)
    ws = build_shop(Workspace(ws.path))
    r = run_report("assists", ws.warehouse, ws.config, Query())
    body = r.to_dict(Words("fr", ws.config))
    assert body["names"]["display"] == "Bannières" and body["names"]["email"] == "Courriel"
    assert body["columns"]["revenue"]["label"] == "Chiffre d'affaires (USD)"
    assert "Bannières" in [x for trace in body["figure"]["data"] for x in trace["x"]]
    assert r.to_dict(Words("en", ws.config))["names"]["email"] == "Mail"


@pytest.mark.parametrize(("section", "field"), [
    ({"reports": {"currency": "euro"}}, "reports.currency"),
    ({"channels": {"names": {"display": ""}}}, "channels.names.display"),
    ({"channels": {"names": {"display": {"en": "Display"}}}}, "channels.names.display"),
    ({"channels": {"names": "Display"}}, "channels.names"),
])
def test_bad_names_or_currency_are_refused_naming_the_key(section, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config(section, "parcours.toml")


def test_model_comparison_shows_one_measure_per_model_and_keeps_all_on_a_second_table(shop):
    r = run_report("model-comparison", shop.warehouse, shop.config, Query(models=("linear", "markov"), measure="cpa"))
    assert list(r.table.columns[:4]) == ["row", "cost", "linear_cpa", "markov_cpa"]
    assert "linear_roas" in r.tables["all_measures"].columns
    assert r.figure.layout.yaxis.title.text == "cost per conversion"
    whole = run_report("model-comparison", shop.warehouse, shop.config, Query(models=("linear",)))
    assert "linear_value" in whole.table.columns and not whole.tables  # no measure: every column, as before


def test_engagement_says_time_in_hours(shop):
    r = run_report("engagement", shop.warehouse, shop.config, Query())
    assert r.table.set_index("row").time_on_site_hours["direct"] == pytest.approx(330 / 3600)
    assert Words("en").column("engagement") == ("Engagement (pageviews + minutes)", "number")


PAGE_REFUSALS = [  # what a page can be refused: report parameters, audience conditions and saves
    ("get", "/api/v1/reports/path-length", {"min_revenue": "-1"}, None),
    ("get", "/api/v1/reports/path-length", {"start": "2026-10-20", "end": "2026-10-01"}, None),
    ("get", "/api/v1/reports/path-length", {"start": "20/10/2026"}, None),
    ("get", "/api/v1/reports/path-length", {"devices": "phone"}, None),
    ("get", "/api/v1/reports/top-paths", {"top": "0"}, None),
    ("get", "/api/v1/reports/summary", {"new_customer": "true"}, None),
    ("get", "/api/v1/reports/path-length", {"audiences": "nope"}, None),
    ("post", "/api/v1/audiences/preview", None, {"when": {"all": [{"touched": "email", "within_days": 0}]}}),
    ("post", "/api/v1/audiences/preview", None, {"when": {"any": [{"device": "phone"}]}}),
    ("post", "/api/v1/audiences/preview", None, {"when": {"not": {"touched": ""}}}),
    ("post", "/api/v1/audiences/preview", None, {"when": {"stage_reached": "checkout_v2"}}),
    ("post", "/api/v1/audiences/preview", None, {"when": {"touched": "email", "within": 3}}),
    ("post", "/api/v1/audiences/preview", None, {"when": []}),
    ("post", "/api/v1/audiences/preview", None, {"when": {"attribute": "segment", "equals": ["a"] * 1001}}),
    ("put", "/api/v1/audiences/Bad Name", None, {"when": {"device": "mobile"}}),
    ("get", "/api/v1/nothing-here", None, None),
]


def test_a_page_reads_every_refusal_in_its_language_by_labels_not_internal_names(shop):
    """Issue 28.23: the pages ask with `lang`; a refusal is then said in that language, its
    field by the label the page shows (`Chiffre d'affaires minimum`, `Test 1 › dans les …
    derniers jours`), never by its internal name (`min_revenue`, `when.all[0].within_days`)."""
    from parcours.reports.refusals import said

    internal = re.compile(r"\b[a-z]+_[a-z_]+\b|when\.|\[\d\]|Input should")
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        for method, path, params, body in PAGE_REFUSALS:
            raw = getattr(api, method)(path, params=params or {}, **({"json": body} if body else {}))
            assert 400 <= raw.status_code < 500 and set(raw.json()) == {"error"}, (path, raw.text)
            assert said(raw.json()["error"], "fr")[1], f"not said: {raw.json()['error']!r}"
            for lang in ("en", "fr"):
                got = getattr(api, method)(path, params={**(params or {}), "lang": lang},
                                           **({"json": body} if body else {}))
                message = got.json()["error"]
                assert got.status_code == raw.status_code and not internal.search(message), (lang, message)
                assert (message != raw.json()["error"]) or lang == "en", (lang, message)


@given(st.sets(st.text(min_size=1, max_size=12), max_size=40),
       st.sets(st.sampled_from(sorted(COLOURS)), max_size=len(COLOURS)))
def test_a_chart_draws_no_two_values_alike_while_colours_last(others, channels):
    shown = others | channels
    got = colours(sorted(shown))
    assert got.keys() == shown and got == colours(shown)  # every value, the same whatever the order
    assert all(got[v] == COLOURS[v] for v in channels)  # a channel's own colour on every chart
    free = set(PALETTE) - {COLOURS[v] for v in channels}
    if len(shown - COLOURS.keys()) <= len(free):
        assert len(set(got.values())) == len(shown)


def test_top_paths_by_source_give_each_source_one_colour_in_chips_and_flow(shop):
    """Sources are no channels: a hash into ten colours made two of them alike."""
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        body = api.get("/api/v1/reports/top-paths", params={"level": "source", "top": 20}).json()
    chips = body["colours"]
    sources = set(chips) - COLOURS.keys()
    assert len(sources) >= 6 and len({chips[s] for s in sources}) == len(sources)
    node = body["figure"]["data"][0]["node"]
    for label, drawn in zip(node["label"], node["color"], strict=True):
        value = label.split(". ", 1)[-1]
        assert value not in chips or chips[value] == drawn, label


def test_counts_read_whole_in_every_csv_and_the_columns_say_what_they_count(shop):
    """Issue 28.28: a CSV said `107.0` in one report and `529` in another; mono-channel said
    "Single-value conversions" at every level; last touch had a "% vs last touch" of itself."""
    with TestClient(create_app(shop.path), base_url="http://127.0.0.1") as api:
        for name, extra, body in answers(api, "en"):
            counts = [c for c, said in body["columns"].items() if said["unit"] == "count"]
            start = {"start": "2026-10-01"} if "start" in CATALOGUE[name].fields else {}
            text = api.get(f"/api/v1/reports/{name}", params={**start, **extra, "format": "csv"}).text
            table = list(csv.DictReader(io.StringIO(text)))
            for c in counts:  # a column of whole counts reads 107, not 107.0 (credit shares keep decimals)
                said = [row[c] for row in table if row.get(c)]
                if all(float(v).is_integer() for v in said):
                    assert [v for v in said if not re.fullmatch(r"-?\d+", v)] == [], (name, extra, c)
            if name == "model-comparison":
                assert "last_touch_vs_last_pct" not in body["columns"], extra
        for level, en, fr in (("channel", "Single-channel conversions", "Conversions mono-levier"),
                              ("source", "Single-source conversions", "Conversions mono-support")):
            said = {lang: api.get("/api/v1/reports/mono-channel", params={"level": level, "lang": lang}).json()
                    for lang in ("en", "fr")}
            assert said["en"]["columns"]["mono_channel_conversions"]["label"] == en
            assert said["fr"]["columns"]["mono_channel_conversions"]["label"] == fr
