import math
import re
import tomllib
from dataclasses import fields

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import load_rows, rows_of
from parcours.build.journeys import build_journeys
from parcours.contract.config import (
    MAX_MEMORY,
    MIN_MEMORY,
    SECTIONS,
    SETTINGS,
    FunnelSettings,
    MessagingSettings,
    WarehouseSettings,
    default_config_text,
    load_config,
    memory_bytes,
    parse_config,
)
from parcours.errors import ConfigError


def test_defaults_ship_the_usual_channels(tmp_path):
    cfg = load_config(tmp_path)
    assert cfg.source == "defaults" and cfg.journeys.lookback_days == 30
    assert cfg.channel_groups["email"] == "owned" and cfg.direct_channels == ("direct",)
    assert cfg.funnel_stages == ("awareness", "consideration", "intent", "cart")
    assert {r.outputs["channel"] for r in cfg.channel_rules} >= {
        "paid_search", "display", "affiliation", "email", "sms", "social", "organic_search",
        "referral", "store", "call_centre"}


@pytest.mark.parametrize(("text", "message"), [
    ("[journey]\nlookback_days = 3\n", "unknown section 'journey'"),
    ("[journeys]\nlookback = 3\n", "field journeys.lookback: unknown setting"),
    ("[predict]\nhorizon_days = 0\n", "field predict.horizon_days: expected a number of days from 1 to 365"),
    ("[predict]\nenabled = 'yes'\n", "field predict.enabled: expected true or false"),
    ("[predict]\nhalf_life_days = -1\n", "field predict.half_life_days: expected a number of days more than 0"),
    ("[predict]\nmax_training_rows = 10\n", "field predict.max_training_rows: expected a number of rows from 1,000 to"),
    ("[predict]\nhorizon = 7\n", "field predict.horizon: unknown setting"),
    # a setting an earlier version wrote says what replaced it
    ("[reports]\naudience_attribute = 'segment'\n", "field reports.audience_attribute: removed: filter reports by"),
    ("[journeys]\nlookback_days = 0\n",
     "field journeys.lookback_days: expected a number of days from 1 to 3,660, not 0"),
    ("[journeys]\nlookback_days = -3\n", "field journeys.lookback_days: expected a number of days from 1"),
    ("[warehouse]\nmemory_limit = 'lots'\n", "field warehouse.memory_limit: expected a size such as \"16GB\""),
    ("[warehouse]\nthreads = -3\n", "field warehouse.threads: expected a number of threads from 0 (every core) to 64"),
    ("[warehouse]\nthreads = 'many'\n", "field warehouse.threads: expected a whole number, not 'many'"),
    ("[warehouse]\nthreads = 1.5\n", "field warehouse.threads: expected a whole number, not 1.5"),
    ("[warehouse]\nengine = 3\n", "field warehouse.engine: expected a text, not 3"),
    ("[reports]\nlow_volume = true\n", "field reports.low_volume: expected a whole number, not True"),
    ("[api]\nmax_body_mb = 0\n", "field api.max_body_mb: expected a number of MB more than 0 and at most 1,024, not 0"),
    ("[api]\nmax_body_mb = 'big'\n", "field api.max_body_mb: expected a number, not 'big'"),
    ("[reports]\nengagement_medium = 30\n", "field reports.engagement_medium: expected 0 <= engagement_medium"),
    ("[[channels.rules]]\nchannel = 'x'\nwhen = { utm_colour = 'red' }\n", "unknown condition 'utm_colour'"),
    ("[[channels.rules]]\nchannel = 'x'\nwhen = { referrer_matches = '(' }\n", "bad regex"),
    ("[[channels.rules]]\nsource = 'x'\n", "field channels.rules[0]: missing 'channel'"),
    ("[[channels.rules]]\nchannel = 'x'\nsource = '{nope}'\n", "names an unknown field"),
    ("[journeys\n", "cannot parse"),
    ("[messaging]\nattribution_window_days = 0\n",
     "field messaging.attribution_window_days: expected a number of days more than 0 and at most 3,660, not 0"),
    ("[messaging]\nattribute_to = 'delivered'\n",
     "field messaging.attribute_to: expected \"clicked\" or \"opened\", not 'delivered'"),
    ("[messaging]\npaused = 3\n", "field messaging.paused: expected a string or a list of strings"),
    ("[messaging]\nlift_window_days = 0\n",
     "field messaging.lift_window_days: expected a number of days from 1 to 3,660, not 0"),
    ("[crm]\ndefault_country = 'XX'\n",
     "field crm.default_country: expected a country code (ISO 3166 alpha-2, e.g. FR), not 'XX'"),
    ("[crm]\nkeep_plain = 'yes'\n", "field crm.keep_plain: expected true or false, not 'yes'"),
    ("[crm]\nid_prefix = 3\n", "field crm.id_prefix: expected a text, not 3"),
    ("[activation]\nretries = 0\n", "field activation.retries: expected a number of attempts from 1 to 10"),
    ("[activation]\nbatch_size = 0\n", "field activation.batch_size: expected a number of persons"),
    ("[activation]\ntimeout_s = 0\n", "field activation.timeout_s: expected a number of seconds"),
    ("[activation]\nhook = 'x'\n", "field activation.hook: unknown setting"),
    ("[privacy]\nretention_days = -1\n", "field privacy.retention_days: expected a number of days from 0 to 36,600"),
    ("[privacy]\ncount_without_consent = 1\n", "field privacy.count_without_consent: expected true or false"),
    ("audiences = 3\n", "field audiences: expected [[audiences]] tables"),
    ("[[audiences]]\nname = 'a'\nwhen = { device = 'mobile' }\n"
     "[[audiences]]\nname = 'a'\nwhen = { device = 'tablet' }\n",
     "field audiences[1].name: a second audience named 'a'"),
    ("[[audiences]]\nname = 'A b'\nwhen = { device = 'mobile' }\n", "field audiences[0].name: an audience name is"),
    ("[[audiences]]\nname = 'a'\n", "field audiences[0].when: missing"),
    ("[messaging]\nlift_window_days = 2.5\n", "field messaging.lift_window_days"),
    ("[messaging]\nwindow = 3\n", "field messaging.window: unknown setting"),
    ("messaging = 3\n", "field messaging: expected a table of settings"),
])
def test_a_bad_config_names_the_file_and_the_setting(tmp_path, text, message):
    (tmp_path / "parcours.toml").write_text(text)
    with pytest.raises(ConfigError, match="parcours.toml") as exc:
        load_config(tmp_path)
    assert message in str(exc.value)


def test_yaml_config_with_custom_rules_classifies_touches(ws):
    (ws.path / "parcours.toml").unlink()
    (ws.path / "parcours.yaml").write_text(
        "channels:\n"
        "  default: unknown\n"
        "  rules:\n"
        "    - when: {utm_source: [Partner-A, partner-b], utm_medium_present: true}\n"
        "      channel: partners\n"
        "      source: '{utm_source}'\n"
        "      campaign: evergreen\n"
        "channel_groups:\n"
        "  alliances: [partners]\n"
        "media_plans:\n"
        "  - when: {channel: partners}\n"
        "    name: partner_plan\n")
    load_rows(ws, "touchpoints", [
        dict(event_id="t1", ts="2026-10-01", visitor_id="v1", utm_source="partner-A", utm_medium="x"),
        dict(event_id="t2", ts="2026-10-02", visitor_id="v1", utm_source="partner-a"),
        dict(event_id="t3", ts="2026-10-03", visitor_id="v1", channel="tv", media_plan="q4_tv"),
    ])
    load_rows(ws, "conversions", [dict(conversion_id="c", ts="2026-10-04", visitor_id="v1")])
    build_journeys(ws.warehouse, ws.config, as_of=__import__("datetime").date(2026, 11, 23))
    got = [(t["channel"], t["source"], t["campaign"], t["channel_group"], t["media_plan"])
           for t in rows_of(ws, "touches", ["position"])]
    assert got == [("partners", "partner-A", "evergreen", "alliances", "partner_plan"),
                   ("unknown", "partner-a", "(none)", "other", "(none)"),
                   ("tv", "(none)", "(none)", "other", "q4_tv")]


def test_messaging_settings_are_read(tmp_path):
    assert load_config(tmp_path).messaging == MessagingSettings(5.0, "clicked", (), 14)
    (tmp_path / "parcours.toml").write_text("[messaging]\nattribution_window_days = 2.5\nattribute_to = 'opened'\n"
                                            "paused = ['winback']\nlift_window_days = 30\n")
    assert load_config(tmp_path).messaging == MessagingSettings(2.5, "opened", ("winback",), 30)


def test_a_fractional_post_view_window_is_kept(tmp_path):
    (tmp_path / "parcours.toml").write_text("[journeys]\npost_view_days = 0.5\n")
    assert load_config(tmp_path).journeys.post_view_days == 0.5


# --- issue 20: every value checked at load, as the engine and the code take it -------------------

TESTER = [  # the configurations that printed tracebacks (or hung a build), as they were written
    (b"[journeys]\nlookback_days = 3 # caf\xe9\n", None, "not UTF-8 text (byte 34 is not)"),
    (b"[api]\ntokens = 5\n", "api.tokens", "expected a list"),
    (b'channels = "x"\n', "channels", "expected a table of settings"),
    (b"warehouse = 5\n", "warehouse", "expected a table of settings"),
    (b"funnel = 5\n", "funnel", "expected a table of settings"),
    (b'channel_groups = "x"\n', "channel_groups", "expected a table of groups"),
    (b'[warehouse]\npath = ""\n', "warehouse.path", "expected a file name"),
    (b"[journeys]\nreport_lag_days = 1000000\n", "journeys.report_lag_days",
     "expected a number of days from 0 to 3,660"),
    (b"[journeys]\npost_view_days = 1e10\n", "journeys.post_view_days", "expected a number of days from 0 to 3,660"),
    (b"[journeys]\nlookback_days = 100000000\n", "journeys.lookback_days", "expected a number of days from 1 to 3,660"),
    (b'[warehouse]\nmemory_limit = "1KB"\n', "warehouse.memory_limit", "expected a size such as \"16GB\", of 64MB"),
    (b"[warehouse]\nthreads = 100000\n", "warehouse.threads", "expected a number of threads from 0 (every core) to 64"),
    (b"[[channels.rules]]\nchannel = 'x'\nwhen = { url_matches = '(?<=shop)cart' }\n",
     "channels.rules[0].url_matches", "bad regex '(?<=shop)cart': invalid perl operator: (?<"),
    (b'[channels]\ndefault = 5\n', "channels.default", "expected a text, not 5"),
    (b'[reports]\ncurrency = ""\n', "reports.currency", "expected an ISO 4217 currency code"),
    (b"[predict]\nmax_training_rows = 100000000000000000000000\n", "predict.max_training_rows", "expected a number"),
]


@pytest.mark.parametrize(("text", "field", "reason"), TESTER)
def test_what_the_tester_wrote_is_one_config_error_naming_the_setting(tmp_path, text, field, reason):
    (tmp_path / "parcours.toml").write_bytes(text)
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert exc.value.file == str(tmp_path / "parcours.toml") and exc.value.field == field
    assert exc.value.reason.startswith(reason) and "\n" not in str(exc.value)


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("parcours.toml", lambda p: p.mkdir(), "a folder, not a file"),
    ("parcours.toml", lambda p: p.symlink_to(p.parent / "gone.toml"), "cannot read it: No such file or directory"),
    ("parcours.yaml", lambda p: p.write_text("- warehouse\n"), "expected a table of settings at the top level"),
    ("parcours.yaml", lambda p: p.write_text("journeys:\n  7: 3\n"), "a key is a text, not 7"),
    ("parcours.yaml", lambda p: p.write_bytes(b"journeys: {}\n\xff\n"), "not UTF-8 text (byte 13 is not)"),
    ("parcours.yaml", lambda p: p.write_text("journeys: [\n"), "cannot parse: while parsing"),
])
def test_a_config_file_that_cannot_be_read_is_one_line_naming_it(tmp_path, name, make, reason):
    make(tmp_path / name)
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert exc.value.file == str(tmp_path / name) and exc.value.reason.startswith(reason), str(exc.value)
    assert "\n" not in str(exc.value)


def test_an_empty_yaml_config_is_the_defaults(tmp_path):
    (tmp_path / "parcours.yaml").write_text("")
    assert load_config(tmp_path).warehouse == WarehouseSettings()


@pytest.mark.parametrize("text", [b"[warehouse\n", b"[warehouse]\nthreads = -3\n",
                                  b"[[channels.rules]]\nchannel = 'x'\nwhen = { url_matches = '([' }\n",
                                  *(text for text, _, _ in TESTER), None])
def test_every_command_says_a_bad_config_in_one_line_and_exits_2(tmp_path, text):
    from typer.testing import CliRunner

    from parcours.faces.cli import app

    if text is None:  # a folder where the file should be
        (tmp_path / "parcours.toml").mkdir()
    else:
        (tmp_path / "parcours.toml").write_bytes(text)
    for command in (["info"], ["build"], ["report", "assists"], ["attribute", "--model", "linear"]):
        res = CliRunner().invoke(app, [*command, "-w", str(tmp_path)])
        assert res.exit_code == 2, (command, res.output)
        assert res.output.startswith("error: file ") and res.output.count("\n") <= 2, (command, res.output)
        assert "Traceback" not in res.output


DECLARED = [(section, f) for section, (cls, _) in SETTINGS.items() for f in fields(cls)]
# Texts each text setting refuses, besides what every text setting refuses (a number, a control
# character, a very long text): a setting added with a test of its own adds its examples here.
BAD_TEXTS = {
    "api.hosts": ["", "a b", "host name.example", "-bad.example", "attacker.example/path", "x" * 300],
    "warehouse.engine": ["sqlite", "DuckDB", ""],
    "warehouse.path": ["", ".", "..", "/", "tables/"],
    "warehouse.memory_limit": ["1KB", "63MB", "60MiB", "lots", "80%", "1e9", "-1", "16G", "1 iB", "99999999999999GB"],
    "warehouse.ingest_memory_limit": ["", "1KB", "10 MB", "1GiBs"],
    "warehouse.temp_directory": [".", "..", "spill/"],
    "warehouse.parquet_path": ["", ".", "tables/"],
    "warehouse.spark_master": ["", "local [*]"],
    "warehouse.spark_memory": ["", "4", "100m", "4gb", "4 g", "-4g"],
    "warehouse.spark_conf": ["", "spark.x", "spark.x=", "sql.codegen=false", "spark x=1", " spark.x=1"],
    "reports.currency": ["", "eur", "EURO", "€"],
    "messaging.attribute_to": ["delivered", "Clicked", ""],
    "messaging.paused": ["", "   "],
    "messaging.order_kinds": ["order", "Sale", ""],
    "crm.default_country": ["XX", "", "fr ", "FRA"],
    "crm.id_prefix": ["crm: ", "x" * 65],
    "activation.webhook_url": ["ftp://x", "https://u:p@hooks.example.com/", "https:///x", "hooks.example.com"],
    "activation.allow_networks": ["office", "10.0.0.1/8", "10.0.0.0/33", ""],
    "channels.direct": ["", " "],
    "channels.default": ["", " "],
    "funnel.stages": ["", " "],
}
NOT_TEXTS = st.one_of(st.integers(), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def bad_values(section: str, f) -> st.SearchStrategy:
    """Values a declared setting must refuse: of another type, or out of what it takes."""
    takes, kind = f.metadata["takes"], type(f.default)
    if kind is bool:
        return st.one_of(st.integers(), st.floats(), st.text(), st.lists(st.booleans(), max_size=2))
    if kind in (int, float):
        below = takes.low if takes.above else math.ceil(takes.low) - 1
        out = st.one_of(st.integers(max_value=int(below)), st.integers(min_value=int(takes.high) + 1),
                        st.floats(max_value=below, allow_nan=False), st.floats(min_value=takes.high,
                                                                               exclude_min=True),
                        st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)]))
        wrong = st.one_of(st.text(), st.booleans(), st.lists(st.integers(), max_size=2), st.dictionaries(
            st.text(max_size=3), st.integers(), max_size=2))
        if kind is int:
            wrong = st.one_of(wrong, st.floats(min_value=takes.low, max_value=takes.high).filter(
                lambda v: not v.is_integer()))
        return st.one_of(out, wrong)
    texts = st.one_of(st.sampled_from(BAD_TEXTS.get(f"{section}.{f.name}", ["\x00"])),
                      st.text(min_size=1).map(lambda t: t + "\x07"), st.just("x" * 5000))
    if kind is tuple:
        return st.one_of(st.integers(), st.dictionaries(st.text(max_size=3), st.text(), max_size=2),
                         st.lists(NOT_TEXTS, min_size=1, max_size=3), texts.map(lambda t: [t]))
    return st.one_of(NOT_TEXTS, texts)


def test_every_text_setting_with_a_test_of_its_own_has_bad_examples():
    tested = {f"{s}.{f.name}" for s, f in DECLARED if f.metadata["takes"].test or f.metadata["takes"].fault}
    assert tested == set(BAD_TEXTS)


def test_every_number_setting_is_bounded():
    for section, f in DECLARED:
        takes = f.metadata["takes"]
        if type(f.default) in (int, float):
            assert math.isfinite(takes.low) and math.isfinite(takes.high), f"{section}.{f.name}"
            if f.name.endswith("_days"):
                assert takes.high <= 36_600, f.name


@given(st.data())
@settings(max_examples=600, deadline=None)
def test_every_setting_refuses_a_wrong_type_or_value_naming_itself(data):
    """Issue 20: each declared setting, each wrong value: one ConfigError naming that setting."""
    section, f = data.draw(st.sampled_from(DECLARED))
    value = data.draw(bad_values(section, f))
    with pytest.raises(ConfigError) as exc:
        parse_config({section: {f.name: value}}, "parcours.toml")
    assert exc.value.field is not None and re.fullmatch(rf"{section}\.{f.name}(\[\d+\])?", exc.value.field)
    assert exc.value.file == "parcours.toml" and "\n" not in str(exc.value)


ANY = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                   | st.dates(), lambda inner: st.lists(inner, max_size=3)
                   | st.dictionaries(st.text(max_size=8) | st.sampled_from(["when", "channel", "name", "stage",
                                                                             "url_matches", "all", "touched"]),
                                     inner, max_size=3), max_leaves=8)
KEYS = sorted({*(f.name for _, f in DECLARED), "rules", "names", "tokens", "stages", "paid", "when", "x"})


@given(st.sampled_from(SECTIONS), st.one_of(ANY, st.dictionaries(st.sampled_from(KEYS), ANY, max_size=2)))
@settings(max_examples=400, deadline=None)
def test_any_value_in_any_section_is_a_config_or_a_config_error(section, value):
    """Whatever a section holds, reading it never raises anything but a ConfigError, naming it."""
    try:
        parse_config({section: value}, "parcours.toml")
    except ConfigError as exc:
        refused = exc
    else:
        return
    assert refused.field is None or refused.field.startswith(section), (refused.field, section)
    assert "\n" not in str(refused)


def test_the_defaults_file_says_each_setting_as_its_dataclass_does():
    """The defaults are written twice, in the dataclasses and in defaults/parcours.toml (which
    `parcours init` copies for people to edit): each section of the one says the other."""
    shipped = tomllib.loads(default_config_text())
    for section, (cls, apart) in SETTINGS.items():
        written = {key: value for key, value in shipped[section].items() if key not in apart}
        assert list(written) == [f.name for f in fields(cls)], section
        assert parse_config({section: written}) == parse_config({}), section
        assert getattr(parse_config({}), section, None) in (None, cls()), section
    assert set(shipped) == set(SECTIONS) - {"media_plans", "audiences"}  # commented out: none by default


@given(st.from_regex(r"\d{1,4}(\.\d{1,2})? ?[KMGT]i?B", fullmatch=True))
@settings(max_examples=60, deadline=None)
def test_a_memory_size_the_config_takes_is_one_duckdb_takes(size):
    from parcours.engine.warehouse import _bytes

    expected = memory_bytes(size)
    if expected is None or not MIN_MEMORY <= expected <= MAX_MEMORY:
        return
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{size}'")
        said = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    tenth = _bytes(f"0.1 {said.split()[-1]}") if " " in said else 1  # DuckDB says it to one decimal: "1.8 GiB"
    assert abs(_bytes(said) - expected) <= tenth + 1, said


@pytest.mark.parametrize("pattern", [r"(?<=shop)cart", r"(a)\1", r"cart\Z", "a++", "(?=a)", "a{1001}", "(", "[z-a]"])
def test_a_regex_duckdb_refuses_is_refused_naming_the_rule(pattern):
    rules = {"rules": [{"channel": "x", "when": {"referrer_matches": "x"}},
                       {"channel": "y", "when": {"url_matches": pattern}}]}
    with pytest.raises(ConfigError, match=r"field channels\.rules\[1\]\.url_matches: bad regex") as exc:
        parse_config({"channels": rules}, "parcours.toml")
    assert "\n" not in str(exc.value)


def test_a_regex_duckdb_takes_is_taken_though_python_would_not():
    rules = {"rules": [{"channel": "x", "when": {"url_matches": r"\pL+/cart"}}]}
    assert parse_config({"channels": rules}).channel_rules[0].when[0].value == r"\pL+/cart"


@pytest.mark.parametrize(("data", "field", "reason"), [
    ({"funnel": {"stages": ["a", "b", "a"]}}, "funnel.stages[2]", "'a' is listed twice"),
    ({"funnel": {"stages": ["a"], "rules": [{"stage": "b"}]}}, "funnel.rules[0].stage",
     "stage 'b' is not one of funnel.stages (a)"),
    ({"channel_groups": {"paid": ["display"], "owned": ["email", "display"]}}, "channel_groups.owned",
     "'display' is in group 'paid' already"),
    ({"channels": {"rules": [{"channel": "", "when": {}}]}}, "channels.rules[0].channel", "expected a name"),
    ({"channels": {"colour": "red"}}, "channels.colour", "unknown setting; known: direct, default, names, rules"),
    ({"api": {"tokens": [{"token": "a long token with spaces"}]}}, "api.tokens[0]", "a token is a text of 16"),
])
def test_what_sections_hold_together_is_checked(data, field, reason):
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "parcours.toml")
    assert exc.value.field == field and exc.value.reason.startswith(reason), str(exc.value)


def test_a_section_written_without_a_setting_has_its_default(tmp_path):
    (tmp_path / "parcours.toml").write_text("[funnel]\nrules = [{ stage = 'intent', when = { channel = 'email' } }]\n"
                                            "[warehouse]\nthreads = 2\n")
    cfg = load_config(tmp_path)
    assert cfg.funnel_stages == FunnelSettings().stages and cfg.warehouse.memory_limit == ""
