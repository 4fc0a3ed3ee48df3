"""Workspace configuration: `parcours.toml` (or `.yaml`) merged over the shipped defaults.

Every setting is declared once, on its section's dataclass: its default (whose type is the
setting's) and what it takes besides (`Takes`: a range for a number, a test for a text).
`_value` checks each against that when the file is read, so a bad value is one `ConfigError`
naming the file and the `section.key`, never an engine's failure later: a number the code
cannot hold (a lag of a million days, a million threads), a size DuckDB cannot run within, a
regex its RE2 refuses. `tests/test_config.py` tries wrong types and values on every declared
setting, and checks that `defaults/parcours.toml` says each dataclass default.

Rules (channel classification, sub-channels, media plans, funnel stages) share one shape:
`when` conditions that all must hold, and outputs. They are checked here, once, so the
engine can compile them to expressions without second-guessing them.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import math
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from parcours.contract.conditions import Audience, audience, check
from parcours.contract.identifiers import is_token, known_country
from parcours.contract.schema import KINDS
from parcours.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    import duckdb

CONFIG_NAMES = ("parcours.toml", "parcours.yaml", "parcours.yml")
RULE_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm", "referrer", "referrer_host",
               "url", "interaction", "device", "channel", "source", "campaign")
MAX_DAYS = 3660  # ten years: no window, lag or history is longer (and dates that far off stay computable)
MAX_THREADS = 64  # more only starves the machine: DuckDB starts every thread it is given
MIN_MEMORY = 64_000_000  # bytes ("64MB"): DuckDB cannot build within less
MAX_MEMORY = 10**15  # bytes ("1000TB"): DuckDB refuses sizes far beyond
MAX_TEXT = 2048  # characters of a text setting
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # no setting holds one (a NUL byte, a line break)


def default_config_text() -> str:
    return resources.files("parcours").joinpath("defaults/parcours.toml").read_text("utf-8")


@dataclass(frozen=True)
class Takes:
    """What a setting takes besides its type: a number from `low` (more than `low`, when
    `above`) to `high`; a text, or each text of a list, that `test` accepts. `expect` says it
    in the error; `fault`, when given, says itself what is wrong with a text ("": nothing)."""

    expect: str
    low: float = -math.inf
    high: float = math.inf
    above: bool = False
    test: Callable[[str], bool] | None = None
    fault: Callable[[str], str] | None = None


def _setting(default: Any, expect: str, **takes: Any) -> Any:
    """A setting of a section's dataclass: its default, and what it takes."""
    return field(default=default, metadata={"takes": Takes(expect, **takes)})


def _number(default: float, unit: str, low: float, high: float, above: bool = False) -> Any:
    """A number of `unit` from `low` (or more than `low`, when `above`) to `high`."""
    bounds = f"more than {low:,} and at most {high:,}" if above else f"from {low:,} to {high:,}"
    return _setting(default, f"a number of {unit} {bounds}", low=low, high=high, above=above)


def _days(default: float, low: float, high: float = MAX_DAYS, above: bool = False) -> Any:
    return _number(default, "days", low, high, above)


def memory_bytes(size: str) -> int | None:
    """DuckDB's size text ("16GB", "1.5 GiB", "512MB": KB..TB count 1000s, KiB..TiB 1024s) in
    bytes; None when it is not one."""
    m = re.fullmatch(r"(\d{1,15}(?:\.\d{1,6})?) ?([KMGT]?)(i?)B", size, re.IGNORECASE | re.ASCII)  # ASCII: no "٣", "K"
    if not m or (m.group(3) and not m.group(2)):  # "iB" is no unit
        return None
    return int(float(m.group(1)) * (1024 if m.group(3) else 1000) ** " KMGT".index(m.group(2).upper() or " "))


def _memory(size: str) -> bool:
    """A size DuckDB runs within: 64MB at least."""
    n = memory_bytes(size)
    return n is not None and MIN_MEMORY <= n <= MAX_MEMORY


JVM_UNITS = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024**2}  # in MiB (no unit: MiB, as Spark reads it)


def _jvm_memory(size: str) -> bool:
    """A JVM size ("4g", "512m") of 512 MiB at least: a Spark driver needs that much to start."""
    m = re.fullmatch(r"(\d{1,12})([kmgt]?)", size, re.IGNORECASE | re.ASCII)
    if not m:
        return False
    return 512 <= int(m.group(1)) * JVM_UNITS[m.group(2).lower()] <= 1024**3


def _file_name(path: str) -> bool:
    """A file or folder name, relative to the workspace or absolute; not the workspace itself."""
    return path.strip() not in ("", ".", "..") and not path.endswith(("/", "\\"))


def _name(text: str) -> bool:
    return bool(text.strip())


def _host(text: str) -> bool:
    """A host name (letters, digits, hyphens, dotted) or an IP address, as a Host header names it."""
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return bool(re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                                 r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", text))


def _network(text: str) -> bool:
    try:
        ipaddress.ip_network(text)
    except ValueError:
        return False
    return True


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
    lookback_days: int = _days(30, 1)
    post_view_days: float = _days(1.0, 0)
    report_lag_days: int = _days(2, 0)


CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class ReportSettings:
    # rows (and results) with fewer conversions carry a warning
    low_volume: int = _number(30, "conversions", 0, 10**9)
    # journey engagement score from which involvement is medium, and high
    engagement_medium: float = _number(5.0, "points of engagement", 0, 10**9)
    engagement_high: float = _number(20.0, "points of engagement", 0, 10**9)
    # how far the reports' totals may be from the real-time summary
    summary_tolerance: float = _setting(0.05, "a share from 0 to 1 (0.05: 5%)", low=0, high=1)
    # ISO 4217 code of revenue and costs, shown in tables, exports and charts
    currency: str = _setting("EUR", "an ISO 4217 currency code such as EUR or USD",
                             test=lambda v: bool(CURRENCY.fullmatch(v)))


ATTRIBUTE_TO = ("clicked", "opened")  # the acts on a message that can earn its orders


@dataclass(frozen=True)
class MessagingSettings:
    # an order goes to the last message acted on this close before it
    attribution_window_days: float = _days(5.0, 0, above=True)
    # the act that earns it: "clicked", or "opened" (by a person)
    attribute_to: str = _setting("clicked", " or ".join(f'"{a}"' for a in ATTRIBUTE_TO),
                                 test=ATTRIBUTE_TO.__contains__)
    # journeys whose status is paused (the others are active)
    paused: tuple[str, ...] = _setting((), "the name of a journey", test=_name)
    # the true lift counts an entrant's orders from entry day to this many days on
    lift_window_days: int = _days(14, 1)
    # the conversions that are orders, credited to messages and counted by the lift (a lead is none)
    order_kinds: tuple[str, ...] = _setting(("sale",), "a conversion kind: " + ", ".join(KINDS),
                                            test=KINDS.__contains__)


@dataclass(frozen=True)
class CrmSettings:
    # a phone without its international prefix is of this country (ISO 3166)
    default_country: str = _setting("FR", "a country code (ISO 3166 alpha-2, e.g. FR)", test=known_country)
    # store plain (normalised) emails and phones beside their hashes
    keep_plain: bool = _setting(False, "true or false")
    # a CRM customer's id in the identity graph ("" when they are the site's user ids)
    id_prefix: str = _setting("crm:", 'a prefix of ids, without spaces, of at most 64 characters (or "")',
                              test=lambda p: p == "" or (is_token(p) and len(p) <= 64))


@dataclass(frozen=True)
class ActivationSettings:
    # receives each audience's joined/left persons after every build ("": none)
    webhook_url: str = _setting("", "an http:// or https:// URL", fault=_webhook_url_fault)
    batch_size: int = _number(1000, "persons", 1, 100_000)  # persons per POST
    # attempts per batch and run, with back-off; what still fails is sent at the next run
    retries: int = _number(3, "attempts", 1, 10)
    backoff_s: float = _number(1.0, "seconds", 0, 60)  # the first wait; it doubles after each failed attempt
    # bounds each attempt as a whole: connecting, sending, reading the answer
    timeout_s: float = _number(10.0, "seconds", 0, 300, above=True)
    # networks of receivers allowed though not public (CIDR): "127.0.0.0/8"
    allow_networks: tuple[str, ...] = _setting((), 'a network such as "10.0.0.0/8", or an address', test=_network)


@dataclass(frozen=True)
class PrivacySettings:
    # raw rows older than this are dropped at each build (0: kept)
    retention_days: int = _days(0, 0, high=36_600)
    # touchpoints with consent = false still count in aggregate reports
    count_without_consent: bool = _setting(True, "true or false")


@dataclass(frozen=True)
class PredictSettings:
    # after every build: fit the propensity model, score persons, recommend channels
    enabled: bool = _setting(True, "true or false")
    horizon_days: int = _days(7, 1, high=365)  # propensity: the probability to convert within this many days of the cut
    history_days: int = _days(90, 1)  # features read this many days before each cut-off
    half_life_days: float = _days(7.0, 0, above=True)  # decayed exposure: a touch's weight halves every this many days
    training_cutoffs: int = _number(4, "cut-offs", 1, 52)  # earlier cut-offs the model learns from, a horizon apart
    # rows sampled from the training cut-offs beyond this
    max_training_rows: int = _number(400_000, "rows", 1000, 10**9)
    min_conversions: int = _number(30, "conversions", 1, 10**9)  # fewer to learn from: no model (said, not an error)
    # a build fits the model again when the kept one is this many days older than its cut (0: at every build);
    # in between it scores only the persons whose profile changed. `parcours predict fit` fits now.
    refit_every_days: int = _days(7, 0, high=365)


@dataclass(frozen=True)
class Token:
    token: str
    scopes: tuple[str, ...]  # read, write


SCOPES = ("read", "write")
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class WarehouseSettings:
    engine: str = _setting("duckdb", " or ".join(f'"{e}"' for e in ENGINES), test=ENGINES.__contains__)
    path: str = _setting("parcours.duckdb", 'a file name such as "parcours.duckdb"', test=_file_name)
    memory_limit: str = _setting("", 'a size such as "16GB", of 64MB at least, or "" for DuckDB\'s default',
                                 test=lambda v: v == "" or _memory(v))
    ingest_memory_limit: str = _setting("1GB", 'a size such as "1GB", of 64MB at least', test=_memory)
    temp_directory: str = _setting("", 'a folder name, or "" for next to the warehouse file',
                                   test=lambda v: v == "" or _file_name(v))
    threads: int = _setting(0, f"a number of threads from 0 (every core) to {MAX_THREADS}", low=0, high=MAX_THREADS)
    parquet_path: str = _setting("tables", 'a folder name such as "tables"', test=_file_name)  # Spark: the tables
    spark_master: str = _setting("local[*]", 'a Spark master URL such as "local[*]"',
                                 test=lambda v: bool(re.fullmatch(r"\S+", v)))
    # the driver's memory (all of it, with a local master)
    spark_memory: str = _setting("4g", 'a JVM size such as "4g", of 512m at least', test=_jvm_memory)
    # shuffle partitions
    spark_partitions: int = _setting(0, "a number of partitions from 0 (4 per core) to 100,000", low=0, high=100_000)
    # any other Spark setting, as spark-defaults.conf would give it
    spark_conf: tuple[str, ...] = _setting((), 'a Spark setting such as "spark.sql.codegen.wholeStage=false"',
                                           test=lambda v: bool(re.fullmatch(r"spark\.[\w.-]+=\S.*", v)))


@dataclass(frozen=True)
class ChannelSettings:
    """`[channels]` besides its names and rules."""

    direct: tuple[str, ...] = _setting(("direct",), "a channel name", test=_name)  # what "last non-direct" skips
    default: str = _setting("direct", "a channel name", test=_name)  # a touch nothing classifies


@dataclass(frozen=True)
class FunnelSettings:
    """`[funnel]` besides its rules."""

    stages: tuple[str, ...] = _setting(("awareness", "consideration", "intent", "cart"), "a stage name", test=_name)


@dataclass(frozen=True)
class ApiSettings:
    """`[api]` besides its tokens."""

    max_body_mb: float = _number(20.0, "MB", 0, 1024, above=True)  # a larger POST body is refused (413)
    # the names clients reach the server by, besides this machine's (localhost, 127.0.0.1, ::1):
    # a request naming another host is refused, so a page of another site cannot read the API
    # through a name it points at this machine (DNS rebinding)
    hosts: tuple[str, ...] = _setting((), "a host name or address (parcours.example.com, 10.0.0.5)", test=_host)


# Each section of settings: its dataclass, and its keys read apart (tables and lists of their own).
SETTINGS: dict[str, tuple[type, tuple[str, ...]]] = {
    "warehouse": (WarehouseSettings, ()), "journeys": (JourneyRules, ()), "reports": (ReportSettings, ()),
    "messaging": (MessagingSettings, ()), "crm": (CrmSettings, ()), "activation": (ActivationSettings, ()),
    "privacy": (PrivacySettings, ()), "predict": (PredictSettings, ()), "api": (ApiSettings, ("tokens",)),
    "channels": (ChannelSettings, ("names", "rules")), "funnel": (FunnelSettings, ("rules",)),
}
SECTIONS = (*SETTINGS, "sub_channels", "channel_groups", "media_plans", "audiences")


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
    hosts: tuple[str, ...] = ()  # [api] hosts: the names clients reach the server by, besides loopback
    source: str = "defaults"
    raw: dict = field(default_factory=dict, repr=False, compare=False)


def load_config(workspace: Path) -> Config:
    """Read the workspace's config file, if any, over the defaults."""
    data = tomllib.loads(default_config_text())
    source = "defaults"
    for name in CONFIG_NAMES:
        path = workspace / name
        if path.exists() or path.is_symlink():  # a dangling link is a config that cannot be read, said
            data.update(_read(path))
            source = str(path)
            break
    return parse_config(data, source)


def _read(path: Path) -> dict:
    """The file's top-level table; what cannot be read or parsed is one line naming it."""
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start:,} is not)", file=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("a folder, not a file", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", file=str(path)) from None
    try:
        loaded = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot parse: {' '.join(str(exc).split())}", file=str(path)) from None
    except RecursionError:
        raise ConfigError("cannot parse: nested too deeply", file=str(path)) from None
    if loaded is None:  # an empty YAML file
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError("expected a table of settings at the top level", file=str(path))
    _check_keys(loaded, str(path))
    return loaded


def _check_keys(data: dict, source: str) -> None:
    """Every key a text, as in TOML (YAML also has numbers, dates, null, lists as keys). Each
    table or list is seen once, however many YAML aliases name it."""
    todo: list[tuple[Any, str]] = [(data, "")]
    seen: set[int] = set()
    while todo:
        value, at = todo.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, list):
            todo += [(v, f"{at}[{i}]") for i, v in enumerate(value) if isinstance(v, list | dict)]
        elif isinstance(value, dict):
            for key, v in value.items():
                if not isinstance(key, str):
                    raise ConfigError(f"a key is a text, not {_shown(key)}", file=source, field=at or None)
                if isinstance(v, list | dict):
                    todo.append((v, _key(at, key).removeprefix(".")))


def parse_config(data: dict, source: str = "defaults") -> Config:
    """The configuration from its sections as read (`source` names the file in errors): each
    setting checked as declared, then what settings say together (stages and their rules...)."""
    for key in data:
        if key not in SECTIONS:
            raise ConfigError(f"unknown section {key!r}; known: {', '.join(sorted(SECTIONS))}", file=source)
    s, apart = {}, {}
    for name, (cls, keys) in SETTINGS.items():
        s[name], apart[name] = _section(cls, data.get(name, {}), name, keys, source)
    rp = s["reports"]
    if not rp.engagement_medium <= rp.engagement_high:
        raise ConfigError("expected 0 <= engagement_medium <= engagement_high", file=source,
                          field="reports.engagement_medium")
    stages = _stages(s["funnel"].stages, source)
    return Config(
        warehouse=s["warehouse"],
        journeys=s["journeys"],
        direct_channels=s["channels"].direct,
        default_channel=s["channels"].default,
        channel_rules=_rules(apart["channels"].get("rules", []), "channels.rules", ("channel",),
                             ("channel", "source", "campaign"), source),
        sub_channel_rules=_rules(data.get("sub_channels", []), "sub_channels",
                                 ("channel", "name"), ("channel", "name"), source),
        channel_groups=_groups(data.get("channel_groups", {}), source),
        channel_names=_names(apart["channels"].get("names", {}), source),
        media_plan_rules=_rules(data.get("media_plans", []), "media_plans", ("name",),
                                ("name",), source),
        funnel_stages=stages,
        funnel_rules=_funnel_rules(apart["funnel"].get("rules", []), stages, source),
        reports=rp,
        messaging=s["messaging"],
        crm=s["crm"],
        activation=dataclasses.replace(s["activation"], allow_networks=tuple(
            str(ipaddress.ip_network(n)) for n in s["activation"].allow_networks)),  # as ipaddress writes it
        privacy=s["privacy"],
        predict=s["predict"],
        audiences=_audiences(data.get("audiences", []), stages, source),
        tokens=_tokens(apart["api"].get("tokens", []), source),
        max_body_mb=s["api"].max_body_mb,
        hosts=tuple(h.strip("[]").lower() for h in s["api"].hosts),
        source=source,
        raw=data,
    )


# settings of earlier versions, and what replaced them: a workspace written then says so
REMOVED = {"reports.audience_attribute": "removed: filter reports by a saved audience (`audiences`), or by a "
                                         "CRM attribute with `crm` (e.g. segment=premium); delete this line"}


def _section(cls: type, values: Any, section: str, apart: tuple[str, ...], source: str) -> tuple[Any, dict]:
    """A section's settings, each checked as declared, and its keys `apart` as written."""
    if not isinstance(values, dict):
        raise ConfigError("expected a table of settings", file=source, field=section)
    declared = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        where = _key(section, key)
        if where in REMOVED:
            raise ConfigError(REMOVED[where], file=source, field=where)
        if key not in declared and key not in apart:
            raise ConfigError(f"unknown setting; known: {', '.join([*declared, *apart])}", file=source, field=where)
    settings = cls(**{key: _value(declared[key], value, _key(section, key), source)
                      for key, value in values.items() if key in declared})
    return settings, {key: value for key, value in values.items() if key in apart}


def _value(declared: dataclasses.Field, value: Any, where: str, source: str) -> Any:
    """One setting's value, of its default's type and within what it takes (`Takes`)."""
    takes: Takes = declared.metadata["takes"]
    if isinstance(declared.default, tuple):  # a list of texts; one text is a list of one
        items = _strings(value, where, source)
        for i, item in enumerate(items):
            _refuse(_fault(item, str, takes), f"{where}[{i}]", source)
        return tuple(items)
    kind: Any = type(declared.default)
    _refuse(_fault(value, kind, takes), where, source)
    return kind(value)


def _fault(value: Any, kind: type, takes: Takes) -> str:
    """What is wrong with a value for a setting of type `kind` ("" when nothing is)."""
    if kind is bool:
        return "" if isinstance(value, bool) else f"expected true or false, not {_shown(value)}"
    if kind in (int, float):
        finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not finite or (kind is int and not whole):
            return f"expected {'a whole number' if kind is int else 'a number'}, not {_shown(value)}"
        low = value > takes.low if takes.above else value >= takes.low
        return "" if low and value <= takes.high else f"expected {takes.expect}, not {_shown(value)}"
    if not isinstance(value, str):
        return f"expected a text, not {_shown(value)}"
    if len(value) > MAX_TEXT or CONTROL.search(value):  # the value is not repeated: it may be a URL's secret
        return f"expected a text of at most {MAX_TEXT:,} characters, none of them a control character"
    if takes.fault is not None:
        return takes.fault(value)
    return "" if takes.test is None or takes.test(value) else f"expected {takes.expect}, not {_shown(value)}"


def _key(where: str, key: Any) -> str:
    """`where.key`, the key quoted when it is not a plain name (it may hold a line break)."""
    return f"{where}.{key}" if isinstance(key, str) and re.fullmatch(r"[\w-]+", key) else f"{where}.{key!r}"


def _one_line(text: str) -> str:
    """A text an error repeats, its control characters escaped ("\\n")."""
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _refuse(fault: str, where: str, source: str) -> None:
    if fault:
        raise ConfigError(fault, file=source, field=where)


def _shown(value: Any) -> str:
    """A value as an error repeats it: on one line, cut when long."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _stages(stages: tuple[str, ...], source: str) -> tuple[str, ...]:
    for i, stage in enumerate(stages):
        if stage in stages[:i]:
            raise ConfigError(f"{stage!r} is listed twice", file=source, field=f"funnel.stages[{i}]")
    return stages


def _funnel_rules(items: Any, stages: tuple[str, ...], source: str) -> tuple[Rule, ...]:
    """`[[funnel.rules]]`: each gives one of the stages (a touch with another would reach no stage)."""
    rules = _rules(items, "funnel.rules", ("stage",), ("stage",), source)
    for i, rule in enumerate(rules):
        if rule.outputs["stage"] not in stages and template_field(rule.outputs["stage"]) is None:
            raise ConfigError(f"stage {rule.outputs['stage']!r} is not one of funnel.stages ({', '.join(stages)})",
                              file=source, field=f"funnel.rules[{i}].stage")
    return rules


def _groups(section: Any, source: str) -> dict[str, str]:
    """`[channel_groups]`: group = [channels]; a channel is in one group."""
    if not isinstance(section, dict):
        raise ConfigError('expected a table of groups: paid = ["display", "paid_search"]', file=source,
                          field="channel_groups")
    groups: dict[str, str] = {}
    for group, members in section.items():
        where = _key("channel_groups", group)
        _refuse(_fault(group, str, Takes("a group name", test=_name)), where, source)
        for channel in _strings(members, where, source):
            if groups.get(channel, group) != group:
                raise ConfigError(f"{channel!r} is in group {groups[channel]!r} already: a channel is in one group",
                                  file=source, field=where)
            groups[channel] = group
    return groups


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
            raise ConfigError(_one_line(exc.reason), file=source, field=_one_line(exc.field or "")) from None
        if any(a.name == b.name for b in out):
            raise ConfigError(f"a second audience named {a.name!r}", file=source, field=f"audiences[{i}].name")
        out.append(a)
    return tuple(out)


def _names(names: Any, source: str) -> dict[str, tuple[str, str]]:
    """`[channels] names`: a channel's display name, one for both languages or { en, fr }."""
    if not isinstance(names, dict):
        raise ConfigError('names is a table: { paid_search = "Paid search" }', file=source, field="channels.names")

    def shown(text: Any) -> bool:
        return isinstance(text, str) and not _fault(text, str, Takes("a name", test=_name))

    out = {}
    for channel, name in names.items():
        at = _key("channels.names", channel)
        if shown(name):
            out[channel] = (name, name)
        elif isinstance(name, dict) and set(name) == {"en", "fr"} and all(shown(v) for v in name.values()):
            out[channel] = (name["en"], name["fr"])
        else:
            raise ConfigError('a name is a text, or { en = "...", fr = "..." }', file=source, field=at)
    return out


def _tokens(items: Any, source: str) -> tuple[Token, ...]:
    if not isinstance(items, list):
        raise ConfigError('expected a list: tokens = [{ token = "...", scopes = ["read"] }]', file=source,
                          field="api.tokens")
    out = []
    for i, item in enumerate(items):
        at = f"api.tokens[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("token"), str) or len(item["token"]) < 16 \
                or not is_token(item["token"]):
            raise ConfigError("a token is a text of 16 to 256 characters, without spaces", file=source, field=at)
        scopes = tuple(_strings(item.get("scopes", ["read"]), f"{at}.scopes", source))
        bad = [x for x in scopes if x not in SCOPES]
        if bad or set(item) - {"token", "scopes"}:
            raise ConfigError(f"scopes are {', '.join(SCOPES)}; keys are token and scopes", file=source, field=at)
        out.append(Token(item["token"], scopes))
    return tuple(out)


def _strings(value: Any, where: str, source: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("expected a string or a list of strings", file=source, field=where)
    return value


def _rules(items: Any, where: str, required: tuple[str, ...], allowed: tuple[str, ...],
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
            _refuse(_fault(value, str, Takes("a name, or {field}", test=_name)), f"{at}.{key}", source)
            ref = template_field(value)
            if ref is not None and ref not in RULE_FIELDS:
                raise ConfigError(f"{value!r} names an unknown field", file=source, field=at)
        rules.append(Rule(tuple(_conditions(item.get("when", {}), at, source)), outputs))
    return tuple(rules)


def _conditions(when: Any, at: str, source: str) -> Iterator[Condition]:
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
            if not isinstance(value, str) or (fault := _regex_fault(value)):
                reason = fault if isinstance(value, str) else "a regex is a text"
                raise ConfigError(f"bad regex {_shown(value)}: {reason}", file=source, field=f"{at}.{key}")
        elif op == "present":
            if not isinstance(value, bool):
                raise ConfigError(f"{key} takes true or false", file=source, field=at)
        else:
            value = tuple(v.lower() for v in _strings(value, f"{at}.{key}", source))
        yield Condition(name, op, value)


@functools.cache
def _engine() -> duckdb.DuckDBPyConnection:
    import duckdb

    return duckdb.connect()  # each check on its own cursor


@functools.lru_cache(maxsize=4096)
def _regex_fault(pattern: str) -> str:
    """What the engine says against a regex ("" when it takes it): rules run in DuckDB, whose
    RE2 refuses some of what Python's `re` takes (look-behind, back-references, `\\Z`)."""
    if CONTROL.search(pattern) or len(pattern) > MAX_TEXT:
        return f"expected a text of at most {MAX_TEXT:,} characters, none of them a control character"
    import duckdb  # here only: reading a config imports no engine until it holds a regex

    try:  # a literal, not a parameter: duckdb's parameters import pandas (0.3 s for a command's config)
        with _engine().cursor() as con:
            con.execute("SELECT regexp_matches('', '" + pattern.replace("'", "''") + "')")
    except duckdb.Error as exc:
        return " ".join(str(exc).split()).removeprefix("Invalid Input Error: ")
    return ""


def template_field(value: str) -> str | None:
    """`"{utm_source}"` names a field; anything else is a literal."""
    m = re.fullmatch(r"\{(\w+)\}", value)
    return m.group(1) if m else None
