"""Tables as Parquet files, for engines that do not store tables themselves (Spark).

A table is a list of Parquet parts (files or folders of files); one manifest names the
parts of every table. A write adds new parts and then replaces the manifest in one rename,
so a load or a build commits all its tables at once or not at all, and readers never see a
half-written table. Parts no longer named are deleted after the commit.

One writer at a time: a transaction holds the store's lock (`writing`) from its first new
part to its commit, as DuckDB's file lock does for a database file. Readers in other processes
(a server) need no lock: a part a commit replaces is kept for `GRACE` seconds, so a query that
started on the previous manifest finishes on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "_manifest.json"
GRACE = 600.0  # seconds a replaced part outlives its last naming manifest
_HELD: dict[Path, int] = {}  # stores whose lock this process holds, and how deeply


class ParquetStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Wait for, then hold, the store's one write lock (other processes' writers wait).
        Re-entrant within a process: a transaction creating a missing table holds it already."""
        key = self.root.resolve()
        if key in _HELD:
            _HELD[key] += 1
            try:
                yield
            finally:
                _HELD[key] -= 1
            return
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            _HELD[key] = 1
            try:
                yield
            finally:
                del _HELD[key]
                fcntl.flock(fh, fcntl.LOCK_UN)

    def version(self) -> int:
        """Changes whenever a commit lands: readers re-read the manifest then."""
        try:
            return (self.root / MANIFEST).stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def _manifest(self) -> dict:
        path = self.root / MANIFEST
        return json.loads(path.read_text("utf-8")) if path.exists() else {"tables": {}}

    def _read(self) -> dict[str, list[str]]:
        return self._manifest()["tables"]

    def names(self) -> list[str]:
        return sorted(self._read())

    def tables(self) -> dict[str, list[Path]]:
        """Every table's parts, from one reading of the manifest (a consistent view)."""
        return {name: [self.root / p for p in parts] for name, parts in self._read().items()}

    def parts(self, name: str) -> list[Path]:
        return [self.root / p for p in self._read().get(name, [])]

    def files(self, name: str) -> list[str]:
        """Every Parquet file of a table (a reader that wants files, not folders)."""
        out = []
        for part in self.parts(name):
            out += sorted(map(str, part.glob("*.parquet"))) if part.is_dir() else [str(part)]
        return out

    def new_part(self, name: str, suffix: str = "") -> Path:
        """A fresh path for a part of `name`; it belongs to the table only once committed."""
        (self.root / name).mkdir(exist_ok=True)
        return self.root / name / f"{uuid.uuid4().hex}{suffix}"

    def create_missing(self, schemas: dict[str, pa.Schema]) -> None:
        """Empty tables (one empty part, for its schema) for the names not stored yet."""
        if all(n in self._read() for n in schemas):
            return
        with self.writing():  # two first loads at once must not both create (and collect)
            missing = {n: s for n, s in schemas.items() if n not in self._read()}
            parts = {n: self.new_part(n, ".parquet") for n in missing}
            for name, part in parts.items():
                pq.write_table(missing[name].empty_table(), part)
            self.commit({n: (True, [p]) for n, p in parts.items()})

    def commit(self, changes: dict[str, tuple[bool, list[Path]]]) -> None:
        """Apply {table: (replace?, new parts)} atomically; then delete unnamed parts.
        Callers hold the write lock (`writing`)."""
        manifest = self._manifest()
        tables, now = manifest["tables"], time.time()
        retired = {p: at for p, at in manifest.get("retired", {}).items() if now - at < GRACE}
        for name, (replace, parts) in changes.items():
            rel = [str(p.relative_to(self.root)) for p in parts]
            if replace:
                retired.update(dict.fromkeys(tables.get(name, []), now))
            tables[name] = rel if replace else tables.get(name, []) + rel
        self._write(tables, retired)
        self.collect(set(changes) | {p.split("/")[0] for p in manifest.get("retired", {})})

    def _write(self, tables: dict[str, list[str]], retired: dict[str, float] | None = None) -> None:
        """The new manifest, on disk before it replaces the old one (a crash leaves either)."""
        tmp = self.root / f".{MANIFEST}.{uuid.uuid4().hex}"
        if retired is None:
            retired = self._manifest().get("retired", {})
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"tables": tables, "retired": retired}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)

    def drop(self, name: str) -> None:
        with self.writing():
            tables = self._read()
            if tables.pop(name, None) is not None:
                self._write(tables)
            shutil.rmtree(self.root / name, ignore_errors=True)

    def collect(self, names: set[str]) -> None:
        """Delete the parts of `names` the manifest neither names nor keeps for readers still
        on a previous one (replaced over `GRACE` ago, or never committed)."""
        manifest = self._manifest()
        kept = [*manifest.get("retired", {})]
        for name in names:
            keep = {self.root / p for p in [*manifest["tables"].get(name, []), *kept]}
            folder = self.root / name
            for part in folder.iterdir() if folder.is_dir() else ():
                if part not in keep:
                    shutil.rmtree(part) if part.is_dir() else part.unlink()
