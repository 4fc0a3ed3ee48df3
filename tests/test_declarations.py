"""One declaration per concept: the Query fields drive the CLI options, the API parameters
(and so OpenAPI) and the web panel (test_web); reports and models register themselves."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parcours
from builders import loaded_after
from parcours.attribution import NAMES, RuleModel
from parcours.attribution.catalogue import make_model
from parcours.attribution.registry import MODELS
from parcours.contract.query import DEFAULTS, SPECS, Query, cli_option
from parcours.faces.api import create_app
from parcours.faces.cli import app
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
    ten = ("model-comparison", "assists", "cross-device", "top-paths", "time-lag", "engagement", "mono-device",
           "mono-channel", "path-length", "velocity")  # the Customer Journey family; a new report adds to them
    assert list(REPORTS)[:10] == list(ten)
    assert {"summary", "messaging", "propensity"} <= set(CATALOGUE) - set(REPORTS)
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
    faces = [PACKAGE / "faces" / "cli.py", *sorted((PACKAGE / "faces" / "api").glob("*.py")),
             PACKAGE / "faces" / "web" / "static" / "app.js"]
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


def test_every_error_a_user_causes_is_a_parcours_error_and_the_matching_builtin():
    from parcours.errors import ConfigError, DeclarationError, InvalidInput, NotFound, ParcoursError

    for cls in (InvalidInput, NotFound, ConfigError, DeclarationError):
        assert issubclass(cls, ParcoursError) and issubclass(cls, ValueError)
    with pytest.raises(InvalidInput):  # a library call raises the family, which is also what Python code expects
        Query.from_params({"top": "many"})
    with pytest.raises(ValueError, match="top"):
        Query.from_params({"top": "many"})


def test_no_bare_builtin_error_is_raised_in_the_code():
    """What parcours refuses is a ParcoursError (which faces map once), never a bare ValueError."""
    wrong = [f"{path.relative_to(PACKAGE)}:{n}" for path in PACKAGE.rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"\b(raise|_fail\()\s*ValueError\b", line)]
    assert wrong == []


def test_every_filter_says_what_it_reads_and_the_reports_follow_the_declaration():
    from parcours.contract.query import Spec
    from parcours.errors import DeclarationError
    from parcours.reports.base import CONVERSION_FILTERS, SHAPE_FILTERS

    filters = {name for name, spec in SPECS.items() if spec.group == "filter"}
    assert set(CONVERSION_FILTERS) | set(SHAPE_FILTERS) == filters
    assert not set(CONVERSION_FILTERS) & set(SHAPE_FILTERS)
    with pytest.raises(DeclarationError, match="a filter says what it reads"):
        Spec("list", ("New filter", "Nouveau filtre"), ("", ""), "filter")  # forgetting it fails at import
    with pytest.raises(DeclarationError):
        Spec("list", ("An option", "Une option"), ("", ""), "option", reads="shape")


def test_every_model_module_registers_whatever_its_order():
    """In a fresh interpreter, whatever module of the package is imported first, the registry
    holds every model any module of the package defines (the package imports MODEL_MODULES),
    and NAMES (menu order) lists them all."""
    script = """
import importlib, pkgutil
from parcours.attribution.registry import MODEL_MODULES, MODELS
first = dict(MODELS)
import parcours.attribution as package
for m in pkgutil.iter_modules(package.__path__):
    importlib.import_module(f"parcours.attribution.{m.name}")
assert first == MODELS, sorted(set(MODELS) - set(first))
assert {spec.cls.__module__ for spec in MODELS.values()} == {f"parcours.attribution.{m}" for m in MODEL_MODULES}
assert package.NAMES == tuple(sorted(MODELS, key=lambda n: MODELS[n].order))
"""
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    for name in NAMES:  # each model answers the interface, not its class, whatever it is
        model = make_model(name)
        assert model.data_driven == MODELS[name].data_driven and model.on_paths == MODELS[name].on_paths


def test_the_models_and_a_path_file_need_no_engine_or_scipy(tmp_path):
    """Listing the models and attributing a path file with a path model import neither Ibis,
    DuckDB nor SciPy (0.15-0.4 s each for every command that loads them). pandas is not
    asked: pyarrow imports it at its first conversion of a Python value."""
    paths = tmp_path / "paths.csv"
    paths.write_text("path,total_conversions,total_null\nemail > search,3,7\nsearch,2,8\n")
    done = loaded_after([["attribute", "--paths", str(paths), "--nulls-column", "total_null", "--model", model]
                         for model in ("markov", "shapley", "ordered_shapley", "shapley_rate")],
                        ("ibis", "scipy.sparse", "scipy.optimize", "duckdb", "sqlglot"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[]", done.stdout[-300:]
    assert "search" in done.stdout and "email" in done.stdout


def test_a_customer_is_new_or_returning_in_the_same_words_everywhere():
    from parcours.contract.conditions import CHOICES

    labels = SPECS["new_customer"].value_labels
    for value, said in (("true", CHOICES["new"]), ("false", CHOICES["returning"])):
        for lang in (0, 1):  # the builder's word is the filter's, in the singular
            assert labels[value][lang].lower().startswith(said[lang].rstrip("s").rstrip("x")[:5]), (value, lang)


def test_the_attribute_command_has_one_option_per_declared_model_parameter():
    from parcours.contract.model_params import PARAMS

    command = typer.main.get_command(app).commands["attribute"]
    options = {opt for p in command.params for opt in p.opts if opt.startswith("--")}
    assert {p.cli for p in PARAMS.values() if p.cli} <= options
    taken = {name for spec in MODELS.values() for name in spec.params}
    assert taken == set(PARAMS)  # each declared parameter is some model's, and each model's is declared
    from parcours.attribution.registry import register_model
    from parcours.errors import DeclarationError

    with pytest.raises(DeclarationError, match="not declared in contract/model_params.py"):
        register_model("mine", 99, ("Mine", "Le mien"), params=("alpha",))(RuleModel)


def test_python_dash_m_sees_every_command():
    """`python -m parcours.faces.cli` (what benchmarks and scripts run) has the sub-commands the
    `parcours` script has: the module runs the app after registering them all."""
    import typer.main

    groups = [name for name, c in typer.main.get_command(app).commands.items() if hasattr(c, "commands")]
    assert {"audience", "predict"} <= set(groups)
    for group in groups:
        done = subprocess.run([sys.executable, "-m", "parcours.faces.cli", group, "--help"], capture_output=True,
                              text=True)
        assert done.returncode == 0, (group, done.stderr[-500:])
