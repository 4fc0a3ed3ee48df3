"""SQL compiled once per expression shape, for every connection of the process.

Ibis rewrites and compiles an expression at each execution; on small data that costs more
than running it (a 2-row load: 0.9 s of 1.4 s compiling, 0.13 s in DuckDB). Builds, loads
and reports build the same expressions again and again, on one workspace or another, with
another period or another filter value, so a backend that mixes `CompiledOnce` in keeps the
SQL of each expression shape.

The shape is the expression's structure with what never reaches the SQL left out: the backend
a table belongs to (two workspaces' `touches` compile alike) and an in-memory table's data
(its SQL names it). Equal sub-shapes are interned, so building and comparing a key costs one
visit per node, however often the expression reuses a sub-expression.

Dates, timestamps and strings (a report's period, a filter's value, a prediction's cut-off)
are slots of the shape, not part of it. A shape seen once keeps its SQL for its own values;
seen again with others, its SQL becomes a template: compiled once more with a stand-in value
in each slot, cut at the stand-ins, and each expression's own values are written into it.
Ibis's DuckDB and Spark compilers write such a literal without reading its value (they read
integers: an index, a substring's bounds). As a safeguard, a template is kept only when,
filled with the values of the expression it was made for, it is exactly the SQL Ibis wrote
for that expression; a shape whose SQL did not come back is then kept per value.

What is kept is also written to a SQLite file in the user's cache folder (`SQLOnDisk`), so a
new process (a command, a test's subprocess, a server after a restart) finds the SQL its
predecessors compiled: a shape's key there is a digest of its structure, the backend's class,
and the versions of Ibis and sqlglot and the source of parcours' own compilers, so SQL made by
other code is never found. The file is a cache: unreadable, locked or full, it is left aside.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import os
import re
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
from ibis.backends import BaseBackend
from ibis.backends.sql import SQLBackend
from ibis.common.grounds import Concrete
from ibis.expr.datashape import DataShape

KEPT_SQL = 4096  # shapes kept per process (a build has about 60; SQL is a few KB each)
KEPT_ON_DISK = 10_000  # shapes kept in the cache file (about 30 MB at most)
MOST_SLOTS = 400  # values of one expression written into a template; more: kept per value


class Shape:
    """An interned node shape: equal shapes are the same object, so they compare by identity."""

    __slots__ = ("parts", "local", "_digest", "__weakref__")

    def __init__(self, parts: tuple) -> None:
        self.parts = parts  # keeps the sub-shapes alive while a kept SQL needs them
        # it names what only this process has (an in-memory table's generated name): its SQL
        # is no use to another process
        self.local: bool = parts[0] is ops.InMemoryTable or _any_local(parts)
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        """The same for equal shapes in any process (the cache file's key)."""
        if self._digest is None:
            self._digest = hashlib.sha256(stable(self.parts).encode()).hexdigest()
        return self._digest


def _any_local(parts: tuple) -> bool:
    return any(p.local if isinstance(p, Shape) else isinstance(p, tuple) and _any_local(p) for p in parts)


def stable(x: Any) -> str:
    """`x` (a shape's parts, a slot's values) as text that is the same in every process:
    classes by their qualified name, values by type and repr. A value whose repr differs
    between processes (an object's address) only makes the key miss."""
    if isinstance(x, Shape):
        return x.digest
    if isinstance(x, type):
        return f"<{x.__module__}.{x.__qualname__}>"
    if isinstance(x, tuple):
        return "(" + ",".join(map(stable, x)) + ")"
    if isinstance(x, frozenset):  # its order follows the process's string hashes
        return "{" + ",".join(sorted(map(stable, x))) + "}"
    if isinstance(x, DataShape):  # one instance per kind, its repr an address
        return f"<{type(x).__qualname__}>"
    return f"{type(x).__module__}.{type(x).__qualname__}:{x!r}"


@dataclass(frozen=True)
class Template:
    """A shape's SQL cut at its slots: `pieces[0] slot[0] pieces[1] ... pieces[-1]`."""

    pieces: tuple[str, ...]
    slots: tuple[int, ...]

    def fill(self, texts: list[str]) -> str:
        out = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            out += (texts[slot], piece)
        return "".join(out)


PER_VALUE = object()  # kept for a shape whose template did not give Ibis's SQL back


def _compilers() -> str:
    """What the SQL of a shape depends on beyond the shape: Ibis, sqlglot and parcours' own
    compilers (this module, the DuckDB backend and its functions, the Spark compiler)."""
    import ibis
    import sqlglot

    digest = hashlib.sha256(f"{ibis.__version__}|{sqlglot.__version__}".encode())
    for name in ("compiled.py", "warehouse.py", "spark.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


class SQLOnDisk:
    """Kept SQL in a SQLite file shared by the processes of this user: a template or a shape's
    SQL as JSON, by digest. Any failure (a locked, unwritable or damaged file) leaves the file
    aside for the rest of the process: compiling again is always right."""

    def __init__(self, path: Path | None):
        self.path, self._puts = path, 0
        self._con: sqlite3.Connection | None = None

    @cached_property
    def _tag(self) -> str:  # at the first key, not at import
        return _compilers()

    def _open(self) -> sqlite3.Connection | None:
        if self._con is None and self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.path, timeout=0.5, check_same_thread=False, isolation_level=None)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("CREATE TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY, made TEXT NOT NULL)")
                self._con = con
            except (sqlite3.Error, OSError):
                self.path = None
        return self._con

    def key(self, backend: type, root: Shape, limit: Any, pretty: bool) -> str:
        return hashlib.sha256(f"{self._tag}|{stable(backend)}|{root.digest}|{limit!r}|{pretty}".encode()).hexdigest()

    def get(self, key: str) -> Any:
        con = self._open()
        if con is None:
            return None
        try:
            row = con.execute("SELECT made FROM kept WHERE key = ?", (key,)).fetchone()
            return None if row is None else _loads(row[0])
        except (sqlite3.Error, ValueError, KeyError, TypeError):
            self._leave()
            return None

    def put(self, key: str, made: Any) -> None:
        con = self._open()
        if con is None:
            return
        try:
            con.execute("INSERT OR REPLACE INTO kept VALUES (?, ?)", (key, _dumps(made)))
            self._puts += 1
            if self._puts % 256 == 0:  # the oldest go
                con.execute("DELETE FROM kept WHERE rowid <= (SELECT max(rowid) FROM kept) - ?", (KEPT_ON_DISK,))
        except sqlite3.Error:
            self._leave()

    def _leave(self) -> None:
        if self._con is not None:
            self._con.close()
        self._con, self.path = None, None


def _dumps(made: Any) -> str:
    if made is PER_VALUE:
        return json.dumps({"per_value": True})
    if isinstance(made, Template):
        return json.dumps({"pieces": made.pieces, "slots": made.slots})
    return json.dumps({"sql": made})


def _loads(text: str) -> Any:
    d = json.loads(text)
    if d.get("per_value"):
        return PER_VALUE
    if "pieces" in d:
        return Template(tuple(d["pieces"]), tuple(d["slots"]))
    return d["sql"]


def _cache_file() -> Path | None:
    """$PARCOURS_SQL_CACHE (empty: none), else parcours/sql.sqlite in the user's cache folder."""
    if "PARCOURS_SQL_CACHE" in os.environ:
        return Path(os.environ["PARCOURS_SQL_CACHE"]) if os.environ["PARCOURS_SQL_CACHE"] else None
    path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "parcours" / "sql.sqlite"
    return path if path.is_absolute() else None  # no home to keep it in: none, not "~" in this folder


DISK = SQLOnDisk(_cache_file())

_INTERNED: weakref.WeakValueDictionary[tuple, Shape] = weakref.WeakValueDictionary()
_SQL: OrderedDict[tuple, Any] = OrderedDict()  # SQL, template, PER_VALUE, or (values text, SQL)
_LOCK = threading.Lock()
_TEXTS: dict[tuple, str] = {}  # a slot value's SQL (writing it with sqlglot costs 0.1-1 ms)
_LEFT_OUT = {ops.DatabaseTable: "source", ops.SQLQueryResult: "source", ops.InMemoryTable: "data"}
# values equal in Python that SQL writes apart: -0.0 and 0.0, Decimal 1.0 and 1.00, one instant
# in two time zones (their repr tells them apart)
EQUAL_APART = (float, decimal.Decimal, datetime.datetime, datetime.time)
SLOTTED = (dt.Date, dt.Timestamp, dt.String)


def shape(node: Concrete, slotted: bool = True) -> tuple[Shape, list[ops.Literal], str]:
    """The interned shape of `node`, the literal in each of its slots and the slots' values as
    one text (`stable`: dtype, type, repr; literals equal in Python may be written apart), in slot
    order. Equal literals share a slot. The caller holds `_LOCK`."""
    seen: dict[int, Shape] = {}
    slots: dict[tuple, tuple[int, ops.Literal]] = {}  # value -> (slot, literal)

    def value(v: Any) -> Any:
        if isinstance(v, Concrete):
            return of(v)
        if isinstance(v, tuple):
            return (tuple, *(value(x) for x in v))
        if isinstance(v, Mapping):
            return (dict, *((k, value(x)) for k, x in v.items()))
        if isinstance(v, BaseBackend):
            return None
        if isinstance(v, EQUAL_APART):
            return (type(v), repr(v))
        return (type(v), v)  # 1, 1.0 and True are equal in Python, not in SQL

    def of(n: Concrete) -> Shape:
        got = seen.get(id(n))
        if got is None:
            if slotted and type(n) is ops.Literal and isinstance(n.dtype, SLOTTED) and n.value is not None:
                slot = slots.setdefault((n.dtype, type(n.value), repr(n.value)), (len(slots), n))[0]
                parts: tuple = (ops.Literal, value(n.dtype), slot)
            else:
                left_out = _LEFT_OUT.get(type(n))
                parts = (type(n), *(value(v) for name, v in zip(n.__argnames__, n.__args__, strict=True)
                                    if name != left_out))
            got = _INTERNED.get(parts)
            if got is None:
                got = _INTERNED[parts] = Shape(parts)
            seen[id(n)] = got
        return got

    root = of(node)
    return root, [literal for _, literal in slots.values()], stable(tuple(slots)) if slots else ""


def _stand_in(literal: ops.Literal, slot: int) -> ops.Literal:
    """A value for `slot` that no data holds and whose SQL appears nowhere else."""
    t = literal.dtype
    if isinstance(t, dt.String):
        return ops.Literal(f"⁅parcours slot {slot}⁆", t)
    if isinstance(t, dt.Date):
        return ops.Literal(datetime.date(1100 + slot, 3, 7), t)
    zone = datetime.UTC if getattr(t, "timezone", None) else None
    return ops.Literal(datetime.datetime(1100 + slot, 3, 7, 5, 6, 7, 891011, tzinfo=zone), t)


def _names_a_value(made: Any, literals: list[ops.Literal]) -> bool:
    """Whether a template still holds a slot's string, quoted, outside its slots: Ibis names a
    column after an expression (`Equals(s, 'jane@example.com')`), a name the shape keeps.
    Such a template stays in this process. (Unquoted, a value is often part of a name:
    'visitor' of visitor_id.)"""
    texts = [q for lit in literals if isinstance(lit.value, str) for q in (repr(lit.value), f"'{lit.value}'")]
    return isinstance(made, Template) and any(t in piece for t in texts for piece in made.pieces)


def _kept(key: tuple, on_disk: bool = True) -> Any:
    """What this process keeps for `key`, else what the cache file does (then kept here too).
    The caller holds `_LOCK`."""
    kept = _SQL.get(key)
    if kept is None and on_disk and (kept := DISK.get(DISK.key(*key))) is not None:
        _keep(key, kept)
    return kept


def _keep(key: tuple, made: Any) -> None:
    """Keep `made` for `key`, the least recently used going beyond KEPT_SQL. Under `_LOCK`."""
    _SQL[key] = made
    while len(_SQL) > KEPT_SQL:
        _SQL.popitem(last=False)


class CompiledOnce(SQLBackend):
    """Mixed into an Ibis SQL backend (before it): `compile` answers a known shape's SQL."""

    def compile(self, expr: ir.Expr, /, *, limit: int | str | None = None,
                params: Mapping[ir.Expr, Any] | None = None, pretty: bool = False) -> str:
        if params:  # parameter values are bound at compilation
            return super().compile(expr, limit=limit, params=params, pretty=pretty)
        with _LOCK:
            try:
                root, literals, values = shape(expr.op())
                key: tuple = (type(self), root, limit, pretty)
                kept, slotted = _kept(key, on_disk=not root.local), True
                if kept is PER_VALUE or len(literals) > MOST_SLOTS:
                    key = (type(self), shape(expr.op(), slotted=False)[0], limit, pretty)
                    kept, literals, values, slotted = _kept(key, on_disk=False), [], "", False
            except RecursionError:  # deeper than any expression parcours builds
                return super().compile(expr, limit=limit, pretty=pretty)
            if kept is not None:
                _SQL.move_to_end(key)
                if isinstance(kept, str):
                    return kept
                if isinstance(kept, Template):
                    return kept.fill([self._literal_sql(lit) for lit in literals])
                if kept[0] == values:  # seen once, with these values
                    return kept[1]
        sql = super().compile(expr, limit=limit, pretty=pretty)
        # A shape with slots is seen once with its values; a template is made (one more
        # compilation) when it comes again with others, or at once for the cache file. The
        # file keeps no value a query was asked with (a person's id, a filter's value): SQL
        # without slots, templates, and which shapes are kept per value, not the SQL of those.
        on_disk = slotted and not key[1].local and DISK.path is not None
        made: object = (sql if not literals else (values, sql) if kept is None and not on_disk
                        else self._template(expr, literals, limit, pretty, sql))
        with _LOCK:
            _keep(key, made)
            if on_disk and not isinstance(made, tuple) and not _names_a_value(made, literals):
                DISK.put(DISK.key(*key), made)
        return sql

    def _literal_sql(self, literal: ops.Literal) -> str:
        key = (type(self), literal.dtype, type(literal.value), repr(literal.value))
        text = _TEXTS.get(key)
        if text is None:
            text = self.compiler.visit_node(literal, value=literal.value, dtype=literal.dtype).sql(self.dialect)
            if len(_TEXTS) >= KEPT_SQL:
                _TEXTS.clear()
            _TEXTS[key] = text
        return text

    def _template(self, expr: ir.Expr, literals: list[ops.Literal], limit: int | str | None,
                  pretty: bool, sql: str) -> Template | object:
        """The SQL with stand-ins, cut at them; PER_VALUE when filling it with `literals` does
        not give `sql` back."""
        stand_ins = [_stand_in(lit, i) for i, lit in enumerate(literals)]
        with_stand_ins = expr.op().replace(dict(zip(literals, stand_ins, strict=True))).to_expr()
        texts = {self._literal_sql(s): i for i, s in enumerate(stand_ins)}
        cut = re.split("(" + "|".join(map(re.escape, texts)) + ")",
                       super().compile(with_stand_ins, limit=limit, pretty=pretty))
        template = Template(tuple(cut[0::2]), tuple(texts[t] for t in cut[1::2]))
        if template.fill([self._literal_sql(lit) for lit in literals]) != sql:
            return PER_VALUE
        return template
