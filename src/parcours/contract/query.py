"""The question every report answers: which conversions, cut how (docs/architecture.md, "Query").

A `Query` is plain data: faces (CLI, API, web) parse their input into one, reports turn it
into engine expressions. User values only ever become literals of those expressions, never
SQL text.

Each field is declared once, here: its type and default (the dataclass field), and in its
metadata a `Spec` with how text becomes a value (`kind`), its labels and help in English
and French, its command-line option, which reports read it (`group`) and the values it
takes. The `parcours report` options, the API's query parameters (so OpenAPI) and the web
filter panel are generated from `SPECS`; CONTRIBUTING.md has the recipe for a new filter.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from parcours.contract.schema import DEVICES, KINDS, ORIGINS
from parcours.errors import DeclarationError, InvalidInput

LEVELS = ("channel", "source", "campaign", "media_plan", "sub_channel", "channel_group", "device")
DRILL = {"channel": "source", "source": "campaign"}  # the level a click on a row goes down to
DEFAULT_DAYS = 30
# of each model, in model comparison
MEASURES = ("conversions", "value", "vs_last_pct", "vs_counterfactual", "cpa", "roas")
# messaging: what a row is, and the metrics a page can put up front (reports.messaging_metrics
# computes them; the labels name them)
MESSAGE_ROWS = ("journey", "step", "channel", "recipient")
HEADLINE_METRICS = ("sends", "deliveries", "delivery_rate", "bounce_rate", "undelivered_rate", "open_rate",
                    "machine_opens", "click_rate", "clicks_per_unique_opens", "unsubscribe_rate", "abuse_rate",
                    "orders", "order_rate", "revenue", "average_order_revenue", "revenue_per_recipient",
                    "incremental_orders", "incremental_revenue")
MAX_VALUES = 100  # per list field: more is no question a person asks (and deep OR trees hurt engines)
Text = tuple[str, str]  # (English, French)
LANGUAGES = ("en", "fr")


def by_language(text: Text) -> dict[str, str]:
    """("Channel", "Levier") -> {"en": "Channel", "fr": "Levier"}, as the API serves texts."""
    return dict(zip(LANGUAGES, text, strict=True))

# Who reads a field: every report (the period), every report on the built journeys (the
# level, the drill-down, the filters), or only the reports that list it in their `options`.
Group = Literal["period", "view", "filter", "option"]
Kind = Literal["date", "int", "float", "bool", "text", "list", "pairs", "crm"]


@dataclass(frozen=True)
class Spec:
    """How one Query field is asked for, parsed, checked and explained, on every face."""

    kind: Kind
    label: Text
    help: Text
    group: Group
    cli: str = ""  # the `parcours report` option; default: --name with dashes
    choices: tuple[str, ...] = ()  # the only values accepted (checked on every face)
    values: str = ""  # where a client finds the values to offer: a key of /api/v1/meta, "models", or
    # "columns" (its choices are result columns, named as the answer's columns are)
    value_labels: dict[str, Text] = field(default_factory=dict)  # labels of special values
    minimum: float | None = None
    maximum: float | None = None
    cli_invert: bool = False  # a CLI flag that sets the field to False (--no-collapse)
    control: Literal["form", "drill"] = "form"  # the web sets `drill` fields by clicking rows
    page: Any = None  # what a page asks when its URL does not say (the library answers in full)
    verbatim: bool = False  # its values are the data's own names, shown as written (a journey "cart")
    # a filter's test: on what only a conversion carries (journeys without one fail it), or on
    # the journey's shape (its channels and devices); every report honours or refuses it by this
    reads: Literal["conversion", "shape"] | None = None

    def __post_init__(self) -> None:
        if (self.group == "filter") != (self.reads is not None):
            raise DeclarationError(f"filter {self.label[0]!r}: a filter says what it reads (conversion or shape), "
                                   "and only a filter does")

    @property
    def multiple(self) -> bool:
        return self.kind in _LIST_KINDS


def _spec(default: Any, kind: Kind, group: Group, *, en: Text, fr: Text, **more: Any) -> Any:
    """A Query field: its default, and its Spec; `en` and `fr` are (label, help)."""
    spec = Spec(kind, (en[0], fr[0]), (en[1], fr[1]), group, **more)
    return field(default=default, metadata={"spec": spec})


@dataclass(frozen=True)
class Query:
    start: dt.date | None = _spec(
        None, "date", "period",
        en=("From", "First conversion day, YYYY-MM-DD (default: 30 days before the end)."),
        fr=("Du", "Premier jour de conversion, AAAA-MM-JJ (par défaut : 30 jours avant la fin)."))
    end: dt.date | None = _spec(
        None, "date", "period",
        en=("To", "Last conversion day, YYYY-MM-DD (cut at D-2)."),
        fr=("Au", "Dernier jour de conversion, AAAA-MM-JJ (coupé à J-2)."))
    kinds: tuple[str, ...] = _spec(
        (), "list", "filter", reads="conversion", cli="--kind", choices=KINDS,
        en=("Conversion kinds", "Conversion kinds (any of)."),
        fr=("Types de conversion", "Types de conversion (l'un d'eux)."))
    level: str = _spec(
        "channel", "text", "view", choices=LEVELS,
        value_labels={"channel": ("Channel", "Levier"), "source": ("Source", "Support"),
                      "campaign": ("Campaign", "Campagne"), "media_plan": ("Media plan", "Plan média"),
                      "sub_channel": ("Virtual sub-channel", "Sous-levier virtuel"),
                      "channel_group": ("Channel group", "Regroupement de leviers"),
                      "device": ("Device", "Appareil")},
        en=("Level", "Rows of the report: one value of this dimension each."),
        fr=("Niveau", "Lignes du rapport : une valeur de cette dimension chacune."))
    parent: tuple[tuple[str, str], ...] = _spec(
        (), "pairs", "view", cli="--drill", control="drill",
        en=("Drill-down", "Drill-down parent, level=value (repeatable), e.g. channel=display."),
        fr=("Descente", "Parent de la descente, niveau=valeur (répétable), ex. channel=display."))
    models: tuple[str, ...] = _spec(
        (), "list", "option", cli="--model", values="models",
        en=("Models", "Attribution models to compare (default: the report's list)."),
        fr=("Modèles", "Modèles d'attribution à comparer (par défaut : la liste du rapport)."))
    measure: str | None = _spec(
        None, "text", "option", choices=MEASURES, page="conversions",
        value_labels={"": ("All measures", "Toutes les mesures"), "conversions": ("Conversions", "Conversions"),
                      "value": ("Revenue", "Chiffre d'affaires"),
                      "vs_last_pct": ("% vs last touch", "% vs dernier contact"),
                      "vs_counterfactual": ("Difference from counterfactual", "Écart au contrefactuel"),
                      "cpa": ("Cost per conversion", "Coût par conversion"),
                      "roas": ("Revenue per cost", "CA / coût")},
        en=("Measure", "What each model column shows (default: every measure, a column each)."),
        fr=("Mesure", "Ce que montre la colonne de chaque modèle (par défaut : toutes les mesures)."))
    top: int = _spec(
        10, "int", "option", minimum=1, maximum=10_000,
        en=("Top N", "Number of rows kept (paths, sequences)."),
        fr=("Top N", "Nombre de lignes gardées (séquences, parcours)."))
    # filters, combined with AND; empty means no filter
    new_customer: bool | None = _spec(
        None, "bool", "filter", reads="conversion",
        cli="--customers",
        value_labels={"": ("All", "Tous"), "true": ("New", "Nouveaux"), "false": ("Returning", "Anciens")},
        en=("Customers", "new or returning customers."),
        fr=("Clients", "nouveaux (new) ou anciens (returning) clients."))
    crm: tuple[tuple[str, tuple[str, ...]], ...] = _spec(
        (), "crm", "filter", reads="conversion", values="crm",
        en=("CRM attributes", "CRM attribute filter, attribute=a|b (repeatable)."),
        fr=("Attributs CRM", "Filtre sur un attribut CRM, attribut=a|b (répétable)."))
    categories: tuple[str, ...] = _spec(
        (), "list", "filter", reads="conversion", cli="--category", values="categories",
        en=("Categories", "Product categories (any of)."),
        fr=("Catégories", "Catégories de produits (l'une d'elles)."))
    audiences: tuple[str, ...] = _spec(
        (), "list", "filter", reads="conversion", cli="--audience", values="audiences",
        en=("Audiences", "Journeys of persons in any of these audiences (as of the last build)."),
        fr=("Audiences", "Parcours des personnes de l'une de ces audiences (au dernier calcul)."))
    with_channels: tuple[str, ...] = _spec(
        (), "list", "filter", reads="shape", cli="--with-channel", values="channels",
        en=("With channels", "Journeys with any of these channels."),
        fr=("Avec les leviers", "Parcours passés par l'un de ces leviers."))
    without_channels: tuple[str, ...] = _spec(
        (), "list", "filter", reads="shape", cli="--without-channel", values="channels",
        en=("Without channels", "Journeys with none of these channels."),
        fr=("Sans les leviers", "Parcours passés par aucun de ces leviers."))
    first_channel: tuple[str, ...] = _spec(
        (), "list", "filter", reads="shape", values="channels",
        en=("First channel", "Journeys whose first touch is on one of these channels."),
        fr=("Premier levier", "Parcours dont le premier contact est sur l'un de ces leviers."))
    last_channel: tuple[str, ...] = _spec(
        (), "list", "filter", reads="shape", values="channels",
        en=("Last channel", "Journeys whose last touch is on one of these channels."),
        fr=("Dernier levier", "Parcours dont le dernier contact est sur l'un de ces leviers."))
    devices: tuple[str, ...] = _spec(
        (), "list", "filter", reads="shape", cli="--device", choices=DEVICES,
        en=("Devices used", "Journeys that used any of these device types."),
        fr=("Appareils utilisés", "Parcours passés par l'un de ces types d'appareil."))
    first_device: tuple[str, ...] = _spec(
        (), "list", "filter", reads="shape", choices=DEVICES,
        en=("First-touch device", "Journeys whose first touch is on one of these device types."),
        fr=("Appareil du premier contact", "Parcours dont le premier contact est sur l'un de ces appareils."))
    converting_device: tuple[str, ...] = _spec(
        (), "list", "filter", reads="conversion", choices=(*DEVICES, *ORIGINS[1:]),
        en=("Converting device", "Conversions on one of these devices, or in store or by call centre."),
        fr=("Appareil de conversion", "Conversions sur l'un de ces appareils, en magasin ou par téléphone."))
    mono_device: bool = _spec(
        False, "bool", "filter", reads="shape",
        en=("Single device only", "Only journeys on a single device type."),
        fr=("Un seul appareil", "Seulement les parcours sur un seul type d'appareil."))
    origins: tuple[str, ...] = _spec(
        (), "list", "filter", reads="conversion", cli="--origin", choices=ORIGINS,
        en=("Origin", "Where the conversion happened: online, store, call_centre."),
        fr=("Origine", "Lieu de la conversion : online, store, call_centre."))
    min_revenue: float | None = _spec(
        None, "float", "filter", reads="conversion", minimum=0,
        en=("Minimum revenue", "Minimum revenue of a conversion."),
        fr=("Chiffre d'affaires minimum", "Chiffre d'affaires minimum d'une conversion."))
    # report options
    collapse: bool = _spec(
        True, "bool", "option", cli="--no-collapse", cli_invert=True,
        en=("Collapse repeats", "Consecutive repeats of a value count once (--no-collapse keeps them)."),
        fr=("Regrouper les répétitions", "Les répétitions consécutives comptent une fois (--no-collapse les garde)."))
    distinct: bool = _spec(
        False, "bool", "option",
        en=("Distinct values", "Count distinct values, not touches."),
        fr=("Valeurs distinctes", "Compter les valeurs distinctes, pas les contacts."))

    # messaging journeys
    journey: str | None = _spec(
        None, "text", "option", values="journeys", verbatim=True,
        en=("Journey", "The email or SMS journey (automation) to report; default: every journey."),
        fr=("Scénario", "Le scénario d'emails ou de SMS (automation) à présenter ; par défaut : tous."))
    step: str | None = _spec(
        None, "text", "option", values="steps", verbatim=True,
        en=("Step", "One message of the journey (e.g. welcome-1); default: every step."),
        fr=("Étape", "Un message du scénario (ex. welcome-1) ; par défaut : toutes les étapes."))
    by: str = _spec(
        "step", "text", "option", choices=MESSAGE_ROWS,
        value_labels={"journey": ("Journey", "Scénario"), "step": ("Step", "Étape"),
                      "channel": ("Channel", "Levier"), "recipient": ("Recipient", "Destinataire")},
        en=("Rows", "One row per journey, step, channel or recipient."),
        fr=("Lignes", "Une ligne par scénario, étape, levier ou destinataire."))
    headline: tuple[str, ...] = _spec(
        (), "list", "option", choices=HEADLINE_METRICS, values="columns",
        en=("Headline metrics", "The figures the simple mode puts up front (default: sends, open rate, click "
                                "rate, orders, revenue, incremental orders)."),
        fr=("Indicateurs clés", "Les chiffres que le mode simple met en avant (par défaut : envois, taux "
                                "d'ouverture, taux de clic, commandes, chiffre d'affaires, commandes incrémentales)."))
    machine_opens: bool = _spec(
        False, "bool", "option",
        en=("Count machine opens", "Count the opens of mail privacy proxies as opens (default: counted apart)."),
        fr=("Compter les ouvertures automatiques", "Compter comme ouvertures celles des proxys de "
                                                  "confidentialité (par défaut : comptées à part)."))

    def __post_init__(self) -> None:
        for name, spec in SPECS.items():
            value = getattr(self, name)
            if spec.multiple:  # a value given twice is asked once
                value = tuple(dict.fromkeys(value))
                object.__setattr__(self, name, value)
            _check(name, spec, value)
        for lv, _ in self.parent:
            if lv not in LEVELS:
                raise InvalidInput(f"parent: drill-down level must be one of {', '.join(LEVELS)}")
        if self.start and self.end and self.start > self.end:
            raise InvalidInput(f"period starts ({self.start}) after it ends ({self.end})")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Query:
        """A Query from text parameters, as a URL or a command line gives them: lists are
        repeated values or comma-separated; parent is "level=value", crm "attribute=a|b".
        Every bad value raises ValueError naming the parameter."""
        unknown = set(params) - set(SPECS)
        if unknown:
            raise InvalidInput(f"unknown parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(SPECS)}")
        out = {}
        for name, raw in params.items():
            if raw in (None, "", []):
                continue
            kind = SPECS[name].kind
            try:
                out[name] = PARSERS[kind](_values(raw) if kind in _LIST_KINDS else _one(raw))
            except ValueError as exc:
                raise InvalidInput(f"{name}: {exc}") from None
        return cls(**out)

    def drill(self, value: str) -> Query:
        """The query one level down under `value` of this level (channel > source > campaign)."""
        if self.level not in DRILL:
            raise InvalidInput(f"no level below {self.level}")
        return replace(self, parent=(*self.parent, (self.level, value)), level=DRILL[self.level])

    def as_dict(self) -> dict[str, Any]:
        """Every field with a value, for 'the query as applied' (exports, API)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if (v is None or v is False or v == ()) and f.name != "collapse":
                continue
            out[f.name] = v.isoformat() if isinstance(v, dt.date) else v
        return {k: (dict(v) if k in ("crm", "parent") else v) for k, v in out.items()}


def _check(name: str, spec: Spec, value: Any) -> None:
    """A field's declared bounds and choices; text without control characters (an engine
    cuts a string at a NUL byte, and no name holds one)."""
    if spec.multiple and len(value) > MAX_VALUES:
        raise InvalidInput(f"{name}: at most {MAX_VALUES} values ({len(value)} given)")
    bad_text = [t for t in _texts(value) if any(ord(ch) < 32 and ch != "\t" for ch in t)]
    if bad_text:
        raise InvalidInput(f"{name}: {bad_text[0]!r} holds a control character")
    if spec.choices and value is not None:
        values = value if isinstance(value, tuple) else (value,)
        bad = [v for v in values if v not in spec.choices]
        if bad:
            if not spec.multiple:
                raise InvalidInput(f"{name} must be one of {', '.join(spec.choices)}")
            raise InvalidInput(f"{name}: unknown {', '.join(map(repr, bad))}; expected {', '.join(spec.choices)}")
    if value is None or not isinstance(value, int | float) or isinstance(value, bool):
        return
    if spec.minimum is not None and value < spec.minimum:
        raise InvalidInput(f"{name} must be at least {spec.minimum:g}" if spec.kind == "int"
                         else f"{name} must be >= {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise InvalidInput(f"{name} must be at most {spec.maximum:g}")


def _texts(value: Any) -> list[str]:
    """Every string inside a field's value (tuples of strings, pairs, CRM filters)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [t for v in value for t in _texts(v)]
    return []


def _one(raw: Any) -> str:
    if isinstance(raw, list | tuple):
        if len(raw) != 1:
            raise InvalidInput("takes one value")
        raw = raw[0]
    return str(raw).strip()


def _values(raw: Any) -> tuple[str, ...]:
    """Repeated values, each split at its commas; `\\,` is a comma inside a value and `\\\\`
    a backslash ("Shoes\\, bags" is one campaign)."""
    items = raw if isinstance(raw, list | tuple) else [raw]
    return tuple(v.strip() for item in items for v in split_list(str(item)) if v.strip())


def split_list(text: str) -> list[str]:
    """`a,b\\,c` -> ["a", "b,c"]: commas separate values unless escaped with a backslash."""
    out, current, chars = [], [], iter(text)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, "\\"))
        elif ch == ",":
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return out


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "1", "yes", "new"):
        return True
    if low in ("false", "0", "no", "returning"):
        return False
    raise InvalidInput(f"{text!r} is not true or false")


def _pairs(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{item!r} is not level=value")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def _crm(items: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((k, tuple(v.strip() for v in value.split("|") if v.strip())) for k, value in _pairs(items))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a whole number") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{text!r} is not a finite number")
    return value


_LIST_KINDS = ("list", "pairs", "crm")
PARSERS: dict[str, Callable[[Any], Any]] = {
    "date": _date, "int": _int, "float": _float, "bool": _bool, "text": str,
    "list": tuple, "pairs": _pairs, "crm": _crm,
}
SPECS: dict[str, Spec] = {f.name: f.metadata["spec"] for f in fields(Query)}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Query)}


def cli_option(name: str) -> str:
    """The `parcours report` option of a Query field."""
    return SPECS[name].cli or "--" + name.replace("_", "-")
