"""The question every report answers: which conversions, cut how (design.md section 5).

A `Query` is plain data: faces (CLI, API, web) parse their input into one, reports turn it
into engine expressions. User values only ever become literals of those expressions, never
SQL text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace

from parcours.schema import DEVICES, KINDS, ORIGINS

LEVELS = ("channel", "source", "campaign", "media_plan", "sub_channel", "channel_group", "device")
DRILL = {"channel": "source", "source": "campaign"}  # the level a click on a row goes down to
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Query:
    start: dt.date | None = None  # conversion date, inclusive; None: DEFAULT_DAYS before `end`
    end: dt.date | None = None  # inclusive; None or later than D-2: the last built day
    kinds: tuple[str, ...] = ()  # sale, lead, custom; empty: all
    level: str = "channel"
    parent: tuple[tuple[str, str], ...] = ()  # drill-down: ((level, value), ...), e.g. channel=display
    models: tuple[str, ...] = ()  # model-comparison; empty: the report's default list
    top: int = 10
    # filters, combined with AND; empty means no filter
    new_customer: bool | None = None
    crm: tuple[tuple[str, tuple[str, ...]], ...] = ()  # attribute -> accepted values
    categories: tuple[str, ...] = ()  # any of
    audiences: tuple[str, ...] = ()  # values of the configured audience attribute
    with_channels: tuple[str, ...] = ()  # the journey has any of these channels
    without_channels: tuple[str, ...] = ()  # ... and none of these
    first_channel: tuple[str, ...] = ()
    last_channel: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()  # the journey used any of these device types
    mono_device: bool = False
    origins: tuple[str, ...] = ()  # online, store, call_centre
    min_revenue: float | None = None
    # report options
    collapse: bool = True  # top-paths: consecutive repeats collapsed
    distinct: bool = False  # path-length: count distinct values instead of touches

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        for lv, _ in self.parent:
            if lv not in LEVELS:
                raise ValueError(f"drill-down level must be one of {', '.join(LEVELS)}")
        _choices("kinds", self.kinds, KINDS)
        _choices("origins", self.origins, ORIGINS)
        _choices("devices", self.devices, DEVICES)
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"period starts ({self.start}) after it ends ({self.end})")
        if self.top < 1:
            raise ValueError("top must be at least 1")
        if self.min_revenue is not None and self.min_revenue < 0:
            raise ValueError("min_revenue must be >= 0")

    @classmethod
    def from_params(cls, params: dict) -> "Query":
        """A Query from text parameters, as a URL or a command line gives them: lists are
        repeated values or comma-separated; parent is "level=value", crm "attribute=a|b".
        Every bad value raises ValueError naming the parameter."""
        unknown = set(params) - set(PARAMS)
        if unknown:
            raise ValueError(f"unknown parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(PARAMS)}")
        out = {}
        for name, raw in params.items():
            if raw in (None, "", []):
                continue
            try:
                out[name] = PARAMS[name](_values(raw) if PARAMS[name] in _LISTS else _one(raw))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return cls(**out)

    def drill(self, value: str) -> "Query":
        """The query one level down under `value` of this level (channel > source > campaign)."""
        if self.level not in DRILL:
            raise ValueError(f"no level below {self.level}")
        return replace(self, parent=(*self.parent, (self.level, value)), level=DRILL[self.level])

    def as_dict(self) -> dict:
        """Every field with a value, for 'the query as applied' (exports, API)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if (v is None or v is False or v == ()) and f.name != "collapse":
                continue
            out[f.name] = v.isoformat() if isinstance(v, dt.date) else v
        return {k: (dict(v) if k in ("crm", "parent") else v) for k, v in out.items()}


def _choices(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{name}: unknown {', '.join(map(repr, bad))}; expected {', '.join(allowed)}")



def _one(raw) -> str:
    if isinstance(raw, list | tuple):
        if len(raw) != 1:
            raise ValueError("takes one value")
        raw = raw[0]
    return str(raw).strip()


def _values(raw) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    return tuple(v.strip() for item in items for v in str(item).split(",") if v.strip())


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "1", "yes", "new"):
        return True
    if low in ("false", "0", "no", "returning"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _pairs(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{item!r} is not level=value")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def _crm(items: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((k, tuple(v.strip() for v in value.split("|") if v.strip())) for k, value in _pairs(items))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _tuple(items: tuple[str, ...]) -> tuple[str, ...]:
    return items


def _str(text: str) -> str:
    return text


_LISTS = (_tuple, _pairs, _crm)
PARAMS = {
    "start": _date, "end": _date, "kinds": _tuple, "level": _str, "parent": _pairs, "models": _tuple,
    "top": _int, "new_customer": _bool, "crm": _crm, "categories": _tuple, "audiences": _tuple,
    "with_channels": _tuple, "without_channels": _tuple, "first_channel": _tuple, "last_channel": _tuple,
    "devices": _tuple, "mono_device": _bool, "origins": _tuple, "min_revenue": _float, "collapse": _bool,
    "distinct": _bool,
}
