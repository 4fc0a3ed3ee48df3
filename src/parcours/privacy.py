"""Personal data as EU law expects (docs/architecture.md, "Personal data"): erase a person on
request, drop raw rows past the retention, and keep an audit line of each (what, when, how
many rows; never the values).

`forget` finds the person by any identifier (person, visitor, user or customer id; an email
or a phone, plain or hashed), gathers every id and hash the person has, and deletes their rows
from every canonical and derived table in one transaction. An identifier parcours does not
know as a person's (nothing built yet) is still erased wherever it appears as such.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir

from parcours import identifiers
from parcours.audiences import CARDS, CHANGES, MEMBERS
from parcours.config import Config
from parcours.schema import KEYS, TABLES
from parcours.storage import Storage

AUDIT_FILE = "privacy-audit.jsonl"
BY_PERSON = ("persons", "journeys", "touches", "profiles", MEMBERS, CHANGES, CARDS, "customer_ids",
             "predictions")  # derived
RAW_TIME = {"touchpoints": "ts", "conversions": "ts", "identities": "ts", "messages": "ts"}  # what retention drops


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


def _kind(identifier: str, country: str) -> str:
    if identifiers.SHA256.fullmatch(identifier.strip().lower()):
        return "hash"
    if identifiers.normal_email(identifier):
        return "email"
    return "phone" if identifiers.normal_phone(identifier, country) else "id"


def find(wh: Storage, config: Config, identifier: str) -> Ids:
    """The person's ids and hashes: from the built tables when they know the identifier,
    else the identifier itself under every name it could be."""
    ids = Ids(plain={identifier})
    kind = _kind(identifier, config.crm.default_country)
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
    The workspace's rejects files lose the person's rows too."""
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
    deleted.update(_scrub(folder / "rejects", ids.every()))
    audit(folder, "forget", _kind(identifier, config.crm.default_country), deleted)
    return deleted


def _scrub(rejects: Path, values: set[str]) -> dict[str, int]:
    """Rejects files are the workspace's too: their lines naming the person go."""
    out = {}
    for path in sorted(rejects.glob("*.csv")) if rejects.is_dir() else []:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        keep = [r for r in rows if not values & set(r)]
        if len(keep) < len(rows):
            with path.open("w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(keep)
            out[f"rejects/{path.name}"] = len(rows) - len(keep)
    return out


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
