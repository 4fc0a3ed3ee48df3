"""Load files into the canonical tables: validate every row in the engine, keep the bad apart.

A load is one transaction per file: valid rows whose key is not stored yet land together or
not at all. Rejected rows are reported with file, row, field, value and reason. Row numbers
are 1-based data rows (CSV: the header is not a row, so row N is line N+1 of the file).
"""

from __future__ import annotations

import datetime
import gzip
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from parcours.contract import cells, identifiers, schema
from parcours.contract.config import CrmSettings
from parcours.contract.schema import Field
from parcours.engine.storage import FileLoader, Staged, Storage
from parcours.errors import InvalidInput
from parcours.load.results import LoadResult, Reject

_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


SAMPLE = 20


def load_file(wh: Storage, table: str, path: Path | str, *,
              rejects_file: Path | None = None,
              progress: Callable[[float], None] | None = None,
              crm: CrmSettings | None = None, sample: int | None = SAMPLE) -> LoadResult:
    """Validate `path` and insert its new valid rows into `table`, in one transaction.
    `crm`: how emails and phones are read (their country, whether plain values are kept).

    Rejected rows (all of them) go to `rejects_file` as CSV: file,row,field,value,reason, each
    value as a spreadsheet shows it (`cells`); the result holds the first `sample` (None: all).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput("no such file", file=str(path))
    check_whole(path)
    with wh.loader() as loader:
        return _load_file(loader, table, path, rejects_file, progress, crm or CrmSettings(), sample)


def check_whole(path: Path) -> None:
    """Refuse a file cut short or damaged before reading a row of it: an engine reads a
    truncated gzip up to the cut and says nothing, and a Parquet file without its footer is
    no table at all. (The gzip is inflated once, in C, to reach its end-of-stream check.)"""
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 22):
                    pass
        if path.name.lower().removesuffix(".gz").endswith(".parquet"):
            pq.ParquetFile(path).metadata  # noqa: B018 (reading the footer is the check)
    except (OSError, EOFError, zlib.error, pa.ArrowException) as exc:
        what = "gzip" if path.suffix.lower() == ".gz" else "Parquet"
        raise InvalidInput(f"truncated or corrupt {what} file, nothing loaded: {exc}", file=str(path)) from None


def _load_file(wh: FileLoader, table: str, path: Path, rejects_file: Path | None,
               progress: Callable[[float], None] | None, crm: CrmSettings, sample: int | None) -> LoadResult:
    fields = schema.fields(table)
    wh.ensure_canonical_tables()
    # Progress: reading the file is the first 60%, checking 20%, inserting the last 20%; a file
    # read in place (Staged.viewed) is checked in the first half and inserted in the second.
    report = progress or (lambda pct: None)
    with wh.ingest_memory(), wh.engine_errors():
        staged = wh.stage_file(path, {f.name: f.type for f in fields} | {f.identifier: "string" for f in fields
                                                                         if f.identifier},
                               lambda pct: report(0.6 * pct))
        steps = report if staged.viewed is None else (lambda pct: report(2.5 * (pct - 60)))
        try:
            return _load_staged(wh, table, fields, staged, str(path), rejects_file, steps, crm, sample)
        finally:
            wh.drop_staged(staged)


def _load_staged(wh: FileLoader, table: str, fields: tuple[Field, ...], staged: Staged,
                 file: str, rejects_file: Path | None,
                 report: Callable[[float], None], crm: CrmSettings, sample: int | None) -> LoadResult:
    rows = staged.rows
    present = set(rows.columns) - {"_row"}
    missing = [f.name for f in fields if f.required and f.name not in present]
    if table == "conversions" and not present & {"visitor_id", "user_id", "customer_id"}:
        missing.append("visitor_id, user_id or customer_id")
    if missing:
        raise InvalidInput(f"missing required column(s): {', '.join(missing)}", file=file)
    known = {f.name for f in fields} | {f.identifier for f in fields if f.identifier}
    result = LoadResult(file=file, table=table,
                        ignored_columns=[c for c in staged.columns if c not in known])

    rows = _normalised(wh, staged, rows, present, fields, crm)
    typed, why = {}, {}  # field -> typed value; column of the file -> why its value is bad
    # whether a row may be bad, cheaply (a superset of the checks below: Suspects); only the
    # rows it flags have their reasons computed
    suspects = Suspects()
    for f in fields:
        if f.identifier or f.plain:
            value, reasons = _identifier(rows, present, f, crm)
            typed[f.name] = (value, None)
            why.update(reasons)
            suspects.conditions += [r.notnull() for r in reasons.values()]
        else:
            typed[f.name] = _typed(rows[f.name] if f.name in present else ibis.null(f.type), f, suspects)
            why[f.name] = typed[f.name][1]
    if table == "conversions":
        no_id = typed["visitor_id"][0].isnull() & typed["user_id"][0].isnull() & typed["customer_id"][0].isnull()
        why["visitor_id"] = ibis.ifelse(
            no_id, "missing: a conversion needs a visitor_id, a user_id or a customer_id", why["visitor_id"])
        suspects.conditions.append(no_id)
    for f in fields:  # a value valid only with some values of another field
        for value, other, allowed in f.only_when:
            mine, theirs = typed[f.name][0], typed[other][0]
            wrong = (mine == value) & theirs.notnull() & ~theirs.isin(allowed)
            why[f.name] = ibis.ifelse(wrong.fill_null(False) & why[f.name].isnull(),
                                      f"{value} is for {other} {' or '.join(allowed)} only", why[f.name])
            suspects.conditions.append(wrong)
    # Only the bad rows are kept apart; good rows are read again at insert time.
    bad = rows.filter(suspects.any()).filter(ibis.or_(*(w.notnull() for w in why.values()))).select(
        "_row", **{f"_why_{n}": w for n, w in why.items()},
        **{f"_raw_{n}": rows[n].cast("string") for n in why if n in present})
    bad = wh.materialize(f"{staged.name}_bad", bad, lambda pct: report(60 + 0.15 * pct))
    keys = schema.KEYS[table]
    dups = wh.materialize(f"{staged.name}_dup", _duplicates(rows, {k: typed[k][0] for k in keys}))
    broken = wh.count(staged.broken_table)
    result.rows_read = wh.count(staged.rows_table) + broken
    # A clean file (the usual one) asks no more: the rejects' query, a union of a part per
    # column, costs more to build and compile than the checks themselves on a small file.
    if broken or wh.count(f"{staged.name}_bad") or wh.count(f"{staged.name}_dup"):
        rejects = wh.materialize(f"{staged.name}_rejects",
                                 _rejects(bad, dups, staged.broken, list(why), keys, present, file))
        result.rejected_rows = int(rejects.row.nunique().execute())
    if result.rejected_rows:
        result.rejects = [Reject(**r) for r in rejects.limit(sample).to_pyarrow().to_pylist()]
        if rejects_file is not None:
            rejects_file.parent.mkdir(parents=True, exist_ok=True)
            written = rejects_file.with_name(rejects_file.name + ".part")  # whole or not at all
            wh.con.to_csv(rejects.mutate(value=cells.neutralised(rejects.value)), written)
            written.replace(rejects_file)
            result.rejects_file = rejects_file

    valid = rows.filter(rows._row.notin(rejects.row)) if result.rejected_rows else rows
    valid = valid.select(**{f.name: _identifier(valid, present, f, crm)[0] if f.identifier or f.plain
                            else _typed(valid[f.name] if f.name in present else ibis.null(f.type), f)[0]
                            for f in fields})
    with wh.transaction():  # the stored keys are read inside it: a load committed meanwhile counts
        stored = wh.table(table)
        seq = int(stored[schema.LOAD_SEQ].max().fill_null(0).execute()) + 1  # loads take turns
        new = valid.anti_join(stored, list(keys))
        if table in schema.LATEST_WINS:  # a stored key with other values: this row replaces it
            known = _kept_absent(valid.semi_join(stored, list(keys)), stored, fields, present, keys)
            same = stored.view()
            changed = wh.materialize("_changed_rows", known.anti_join(
                same, [known[c].identical_to(same[c]) for c in known.columns]))
            result.updated = wh.count("_changed_rows")
            if result.updated:  # the new rows are read before the changed ones go
                new = wh.materialize("_new_rows", new.union(changed))
                wh.delete(table, keys[0], changed.select(keys[0]))
        before = wh.count(table)
        wh.insert(table, new.mutate(**{schema.LOAD_SEQ: ibis.literal(seq).cast("int64")}),  # BIGINT in every part
                  lambda pct: report(80 + 0.2 * pct))
        result.inserted = wh.count(table) - before - result.updated
        if not staged.unchanged():  # read in place, and rewritten meanwhile: nothing of it is stored
            raise InvalidInput("the file changed while it was loaded: nothing of it was stored; load it again "
                               "once it is written whole", file=file)
    result.already_loaded = result.rows_read - result.rejected_rows - result.inserted - result.updated
    return result


def _given(f: Field, present: set[str]) -> bool:
    """Whether the file has a column that gives field `f` (an identifier's plain or hashed one)."""
    return f.name in present or bool(f.identifier and f.identifier in present) or bool(f.plain and f.plain in present)


def _kept_absent(known: ir.Table, stored: ir.Table, fields: tuple[Field, ...], present: set[str],
                 keys: tuple[str, ...]) -> ir.Table:
    """Rows replacing stored ones, with the stored value of every field the file has no column
    for: an extract of some columns updates those columns, it does not blank the others."""
    absent = [f.name for f in fields if not _given(f, present)]
    if not absent:
        return known
    old = stored.select(*keys, **{f"_stored_{c}": stored[c] for c in absent})
    j = known.join(old, list(keys))
    return j.select(**{c: j[f"_stored_{c}"] if c in absent else j[c] for c in known.columns})


def _normalised(wh: FileLoader, staged: Staged, rows: ir.Table, present: set[str], fields: tuple[Field, ...],
                crm: CrmSettings) -> ir.Table:
    """The rows with `_normal_<kind>`, each plain email and phone normalised once: the checks,
    the rejects and the insert read it several times, and the engine would call Python again
    for every time (a third of a CRM load's time)."""
    kinds = sorted({f.identifier or f.plain for f in fields if f.identifier or f.plain} & present)
    if not kinds:
        return rows
    normal = {}
    for kind in kinds:
        text = rows[kind].cast("string").strip().nullif("")
        normal[f"_normal_{kind}"] = _email(text) if kind == "email" else _e164(text, ibis.literal(crm.default_country))
    return wh.materialize(f"{staged.name}_normal", rows.mutate(**normal))


def _identifier(rows: ir.Table, present: set[str], f: Field,
                crm: CrmSettings) -> tuple[ir.Value, dict[str, ir.Value]]:
    """(value, {column: why its value is bad}) of an identifier field (schema.Field.identifier
    or .plain): a hash read from `<kind>_sha256`, else computed from the plain `<kind>`
    column's normalised value; a plain field keeps that value only with `crm.keep_plain`."""
    kind = f.identifier or f.plain
    nothing = ibis.null("string")
    plain_col, hash_col = kind, f"{kind}_sha256"
    normal: ir.StringValue = nothing
    reasons: dict[str, ir.Value] = {}
    if plain_col in present:
        text = rows[plain_col].cast("string").strip().nullif("")
        normal = rows[f"_normal_{kind}"]  # _normalised
        bad = ("not an email address (name@domain.tld)" if kind == "email" else
               f"not a valid phone number (international, or national in {crm.default_country})")
        reasons[plain_col] = ibis.ifelse(text.notnull() & normal.isnull(), bad, nothing)
    if f.plain:
        return (normal if crm.keep_plain else nothing).name(f.name), {}
    value = normal.hexdigest("sha256")
    if hash_col in present:
        given = rows[hash_col].cast("string").strip().lower().nullif("")
        ok = given.re_search(f"^{identifiers.SHA256.pattern}$")
        # both given and not the same person: which is right cannot be told, so neither is taken
        differ = ok & value.notnull() & (given != value)
        reasons[hash_col] = ibis.cases((given.notnull() & ~ok, "not a SHA-256 hash (64 hex digits)"),
                                       (differ.fill_null(False), f"not the SHA-256 of the row's {plain_col}"),
                                       else_=nothing)
        value = ibis.ifelse(ok, given, nothing).coalesce(value)
    return value.cast("string").name(f.name), reasons


@ibis.udf.scalar.builtin(name=identifiers.EMAIL_FUNCTION)
def _email(email: str) -> str:  # type: ignore[empty-body]
    """identifiers.email_arrow, which the loading warehouse registers."""


@ibis.udf.scalar.builtin(name=identifiers.E164_FUNCTION)
def _e164(phone: str, country: str) -> str:  # type: ignore[empty-body]
    """identifiers.e164_arrow, which the loading warehouse registers."""


def _duplicates(rows: ir.Table, keys: dict[str, ir.Value]) -> ir.Table:
    """Rows whose key an earlier row of the same file already has: (_row, first)."""
    k = rows.select("_row", **keys)
    first = k.group_by(list(keys)).agg(first=k._row.min(), n=k.count()).filter(lambda t: t.n > 1)
    j = k.join(first, list(keys))
    return j.filter(j._row != j.first).select("_row", "first",
                                                value=j[next(iter(keys))].cast("string"))


def _any_control(texts: ir.ArrayValue) -> ir.BooleanValue:
    """Whether a list's texts (a list column, a map's keys or values) hold a control character."""
    return texts.filter(lambda x: x.re_search(cells.CONTROL)).length() > 0


TRIMMED = (" ", "\t", "\n", "\r", "\v", "\f")  # what a text loses at both ends (Ibis's strip)


@dataclass
class Suspects:
    """Whether a row may be bad, cheaply: a superset of the rows some check rejects. Only the
    rows it flags have their reasons computed (`_typed`'s `why`): on a clean Parquet file of
    100M touchpoints, the exact checks of every row took 299 s of a 622 s load, mostly trimming
    every text again for each check.

    A text field's checks are read on the text as written (`text`): no trimming, no
    lowercasing, and the searches for a character class (a control character, a space in an
    id) made once per row in the row's texts joined, per pattern. Other fields' checks are
    taken as they are."""

    conditions: list[ir.BooleanValue] = field(default_factory=list)
    searched: dict[str, list[ir.StringValue]] = field(default_factory=dict)  # pattern -> texts

    def text(self, raw: ir.StringValue, f: Field) -> None:
        """The checks of text field `f` (missing, choices, characters, length: `_converted`)
        as supersets on its text as written: trimming removes only TRIMMED, so a text that
        trims to nothing starts with one, and trimmed or lowercased text is no longer and
        holds no character the text as written does not."""
        if f.required:
            self.conditions.append(raw.isnull() | (raw.length() == 0) | raw.substr(0, 1).isin(TRIMMED))
        if f.choices:
            self.conditions.append(~raw.isin(f.choices))
        self.searched.setdefault(cells.CONTROL, []).append(raw)
        if f.token:
            self.searched.setdefault(identifiers.NOT_TOKEN, []).append(raw)
            self.conditions.append(raw.length() > identifiers.MAX_TOKEN)

    def any(self) -> ir.BooleanValue:
        # each pattern is one character class: found in the joined texts iff in one of them
        found = [ibis.literal("").join([t.fill_null("") for t in texts]).re_search(pattern)
                 for pattern, texts in self.searched.items()]
        return ibis.or_(ibis.literal(False), *self.conditions, *found).fill_null(False)


def _typed(raw: ir.Column, f: Field, suspects: Suspects | None = None) -> tuple[ir.Value, ir.Value]:
    """(typed value, reason it is invalid or null) for one field; what may make it bad added
    to `suspects`.

    Text (CSV, JSON) is trimmed and parsed; typed input (Parquet) is converted with
    try_cast, so a column of the wrong type rejects its rows instead of failing the load.
    """
    target = dt.dtype(f.type)
    text = raw.strip().nullif("") if raw.type().is_string() else None
    present = text.notnull() if text is not None else raw.notnull()
    value, invalid, nonfinite, bounds = _converted(raw, text, f, target)

    checks = []
    if f.required:
        checks.append((~present, "missing"))
    if nonfinite is not None:
        checks.append((nonfinite, "not a finite number"))
    if invalid:
        checks.append((present & value.isnull(), invalid))
    if f.choices:
        checks.append((value.notnull() & ~value.isin(f.choices),
                       "must be one of " + ", ".join(f.choices)))
    if f.minimum is not None:
        checks.append((value < f.minimum, f"must be >= {f.minimum:g}"))
    if f.maximum is not None:
        checks.append((value > f.maximum, f"must be <= {f.maximum:g}"))
    checks += bounds
    if suspects is not None:
        if target.is_string() and text is not None:
            suspects.text(raw, f)
        else:
            suspects.conditions += [condition for condition, _ in checks]
    why = ibis.cases(*checks, else_=ibis.null("string")) if checks else ibis.null("string")
    if f.default is not None:
        value = ibis.ifelse(present, value, ibis.literal(f.default, type=target))
    return value.cast(target).name(f.name), why.cast("string")


def _converted(raw: ir.Column, text: ir.StringValue | None, f: Field, target: dt.DataType) -> tuple[
        ir.Value, str | None, ir.BooleanValue | None, list[tuple[ir.BooleanValue, str]]]:
    """(value converted to the field's type, the reason a present value that does not convert
    gets, whether a number converted to NaN or an infinity, the checks of a value out of any
    sane range) for one field; `text`: the trimmed text, None for typed input."""
    invalid = None  # the reason a present value that does not convert gets
    nonfinite: ir.BooleanValue | None = None  # a number that converts to NaN or an infinity
    bounds: list[tuple[ir.BooleanValue, str]] = []  # a value that converts, out of any sane range
    after_tomorrow = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).date()
    if target.is_string():
        value = text if text is not None else raw.cast("string")
        if f.choices:
            value = value.lower()
        bounds = [(value.re_search(cells.CONTROL), "contains a control character (a NUL byte, say)")]
        if f.token:
            bounds += [(value.re_search(identifiers.NOT_TOKEN),
                        "not an id: it holds a space or an invisible character"),
                       (value.length() > identifiers.MAX_TOKEN,
                        f"not an id: longer than {identifiers.MAX_TOKEN} characters")]
    elif target.is_timestamp():
        value = (text.try_cast(dt.Timestamp(timezone="UTC")).cast("timestamp")
                 if text is not None else raw.try_cast("timestamp"))
        invalid = "not a valid timestamp"
        bounds = [(value < ibis.timestamp(f"{schema.EARLIEST} 00:00:00"), f"before {schema.EARLIEST}"),
                  (value >= ibis.timestamp(f"{after_tomorrow} 00:00:00"), "in the future (after tomorrow)")]
    elif target.is_date():
        value = (text if text is not None else raw).try_cast("date")
        invalid = "not a valid date (YYYY-MM-DD)"
        bounds = [(value < ibis.date(schema.EARLIEST), f"before {schema.EARLIEST}"),
                  (value >= ibis.date(after_tomorrow), "in the future (after tomorrow)")]
    elif target.is_boolean():
        if text is not None:
            low = text.lower()
            value = ibis.cases((low.isin(_TRUE), True), (low.isin(_FALSE), False),
                               else_=ibis.null("boolean"))
        else:
            value = raw.try_cast("boolean")
        invalid = "not a boolean (true/false)"
    elif target.is_numeric():
        number = (text if text is not None else raw).try_cast("float64")
        if target.is_integer():  # "1.5" is no count (a cast would round it to 2)
            value = ibis.ifelse(number == number.floor(), number, ibis.null("float64")).try_cast(target)
            invalid = "not an integer"
        else:
            value = number
            invalid = "not a number"
        # NaN, infinities and 1e999 (read as infinity) are not numbers anyone measured
        nonfinite = (number.isnan() | number.isinf()).fill_null(False)
        value = ibis.ifelse(nonfinite, ibis.null(target), value)
    elif target.is_array():
        if text is not None:
            # "a|b" in CSV; '["a","b"]' when a JSON array was read as text (its escapes decoded:
            # "beaut\u00e9" is beauté; one that is no JSON array is not a list)
            parts = ibis.ifelse(text.startswith("["), text.try_cast("json").cast(target), text.split("|"))
            value = parts.map(lambda x: x.strip()).filter(lambda x: x != "")
        else:
            value = raw.try_cast(target)
        invalid = "not a list of strings"
        bounds = [(_any_control(value).fill_null(False), "contains a control character (a NUL byte, say)")]
    elif target.is_map():
        if text is not None:
            js = text.try_cast("json")
            value = ibis.ifelse(js.map.notnull(), js.cast(target), ibis.null(target))
        else:
            value = raw.try_cast(target)
        invalid = "not a JSON object of attributes"
        bounds = [((_any_control(value.keys()) | _any_control(value.values())).fill_null(False),
                   "contains a control character (a NUL byte, say)")]
    else:  # pragma: no cover - schema only uses the types above
        raise TypeError(f"no validation for {target}")
    return value, invalid, nonfinite, bounds


def _rejects(bad: ir.Table, dups: ir.Table, broken: ir.Table, columns: list[str],
             keys: tuple[str, ...], present: set[str], file: str) -> ir.Table:
    parts = [
        bad.filter(bad[f"_why_{c}"].notnull()).select(
            file=ibis.literal(file), row=bad._row.cast("int64"), field=ibis.literal(c),
            value=cells.shown(bad[f"_raw_{c}"]) if c in present else ibis.null("string"),
            reason=bad[f"_why_{c}"])
        for c in columns
    ]
    parts.append(dups.select(file=ibis.literal(file), row=dups._row.cast("int64"),
                             field=ibis.literal(keys[0]), value=cells.shown(dups.value),
                             reason="duplicate key of row " + dups.first.cast("string")))
    parts.append(broken.select(file=ibis.literal(file), row=broken._row.cast("int64"),
                               field=ibis.literal("*"), value=ibis.null("string"),
                               reason=broken.reason))
    return ibis.union(*parts).order_by(["row", "field"])


def load_events(wh: Storage, table: str, events: list[dict], folder: Path,
                crm: CrmSettings | None = None) -> dict:
    """A batch of events (the HTTP API's POST) loaded exactly like a file: written as JSON
    Lines in `folder`, validated, committed. Returns the counts and every rejected row."""
    if not all(isinstance(e, dict) for e in events):
        raise InvalidInput("a batch is a JSON array of objects", file=f"{table} batch")
    path = folder / f"{table}-batch.jsonl"
    # NaN and infinities (which Python's JSON reads) go as text, to be refused like a file's
    said = [{k: str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in e.items()}
            for e in events]
    path.write_text("".join(json.dumps(e, default=str) + "\n" for e in said), "utf-8")
    res = load_file(wh, table, path, crm=crm, sample=None) if events else LoadResult(str(path), table)
    return {"table": table, "received": len(events), "inserted": res.inserted, "updated": res.updated,
            "already_loaded": res.already_loaded, "rejected": [
                {"row": r.row, "field": r.field, "value": r.value, "reason": r.reason} for r in res.rejects]}
