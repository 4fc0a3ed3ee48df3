"""Personal data as EU law expects (docs/architecture.md, "Personal data"): erase a person on
request, drop raw rows past the retention, and keep an audit line of each (what, when, how
many rows; never the values).

`forget` finds the person by any identifier (person, visitor, user or customer id; an email
or a phone, plain or hashed), gathers every id and hash the person has (and the addresses their
messages went to: the message facts know a message by its recipient), and deletes their rows
from every canonical and derived table in one transaction. An identifier parcours does not
know as a person's (nothing built yet) is still erased wherever it appears as such.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parcours.activation.webhooks import DELIVERIES
from parcours.build import message_facts
from parcours.contract import cells, identifiers, schema
from parcours.contract.config import Config
from parcours.contract.schema import CARDS, CHANGES, CONDITIONS, KEYS, MEMBERS, SIZES, TABLES
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput
from parcours.load import ga4
from parcours.predict import TABLES as PREDICTED

AUDIT_FILE = "privacy-audit.jsonl"
BY_PERSON = ("persons", "journeys", "touches", "profiles", MEMBERS, CHANGES, CARDS, "customer_ids",
             "predictions", message_facts.FACTS, *message_facts.WITH_PERSON)  # derived
RAW_TIME = {t: schema.TIME_COLUMNS[t] for t in ("touchpoints", "conversions", "identities", "messages")}  # dropped


@dataclass
class Ids:
    """Everything that names one person."""

    persons: set[str] = field(default_factory=set)
    visitors: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)
    plain: set[str] = field(default_factory=set)  # the values as given (a message's recipient is plain)

    def every(self) -> set[str]:
        return self.persons | self.visitors | self.users | self.customers | self.hashes | self.plain


def kind_of(identifier: str, country: str) -> str:
    """hash, email, phone or id; InvalidInput for a text that is none of them (a sentence, a
    blank, an invisible character), which no row can hold as a person's."""
    if identifiers.SHA256.fullmatch(identifier.strip().lower()):
        return "hash"
    if identifiers.normal_email(identifier):
        return "email"
    if identifiers.normal_phone(identifier, country):
        return "phone"
    if identifiers.is_token(identifier.strip()):
        return "id"
    raise InvalidInput("not an identifier: a person, visitor, user or customer id (no spaces or invisible "
                       "characters, at most 256), an email, a phone or a SHA-256 hash", field="identifier")


def find(wh: Storage, config: Config, identifier: str) -> Ids:
    """The person's ids and hashes: from the built tables when they know the identifier,
    else the identifier itself under every name it could be."""
    kind = kind_of(identifier, config.crm.default_country)
    identifier = identifier.strip()
    ids = Ids(plain={identifier})
    if kind in ("email", "phone", "hash"):
        hashed = identifiers.hashed("phone" if kind == "phone" else "email", identifier, config.crm.default_country)
        ids.hashes.add(hashed or identifier)
        if kind != "hash":
            normal = identifiers.normal(kind, identifier, config.crm.default_country)
            ids.plain.add(normal or identifier)
    else:
        ids.visitors.add(identifier)
        ids.users.add(identifier)
        ids.customers.add(identifier)
        ids.persons.add(identifier)
    if wh.has(CARDS):
        c = wh.table(CARDS)
        ids.persons |= set(c.filter(c.id.isin(list(ids.every()))).person_id.to_pyarrow().to_pylist())
    if wh.has("profiles"):  # the cards are written by an audience refresh, which a build may not have run
        f = wh.table("profiles")
        for column, known in (("email_sha256", ids.hashes), ("phone_sha256", ids.hashes),
                              ("customer_ids", ids.customers)):
            if known:
                u = f.select("person_id", value=f[column].unnest())
                ids.persons |= set(u.filter(u.value.isin(sorted(known))).person_id.to_pyarrow().to_pylist())
    if wh.has("persons"):
        p = wh.table("persons")
        ids.persons |= set(p.filter(p.id.isin(list(ids.visitors | ids.users))).person_id.to_pyarrow().to_pylist())
        for r in p.filter(p.person_id.isin(list(ids.persons))).to_pyarrow().to_pylist():
            (ids.visitors if r["kind"] == "visitor" else ids.users).add(r["id"])
    if wh.has("profiles") and ids.persons:
        f = wh.table("profiles")
        for r in f.filter(f.person_id.isin(list(ids.persons))).to_pyarrow().to_pylist():
            ids.customers |= set(r["customer_ids"] or [])
            ids.hashes |= set(r["email_sha256"] or []) | set(r["phone_sha256"] or [])
    if wh.has("messages") and (ids.users or ids.visitors):  # the addresses their messages went to
        m = wh.table("messages")
        theirs = m.filter(m.user_id.isin(sorted(ids.users) or [""]) | m.visitor_id.isin(sorted(ids.visitors) or [""]))
        sent = theirs.filter(theirs.recipient.notnull()).select("recipient").distinct()
        ids.plain |= set(sent.to_pyarrow()["recipient"].to_pylist())
    return ids


def _conditions(t: ir.Table, ids: Ids) -> dict[str, list]:
    """(column -> values) whose rows are the person's in table `t`."""
    wanted = {"visitor_id": ids.visitors, "user_id": ids.users, "customer_id": ids.customers,
              "email_sha256": ids.hashes, "phone_sha256": ids.hashes, "person_id": ids.persons,
              "id": ids.every(), "recipient": ids.plain}
    return {c: sorted(v) for c, v in wanted.items() if c in t.columns and t[c].type().is_string() and v}


def forget(wh: Storage, config: Config, identifier: str, folder: Path) -> dict[str, int]:
    """Erase a person everywhere, in one transaction; returns the rows deleted per table (also
    in the workspace's audit file, with the time and the kind of identifier, not its value).
    The workspace's files holding persons (`FILES`) lose the person's values too."""
    ids = find(wh, config, identifier)
    deleted: dict[str, int] = {}
    tables = [t for t in (*TABLES, *BY_PERSON) if wh.has(t)]
    with wh.transaction():
        for name in tables:
            before = wh.count(name)
            for column, values in _conditions(wh.table(name), ids).items():
                t = wh.table(name)
                hit = t.filter(t[column].isin(values))
                if column == "recipient":  # a message's recipient is plain: compare its hash too
                    h = t.recipient.strip().lower().hexdigest("sha256")
                    hit = t.filter(t.recipient.isin(values) | h.isin(sorted(ids.hashes) or [""]))
                wh.delete(name, column, hit.select(column))
            gone = before - wh.count(name)
            if gone:
                deleted[name] = gone
    for pattern, scrub in FILES.items():
        for path in sorted(folder.glob(pattern)):
            if n := scrub(path, ids, config.crm.default_country):
                deleted[path.relative_to(folder).as_posix()] = n
    audit(folder, "forget", kind_of(identifier, config.crm.default_country), deleted)
    return deleted


def _names(value: str, ids: Ids, country: str) -> bool:
    """Whether a value written in a file (a spreadsheet-safe cell: `cells`) names the person."""
    if value.startswith("'") and value[1:].startswith(cells.RISKY):
        value = value[1:]
    if value in ids.every():
        return True
    said = value.strip()
    return bool(said) and any(identifiers.hashed(kind, said, country) in ids.hashes for kind in ("email", "phone"))


def _rejects(path: Path, ids: Ids, country: str) -> int:
    """A rejects file (file,row,field,value,reason): the value of each line whose field names a
    person (`PERSONAL`) and whose value is the person's is blanked; the line stays, saying which
    row was refused and why. Returns the values erased."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        fields = list(rows[0]) if rows else []
    erased = 0
    for row in rows:
        if row.get("field") in PERSONAL and row.get("value") and _names(row["value"], ids, country):
            row["value"], erased = "", erased + 1
    if erased:
        with _replacing(path) as part, part.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fields, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    return erased


def _parquet(path: Path, ids: Ids, country: str) -> int:
    """A converted file (GA4's touchpoints, conversions, identities): the person's rows go.
    Returns the rows erased."""
    table = pq.read_table(path)
    named = [pc.is_in(table[c], pa.array(sorted(ids.every()), pa.string())) for c in table.column_names
             if c in PERSONAL and pa.types.is_string(table.schema.field(c).type)]
    if not named:
        return 0
    hit = functools.reduce(pc.or_kleene, named).fill_null(False)
    erased = int(pc.sum(hit).as_py() or 0)
    if erased:
        with _replacing(path) as part:
            pq.write_table(table.filter(pc.invert(hit)), part)
    return erased


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A file written whole beside `path`, then put in its place: never half of one."""
    part = path.with_name(path.name + ".part")
    try:
        yield part
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


# Every column of a file or table that names a person: the canonical tables' personal fields and
# the GA4 export's ids (a GA4 rejects file names its fields)
PERSONAL = frozenset().union(*(schema.personal(t) for t in TABLES), ga4.PERSONAL)
# Every file of a workspace that can hold a person's data, and how an erasure reaches it; the
# files and derived tables that hold none (tests/test_privacy.py checks that a workspace holds
# nothing else: a new place a person is written to cannot be forgotten).
FILES = {"rejects/*.csv": _rejects, "ga4/*.parquet": _parquet}
WITHOUT_PERSON_TABLES = ("build_meta", SIZES, CONDITIONS, DELIVERIES, message_facts.MARK,
                         *(t for t in PREDICTED if t not in BY_PERSON))
WITHOUT_PERSONS = ("parcours.toml", "parcours.yaml", "parcours.yml", "audiences.json", AUDIT_FILE,
                   ".parcours-server.json", "parcours.duckdb", "parcours.duckdb.wal")


def retain(wh: Storage, config: Config, today: dt.date, folder: Path) -> dict[str, int]:
    """Drop raw rows older than `[privacy] retention_days` (0: keep everything), in one
    transaction, with an audit line; returns the rows dropped per table."""
    days = config.privacy.retention_days
    if not days:
        return {}
    limit = ibis.timestamp(dt.datetime.combine(today - dt.timedelta(days=days), dt.time()))
    dropped: dict[str, int] = {}
    with wh.transaction():
        for name, column in RAW_TIME.items():
            if not wh.has(name):
                continue
            t = wh.table(name)
            old = t.filter(t[column] < limit)
            if int(old.count().execute()):
                key = KEYS[name][0]
                if len(KEYS[name]) > 1:  # identities, keyed by a pair: a visitor with a recent login keeps its rows
                    old = old.anti_join(t.filter(t[column] >= limit).select(key), key)
                before = wh.count(name)
                wh.delete(name, key, old.select(key))
                if gone := before - wh.count(name):
                    dropped[name] = gone
    if dropped:
        audit(folder, "retention", f"older than {days} days", dropped)
    return dropped


def audit(folder: Path, action: str, what: str, rows: dict[str, int]) -> None:
    """One line of `privacy-audit.jsonl` in the workspace: when, what was done, to which kind of
    identifier, how many rows of which table. Never a value."""
    line = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "action": action, "identifier": what,
            "rows": rows}
    with (folder / AUDIT_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")
