"""ReportResult to CSV, XLSX and JSON. Text cells that a spreadsheet would run as a formula
are neutralised (`cells.neutralise`: OWASP's CSV injection advice); numbers stay numbers."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

import pandas as pd

from parcours.contract.cells import neutralise
from parcours.errors import InvalidInput
from parcours.reports.labels import Message, Words, colours, name_of, translate_figure

if TYPE_CHECKING:
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook


class Result(Protocol):
    """What the exports read of a report's answer: base.ReportResult (base imports this module,
    so a protocol here rather than an import back, which would make an import circle)."""

    name: str
    table: pd.DataFrame
    totals: dict
    query: dict
    warnings: list[str]
    tables: dict[str, pd.DataFrame]
    headline: list[str]
    link: dict | None
    empty: Message | None
    page_rows: int | None
    verbatim: tuple[str, ...]

    @property
    def is_empty(self) -> bool: ...

    @property
    def figure_json(self) -> str: ...

DECIMALS = {"share": 4, "rate": 6, "points": 6, "pct": 1}  # a person's export rounds floats to this (else 2)


def _safe(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def _whole(table: pd.DataFrame, level: str) -> pd.DataFrame:
    """Counts that are whole numbers written as such (107, not 107.0), in every report alike;
    a fractional count (a data-driven model's credit) stays a decimal."""
    words, out = Words("en"), table
    for col in table.columns:
        values = table[col]
        if pd.api.types.is_float_dtype(values) and words.column(str(col), level)[1] == "count":
            finite = values.dropna()
            if len(finite) and finite.map(float.is_integer).all():
                out = out.assign(**{col: values.astype("Int64")})
    return out


def for_people(result: Result, table: pd.DataFrame, words: Words) -> pd.DataFrame:
    """The table as a person reads it in `words`' language: columns by their labels (money
    with its currency), values (channels, devices, stages) by their names."""
    level = result.query.get("level", "channel")
    names = words.names(level)
    out = table.copy()
    yes_no = {True: words.text("yes"), False: words.text("no")}
    for col in out.columns:
        unit = words.column(str(col), level)[1]
        if pd.api.types.is_bool_dtype(out[col]):
            out[col] = out[col].map(yes_no)
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(DECIMALS.get(unit, 2))
        elif col not in result.verbatim and (out[col].dtype == object or pd.api.types.is_string_dtype(out[col])):
            out[col] = out[col].map(lambda v: name_of(v, names))
    out.columns = [words.column(str(c), level)[0] for c in out.columns]
    return out


@overload
def to_csv(result: Result, path: None = None, delimiter: str = ",", bom: bool = False,
           words: Words | None = None) -> str: ...
@overload
def to_csv(result: Result, path: str | Path, delimiter: str = ",", bom: bool = False,
           words: Words | None = None) -> str | Path: ...
def to_csv(result: Result, path: str | Path | None = None, delimiter: str = ",", bom: bool = False,
           words: Words | None = None) -> str | Path:
    """UTF-8 text (with a BOM for spreadsheet users if asked); written to `path` if given.
    With `words`, for people: labelled columns, named values, and in French decimal commas."""
    if delimiter not in (",", ";", "\t"):
        raise InvalidInput("delimiter must be ',', ';' or a tab")
    table = _whole(result.table, result.query.get("level", "channel"))
    table = for_people(result, table, words) if words else table
    decimal = "," if words and words.lang == "fr" else "."
    if decimal == delimiter:
        raise InvalidInput("a decimal comma needs another delimiter: ';' or a tab")
    text = _safe(table).to_csv(index=False, sep=delimiter, lineterminator="\n", decimal=decimal)
    data = ("\ufeff" if bom else "") + text
    if path is None:
        return data
    Path(path).write_text(data, "utf-8", newline="")
    return path


@overload
def to_xlsx(result: Result, path: None = None, words: Words | None = None) -> bytes: ...
@overload
def to_xlsx(result: Result, path: str | Path, words: Words | None = None) -> str | Path: ...
def to_xlsx(result: Result, path: str | Path | None = None, words: Words | None = None) -> bytes | str | Path:
    """The table on a first sheet (typed cells, number formats, frozen header, filters), the
    query as applied on a second, secondary tables after; bytes, or written to `path`. With
    `words`, for people: labelled columns, named values, amounts in the currency."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"strings_to_formulas": False, "strings_to_urls": False,
                                     "strings_to_numbers": False, "nan_inf_to_errors": True})
    bold = book.add_format({"bold": True, "bottom": 1})
    formats = {"int": book.add_format({"num_format": "#,##0"}),
               "float": book.add_format({"num_format": "#,##0.00"}),
               "share": book.add_format({"num_format": "0.0%"}),
               "rate": book.add_format({"num_format": "0.000%"}),  # small probabilities stay apart
               "date": book.add_format({"num_format": "yyyy-mm-dd"})}
    if words:
        formats["money"] = book.add_format({"num_format": f'#,##0.00 "{words.currency}"'})
    _sheet(book, result.name[:31], result.table, bold, formats, result, words)
    q = book.add_worksheet("query")
    q.write_row(0, 0, ["setting", "value"], bold)
    applied = {**result.query, **{f"total: {k}": v for k, v in result.totals.items()}}
    for i, (k, v) in enumerate(applied.items(), start=1):
        q.write_string(i, 0, neutralise(str(k)))
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            q.write_number(i, 1, v)
        else:
            q.write_string(i, 1, neutralise(v if isinstance(v, str) else json.dumps(v, default=str)))
    for i, w in enumerate(result.warnings, start=len(applied) + 2):
        q.write_string(i, 0, "warning")
        q.write_string(i, 1, neutralise(w))
    q.set_column(0, 1, 28)
    for name, table in result.tables.items():
        _sheet(book, name[:31], table, bold, formats, result, words)
    book.close()
    data = buf.getvalue()
    if path is None:
        return data
    Path(path).write_bytes(data)
    return path


def _sheet(book: Workbook, name: str, df: pd.DataFrame, bold: Format, formats: dict[str, Format], result: Result,
           words: Words | None) -> None:
    ws = book.add_worksheet(name)
    level = result.query.get("level", "channel")
    units = {c: (words or Words("en")).column(str(c), level)[1] for c in df.columns}
    shown = for_people(result, df, words) if words else df
    ws.write_row(0, 0, [neutralise(str(c)) for c in shown.columns], bold)
    ws.freeze_panes(1, 1)
    for c, col in enumerate(df.columns):
        s = shown.iloc[:, c]
        unit = units.get(col)
        fmt = formats.get(unit) if unit in ("money", "rate", "points") and words else _format(col, s, formats)
        fmt = formats["rate"] if unit in ("rate", "points") else fmt
        for r, v in enumerate(s.tolist(), start=1):
            if not isinstance(v, list | tuple | dict) and pd.isna(v):  # None, NaN, NaT, NA: an empty cell
                continue
            if isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, int | float):
                ws.write_number(r, c, v, fmt)
            elif hasattr(v, "year") and hasattr(v, "month"):
                ws.write_datetime(r, c, pd.Timestamp(v).to_pydatetime(), formats["date"])
            else:
                ws.write_string(r, c, neutralise(v if isinstance(v, str) else str(v)))
        ws.set_column(c, c, max(10, min(40, len(str(shown.columns[c])) + 2)))
    if len(df.columns):
        ws.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)


def _format(col: str, s: pd.Series, formats: dict[str, Format]) -> Format | None:
    if "share" in col or col.endswith("_rate"):
        return formats["share"]
    if pd.api.types.is_integer_dtype(s):
        return formats["int"]
    if pd.api.types.is_float_dtype(s):
        return formats["float"]
    return None


def to_dict(result: Result, words: Words | None = None) -> dict[str, Any]:
    """JSON-ready: records with NaN as null, keys as computed. With `words`, what a page needs
    to show it: the warnings in that language, each column's label and unit, the names of the
    values, the currency and the figure translated."""
    def records(df: pd.DataFrame) -> list[dict]:
        return json.loads(df.to_json(orient="records", date_format="iso"))
    out: dict[str, Any] = {"report": result.name, "query": result.query, "totals": result.totals,
           "warnings": [str(w) for w in result.warnings], "table": records(result.table),
           "tables": {k: records(v) for k, v in result.tables.items()},
           "headline": result.headline, "link": result.link, "empty": result.is_empty,
           "verbatim": list(result.verbatim)}
    if words is None:
        return out
    level = result.query.get("level")
    warnings = list(result.warnings)
    if result.page_rows is not None and len(result.table) > result.page_rows:  # a page draws what a person reads
        warnings.append(Message("first_rows", rows=result.page_rows, total=len(result.table)))
        out["table"] = out["table"][:result.page_rows]
    every = [*result.table.columns, *result.totals, *(c for t in result.tables.values() for c in t.columns)]
    figure = translate_figure(json.loads(result.figure_json), words.lang, words, level)  # a fresh copy
    return {**out, "lang": words.lang, "currency": words.currency,
            "warnings": [w.said(words.lang) if isinstance(w, Message) else str(w) for w in warnings],
            "columns": words.columns(list(dict.fromkeys(map(str, every))), level or "channel"),
            "names": words.names(level), "colours": _colours(result.table),
            "titles": words.tables(list(result.tables)),
            "empty_text": result.empty.said(words.lang) if result.empty is not None else None,
            "figure": figure}


def _colours(table: pd.DataFrame) -> dict[str, str]:
    """The colour of every value the table's rows and paths show (one per channel, as the
    charts draw them)."""
    values: set[str] = set()
    for col in ("row", "path", "channel"):
        if col in table.columns:
            values |= {part for v in table[col].dropna().astype(str) for part in v.split(" > ")}
    return colours(values)
