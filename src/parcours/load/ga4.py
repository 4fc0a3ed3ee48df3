"""Google Analytics 4's BigQuery export (`events_YYYYMMDD`, as Parquet or JSON Lines) into
the canonical tables, through the same validation as any file (docs/architecture.md, "Data
model").

- **touchpoints:** one per session (user_pseudo_id, ga_session_id), at its first event. Its
  source, medium and campaign come from the session's first event that carries them:
  `collected_traffic_source` (manual_*), then `session_traffic_source_last_click`
  (manual_campaign), then the `source`/`medium`/`campaign` event parameters. A gclid
  without a medium is google / cpc. GA4's `(direct)`, `(none)` and `(not set)` are no value,
  so the channel rules see a direct visit.
- **conversions:** `purchase` events as sales (ecommerce.transaction_id, purchase_revenue,
  the items' categories); the `lead_events` (generate_lead, sign_up by default) as leads.
- **identities:** user_pseudo_id with user_id, where the export has both.

Sessions without a session id or a user_pseudo_id (consent mode) give no touchpoint; they are
counted. A repeated transaction_id is kept once: the load rejects the others as duplicates.
The converted tables are written next to the rejects, so a rejected row can be looked up.

Bad input, two ways. GA4 writes every field with one type, so a field of another type (text
where GA4 has an integer, a value where it has a record) means the file is no GA4 export or
was altered: the file is refused, naming the field and its first such record, and nothing is
written. A field that is null or absent is no value, as in an older or trimmed export. An
event without a timestamp, or with one parcours does not load (before 2000, after tomorrow: a
device's clock), is rejected and counted like a load's bad rows (`<file>.rejects.csv`), and
its session keeps its other events. User values (file names, lead events) never become SQL
text, and a file name's `[`, `*` and `?` are not a pattern.
"""

from __future__ import annotations

import datetime
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import duckdb

from parcours.contract import schema
from parcours.engine.warehouse import storage_fault
from parcours.errors import InvalidInput
from parcours.load.ingest import SAMPLE, Reject

LEAD_EVENTS = ("generate_lead", "sign_up")
NO_VALUE = ("(direct)", "(none)", "(not set)", "")
REQUIRED = ("event_timestamp", "event_name", "user_pseudo_id")
PERSONAL = ("user_pseudo_id", "user_id")  # the export's fields that name a person (what an erasure looks for)

# The fields read, as the export's schema has them: a leaf is "integer" (INT64), "number"
# (FLOAT64) or "text"; a dict is a record, a one-item list a repeated record.
Kind: TypeAlias = "str | dict[str, Kind] | list[Kind]"
_VALUE: dict[str, Kind] = {"string_value": "text", "int_value": "integer", "float_value": "number",
                           "double_value": "number"}
SCHEMA: dict[str, Kind] = {
    "event_timestamp": "integer", "event_name": "text", "user_id": "text", "user_pseudo_id": "text",
    "event_params": [{"key": "text", "value": _VALUE}],
    "device": {"category": "text"},
    "collected_traffic_source": dict.fromkeys(("manual_campaign_name", "manual_source", "manual_medium", "gclid"),
                                              "text"),
    "session_traffic_source_last_click": {"manual_campaign": dict.fromkeys(("campaign_name", "source", "medium"),
                                                                           "text")},
    "ecommerce": {"purchase_revenue": "number", "transaction_id": "text"},
    "items": [{"item_category": "text"}],
}
SQL_TYPE = {"integer": "BIGINT", "number": "DOUBLE", "text": "VARCHAR"}
EXPECTED = {"integer": "a 64-bit integer", "number": "a number", "text": "text"}
# DuckDB's types that hold each kind of leaf (a Parquet file of an altered export may widen them)
INTEGERS = {"tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint", "uinteger"}
NUMBERS = INTEGERS | {"ubigint", "hugeint", "uhugeint", "float", "double", "decimal"}
NESTED = {"struct", "list", "array", "map", "union"}
JSON_KIND = {"VARCHAR": "text", "BIGINT": "the number", "UBIGINT": "the number", "DOUBLE": "the number",
             "BOOLEAN": "the boolean", "OBJECT": "a record", "ARRAY": "a list"}


@dataclass
class Converted:
    files: dict[str, Path]  # canonical table -> the Parquet file written for it
    events: int = 0
    sessions_without_id: int = 0  # kept events with no ga_session_id or no user_pseudo_id
    rejected: int = 0  # events left out: no timestamp, or one before 2000 or after tomorrow
    rejects: list[Reject] = field(default_factory=list)  # the first SAMPLE of them
    rejects_files: list[Path] = field(default_factory=list)  # all of them, <export file>.rejects.csv


def convert(paths: list[Path], out: Path, lead_events: tuple[str, ...] = LEAD_EVENTS,
            rejects_dir: Path | None = None) -> Converted:
    """Read GA4 export files and write touchpoints, conversions and identities as Parquet
    files in `out`, and each file's rejected events to `rejects_dir` (default `out`) as
    `<file>.rejects.csv`. A bad file is refused in one line, and then no file is written or
    replaced."""
    if not paths:
        raise InvalidInput("no GA4 export file given", file="ga4")
    parquet = _kind(paths)
    # DuckDB spills to ./.tmp by default: here, in the folder holding `out` (the workspace), removed after
    with tempfile.TemporaryDirectory(prefix=".ga4-spill-", dir=out.parent if out.parent.is_dir() else None) as spill:
        con = duckdb.connect(config={"temp_directory": spill})
        try:
            with _engine_errors(paths, out, spill):
                return _convert(con, paths, parquet, out, lead_events, rejects_dir or out)
        finally:
            con.close()


def _convert(con: duckdb.DuckDBPyConnection, paths: list[Path], parquet: bool, out: Path,
             lead_events: tuple[str, ...], rejects_dir: Path) -> Converted:
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # DuckDB's own would print across the command's output
    # user values enter the SQL as rows of tables, never as its text
    con.execute("CREATE TEMP TABLE inputs (i INTEGER, file VARCHAR)")
    con.executemany("INSERT INTO inputs VALUES (?, ?)", [[i, str(p)] for i, p in enumerate(paths)])
    con.execute("CREATE TEMP TABLE lead_events (name VARCHAR)")
    con.executemany("INSERT INTO lead_events VALUES (?)", [[e] for e in lead_events])
    selects = [_events_of(con, i, p, parquet) for i, p in enumerate(paths)]
    # read once: JSON values are checked and typed as they are read, for every query after
    con.execute(f"CREATE TEMP TABLE events AS {_checked(' UNION ALL '.join(selects))}")
    _refuse_unnamed(con, paths)
    con.execute("CREATE TEMP VIEW ga4 AS SELECT * FROM events WHERE why IS NULL")
    stem = _stem(paths)
    queries = {"touchpoints": TOUCHPOINTS, "conversions": CONVERSIONS, "identities": IDENTITIES}
    files = {t: out / f"{stem}.{t}.parquet" for t in queries}
    rejects = {rejects_dir / f"{paths[i].name}.rejects.csv": (REJECTS.format(which=f"_file = {i:d}"),
                                                               "FORMAT csv, HEADER") for i in _rejected_in(con)}
    _write(con, {files[t]: (sql, "FORMAT parquet") for t, sql in queries.items()} | rejects)
    n, rejected, no_id = con.execute(
        "SELECT count(*), count(why), count(*) FILTER (WHERE why IS NULL AND (session_id IS NULL OR visitor IS NULL)) "
        "FROM events").fetchall()[0]
    sample = con.execute(f"SELECT * FROM ({REJECTS.format(which='TRUE')}) LIMIT {SAMPLE:d}").fetchall()
    return Converted(files, int(n), int(no_id), int(rejected), [Reject(*r) for r in sample], list(rejects))


def _refuse_unnamed(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
    """JSON Lines are read by the export's columns: a file with none reads as events without
    an event_name."""
    for i, rows, named in con.execute("SELECT _file, count(*), count(event_name) FROM events GROUP BY _file "
                                      "ORDER BY _file").fetchall():
        if rows and not named:
            raise InvalidInput("not a GA4 export: no row has an event_name", file=str(paths[i]))


def _rejected_in(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [int(i) for (i,) in con.execute("SELECT DISTINCT _file FROM events WHERE why IS NOT NULL "
                                           "ORDER BY _file").fetchall()]


def _kind(paths: list[Path]) -> bool:
    """Whether the files are Parquet (else JSON Lines): one kind for all, each a file."""
    kinds = {"parquet" if ".parquet" in p.name.lower() else "json" for p in paths}
    if len(kinds) > 1:
        raise InvalidInput("give Parquet files or JSON Lines files, not both", file="ga4")
    for p in paths:
        if not p.is_file():
            raise InvalidInput("no such file", file=str(p))
    return kinds == {"parquet"}


@contextmanager
def _engine_errors(paths: list[Path], out: Path, spill: str) -> Iterator[None]:
    """What DuckDB cannot read (malformed JSON, a damaged Parquet file) or write as one line
    naming the files; DuckDB's message says the line or the byte. A full or read-only disk is
    said as such, never blamed on the export."""
    try:
        yield
    except (duckdb.Error, UnicodeDecodeError) as exc:
        said = storage_fault(" ".join(_reason(exc).split()), out / "ga4", spill)
        if said is not None:
            raise said from None
        reason = _reason(exc).splitlines()[0].removeprefix("Invalid Input Error: ")
        raise InvalidInput(f"cannot convert this GA4 export: {reason}", file=", ".join(map(str, paths))) from None


def _reason(exc: Exception) -> str:
    """DuckDB's message; it may cut a value quoted in it inside a character, and Python then
    cannot decode the message: its part up to the cut."""
    if isinstance(exc, UnicodeDecodeError):
        return bytes(exc.object[:exc.start]).decode("utf-8", "replace") + "..."
    return str(exc)


def _events_of(con: duckdb.DuckDBPyConnection, i: int, path: Path, parquet: bool) -> str:
    """One export file's events (its number `_file`, its 1-based record `_row`, the fields every
    query reads), once its fields are checked against the export's types."""
    raw = f"raw_{i:d}"
    if parquet:
        con.execute(f"CREATE TEMP VIEW {raw} AS SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _row "
                    f"FROM read_parquet('{_source(path)}', file_row_number=true)")
        columns = _parquet_fields(con, raw, path)
    else:
        _json_view(con, raw, path)
        columns = set(_dotted(SCHEMA))
    missing = set(REQUIRED) - columns
    if missing:
        raise InvalidInput(f"not a GA4 export: no {', '.join(sorted(missing))} column", file=str(path))
    return f"SELECT {i:d} AS _file, _row, {_fields(columns)} FROM {raw}"


def _dotted(kinds: dict[str, Kind], prefix: str = "") -> Iterator[str]:
    """Every field of the schema, dotted ("device.category"; a list's items as the list)."""
    for name, kind in kinds.items():
        yield prefix + name
        item = kind[0] if isinstance(kind, list) else kind
        if isinstance(item, dict):
            yield from _dotted(item, f"{prefix}{name}.")


# -- JSON Lines: records and lists read as the export's, their values as JSON, checked ---------

def _json_view(con: duckdb.DuckDBPyConnection, raw: str, path: Path) -> None:
    """The file's records typed as the export's schema. DuckDB's reader refuses a value where
    the export has a record or a list, and reads the values as JSON, checked here. A refused
    file is read again with every field as JSON, to name its first bad record and field."""
    shapes = ", ".join(f"'{name}': '{_json_shape(kind)}'" for name, kind in SCHEMA.items())
    con.execute(f"CREATE TEMP VIEW {raw}_json AS SELECT row_number() OVER () AS _row, * "
                f"FROM read_json('{_source(path)}', format='newline_delimited', columns={{{shapes}}})")
    wrong = " OR ".join(f"coalesce({bad}, false)" for bad in _leaf_checks())
    try:
        first = con.execute(f"SELECT min(_row) FROM {raw}_json WHERE {wrong}").fetchall()[0][0]
    except (duckdb.Error, UnicodeDecodeError):  # see _reason
        _refuse_json(con, raw, path, None)
        raise
    if first is not None:
        _refuse_json(con, raw, path, int(first))
    typed = ", ".join(f"{_from_json(name, kind, 0)} AS {name}" for name, kind in SCHEMA.items())
    con.execute(f"CREATE TEMP VIEW {raw} AS SELECT _row, {typed} FROM {raw}_json")


def _json_shape(kind: Kind) -> str:
    """The DuckDB type reading `kind`: the export's records and lists, its values as JSON."""
    if isinstance(kind, list):
        return f"{_json_shape(kind[0])}[]"
    if isinstance(kind, dict):
        return "STRUCT(" + ", ".join(f"{name} {_json_shape(sub)}" for name, sub in kind.items()) + ")"
    return "JSON"


def _leaf_checks() -> Iterator[str]:
    """SQL, one for each value of the export: true when a record's value is not of its kind."""
    def walk(expr: str, kind: Kind, within: Callable[[str], str], depth: int) -> Iterator[str]:
        if isinstance(kind, list):
            item = f"x{depth:d}"
            yield from walk(item, kind[0], lambda c: within(f"list_bool_or(list_transform({expr}, {item} -> {c}))"),
                            depth + 1)
        elif isinstance(kind, dict):
            for name, sub in kind.items():
                yield from walk(f"{expr}.{name}", sub, within, depth)
        else:
            yield within(_json_wrong(expr, kind))

    for name, kind in SCHEMA.items():
        yield from walk(name, kind, lambda c: c, 0)


def _from_json(expr: str, kind: Kind, depth: int) -> str:
    """SQL: the checked value at `expr` typed as the export's schema has `kind`."""
    if isinstance(kind, list):
        item = f"x{depth:d}"
        return f"list_transform({expr}, {item} -> {_from_json(item, kind[0], depth + 1)})"
    if isinstance(kind, dict):
        return "struct_pack(" + ", ".join(f"{name} := {_from_json(f'{expr}.{name}', sub, depth)}"
                                          for name, sub in kind.items()) + ")"
    return f"CAST({_json_leaf(expr, kind)} AS {SQL_TYPE[kind]})"


def _refuse_json(con: duckdb.DuckDBPyConnection, raw: str, path: Path, row: int | None) -> None:
    """Refuse the file at its first record (or at `row`) holding a field of another type than
    GA4's, read with every field as JSON; return when there is none (a malformed line)."""
    json = ", ".join(f"'{name}': 'JSON'" for name in SCHEMA)
    con.execute(f"CREATE TEMP VIEW {raw}_any AS SELECT row_number() OVER () AS _row, * "
                f"FROM read_json('{_source(path)}', format='newline_delimited', columns={{{json}}})")
    checks = list(_json_checks())
    firsts = ", ".join(f"min(_row) FILTER (WHERE {bad}), arg_min({shown}, _row) FILTER (WHERE {bad})"
                       for _, _, bad, shown in checks)
    where = "TRUE" if row is None else f"_row = {row:d}"
    found = con.execute(f"SELECT {firsts} FROM {raw}_any WHERE {where}").fetchall()[0]
    bad_rows = [(found[2 * n], found[2 * n + 1], name, kind) for n, (name, kind, _, _) in enumerate(checks)
                if found[2 * n] is not None]
    if bad_rows:
        first, value, name, kind = min(bad_rows, key=lambda b: b[0])
        what = JSON_KIND.get(con.execute("SELECT json_type(?::JSON)", [value]).fetchall()[0][0] or "", "")
        raise InvalidInput(f"{what} {_shown(value)}, where a GA4 export has {_expected(kind)}", file=str(path),
                           row=int(first), field=name)
    if row is not None:  # the two readings disagree: still a refusal, never a wrong conversion
        raise InvalidInput("a value of another type than a GA4 export has", file=str(path), row=row)


def _json_checks() -> Iterator[tuple[str, Kind, str, str]]:
    """(field, its kind, SQL true when a record's value has another type, that value) for
    every field and nested field; a list's items are checked as the list's field."""
    def walk(name: str, column: str, at: str, kind: Kind, many: bool) -> Iterator[tuple[str, Kind, str, str]]:
        if many:  # every item the path reaches
            items = _json_at(column, at)
            bad = f"coalesce(list_bool_or(list_transform({items}, v -> {_json_wrong('v', kind)})), false)"
            shown = f"CAST(list_filter({items}, v -> {_json_wrong('v', kind)})[1] AS VARCHAR)"
        else:
            value = _json_at(column, at)
            bad, shown = f"coalesce({_json_wrong(value, kind)}, false)", f"CAST({value} AS VARCHAR)"
        yield name, kind, bad, shown
        if isinstance(kind, list):
            yield from walk(name, column, f"{at}[*]", kind[0], True)
        elif isinstance(kind, dict):
            for sub, child in kind.items():
                yield from walk(f"{name}.{sub}", column, f"{at}.{sub}", child, many)

    for name, kind in SCHEMA.items():
        yield from walk(name, name, "$", kind, False)


def _json_wrong(v: str, kind: Kind) -> str:
    """SQL: the JSON value `v` is present and not of `kind` (the converter gives it no value).
    Blank text is no number, as in a load: a tool rewriting the export may write nulls so."""
    if isinstance(kind, dict | list):
        return f"json_type({v}) NOT IN ('NULL', '{'OBJECT' if isinstance(kind, dict) else 'ARRAY'}')"
    if kind == "text":
        return f"json_type({v}) IN ('OBJECT', 'ARRAY')"
    return f"(trim(json_extract_string({v}, '$')) <> '' AND {_json_leaf(v, kind)} IS NULL)"


def _json_leaf(v: str, kind: str) -> str:
    """SQL: the JSON value `v` as `kind`. BigQuery's JSON writes integers as text; text is
    any value but a record or a list; "1.5" is no integer (a cast would round it to 2)."""
    text = f"trim(json_extract_string({v}, '$'))"
    if kind == "text":
        return f"json_extract_string({v}, '$')"
    number = (f"CASE WHEN json_type({v}) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR') "
              f"THEN TRY_CAST({text} AS DOUBLE) END")
    if kind == "number":
        return number
    exact = f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
    whole = f"CASE WHEN {number} = floor({number}) AND abs({number}) <= 2 ^ 53 THEN CAST({number} AS BIGINT) END"
    return f"CASE WHEN json_type({v}) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR') THEN coalesce({exact}, {whole}) END"


def _json_at(v: str, at: str) -> str:
    return v if at == "$" else f"json_extract({v}, {_literal(at)})"


def _expected(kind: Kind) -> str:
    if isinstance(kind, list):
        return "a list"
    return "a record" if isinstance(kind, dict) else EXPECTED[kind]


def _shown(value: str | None, width: int = 40) -> str:
    """A value in a one-line message: cut short, control and separator characters escaped."""
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in (value or "null"))
    return text if len(text) <= width else text[:width] + "..."


# -- Parquet: its schema checked against the export's ----------------------------------------

def _parquet_fields(con: duckdb.DuckDBPyConnection, raw: str, path: Path) -> set[str]:
    """The dotted fields this file has, as GA4 types them. A field of another type refuses
    the file at its first record holding a value; one null in every record is missing (a
    writer types a column of nulls as it likes)."""
    rel = con.sql(f"SELECT * FROM {raw}")
    found: set[str] = set()
    typed = dict(zip(rel.columns, rel.types, strict=True))
    for name, kind in SCHEMA.items():
        if name not in typed:
            continue
        for dotted, expected, wrong, present in _parquet_check(name, name, kind, typed[name], found, lambda c: c, 0):
            row = con.execute(f"SELECT min(_row) FROM {raw} WHERE {present}").fetchall()[0][0]
            if row is not None:
                raise InvalidInput(f"a column of type {_shown(wrong, 60)}, where a GA4 export has "
                                   f"{_expected(expected)}", file=str(path), row=int(row), field=dotted)
    return found


def _parquet_check(dotted: str, expr: str, kind: Kind, typ: Any, found: set[str],
                   within: Callable[[str], str], depth: int) -> Iterator[tuple[str, Kind, str, str]]:
    """(field, its kind, its type, SQL true when a record has a value there) for each field
    whose DuckDB type `typ` (a DuckDBPyType) holds no `kind`; adds the others to `found`."""
    if not _holds(kind, typ.id):
        yield dotted, kind, str(typ), within(f"{expr} IS NOT NULL")
        return
    found.add(dotted)
    if isinstance(kind, list):
        item = f"x{depth:d}"
        yield from _parquet_check(dotted, item, kind[0], typ.children[0][1], found, lambda c: within(
            f"coalesce(list_bool_or(list_transform({expr}, {item} -> {c})), false)"), depth + 1)
    elif isinstance(kind, dict):
        children = dict(typ.children)
        for name, sub in kind.items():
            if name in children:
                yield from _parquet_check(f"{dotted}.{name}", f'{expr}."{name}"', sub, children[name], found,
                                          within, depth)


def _holds(kind: Kind, type_id: str) -> bool:
    if isinstance(kind, list):
        return type_id == "list"
    if isinstance(kind, dict):
        return type_id == "struct"
    return type_id in {"integer": INTEGERS, "number": NUMBERS}.get(kind, set()) or (
        kind == "text" and type_id not in NESTED)


# -- the fields every query reads -------------------------------------------------------------

def _fields(columns: set[str]) -> str:
    """The fields every query reads, typed, null where this export has no such column or
    nested field (exports gained collected_traffic_source in 2023 and
    session_traffic_source_last_click in 2024; an older or trimmed export lacks fields of a
    record)."""
    def has(name: str) -> bool:
        return name in columns

    def field(path: str, kind: str = "text") -> str:
        return f"CAST({path if has(path) else 'NULL'} AS {SQL_TYPE[kind]})"

    def param(key: str, kind: str = "string_value") -> str:
        if not has("event_params.key"):
            return f"CAST(NULL AS {'DOUBLE' if kind == 'number' else 'VARCHAR'})"
        found = f"list_filter(event_params, p -> p.key = {_literal(key)})"

        def value(part: str, cast: str) -> str:
            return f"TRY_CAST({found}[1].value.{part} AS {cast})" if has(f"event_params.value.{part}") else "NULL"
        if kind == "int":  # a session id is an int_value, sometimes a string_value
            return f"coalesce({value('int_value', 'VARCHAR')}, {value('string_value', 'VARCHAR')})"
        if kind == "number":
            return (f"coalesce({value('double_value', 'DOUBLE')}, {value('float_value', 'DOUBLE')}, "
                    f"{value('int_value', 'DOUBLE')})")
        return f"CAST({value('string_value', 'VARCHAR')} AS VARCHAR)"

    def clean(expr: str) -> str:
        return f"CASE WHEN lower(trim({expr})) IN ({', '.join(map(_literal, NO_VALUE))}) THEN NULL ELSE {expr} END"

    def source(part: str, manual: str) -> str:
        options = [field(f"collected_traffic_source.manual_{manual}"),
                   field(f"session_traffic_source_last_click.manual_campaign.{part}"),
                   param(part if part != "campaign_name" else "campaign")]
        return "coalesce(" + ", ".join(clean(o) for o in options) + ")"

    gclid = f"coalesce({field('collected_traffic_source.gclid')}, {param('gclid')})"
    categories = ("list_filter(list_distinct([CAST(i.item_category AS VARCHAR) for i in items]), c -> c IS NOT NULL)"
                  if has("items.item_category") else "CAST(NULL AS VARCHAR[])")
    return ",\n".join([
        f"nullif(trim({field('user_pseudo_id')}), '') AS visitor",
        f"nullif(trim({field('user_id')}), '') AS user_id",
        f"{field('event_name')} AS event_name",
        f"{field('event_timestamp', 'integer')} AS micros",
        f"{param('ga_session_id', 'int')} AS session_id",
        f"lower({field('device.category')}) AS device",
        f"{source('source', 'source')} AS utm_source",
        f"{source('medium', 'medium')} AS utm_medium",
        f"{source('campaign_name', 'campaign_name')} AS utm_campaign",
        f"{gclid} AS gclid",
        f"{param('page_referrer')} AS referrer",
        f"{param('page_location')} AS url",
        f"{field('ecommerce.transaction_id')} AS ecommerce_transaction",
        f"{param('transaction_id')} AS param_transaction",
        f"{field('ecommerce.purchase_revenue', 'number')} AS purchase_revenue",
        f"{param('value', 'number')} AS param_value",
        f"{categories} AS categories",
    ])


def _checked(events: str) -> str:
    """The events with their time, and why one is rejected: parcours loads no time before
    2000 or after tomorrow (ingest's rule), checked before a session takes its first event's
    time, so one event's bad clock does not move or lose its session."""
    earliest = datetime.datetime.fromisoformat(f"{schema.EARLIEST}T00:00:00+00:00")
    after_tomorrow = datetime.datetime.combine(datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=2),
                                               datetime.time(), datetime.UTC)
    lo, hi = (int(t.timestamp()) * 1_000_000 for t in (earliest, after_tomorrow))
    return f"""
SELECT *, CASE WHEN micros >= {lo:d} AND micros < {hi:d} THEN make_timestamp(micros) END AS ts,
       CAST(micros AS VARCHAR) AS event_micros,
       CASE WHEN micros IS NULL THEN 'missing'
            WHEN micros < {lo:d} THEN 'before {schema.EARLIEST}'
            WHEN micros >= {hi:d} THEN 'in the future (after tomorrow)' END AS why
FROM ({events})"""


# -- writing ----------------------------------------------------------------------------------

def _write(con: duckdb.DuckDBPyConnection, files: dict[Path, tuple[str, str]]) -> None:
    """Each file written under a temporary name in its folder, and all renamed once all are
    written: a failure or a kill leaves no partial file and replaces no earlier one."""
    temps: dict[Path, Path] = {}
    try:
        for path, (sql, options) in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temps[path] = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            con.execute(f"COPY ({sql}) TO '{_quoted(temps[path])}' ({options})")
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def _stem(paths: list[Path]) -> str:
    """The converted files' name: the first export file's, in characters no reader takes
    for a pattern (DuckDB reads `[`, `*` and `?` in a path as a glob)."""
    stem = re.sub(r"[^\w-]", "_", paths[0].name.split(".")[0]) or "ga4"
    return stem if len(paths) == 1 else f"{stem}-and-more"


def _source(path: Path) -> str:
    """A path as a DuckDB reader's quoted argument naming that file only: absolute (no `~`
    expanded, no URL), its glob characters each in a class of its own."""
    return _quoted(Path(re.sub(r"([*?\[])", r"[\1]", str(path.absolute()))))


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _literal(text: str) -> str:
    """A constant of this module as an SQL string (user values are bound, never pasted)."""
    return "'" + text.replace("'", "''") + "'"


# One touchpoint per session: its first event, the first source the session carries.
TOUCHPOINTS = """
SELECT visitor || '.' || session_id AS event_id, min(ts) AS ts, visitor AS visitor_id,
       first(user_id ORDER BY ts) FILTER (WHERE user_id IS NOT NULL) AS user_id,
       CASE WHEN first(device ORDER BY ts) IN ('desktop', 'mobile', 'tablet') THEN first(device ORDER BY ts)
            ELSE 'other' END AS device,
       CASE WHEN bool_or(gclid IS NOT NULL OR utm_medium IS NOT NULL) THEN 'click' ELSE 'visit' END AS interaction,
       coalesce(first(utm_source ORDER BY ts) FILTER (WHERE utm_source IS NOT NULL),
                CASE WHEN bool_or(gclid IS NOT NULL) THEN 'google' END) AS utm_source,
       coalesce(first(utm_medium ORDER BY ts) FILTER (WHERE utm_medium IS NOT NULL),
                CASE WHEN bool_or(gclid IS NOT NULL) THEN 'cpc' END) AS utm_medium,
       first(utm_campaign ORDER BY ts) FILTER (WHERE utm_campaign IS NOT NULL) AS utm_campaign,
       first(referrer ORDER BY ts) FILTER (WHERE referrer IS NOT NULL) AS referrer,
       first(url ORDER BY ts) AS url
FROM ga4
WHERE session_id IS NOT NULL AND visitor IS NOT NULL
GROUP BY visitor, session_id
ORDER BY ts, event_id
"""

# Purchases are sales; the lead events are leads. A conversion without a transaction id is
# named by its visitor and time.
CONVERSIONS = """
SELECT coalesce(nullif(ecommerce_transaction, ''), nullif(param_transaction, ''),
                coalesce(visitor, user_id, '(no id)') || '.' || event_name || '.' || event_micros) AS conversion_id,
       ts, visitor AS visitor_id, user_id,
       CASE WHEN device IN ('desktop', 'mobile', 'tablet') THEN device ELSE 'other' END AS device,
       CASE WHEN event_name = 'purchase' THEN 'sale' ELSE 'lead' END AS kind,
       CASE WHEN event_name = 'purchase' THEN coalesce(purchase_revenue, param_value, 0) ELSE 0 END AS revenue,
       categories, 'online' AS origin
FROM ga4
WHERE event_name = 'purchase' OR event_name IN (SELECT name FROM lead_events)
ORDER BY ts, conversion_id
"""

IDENTITIES = """
SELECT visitor AS visitor_id, user_id, min(ts) AS ts
FROM ga4
WHERE visitor IS NOT NULL AND user_id IS NOT NULL
GROUP BY visitor, user_id
ORDER BY ts, visitor_id, user_id
"""

# The rejected events ({which}: of which export files), as ingest writes rejects: file,row,field,value,reason).
REJECTS = """
SELECT inputs.file, _row AS row, 'event_timestamp' AS field, event_micros AS value, why AS reason
FROM events JOIN inputs ON inputs.i = events._file
WHERE why IS NOT NULL AND {which}
ORDER BY _file, _row
"""
