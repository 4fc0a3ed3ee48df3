"""ReportResult to CSV, XLSX and JSON. Text cells that a spreadsheet would run as a formula
(starting with =, +, -, @, tab or carriage return) are neutralised with a leading quote
(OWASP's CSV injection advice); numbers stay numbers."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd

RISKY = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    if isinstance(value, str) and value.startswith(RISKY):
        return "'" + value
    return value


def _safe(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def to_csv(result, path=None, delimiter: str = ",", bom: bool = False):
    """UTF-8 text (with a BOM for spreadsheet users if asked); written to `path` if given."""
    if delimiter not in (",", ";", "\t"):
        raise ValueError("delimiter must be ',', ';' or a tab")
    text = _safe(result.table).to_csv(index=False, sep=delimiter, lineterminator="\n")
    data = ("\ufeff" if bom else "") + text
    if path is None:
        return data
    Path(path).write_text(data, "utf-8", newline="")
    return path


def to_xlsx(result, path=None):
    """The table on a first sheet (typed cells, number formats, frozen header, filters), the
    query as applied on a second, secondary tables after; bytes, or written to `path`."""
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"strings_to_formulas": False, "strings_to_urls": False,
                                     "strings_to_numbers": False, "nan_inf_to_errors": True})
    bold = book.add_format({"bold": True, "bottom": 1})
    formats = {"int": book.add_format({"num_format": "#,##0"}),
               "float": book.add_format({"num_format": "#,##0.00"}),
               "share": book.add_format({"num_format": "0.0%"}),
               "date": book.add_format({"num_format": "yyyy-mm-dd"})}
    _sheet(book, result.name[:31], result.table, bold, formats)
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
        _sheet(book, name[:31], table, bold, formats)
    book.close()
    data = buf.getvalue()
    if path is None:
        return data
    Path(path).write_bytes(data)
    return path


def _sheet(book, name: str, df: pd.DataFrame, bold, formats) -> None:
    ws = book.add_worksheet(name)
    ws.write_row(0, 0, [neutralise(str(c)) for c in df.columns], bold)
    ws.freeze_panes(1, 0)
    for c, col in enumerate(df.columns):
        s = df[col]
        fmt = _format(col, s, formats)
        for r, v in enumerate(s.tolist(), start=1):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, int | float):
                ws.write_number(r, c, v, fmt)
            elif hasattr(v, "year") and hasattr(v, "month"):
                ws.write_datetime(r, c, pd.Timestamp(v).to_pydatetime(), formats["date"])
            else:
                ws.write_string(r, c, neutralise(v if isinstance(v, str) else str(v)))
        ws.set_column(c, c, max(10, min(40, len(str(col)) + 2)))
    if len(df.columns):
        ws.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)


def _format(col: str, s: pd.Series, formats):
    if "share" in col or col.endswith("_rate"):
        return formats["share"]
    if pd.api.types.is_integer_dtype(s):
        return formats["int"]
    if pd.api.types.is_float_dtype(s):
        return formats["float"]
    return None


def to_dict(result) -> dict:
    """JSON-ready: records with NaN as null."""
    def records(df: pd.DataFrame) -> list[dict]:
        return json.loads(df.to_json(orient="records", date_format="iso"))
    return {"report": result.name, "query": result.query, "totals": result.totals,
            "warnings": result.warnings, "table": records(result.table),
            "tables": {k: records(v) for k, v in result.tables.items()}}
