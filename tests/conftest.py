"""Real DuckDB workspaces in temporary folders; rows written as real files and loaded."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from pathlib import Path

import pytest

from parcours import Workspace
from parcours.ingest import LoadResult, load_file

AS_OF = dt.date(2026, 11, 23)
_files = itertools.count()


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    header = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header, delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def load_rows(ws: Workspace, table: str, rows: list[dict]) -> LoadResult:
    """Write `rows` to a CSV file in the workspace and load it like a user would."""
    path = write_csv(ws.path / f"{table}-{next(_files)}.csv", rows)
    return load_file(ws.warehouse, table, path, rejects_file=path.with_suffix(".rejects.csv"))


def rows_of(ws: Workspace, table: str, order_by: list[str] | None = None) -> list[dict]:
    t = ws.warehouse.table(table)
    if order_by:
        t = t.order_by(order_by)
    return t.to_pyarrow().to_pylist()
