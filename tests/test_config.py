import pytest

from builders import load_rows, rows_of
from parcours.config import MessagingSettings, load_config
from parcours.errors import ConfigError
from parcours.journeys import build_journeys


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
    ("[predict]\nhalf_life_days = -1\n", "field predict.half_life_days: expected a number of days > 0"),
    ("[predict]\nmax_training_rows = 10\n", "field predict.max_training_rows: expected a number of rows >= 1000"),
    ("[predict]\nhorizon = 7\n", "field predict.horizon: unknown setting"),
    # a setting an earlier version wrote says what replaced it
    ("[reports]\naudience_attribute = 'segment'\n", "field reports.audience_attribute: removed: filter reports by"),
    ("[journeys]\nlookback_days = 0\n", "field journeys.lookback_days: expected a number of days > 0, not 0"),
    ("[journeys]\nlookback_days = -3\n", "field journeys.lookback_days: expected a number of days > 0"),
    ("[warehouse]\nmemory_limit = 'lots'\n", "field warehouse.memory_limit: expected a size such as \"16GB\""),
    ("[warehouse]\nthreads = -3\n", "field warehouse.threads: expected a number of threads >= 0"),
    ("[warehouse]\nthreads = 'many'\n", "field warehouse.threads: expected a whole number, not 'many'"),
    ("[warehouse]\nthreads = 1.5\n", "field warehouse.threads: expected a whole number, not 1.5"),
    ("[warehouse]\nengine = 3\n", "field warehouse.engine: expected a text, not 3"),
    ("[reports]\nlow_volume = true\n", "field reports.low_volume: expected a whole number, not True"),
    ("[api]\nmax_body_mb = 0\n", "field api.max_body_mb: expected a size in MB, 0 < size <= 1024, not 0"),
    ("[api]\nmax_body_mb = 'big'\n", "field api.max_body_mb: expected a size in MB"),
    ("[reports]\nengagement_medium = 30\n", "field reports.engagement_medium: expected 0 <= engagement_medium"),
    ("[[channels.rules]]\nchannel = 'x'\nwhen = { utm_colour = 'red' }\n", "unknown condition 'utm_colour'"),
    ("[[channels.rules]]\nchannel = 'x'\nwhen = { referrer_matches = '(' }\n", "bad regex"),
    ("[[channels.rules]]\nsource = 'x'\n", "field channels.rules[0]: missing 'channel'"),
    ("[[channels.rules]]\nchannel = 'x'\nsource = '{nope}'\n", "names an unknown field"),
    ("[journeys\n", "cannot parse"),
    ("[messaging]\nattribution_window_days = 0\n",
     "field messaging.attribution_window_days: expected a number of days > 0, not 0.0"),
    ("[messaging]\nattribute_to = 'delivered'\n",
     "field messaging.attribute_to: expected \"clicked\" or \"opened\", not 'delivered'"),
    ("[messaging]\npaused = 3\n", "field messaging.paused: expected a string or a list of strings"),
    ("[messaging]\nlift_window_days = 0\n", "field messaging.lift_window_days: expected a number of days > 0, not 0"),
    ("[crm]\ndefault_country = 'XX'\n", "field crm.default_country: not a country code (ISO 3166 alpha-2, e.g. FR)"),
    ("[crm]\nkeep_plain = 'yes'\n", "field crm.keep_plain: expected true or false, not 'yes'"),
    ("[crm]\nid_prefix = 3\n", "field crm.id_prefix: expected a text, not 3"),
    ("[activation]\nretries = 0\n", "field activation.retries: expected a number of attempts from 1 to 10"),
    ("[activation]\nbatch_size = 0\n", "field activation.batch_size: expected a number of persons"),
    ("[activation]\ntimeout_s = 0\n", "field activation.timeout_s: expected a number of seconds"),
    ("[activation]\nhook = 'x'\n", "field activation.hook: unknown setting"),
    ("[privacy]\nretention_days = -1\n", "field privacy.retention_days: expected a number of days >= 0"),
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


@pytest.mark.parametrize("text", ["[warehouse\n", "[warehouse]\nthreads = -3\n", "[[channels.rules]]\nchannel = 'x'\n"
                                  "when = { url_matches = '([' }\n"])
def test_every_command_says_a_bad_config_in_one_line_and_exits_2(tmp_path, text):
    from typer.testing import CliRunner

    from parcours.cli import app

    (tmp_path / "parcours.toml").write_text(text)
    for command in (["info"], ["build"], ["report", "assists"], ["attribute", "--model", "linear"]):
        res = CliRunner().invoke(app, [*command, "-w", str(tmp_path)])
        assert res.exit_code == 2, (command, res.output)
        assert res.output.startswith("error: file ") and res.output.count("\n") <= 2, (command, res.output)
        assert "Traceback" not in res.output
