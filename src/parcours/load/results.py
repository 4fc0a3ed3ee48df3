"""What a load did, as its caller reads it: a module of its own, so a command asking a server
for a load imports neither Ibis nor pandas."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Reject:
    file: str
    row: int
    field: str
    value: str | None
    reason: str


@dataclass
class LoadResult:
    file: str
    table: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0  # stored rows this file replaced (schema.LATEST_WINS tables)
    already_loaded: int = 0
    rejected_rows: int = 0
    rejects: list[Reject] = field(default_factory=list)  # the first `sample` of them
    rejects_file: Path | None = None  # all of them, when there are any
    ignored_columns: list[str] = field(default_factory=list)
