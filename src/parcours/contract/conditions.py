"""Audience conditions: the grammar, declared once (docs/architecture.md, "Audiences").

A condition is a small tree, written the same in parcours.toml, the API's JSON and the web
builder: `{ all = [...] }`, `{ any = [...] }`, `{ not = {...} }`, or one test, selected by
its key (`{ touched = "email", within_days = 7 }`). KINDS declares each test: its value,
its other keys, its labels; `parse` checks a tree against it and names the key of any
mistake (`when.all[1].within_days`). The engine expression of each kind is in
`parcours.activation.audiences`; a test checks both cover the same kinds. User values only ever
become literals of those expressions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from parcours.contract.cells import CONTROL
from parcours.contract.schema import DEVICES
from parcours.errors import InvalidInput

Text = tuple[str, str]  # (English, French)
# what a key takes: a text, texts, a choice among `choices`, a whole number of days >= 1,
# a number, true/false, a comparison operator
Value = Literal["text", "texts", "choice", "days", "number", "bool", "op"]
OPS = (">", ">=", "<", "<=", "=", "!=")
# profile columns `field` compares (propensity and next_best_gain: the scores of parcours.predict)
NUMERIC_FIELDS = ("touches", "conversions", "revenue", "stage_rank", "propensity", "next_best_gain")
MAX_NODES, MAX_DEPTH = 200, 10
MAX_VALUES, MAX_TEXT = 1_000, 1_000  # values of one list, characters of one text: bounded like report filters
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Key:
    value: Value
    choices: tuple[str, ...] = ()
    required: bool = True
    label: Text = ("", "")  # what the page's builder writes before it (the selecting key: none)
    offers: str = ""  # a text's suggested values: that list of /api/v1/meta (channels, journeys...)


@dataclass(frozen=True)
class Kind:
    """One test: its selecting key's value, its other keys, what it asks in both languages."""

    value: Key
    label: Text
    more: dict[str, Key] = field(default_factory=dict)


DAYS = Key("days", required=False, label=("in the last … days", "dans les … derniers jours"))
KINDS: dict[str, Kind] = {
    "touched": Kind(Key("text", offers="channels"), ("Touched the channel", "A touché le levier"),
                    {"within_days": DAYS}),
    "device": Kind(Key("choice", DEVICES), ("Used the device", "A utilisé l'appareil")),
    "converted": Kind(Key("bool"), ("Converted", "A converti"), {"within_days": DAYS}),
    "bought": Kind(Key("text", offers="categories"), ("Bought in the category", "A acheté dans la catégorie")),
    "revenue_over": Kind(Key("number"), ("Revenue over", "Chiffre d'affaires supérieur à")),
    "customer": Kind(Key("choice", ("new", "returning")), ("Customer", "Client")),
    "attribute": Kind(Key("text", offers="crm"), ("CRM attribute", "Attribut CRM"),
                      {"equals": Key("texts", label=("equals", "vaut"), offers="crm")}),
    "stage_reached": Kind(Key("text", offers="funnel_stages"),
                          ("Reached the funnel stage", "A atteint l'étape du tunnel")),
    "message": Kind(Key("choice", ("opened", "clicked", "unsubscribed")), ("Messaging", "Messages"),
                    {"journey": Key("text", required=False, label=("journey", "parcours de messages"),
                                    offers="journeys")}),
    "field": Kind(Key("choice", NUMERIC_FIELDS), ("Profile field", "Champ du profil"),
                  {"op": Key("op", OPS), "value": Key("number")}),
    "next_best_channel": Kind(Key("text", offers="channels"), ("Next best channel", "Meilleur prochain levier")),
}
# the choices' names in the builder (devices are named by /api/v1/meta, like everywhere)
CHOICES: dict[str, Text] = {
    "new": ("new", "nouveau"), "returning": ("returning", "ancien"),
    "opened": ("opened a message", "a ouvert un message"), "clicked": ("clicked a message", "a cliqué un message"),
    "unsubscribed": ("unsubscribed", "s'est désabonné"), "touches": ("touches", "contacts"),
    "conversions": ("conversions", "conversions"), "revenue": ("revenue", "chiffre d'affaires"),
    "stage_rank": ("furthest funnel stage (rank)", "étape du tunnel atteinte (rang)"),
    "propensity": ("probability to convert soon", "probabilité de convertir bientôt"),
    "next_best_gain": ("gain of the next best channel", "gain du meilleur prochain levier"),
}
COMBINATORS = ("all", "any", "not")


@dataclass(frozen=True)
class Test:
    kind: str
    value: Any
    more: tuple[tuple[str, Any], ...] = ()  # the other keys, sorted

    def get(self, key: str) -> Any:
        return dict(self.more).get(key)


@dataclass(frozen=True)
class Combine:
    how: str  # all, any, not (not: one item)
    items: tuple[Condition, ...]


Condition = Test | Combine


def parse(raw: Any, at: str = "when") -> Condition:
    """A condition from its plain form (TOML, JSON), checked; InvalidInput names the key."""
    count = [0]
    return _parse(raw, at, 0, count)


def _parse(raw: Any, at: str, depth: int, count: list[int]) -> Condition:
    count[0] += 1
    if count[0] > MAX_NODES or depth > MAX_DEPTH:
        raise InvalidInput(f"a condition holds at most {MAX_NODES} tests, {MAX_DEPTH} levels deep", field=at)
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput('a condition is one test, such as {"touched": "email"}, or a combination of tests: '
                           '{"all": [...]}, {"any": [...]}, {"not": {...}}', field=at)
    chosen = [k for k in raw if k in KINDS or k in COMBINATORS]
    if len(chosen) != 1:
        known = ", ".join((*COMBINATORS, *KINDS))
        raise InvalidInput(f"expected exactly one of {known}; got {', '.join(map(str, raw)) or 'nothing'}",
                           field=at)
    key = chosen[0]
    if key in COMBINATORS:
        if len(raw) > 1:
            raise InvalidInput(f"{key} takes no other key", field=at)
        if key == "not":
            return Combine("not", (_parse(raw["not"], f"{at}.not", depth + 1, count),))
        items = raw[key]
        if not isinstance(items, list) or not items:
            raise InvalidInput(f"{key} takes a non-empty list of conditions", field=f"{at}.{key}")
        return Combine(key, tuple(_parse(c, f"{at}.{key}[{i}]", depth + 1, count) for i, c in enumerate(items)))
    kind = KINDS[key]
    unknown = set(raw) - {key, *kind.more}
    if unknown:
        raise InvalidInput(f"unknown key; {key} takes {', '.join([key, *kind.more])}",
                           field=f"{at}.{sorted(unknown)[0]}")
    more = []
    for name, spec in kind.more.items():
        if name in raw:
            more.append((name, _value(raw[name], spec, f"{at}.{name}")))
        elif spec.required:
            raise InvalidInput("missing", field=f"{at}.{name}")
    return Test(key, _value(raw[key], kind.value, f"{at}.{key}"), tuple(sorted(more)))


def _text(raw: Any, at: str) -> str:
    """A value a profile can hold: no blank, no control character (a NUL byte), bounded."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("expected a text", field=at)
    if len(raw) > MAX_TEXT or re.search(CONTROL, raw):
        raise InvalidInput(f"expected a text of at most {MAX_TEXT:,} characters, without control characters",
                           field=at)
    return raw


def _value(raw: Any, key: Key, at: str) -> Any:
    if key.value in ("text", "choice", "op"):
        text = _text(raw, at)
        if key.choices and text not in key.choices:
            raise InvalidInput(f"expected one of {', '.join(key.choices)}, not {text!r}", field=at)
        return text
    if key.value == "texts":
        values = [raw] if isinstance(raw, str) else raw
        if not isinstance(values, list) or not values:
            raise InvalidInput("expected a text or a list of texts", field=at)
        if len(values) > MAX_VALUES:
            raise InvalidInput(f"expected at most {MAX_VALUES:,} values, not {len(values):,}", field=at)
        return tuple(_text(v, f"{at}[{i}]") for i, v in enumerate(values))
    if key.value == "bool":
        if not isinstance(raw, bool):
            raise InvalidInput("expected true or false", field=at)
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise InvalidInput("expected a number", field=at)
    if key.value == "days":
        if raw != int(raw) or not 1 <= raw <= 3660:
            raise InvalidInput("expected a whole number of days, 1 to 3660", field=at)
        return int(raw)
    return float(raw)


def check(condition: Condition, stages: tuple[str, ...], at: str = "when") -> None:
    """What only the workspace knows, checked before a condition is saved or run: its funnel
    stages. InvalidInput names the key (`when.all[1].stage_reached`)."""
    if isinstance(condition, Combine):
        for i, c in enumerate(condition.items):
            check(c, stages, f"{at}.not" if condition.how == "not" else f"{at}.{condition.how}[{i}]")
    elif condition.kind == "stage_reached" and condition.value not in stages:
        known = ", ".join(stages) or "none: [funnel] stages is empty"
        raise InvalidInput(f"unknown funnel stage {condition.value!r}; stages: {known}", field=f"{at}.stage_reached")


def grammar() -> list[dict]:
    """KINDS as the page's condition builder reads them (GET /api/v1/conditions)."""
    def key(k: Key) -> dict:
        return {"value": k.value, "choices": list(k.choices), "required": k.required,
                "labels": {"en": k.label[0], "fr": k.label[1]}, "offers": k.offers or None,
                "choice_labels": {c: {"en": CHOICES[c][0], "fr": CHOICES[c][1]} for c in k.choices if c in CHOICES}}
    return [{**key(k.value), "kind": name, "labels": {"en": k.label[0], "fr": k.label[1]},
             "more": {m: key(spec) for m, spec in k.more.items()}} for name, k in KINDS.items()]


def plain(condition: Condition) -> dict:
    """The plain form again (what `parse` reads): for files, the API and the page."""
    if isinstance(condition, Combine):
        if condition.how == "not":
            return {"not": plain(condition.items[0])}
        return {condition.how: [plain(c) for c in condition.items]}
    value = list(condition.value) if isinstance(condition.value, tuple) else condition.value
    return {condition.kind: value, **{k: list(v) if isinstance(v, tuple) else v for k, v in condition.more}}


def check_name(name: Any, at: str = "name") -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidInput("an audience name is 1-64 lower-case letters, digits, - and _, starting with a "
                           "letter or digit", field=at)
    return name


@dataclass(frozen=True)
class Audience:
    """A named, saved condition over person profiles."""

    name: str
    when: Condition
    description: str = ""
    source: str = "workspace"  # "config" (parcours.toml: edited there) or "workspace" (audiences.json)

    def plain(self) -> dict:
        return {"name": self.name, "description": self.description, "when": plain(self.when), "source": self.source}


def audience(raw: Any, at: str, source: str) -> Audience:
    """An audience from its plain form: { name, description?, when }."""
    if not isinstance(raw, dict):
        raise InvalidInput("an audience is an object: a name, a description if any, and its condition (when)",
                           field=at)
    unknown = set(raw) - {"name", "description", "when", "source"}
    if unknown:
        raise InvalidInput("unknown key; an audience takes name, description, when", field=f"{at}.{sorted(unknown)[0]}")
    name = check_name(raw.get("name"), f"{at}.name")
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise InvalidInput("expected a text of at most 500 characters", field=f"{at}.description")
    if "when" not in raw:
        raise InvalidInput("missing", field=f"{at}.when")
    return Audience(name, parse(raw["when"], f"{at}.when"), description, source)
