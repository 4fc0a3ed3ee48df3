"""One declaration per concept: the Query fields drive the CLI options, the API parameters
(and so OpenAPI) and the web panel (test_web); reports and models register themselves."""

import re
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours
from parcours.api import create_app
from parcours.attribution import RuleModel
from parcours.attribution.catalogue import NAMES, make_model
from parcours.attribution.registry import MODELS
from parcours.cli import app
from parcours.query import DEFAULTS, SPECS, Query, cli_option
from parcours.reports import CATALOGUE, REPORTS, Report
from parcours.reports.summary import run as run_summary

PACKAGE = Path(parcours.__file__).parent
OUTPUT_OPTIONS = {"--workspace", "--format", "--output", "--delimiter", "--bom"}


def report_command_options() -> set[str]:
    command = typer.main.get_command(app).commands["report"]
    return {opt for p in command.params for opt in p.opts if opt.startswith("--")}


def test_the_report_command_has_one_option_per_query_field():
    assert report_command_options() - OUTPUT_OPTIONS == {cli_option(n) for n in SPECS}


def test_the_api_has_one_parameter_per_query_field(tmp_path):
    spec = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get("/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/api/v1/reports/{name}"]["get"]["parameters"]}
    assert params - {"name", "format", "delimiter", "bom", "lang", "authorization"} == set(SPECS)


def test_the_api_serves_the_declarations(tmp_path):
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1") as api:
        fields = {f["name"]: f for f in api.get("/api/v1/fields").json()}
        assert list(fields) == list(SPECS)
        assert fields["collapse"]["reports"] == ["top-paths"]
        # the summary reads the period too; the propensity is as of the last build, with no period
        assert fields["start"]["reports"] == [n for n in CATALOGUE if n != "propensity"]
        assert "summary" not in fields["level"]["reports"]
        assert fields["kinds"]["labels"] == {"en": "Conversion kinds", "fr": "Types de conversion"}
        models = api.get("/api/v1/models").json()
        assert [m["name"] for m in models] == list(NAMES)
        driven = {m["name"] for m in models if m["data_driven"]}
        assert driven == {"markov", "shapley", "ordered_shapley", "shapley_rate", "counterfactual"}
        assert {m["name"] for m in models if not m["on_paths"]} == {"time_decay", "counterfactual"}


def test_every_field_has_both_languages_and_a_known_kind():
    for name, spec in SPECS.items():
        assert all(spec.label) and all(spec.help), name
        assert spec.kind in ("date", "int", "float", "bool", "text", "list", "pairs", "crm"), name
        assert DEFAULTS[name] == getattr(Query(), name)


def test_every_report_is_in_the_catalogue_with_both_languages():
    assert list(CATALOGUE)[-3:] == ["summary", "messaging", "propensity"] and len(REPORTS) == 10
    for r in CATALOGUE.values():
        assert all(r.title) and all(r.question) and r.chart, r.name
    assert CATALOGUE["summary"].realtime and CATALOGUE["summary"].fields == ("start", "end")
    assert CATALOGUE["top-paths"].options == ("top", "collapse")
    assert CATALOGUE["messaging"].realtime and CATALOGUE["messaging"].fields == (
        "start", "end", "models", "journey", "step", "by", "headline", "machine_opens")


def test_a_report_cannot_declare_an_option_that_is_not_one():
    with pytest.raises(ValueError, match="kinds are not Query options"):
        Report("x", 99, ("X", "X"), ("?", "?"), "bar", run_summary, options=("kinds",))


def test_the_faces_do_not_special_case_a_report():
    faces = [PACKAGE / "cli.py", PACKAGE / "api.py", PACKAGE / "web" / "static" / "app.js"]
    pattern = re.compile(r"""(==|!=|===|!==)\s*["'](summary|model-comparison|messaging)["']""")
    assert [f.name for f in faces if pattern.search(f.read_text())] == []


@pytest.mark.parametrize("name", NAMES)
def test_every_model_is_made_from_its_registration(name):
    model = make_model(name, order=2, half_life_days=3.0, weights=(1.0, 0.0, 1.0), direct=("x",))
    assert model.name == name and isinstance(model, MODELS[name].cls)
    assert MODELS[name].data_driven == (not isinstance(model, RuleModel))


def test_an_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'nope'; models: first_touch"):
        make_model("nope")


TEXTS = st.one_of(st.text(max_size=12), st.sampled_from(
    ["channel=display", "zz=y", "segment=a|b", "=", "2026-01-02", "2026-13-01", "-1", "0", "1e9", "nan", "true",
     "new", "sale", "mobile,phone", "10001"]))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # CI's 2 cores run two workers
@given(st.dictionaries(st.sampled_from(sorted(SPECS)), st.one_of(TEXTS, st.lists(TEXTS, max_size=3)), max_size=4))
def test_any_text_parameters_give_a_query_or_a_value_error_naming_the_field(params):
    try:
        Query.from_params(params)
    except ValueError as exc:
        message = str(exc)
        assert any(name in message for name in params) or "period starts" in message, message


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_a_number_that_is_not_finite_is_refused(text):
    with pytest.raises(ValueError, match="min_revenue: .* is not a finite number"):
        Query.from_params({"min_revenue": text})
