"""Audiences: named conditions over person profiles, evaluated in the engine, and their
members handed to the tools that send and advertise (docs/architecture.md, "Audiences").

Each kind of test of `conditions.KINDS` becomes an Ibis expression on the `profiles` table
(`TESTS`), so the same audience is the same members on DuckDB and Spark. "Within the last N
days" counts back from the build's cut: profiles are as of it. Audiences come from
parcours.toml (`[[audiences]]`, read-only here) and from `audiences.json` in the workspace,
which the CLI, the API and the page write (whole, atomically).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from parcours.build.journeys import require_built
from parcours.build.profiles import SCORES
from parcours.contract import identifiers
from parcours.contract.cells import neutralise
from parcours.contract.conditions import Audience, Combine, Condition, Test, audience, check, check_name
from parcours.contract.config import Config
from parcours.contract.schema import CARDS, CHANGES, CONDITIONS, MEMBERS, SIZES
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput, NotBuilt, NotFound

FILE = "audiences.json"
EXPORTS = ("csv", "parquet", "customer-match")


def _since(days: int | None, ref: ir.TimestampValue) -> ir.TimestampValue | None:
    return None if days is None else ref - ibis.interval(days=days)


def _touched(p: ir.Table, t: Test, ref: ir.TimestampValue, stages: tuple[str, ...]) -> ir.BooleanValue:
    since = _since(t.get("within_days"), ref)
    if since is None:
        return p.channels.contains(t.value)
    return (p.channel_last_ts[t.value] >= since).fill_null(False)


def _converted(p: ir.Table, t: Test, ref: ir.TimestampValue, stages: tuple[str, ...]) -> ir.BooleanValue:
    since = _since(t.get("within_days"), ref)
    did = p.conversions > 0 if since is None else (p.last_conversion_ts >= since).fill_null(False)
    return did if t.value else ~did


def _attribute(p: ir.Table, t: Test, ref: ir.TimestampValue, stages: tuple[str, ...]) -> ir.BooleanValue:
    return p.attributes[t.value].isin(t.get("equals")).fill_null(False)


def _stage(p: ir.Table, t: Test, ref: ir.TimestampValue, stages: tuple[str, ...]) -> ir.BooleanValue:
    if t.value not in stages:
        raise InvalidInput(f"unknown funnel stage {t.value!r}; stages: {', '.join(stages)}", field="stage_reached")
    return p.stage_rank >= stages.index(t.value) + 1


def _message(p: ir.Table, t: Test, ref: ir.TimestampValue, stages: tuple[str, ...]) -> ir.BooleanValue:
    if t.value == "unsubscribed":
        return p.unsubscribed
    journeys = p.messages_opened if t.value == "opened" else p.messages_clicked
    journey = t.get("journey")
    return journeys.length() > 0 if journey is None else journeys.contains(journey)


def _field(p: ir.Table, t: Test, ref: ir.TimestampValue, stages: tuple[str, ...]) -> ir.BooleanValue:
    column, value = p[t.value], t.get("value")
    compare = {">": column > value, ">=": column >= value, "<": column < value, "<=": column <= value,
               "=": column == value, "!=": column != value}[t.get("op")]
    return compare.fill_null(False)


Compiler = Callable[[ir.Table, Test, ir.TimestampValue, tuple[str, ...]], ir.BooleanValue]
TESTS: dict[str, Compiler] = {
    "touched": _touched,
    "device": lambda p, t, ref, stages: p.devices.contains(t.value),
    "converted": _converted,
    "bought": lambda p, t, ref, stages: p.categories.contains(t.value),
    "revenue_over": lambda p, t, ref, stages: p.revenue > t.value,
    "customer": lambda p, t, ref, stages: (p.returning == (t.value == "returning")).fill_null(False),
    "attribute": _attribute,
    "stage_reached": _stage,
    "message": _message,
    "field": _field,
    "next_best_channel": lambda p, t, ref, stages: (p.next_best_channel == t.value).fill_null(False),
}


def expression(condition: Condition, p: ir.Table, ref: ir.TimestampValue,
               stages: tuple[str, ...]) -> ir.BooleanValue:
    """The condition as a boolean expression on the profiles table `p` (never null)."""
    if isinstance(condition, Combine):
        parts = [expression(c, p, ref, stages) for c in condition.items]
        if condition.how == "not":
            return ~parts[0]
        return ibis.and_(*parts) if condition.how == "all" else ibis.or_(*parts)
    return TESTS[condition.kind](p, condition, ref, stages)


def members(wh: Storage, config: Config, condition: Condition) -> ir.Table:
    """The profiles that meet the condition, as of the last build's cut."""
    meta = require_built(wh)
    p = wh.table("profiles")
    return p.filter(expression(condition, p, ibis.timestamp(meta["cut"]), config.funnel_stages))


def size(wh: Storage, config: Config, condition: Condition) -> int:
    return int(members(wh, config, condition).count().execute())


class Book:
    """The workspace's audiences: the config's (read-only) and audiences.json's.

    A saved audience this version cannot run (written by an older one, or a funnel stage
    since removed from the config) is skipped and said in `problems`, never fatal; saving
    another keeps it in the file as it was."""

    def __init__(self, folder: Path, config: Config):
        self.path, self.config = Path(folder) / FILE, config
        self.problems: list[str] = []  # the saved audiences skipped, and why

    def _entries(self) -> list:
        """The file's entries as written ([] without a file); InvalidInput when it is no such file."""
        if not self.path.exists():
            return []
        try:
            raw = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read: {exc}", file=str(self.path)) from None
        items = raw.get("audiences") if isinstance(raw, dict) else None
        if not isinstance(items, list):
            raise InvalidInput('expected {"audiences": [...]}', file=str(self.path))
        return items

    def _read(self) -> list[tuple[Audience | None, Any]]:
        """Each entry with its audience, or None (and a problem said) when it cannot run here."""
        out: list[tuple[Audience | None, Any]] = []
        for i, raw in enumerate(self._entries()):
            at = f"audiences[{i}]"
            try:
                a = audience({k: v for k, v in raw.items() if k != "source"} if isinstance(raw, dict) else raw,
                             at, "workspace")
                check(a.when, self.config.funnel_stages, f"{at}.when")
                out.append((a, raw))
            except InvalidInput as exc:
                name = raw.get("name") if isinstance(raw, dict) else None
                self.problems.append(f"{self.path.name}: {exc.field}: {exc.reason} (audience "
                                     f"{name!r} skipped)" if isinstance(name, str) else
                                     f"{self.path.name}: {exc.field}: {exc.reason} (skipped)")
                out.append((None, raw))
        return out

    def _saved(self) -> list[Audience]:
        if not self.path.exists():
            return []
        try:
            return [a for a, _ in self._read() if a is not None]
        except InvalidInput as exc:  # no audience can be read: said, and none run
            self.problems.append(str(exc))
            return []

    def all(self) -> list[Audience]:
        self.problems = []
        own = {a.name for a in self.config.audiences}
        return [*self.config.audiences, *(a for a in self._saved() if a.name not in own)]

    def get(self, name: str) -> Audience:
        for a in self.all():
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.all()) or "none yet"
        raise NotFound(f"no audience named {name!r}; audiences: {known}", field="name")

    def save(self, new: Audience) -> None:
        """Create or replace a workspace audience (a config one is edited in parcours.toml),
        checked against the workspace first: a refused audience is never written."""
        self._editable(new.name)
        check(new.when, self.config.funnel_stages)
        self._write([(a, raw) for a, raw in self._read() if (a.name if a else _name(raw)) != new.name]
                    + [(new, None)])

    def delete(self, name: str) -> None:
        self._editable(name)
        kept = self._read()
        if not any((a.name if a else _name(raw)) == name for a, raw in kept):
            self.get(name)  # says which exist
        self._write([(a, raw) for a, raw in kept if (a.name if a else _name(raw)) != name])

    def _editable(self, name: str) -> None:
        check_name(name)
        if any(a.name == name for a in self.config.audiences):
            raise InvalidInput(f"audience {name!r} is defined in {self.config.source}: edit it there", field="name")

    def _write(self, entries: list[tuple[Audience | None, Any]]) -> None:
        """The file anew: each audience as this version writes it, an entry it cannot run as it was."""
        plain = [raw if a is None else {k: v for k, v in a.plain().items() if k != "source"} for a, raw in entries]
        text = json.dumps({"audiences": sorted(plain, key=lambda e: str(_name(e)))}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".audiences-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, self.path)  # readers see the old file or the new one, never half of one


def _name(raw: Any) -> Any:
    return raw.get("name") if isinstance(raw, dict) else None


def export(wh: Storage, config: Config, a: Audience, fmt: str, out: Path) -> dict[str, int]:
    """Write an audience's members to `out`: `csv` or `parquet` (person, ids, hashes, the
    scores of the last prediction; CSV joins lists with |), or `customer-match` (Google Ads'
    customer list upload: Email and Phone columns of SHA-256 hashes, one row per identifier
    pair; members with no hash are left out). Returns counts: members, rows written."""
    if fmt not in EXPORTS:
        raise InvalidInput(f"format must be one of {', '.join(EXPORTS)}", field="format")
    m = members(wh, config, a.when)
    columns = ["person_id", "visitor_ids", "user_ids", "customer_ids", "email_sha256", "phone_sha256"]
    m = m.select(*columns, *SCORES).order_by("person_id")
    n = int(m.count().execute())
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        m.to_parquet(out)
        return {"members": n, "rows": n}
    if fmt == "csv":
        flat = m.mutate(**{c: m[c].join("|") for c in columns[1:]})  # lists joined; scores as they are
        df = flat.to_pandas()
        df[columns] = df[columns].map(neutralise)  # an id from data that a spreadsheet would run stays text
        df.to_csv(out, index=False)
        return {"members": n, "rows": n}
    return _customer_match(m, out, n)


def _customer_match(m: ir.Table, out: Path, n: int) -> dict[str, int]:
    """One row per (email, phone) pair by position: a person's first email beside their first
    phone, and so on; the longer list's rest with the other column empty."""
    pos = m.select("person_id", email=m.email_sha256, phone=m.phone_sha256,
                   k=ibis.greatest(m.email_sha256.length(), m.phone_sha256.length()))
    pos = pos.filter(pos.k > 0)
    idx = pos.mutate(i=ibis.range(0, pos.k).unnest())
    rows = idx.select(Email=idx.email[idx.i], Phone=idx.phone[idx.i], _p=idx.person_id, _i=idx.i)
    df = rows.order_by(["_p", "_i"]).select("Email", "Phone").to_pandas()
    df.to_csv(out, index=False)
    return {"members": n, "rows": len(df)}





def refresh(wh: Storage, config: Config, folder: Path, only: str | None = None,
            changed: ir.Table | None = None) -> dict[str, int]:
    """Bring the audience tables up to the last build, in one transaction; returns each
    audience's size. Run after every build (the faces and the server's jobs do); with `only`,
    after that audience was saved or deleted: its members, size and changes, and the cards of
    the persons who joined or left it (work in proportion to it, not to every audience).

    `changed` (person_id; a build's `journeys.PROFILES_CHANGED`): only these persons' profiles
    differ from the last refresh's, scores included. When the cut and every audience's
    condition are also those of the last refresh (`CONDITIONS`), no one else can join or leave
    an audience, so only these persons are evaluated (and their cards written); otherwise, or
    without `changed`, everyone is."""
    meta = require_built(wh)
    book = Book(folder, config)
    every = book.all()
    if only is not None and not wh.has(CARDS):
        only = None  # nothing refreshed yet: everything now
    found = [a for a in every if only is None or a.name == only]
    if only is not None or (changed is not None and not _in_step(wh, config, every, meta["cut"])):
        changed = None
    p = wh.table("profiles")
    scope = p if changed is None else p.semi_join(changed, "person_id")
    ref = ibis.timestamp(meta["cut"])
    built_at = ibis.literal(meta["built_at"]).cast("timestamp")
    empty = p.select(audience=ibis.literal("", type="string"), person_id=p.person_id).limit(0)
    parts = [scope.filter(expression(a.when, scope, ref, config.funnel_stages)).select(
        audience=ibis.literal(a.name), person_id=scope.person_id) for a in found]
    with wh.transaction():
        new = wh.materialize("_members", ibis.union(*parts) if parts else empty)
        old = wh.table(MEMBERS) if wh.has(MEMBERS) else empty
        if only is not None:
            old = wh.materialize("_members_before", old.filter(old.audience == only))
        elif changed is not None:
            old = wh.materialize("_members_before", old.semi_join(changed, "person_id"))
        keys = ["audience", "person_id"]
        joined = new.anti_join(old, keys).mutate(change=ibis.literal("joined"))
        left = old.anti_join(new, keys).filter(lambda t: t.audience.isin([a.name for a in found]) if found
                                               else ibis.literal(False)).mutate(change=ibis.literal("left"))
        changes = joined.union(left)
        # a webhook batch: its persons and its key are fixed now, so a batch sent again later
        # (after a failure) is the same batch under the same key
        n = ibis.row_number().over(group_by=[changes.audience, changes.change], order_by=changes.person_id)
        changes = changes.mutate(built_at=built_at, _n=(n // config.activation.batch_size).cast("string"))
        changes = changes.mutate(batch=changes.built_at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "/" + changes.audience
                                 + "/" + changes.change + "/" + changes._n).drop("_n")
        _append(wh, CHANGES, changes)
        if changed is not None:  # the others' memberships stay: the members are the table after
            wh.delete(MEMBERS, "person_id", changed)
            wh.insert(MEMBERS, new)
            new = wh.table(MEMBERS)
        sizes = [new.filter(new.audience == a.name).aggregate(size=lambda t: t.count()).mutate(
            audience=ibis.literal(a.name), built_at=built_at, as_of=ibis.literal(meta["as_of"]))
            for a in found]
        if wh.has(SIZES):  # a second refresh of one build (an audience edited) replaces its sizes
            s = wh.table(SIZES)
            again = s.built_at == built_at if only is None else (s.built_at == built_at) & (s.audience == only)
            wh.replace(SIZES, wh.materialize("_sizes_kept", s.filter(~again)))  # a row per build and audience
        if sizes:
            _append(wh, SIZES, ibis.union(*sizes).select("built_at", "as_of", "audience", "size"))
        if changed is not None:
            _replace_persons(wh, changed, p)
        elif only is None:
            wh.replace(MEMBERS, new)
            wh.replace(CARDS, _cards(wh.table("persons"), p, new))
        else:
            _replace_one(wh, only, new, old, p)
        if changed is None:  # in step, they are as noted
            _note_conditions(wh, config, found, meta["cut"], only)
        wh.index(CARDS, "id")
        wh.index("profiles", "person_id")
    t = wh.table(SIZES) if wh.has(SIZES) else None
    if t is None:
        return {}
    rows = t.filter(t.built_at == built_at).to_pyarrow().to_pylist()
    return {r["audience"]: int(r["size"]) for r in rows}


def _condition_key(a: Audience, config: Config) -> str:
    """What an audience's members depend on besides the profiles and the cut."""
    return json.dumps({"when": a.plain()["when"], "stages": list(config.funnel_stages)}, sort_keys=True)


def _in_step(wh: Storage, config: Config, every: list[Audience], cut: dt.datetime) -> bool:
    """Whether the last refresh evaluated exactly these audiences, with these conditions, at
    this cut (then only persons whose profile changed can join or leave one)."""
    if not (wh.has(CONDITIONS) and wh.has(MEMBERS) and wh.has(CARDS)):
        return False
    rows = wh.table(CONDITIONS).to_pyarrow().to_pylist()
    return (all(r["cut"] == cut for r in rows)
            and {r["audience"]: r["condition"] for r in rows} == {a.name: _condition_key(a, config) for a in every})


def _note_conditions(wh: Storage, config: Config, found: list[Audience], cut: dt.datetime, only: str | None) -> None:
    """CONDITIONS after a refresh: every audience's (one audience's, with `only`; none when it
    was deleted) condition and cut."""
    rows = ibis.memtable(pa.table({
        "audience": pa.array([a.name for a in found], pa.string()),
        "condition": pa.array([_condition_key(a, config) for a in found], pa.string()),
        "cut": pa.array([cut] * len(found), pa.timestamp("us")),
    }))
    if only is None or not wh.has(CONDITIONS):
        wh.replace(CONDITIONS, rows)
    else:
        kept = wh.table(CONDITIONS)
        wh.replace(CONDITIONS, wh.materialize("_conditions_kept", kept.filter(kept.audience != only)).union(rows))


def _replace_persons(wh: Storage, changed: ir.Table, p: ir.Table) -> None:
    """The cards of the `changed` persons as their ids and the members table now say (those of
    a person merged into another removed), written again for the persons whose cards differ
    alone: the cards are indexed, and a delete from an indexed table costs its commit about
    20 us a row (10 s for a day's 110k persons at 1M), where most changed persons keep their
    ids and audiences."""
    m = wh.table(MEMBERS)
    cards = wh.materialize("_cards_new", _cards(wh.table("persons").semi_join(changed, "person_id"),
                                                p.semi_join(changed, "person_id"), m.semi_join(changed, "person_id")))
    differ = wh.materialize("_cards_differ", differing(cards, wh.table(CARDS).semi_join(changed, "person_id")))
    wh.delete(CARDS, "person_id", differ)
    wh.insert(CARDS, cards.semi_join(differ, "person_id"))


def differing(cards: ir.Table, old: ir.Table) -> ir.Table:
    """(person_id): the persons whose cards (id, person_id, audiences sorted) are not the same
    in `cards` and `old`: a card added, gone, or with other audiences."""
    same = [cards.id == old.id, cards.person_id == old.person_id, cards.audiences == old.audiences]
    return ibis.union(cards.anti_join(old, same).select("person_id"), old.anti_join(cards, same).select("person_id"),
                      distinct=True)


def _replace_one(wh: Storage, name: str, new: ir.Table, old: ir.Table, p: ir.Table) -> None:
    """Audience `name`'s members become `new` (its members before: `old`); the cards of the
    persons who joined or left it are written again."""
    moved = wh.materialize("_moved", new.select("person_id").union(old.select("person_id"), distinct=True))
    m = wh.table(MEMBERS)
    others = wh.materialize("_members_others", m.filter(m.audience != name).semi_join(moved, "person_id"))
    wh.delete(MEMBERS, "audience", m.filter(m.audience == name).select("audience").limit(1))
    wh.insert(MEMBERS, new)
    persons = wh.table("persons").semi_join(moved, "person_id")
    cards = _cards(persons, p.semi_join(moved, "person_id"), others.union(new.semi_join(moved, "person_id")))
    wh.delete(CARDS, "person_id", moved)
    wh.insert(CARDS, cards)


def _append(wh: Storage, name: str, rows: ir.Table) -> None:
    if wh.has(name):
        wh.insert(name, rows)
    else:
        wh.replace(name, rows)


def _cards(persons: ir.Table, profiles: ir.Table, members: ir.Table) -> ir.Table:
    """(id, person_id, audiences): every identifier a site may ask by (the person id; visitor,
    user and customer ids; email and phone hashes) with its person's audiences, sorted."""
    own = members.group_by("person_id").agg(audiences=members.audience.collect().sort())
    ids = [persons.semi_join(profiles, "person_id").select("id", "person_id"),  # the profiled only
           profiles.select(id=profiles.person_id, person_id=profiles.person_id)]
    for column in ("customer_ids", "email_sha256", "phone_sha256"):
        ids.append(profiles.select(id=profiles[column].unnest(), person_id=profiles.person_id))
    every = ibis.union(*ids, distinct=True)
    j = every.left_join(own, "person_id").select("id", every.person_id, "audiences")
    return j.mutate(audiences=j.audiences.coalesce(ibis.literal([], type="array<string>")))


def current(wh: Storage) -> list[str]:
    """The audiences of the last refresh (those a report can filter by), empty ones included."""
    if not wh.has(SIZES):
        return []
    s = wh.table(SIZES)
    return sorted(s.filter(s.built_at == s.built_at.max()).audience.to_pyarrow().to_pylist())


def history(wh: Storage) -> ir.Table:
    """Each audience's size at each build: built_at, as_of, audience, size."""
    if not wh.has(SIZES):
        schema = ibis.schema({"built_at": "timestamp", "as_of": "date", "audience": "string", "size": "int64"})
        return ibis.memtable(schema.to_pyarrow().empty_table())
    return wh.table(SIZES).order_by(["audience", "built_at"])


def overlap(wh: Storage) -> ir.Table:
    """(audience, other, persons): how many persons each pair of audiences shares, as of the
    last refresh (an audience with itself: its size)."""
    m = wh.table(MEMBERS)
    o = m.view()
    j = m.join(o, m.person_id == o.person_id)
    return j.group_by([m.audience.name("audience"), o.audience.name("other")]).agg(persons=j.count()).order_by(
        ["audience", "other"])


def summary(wh: Storage) -> dict:
    """What the audience page heads with: the persons profiled, the last day they cover, and the CRM
    match of the last build (None without a CRM)."""
    meta = require_built(wh)
    n = int(wh.table("profiles").count().execute())
    crm: dict[str, float] | None = None
    if meta.get("crm_customers"):
        counts = {k: int(meta[f"crm_{k}"] or 0) for k in ("customers", "linked", "by_account", "by_email", "by_phone")}
        crm = {**counts, "match_rate": counts["linked"] / counts["customers"]}
    last = (meta["cut"] - dt.timedelta(days=1)).date()
    return {"persons": n, "last_reported_day": str(last), "cut": meta["cut"].isoformat(sep=" "), "crm": crm}


def standing(wh: Storage) -> dict[str, dict]:
    """Per audience refreshed: its sizes build after build and the persons it shares with each
    other audience, as of the last refresh (what the page draws)."""
    out: dict[str, dict] = {}
    for r in history(wh).to_pyarrow().to_pylist():
        out.setdefault(r["audience"], {"history": [], "overlap": {}})["history"].append(
            {"built_at": r["built_at"].isoformat(), "as_of": str(r["as_of"]), "size": int(r["size"])})
    if wh.has(MEMBERS):
        for r in overlap(wh).to_pyarrow().to_pylist():
            out.setdefault(r["audience"], {"history": [], "overlap": {}})["overlap"][r["other"]] = int(r["persons"])
    return out


CARD_FACTS = ("first_ts", "last_ts", "touches", "channels", "devices", "stage", "conversions", "revenue",
              "last_conversion_ts", "categories", "returning", "attributes", "messages_opened",
              "messages_clicked", "unsubscribed", *SCORES)  # what the person API gives besides audiences


def person(wh: Storage, config: Config, identifier: str) -> dict | None:
    """A person by any of their identifiers (person, visitor, user or customer id, an email or
    a phone plain or hashed), with their audiences and profile facts, as of the last refresh;
    None when no one has it. Two point queries on indexed tables."""
    if not wh.has(CARDS):
        raise NotBuilt("no audiences refreshed yet: run `parcours build`")
    rows = wh.lookup(CARDS, "id", identifier)
    if not rows:
        for kind in ("email", "phone"):
            hashed = identifiers.hashed(kind, identifier, config.crm.default_country)
            rows = wh.lookup(CARDS, "id", hashed) if hashed and hashed != identifier else []
            if rows:
                break
    if not rows:
        return None
    profile = wh.lookup("profiles", "person_id", rows[0]["person_id"])
    facts = {k: profile[0][k] for k in CARD_FACTS} if profile else {}
    if isinstance(facts.get("attributes"), list):
        facts["attributes"] = dict(facts["attributes"])
    return {"person_id": rows[0]["person_id"], "audiences": list(rows[0]["audiences"] or []), **facts}
