"""Workspace configuration: `parcours.toml` (or `.yaml`) merged over the shipped defaults.

Rules (channel classification, sub-channels, media plans, funnel stages) share one shape:
`when` conditions that all must hold, and outputs. They are checked here, once, so the
engine can compile them to expressions without second-guessing them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from parcours.conditions import Audience, audience, check
from parcours.errors import ConfigError, InvalidInput
from parcours.identifiers import known_country

CONFIG_NAMES = ("parcours.toml", "parcours.yaml", "parcours.yml")
RULE_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm", "referrer", "referrer_host",
               "url", "interaction", "device", "channel", "source", "campaign")


def default_config_text() -> str:
    return resources.files("parcours").joinpath("defaults/parcours.toml").read_text("utf-8")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # "in" (case-insensitive equality), "matches" (regex search), "present"
    value: Any


@dataclass(frozen=True)
class Rule:
    when: tuple[Condition, ...]
    outputs: dict[str, str]


@dataclass(frozen=True)
class JourneyRules:
    lookback_days: int = 30
    post_view_days: float = 1.0
    report_lag_days: int = 2


@dataclass(frozen=True)
class ReportSettings:
    low_volume: int = 30  # rows (and results) with fewer conversions carry a warning
    engagement_medium: float = 5.0  # journey engagement score from which involvement is medium
    engagement_high: float = 20.0  # ... and high
    summary_tolerance: float = 0.05  # reports' totals vs the real-time summary
    currency: str = "EUR"  # ISO 4217 code of revenue and costs, shown in tables, exports and charts


ATTRIBUTE_TO = ("clicked", "opened")  # the acts on a message that can earn its orders


@dataclass(frozen=True)
class MessagingSettings:
    attribution_window_days: float = 5.0  # an order goes to the last message acted on this close before it
    attribute_to: str = "clicked"  # the act that earns it: "clicked", or "opened" (by a person)
    paused: tuple[str, ...] = ()  # journeys whose status is paused (the others are active)
    lift_window_days: int = 14  # the true lift counts an entrant's orders from entry day to this many days on


@dataclass(frozen=True)
class CrmSettings:
    default_country: str = "FR"  # a phone without its international prefix is of this country (ISO 3166)
    keep_plain: bool = False  # store plain (normalised) emails and phones beside their hashes
    id_prefix: str = "crm:"  # a CRM customer's id in the identity graph ("" when they are the site's user ids)


@dataclass(frozen=True)
class ActivationSettings:
    webhook_url: str = ""  # receives each audience's joined/left persons after every build ("": none)
    batch_size: int = 1000  # persons per POST
    retries: int = 3  # attempts per batch and run, with back-off; what still fails is sent at the next run
    backoff_s: float = 1.0  # the first wait; it doubles after each failed attempt
    timeout_s: float = 10.0  # bounds each attempt as a whole: connecting, sending, reading the answer
    allow_networks: tuple[str, ...] = ()  # networks of receivers allowed though not public (CIDR): "127.0.0.0/8"


@dataclass(frozen=True)
class PrivacySettings:
    retention_days: int = 0  # raw rows older than this are dropped at each build (0: kept)
    count_without_consent: bool = True  # touchpoints with consent = false still count in aggregate reports


@dataclass(frozen=True)
class PredictSettings:
    enabled: bool = True  # after every build: fit the propensity model, score persons, recommend channels
    horizon_days: int = 7  # propensity: the probability to convert within this many days of the cut
    history_days: int = 90  # features read this many days before each cut-off
    half_life_days: float = 7.0  # decayed exposure: a touch's weight halves every this many days
    training_cutoffs: int = 4  # earlier cut-offs the model learns from, a horizon apart
    max_training_rows: int = 400_000  # rows sampled from the training cut-offs beyond this
    min_conversions: int = 30  # fewer conversions to learn from: no model (said, not an error)


@dataclass(frozen=True)
class Token:
    token: str
    scopes: tuple[str, ...]  # read, write


SCOPES = ("read", "write")


@dataclass(frozen=True)
class WarehouseSettings:
    engine: str = "duckdb"  # or "spark"
    path: str = "parcours.duckdb"
    memory_limit: str = ""
    ingest_memory_limit: str = "1GB"
    temp_directory: str = ""
    threads: int = 0
    parquet_path: str = "tables"  # Spark: the Parquet tables' folder
    spark_master: str = "local[*]"
    spark_memory: str = "4g"  # the driver's memory (all of it, with a local master)
    spark_partitions: int = 0  # shuffle partitions; 0 = 4 per core


ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class Config:
    warehouse: WarehouseSettings
    journeys: JourneyRules
    direct_channels: tuple[str, ...]
    default_channel: str
    channel_rules: tuple[Rule, ...]
    sub_channel_rules: tuple[Rule, ...]  # outputs: channel, name
    channel_groups: dict[str, str]  # channel -> group
    media_plan_rules: tuple[Rule, ...]
    funnel_stages: tuple[str, ...]
    channel_names: dict[str, tuple[str, str]]  # [channels] names: channel -> (English, French)
    funnel_rules: tuple[Rule, ...]
    reports: ReportSettings = field(default_factory=ReportSettings)
    messaging: MessagingSettings = field(default_factory=MessagingSettings)
    crm: CrmSettings = field(default_factory=CrmSettings)
    activation: ActivationSettings = field(default_factory=ActivationSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    predict: PredictSettings = field(default_factory=PredictSettings)
    audiences: tuple[Audience, ...] = ()  # [[audiences]]: defined in the config (read-only elsewhere)
    tokens: tuple[Token, ...] = ()  # [[api.tokens]]: who may call the HTTP API
    max_body_mb: float = 20.0  # [api] max_body_mb: a larger POST body is refused (413)
    source: str = "defaults"
    raw: dict = field(default_factory=dict, repr=False, compare=False)


def load_config(workspace: Path) -> Config:
    """Read the workspace's config file, if any, over the defaults."""
    data = tomllib.loads(default_config_text())
    source = "defaults"
    for name in CONFIG_NAMES:
        path = workspace / name
        if path.exists():
            data.update(_read(path))
            source = str(path)
            break
    return parse_config(data, source)


def _read(path: Path) -> dict:
    try:
        if path.suffix == ".toml":
            loaded = tomllib.loads(path.read_text("utf-8"))
        else:
            loaded = yaml.safe_load(path.read_text("utf-8")) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot parse: {exc}", file=str(path)) from None
    if not isinstance(loaded, dict):
        raise ConfigError("expected a table of settings at the top level", file=str(path))
    return loaded


def parse_config(data: dict, source: str = "defaults") -> Config:
    known = {"warehouse", "journeys", "channels", "sub_channels", "channel_groups",
             "media_plans", "funnel", "reports", "api", "messaging", "crm", "audiences", "activation", "privacy",
             "predict"}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown section {key!r}; known: {', '.join(sorted(known))}",
                              file=source)
    wh = _settings(WarehouseSettings, data.get("warehouse", {}), "warehouse", source)
    if wh.engine not in ENGINES:
        raise ConfigError(f"unknown engine {wh.engine!r}; known: {', '.join(ENGINES)}",
                          file=source, field="warehouse.engine")
    jr = _settings(JourneyRules, data.get("journeys", {}), "journeys", source)
    rp = _settings(ReportSettings, data.get("reports", {}), "reports", source)
    if not 0 <= rp.engagement_medium <= rp.engagement_high:
        raise ConfigError("expected 0 <= engagement_medium <= engagement_high", file=source,
                          field="reports.engagement_medium")
    if not re.fullmatch(r"[A-Z]{3}", rp.currency):
        raise ConfigError(f"currency must be an ISO 4217 code such as EUR or USD, not {rp.currency!r}",
                          file=source, field="reports.currency")
    ms = _messaging(data.get("messaging", {}), source)
    crm = _settings(CrmSettings, data.get("crm", {}), "crm", source)
    if not known_country(crm.default_country):
        raise ConfigError(f"not a country code (ISO 3166 alpha-2, e.g. FR): {crm.default_country!r}",
                          file=source, field="crm.default_country")
    ch = data.get("channels", {})
    funnel = data.get("funnel", {})
    stages = tuple(_strings(funnel.get("stages", []), "funnel.stages", source))
    groups: dict[str, str] = {}
    for group, members in data.get("channel_groups", {}).items():
        for channel in _strings(members, f"channel_groups.{group}", source):
            groups[channel] = group
    return Config(
        warehouse=wh,
        journeys=jr,
        direct_channels=tuple(_strings(ch.get("direct", ["direct"]), "channels.direct", source)),
        default_channel=str(ch.get("default", "direct")),
        channel_rules=_rules(ch.get("rules", []), "channels.rules", ("channel",),
                             ("channel", "source", "campaign"), source),
        sub_channel_rules=_rules(data.get("sub_channels", []), "sub_channels",
                                 ("channel", "name"), ("channel", "name"), source),
        channel_groups=groups,
        channel_names=_names(ch.get("names", {}), source),
        media_plan_rules=_rules(data.get("media_plans", []), "media_plans", ("name",),
                                ("name",), source),
        funnel_stages=stages,
        funnel_rules=_rules(funnel.get("rules", []), "funnel.rules", ("stage",), ("stage",),
                            source),
        reports=rp,
        messaging=ms,
        crm=crm,
        activation=_activation(data.get("activation", {}), source),
        privacy=_settings(PrivacySettings, data.get("privacy", {}), "privacy", source),
        predict=_settings(PredictSettings, data.get("predict", {}), "predict", source),
        audiences=_audiences(data.get("audiences", []), stages, source),
        tokens=_tokens(data.get("api", {}), source),
        max_body_mb=_max_body(data.get("api", {}), source),
        source=source,
        raw=data,
    )


def _messaging(section: Any, source: str) -> MessagingSettings:
    """`[messaging]`: its scalar settings as any section's, `paused` a list of journeys."""
    if not isinstance(section, dict):
        raise ConfigError("expected a table of settings", file=source, field="messaging")
    values = dict(section)
    paused = tuple(_strings(values.pop("paused", []), "messaging.paused", source))
    return dataclasses.replace(_settings(MessagingSettings, values, "messaging", source), paused=paused)


def _activation(section: Any, source: str) -> ActivationSettings:
    """`[activation]`: its scalar settings as any section's, `allow_networks` a list of networks,
    and a webhook URL checked before anything is sent to it (docs/architecture.md, "Activation")."""
    if not isinstance(section, dict):
        raise ConfigError("expected a table of settings", file=source, field="activation")
    values = dict(section)
    allowed = _strings(values.pop("allow_networks", []), "activation.allow_networks", source)
    settings = _settings(ActivationSettings, values, "activation", source)
    wrong = _webhook_url_fault(settings.webhook_url)
    if wrong:
        raise ConfigError(wrong, file=source, field="activation.webhook_url")
    return dataclasses.replace(settings, allow_networks=tuple(
        _network(n, f"activation.allow_networks[{i}]", source) for i, n in enumerate(allowed)))


def _webhook_url_fault(url: str) -> str:
    """What is wrong with a webhook URL ("" when nothing is, or none is set): http or https to
    a host, without credentials (they would sit in the config; the receiver gets no login)."""
    if not url:
        return ""
    try:
        parts = urllib.parse.urlsplit(url)
        host, _ = parts.hostname, parts.port  # a port out of range or not a number raises
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.username is not None or parts.password is not None:  # before the URL is ever quoted
        return "credentials in the URL (user:password@) are refused"
    if not re.fullmatch(r"https?://\S+", url):
        return f"expected an http:// or https:// URL, not {url!r}"
    return "" if host else "no host in the URL"


def _network(value: str, where: str, source: str) -> str:
    """A network of `allow_networks`, written as ipaddress writes it ("127.0.0.1" is 127.0.0.1/32)."""
    try:
        return str(ipaddress.ip_network(value))
    except ValueError as exc:
        raise ConfigError(f'expected a network such as "10.0.0.0/8", or an address, not {value!r} ({exc})',
                          file=source, field=where) from None


def _audiences(section: Any, stages: tuple[str, ...], source: str) -> tuple[Audience, ...]:
    """`[[audiences]]`: name, description, when (the condition grammar of conditions.py)."""
    if not isinstance(section, list):
        raise ConfigError("expected [[audiences]] tables", file=source, field="audiences")
    out: list[Audience] = []
    for i, raw in enumerate(section):
        try:
            a = audience(raw, f"audiences[{i}]", "config")
            check(a.when, stages, f"audiences[{i}].when")
        except InvalidInput as exc:
            raise ConfigError(exc.reason, file=source, field=exc.field) from None
        if any(a.name == b.name for b in out):
            raise ConfigError(f"a second audience named {a.name!r}", file=source, field=f"audiences[{i}].name")
        out.append(a)
    return tuple(out)


def _names(names: Any, source: str) -> dict[str, tuple[str, str]]:
    """`[channels] names`: a channel's display name, one for both languages or { en, fr }."""
    if not isinstance(names, dict):
        raise ConfigError('names is a table: { paid_search = "Paid search" }', file=source, field="channels.names")
    out = {}
    for channel, name in names.items():
        at = f"channels.names.{channel}"
        if isinstance(name, str) and name.strip():
            out[channel] = (name, name)
        elif isinstance(name, dict) and set(name) == {"en", "fr"} and all(
                isinstance(v, str) and v.strip() for v in name.values()):
            out[channel] = (name["en"], name["fr"])
        else:
            raise ConfigError('a name is a text, or { en = "...", fr = "..." }', file=source, field=at)
    return out


def _max_body(api: Any, source: str) -> float:
    value = api.get("max_body_mb", 20.0) if isinstance(api, dict) else 20.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1024:
        raise ConfigError(f"expected a size in MB, 0 < size <= 1024, not {value!r}", file=source,
                          field="api.max_body_mb")
    return float(value)


def _tokens(api: dict, source: str) -> tuple[Token, ...]:
    if not isinstance(api, dict) or set(api) - {"tokens", "max_body_mb"}:
        raise ConfigError("[api] takes tokens = [{ token = \"...\", scopes = [\"read\"] }] and max_body_mb",
                          file=source, field="api")
    out = []
    for i, item in enumerate(api.get("tokens", [])):
        at = f"api.tokens[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("token"), str) or len(item["token"]) < 16:
            raise ConfigError("a token is a string of at least 16 characters", file=source, field=at)
        scopes = tuple(_strings(item.get("scopes", ["read"]), f"{at}.scopes", source))
        bad = [x for x in scopes if x not in SCOPES]
        if bad or set(item) - {"token", "scopes"}:
            raise ConfigError(f"scopes are {', '.join(SCOPES)}; keys are token and scopes", file=source, field=at)
        out.append(Token(item["token"], scopes))
    return tuple(out)


# settings of earlier versions, and what replaced them: a workspace written then says so
REMOVED = {"reports.audience_attribute": "removed: filter reports by a saved audience (`audiences`), or by a "
                                         "CRM attribute with `crm` (e.g. segment=premium); delete this line"}


def _settings(cls, values: dict, section: str, source: str):
    names = cls.__dataclass_fields__
    for key in values:
        if f"{section}.{key}" in REMOVED:
            raise ConfigError(REMOVED[f"{section}.{key}"], file=source, field=f"{section}.{key}")
        if key not in names:
            raise ConfigError(f"unknown setting; known: {', '.join(names)}", file=source,
                              field=f"{section}.{key}")
    defaults, out = cls(), {}
    for key, value in values.items():
        kind = type(getattr(defaults, key))
        if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)
                                     or (kind is int and not float(value).is_integer())):
            expected = "a whole number" if kind is int else "a number"
            raise ConfigError(f"expected {expected}, not {value!r}", file=source, field=f"{section}.{key}")
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f"expected true or false, not {value!r}", file=source, field=f"{section}.{key}")
        if kind is str and not isinstance(value, str):
            raise ConfigError(f"expected a text, not {value!r}", file=source, field=f"{section}.{key}")
        out[key] = kind(value)
    settings = cls(**out)
    for key in out:
        check = CHECKS.get(key)
        if check and not check[0](getattr(settings, key)):
            raise ConfigError(f"expected {check[1]}, not {getattr(settings, key)!r}", file=source,
                              field=f"{section}.{key}")
    return settings


_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
# Settings whose type is not the whole story: key -> (test, what is expected).
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "memory_limit": (lambda v: v == "" or bool(_SIZE.fullmatch(v)), 'a size such as "16GB", or "" for the default'),
    "ingest_memory_limit": (lambda v: bool(_SIZE.fullmatch(v)), 'a size such as "1GB"'),
    "threads": (lambda v: v >= 0, "a number of threads >= 0 (0: every core)"),
    "spark_partitions": (lambda v: v >= 0, "a number of partitions >= 0 (0: 4 per core)"),
    "spark_memory": (lambda v: bool(re.fullmatch(r"\d+[kmgt]?", v, re.IGNORECASE)), 'a JVM size such as "4g"'),
    "lookback_days": (lambda v: v > 0, "a number of days > 0"),
    "retention_days": (lambda v: 0 <= v <= 36_600, "a number of days >= 0 (0: keep everything)"),
    "batch_size": (lambda v: 1 <= v <= 100_000, "a number of persons from 1 to 100,000"),
    "retries": (lambda v: 1 <= v <= 10, "a number of attempts from 1 to 10"),
    "backoff_s": (lambda v: 0 <= v <= 60, "a number of seconds from 0 to 60"),
    "timeout_s": (lambda v: 0 < v <= 300, "a number of seconds, 0 to 300"),
    "post_view_days": (lambda v: v >= 0, "a number of days >= 0"),
    "report_lag_days": (lambda v: v >= 0, "a number of days >= 0"),
    "low_volume": (lambda v: v >= 0, "a number of conversions >= 0"),
    "attribution_window_days": (lambda v: v > 0, "a number of days > 0"),
    "horizon_days": (lambda v: 1 <= v <= 365, "a number of days from 1 to 365"),
    "history_days": (lambda v: 1 <= v <= 3660, "a number of days from 1 to 3660"),
    "half_life_days": (lambda v: v > 0, "a number of days > 0"),
    "training_cutoffs": (lambda v: 1 <= v <= 52, "a number of cut-offs from 1 to 52"),
    "max_training_rows": (lambda v: v >= 1000, "a number of rows >= 1000"),
    "min_conversions": (lambda v: v >= 1, "a number of conversions >= 1"),
    "lift_window_days": (lambda v: v > 0, "a number of days > 0"),
    "attribute_to": (lambda v: v in ATTRIBUTE_TO, " or ".join(f'"{a}"' for a in ATTRIBUTE_TO)),
}


def _strings(value: Any, where: str, source: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("expected a string or a list of strings", file=source, field=where)
    return value


def _rules(items: list, where: str, required: tuple[str, ...], allowed: tuple[str, ...],
           source: str) -> tuple[Rule, ...]:
    if not isinstance(items, list):
        raise ConfigError("expected a list of rules", file=source, field=where)
    rules = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError("expected a table", file=source, field=at)
        outputs = {k: v for k, v in item.items() if k != "when"}
        for key in required:
            if key not in outputs:
                raise ConfigError(f"missing {key!r}", file=source, field=at)
        for key, value in outputs.items():
            if key not in allowed or not isinstance(value, str):
                raise ConfigError(f"{key!r} is not a string output of this rule "
                                  f"(allowed: {', '.join(allowed)})", file=source, field=at)
            ref = template_field(value)
            if ref is not None and ref not in RULE_FIELDS:
                raise ConfigError(f"{value!r} names an unknown field", file=source, field=at)
        rules.append(Rule(tuple(_conditions(item.get("when", {}), at, source)), outputs))
    return tuple(rules)


def _conditions(when: dict, at: str, source: str):
    if not isinstance(when, dict):
        raise ConfigError("'when' must be a table of conditions", file=source, field=at)
    for key, value in when.items():
        for suffix, op in (("_matches", "matches"), ("_present", "present"), ("", "in")):  # noqa: B007 (op: after break)
            if key.endswith(suffix) and key[: len(key) - len(suffix)] in RULE_FIELDS:
                name = key[: len(key) - len(suffix)]
                break
        else:
            raise ConfigError(f"unknown condition {key!r}; fields: {', '.join(RULE_FIELDS)}",
                              file=source, field=at)
        if op == "matches":
            try:
                re.compile(value)
            except (re.error, TypeError) as exc:
                raise ConfigError(f"bad regex {value!r}: {exc}", file=source, field=at) from None
        elif op == "present":
            if not isinstance(value, bool):
                raise ConfigError(f"{key} takes true or false", file=source, field=at)
        else:
            value = tuple(v.lower() for v in _strings(value, f"{at}.{key}", source))
        yield Condition(name, op, value)


def template_field(value: str) -> str | None:
    """`"{utm_source}"` names a field; anything else is a literal."""
    m = re.fullmatch(r"\{(\w+)\}", value)
    return m.group(1) if m else None

