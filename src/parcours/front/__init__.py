"""The front door: every job parcours does, as a typed method of a workspace.

`parcours.open(path)` gives the workspace a program, the `parcours` command or a notebook
works on: a `Workspace`, which reads and writes the warehouse itself, or, while `parcours
serve` holds that warehouse (DuckDB: one process), a `RemoteWorkspace`, which asks the server
over HTTP and returns the same types. Both implement `Door`, so "a server holds this
workspace" is decided once, here, and never in a command. The server's jobs call the same
`Workspace` methods (docs/architecture.md, "One engine, four faces").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from parcours.activation import audiences as audience_book
from parcours.activation import privacy
from parcours.attribution.catalogue import make_model
from parcours.attribution.credit import attributed
from parcours.attribution.intervals import warehouse_intervals
from parcours.attribution.registry import MODELS
from parcours.build.journeys import BuildResult
from parcours.contract.conditions import audience as audience_of
from parcours.contract.conditions import parse
from parcours.contract.config import Config
from parcours.contract.query import LEVELS, Query
from parcours.engine.storage import Storage
from parcours.engine.workspace import Folder
from parcours.errors import InvalidInput, NotBuilt, ParcoursError
from parcours.front.client import Remote
from parcours.front.jobs import build_all, plain, predict_again, refresh_audience
from parcours.load.ingest import LoadResult, Reject, load_file
from parcours.load.inventory import Facts, describe
from parcours.reports import CATALOGUE, ReportResult, run_report
from parcours.reports.base import Scope

Progress = Callable[[str, float], None]  # (step, percent done)


def _quiet(step: str, percent: float) -> None:
    """No one listens to the progress."""


@dataclass
class Built:
    """What `build` did: the journeys it built and what followed them."""

    result: BuildResult  # persons, journeys and touches built, and where the build cut
    retention: dict[str, int] = field(default_factory=dict)  # rows dropped past the retention, per table
    predict: dict[str, Any] = field(default_factory=dict)  # the predictions' figures, or why none
    audiences: dict[str, int] = field(default_factory=dict)  # members per audience
    audience_problems: list[str] = field(default_factory=list)  # saved audiences skipped, and why
    webhook: dict[str, Any] = field(default_factory=dict)  # batches delivered, or not and why

    @classmethod
    def from_plain(cls, done: dict) -> Built:
        """From the job's JSON (as `jobs.build_all` returns it, and the server answers it)."""
        done = dict(done)
        extra = {f.name: done.pop(f.name) for f in dataclasses.fields(cls) if f.name != "result" and f.name in done}
        return cls(BuildResult.from_plain(done), **extra)

    def plain(self) -> dict[str, Any]:
        """As JSON carries it: the journeys' figures, and beside them what followed."""
        return {**plain(self.result), **{f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                                         if f.name != "result"}}


@dataclass
class Attributed:
    """A model's credits over the reports' period, said with the period."""

    table: pd.DataFrame  # level, conversions, value[, lo, hi]
    start: dt.date
    end: dt.date
    warnings: list[str]


@dataclass(frozen=True)
class AudienceSize:
    """A saved audience and its members as of the last build (None before one)."""

    name: str
    size: int | None
    source: str
    description: str


@runtime_checkable
class Door(Protocol):
    """Every job of a workspace; `Workspace` does them, `RemoteWorkspace` asks a server."""

    path: Path

    @property
    def config(self) -> Config: ...

    def load(self, table: str, path: Path, rejects_file: Path | None = None,
             progress: Progress = _quiet) -> LoadResult: ...

    def build(self, as_of: dt.date | None = None, full: bool = False, progress: Progress = _quiet) -> Built: ...

    def report(self, name: str, query: Query | None = None) -> ReportResult: ...

    def export(self, name: str, query: Query | None, fmt: str, delimiter: str = ",", bom: bool = False) -> bytes: ...

    def attribute(self, model: str, level: str = "channel", fit_level: str = "channel", ci: float | None = None,
                  samples: int = 100, start: dt.date | None = None, end: dt.date | None = None,
                  **params: Any) -> Attributed: ...

    def audiences(self) -> list[AudienceSize]: ...

    def audience_problems(self) -> list[str]: ...

    def save_audience(self, name: str, when: Any, description: str = "") -> int | None: ...

    def delete_audience(self, name: str) -> None: ...

    def audience_size(self, when: Any) -> int: ...

    def export_audience(self, name: str, fmt: str, output: Path) -> dict[str, int] | None: ...

    def forget(self, identifier: str) -> dict[str, int]: ...

    def predict(self, horizon_days: int | None = None, progress: Progress = _quiet) -> dict[str, Any]: ...

    def info(self) -> Facts: ...

    def close(self) -> None: ...


def _report_known(name: str) -> None:
    if name not in CATALOGUE:
        raise InvalidInput(f"unknown report {name!r}; reports: {', '.join(CATALOGUE)}")


class Workspace(Folder):
    """A workspace this process reads and writes itself (`Folder`: its config and warehouse)."""

    webhooks = True  # a build delivers the audiences' changes itself (a server's courier does it apart)

    @classmethod
    def over(cls, path: Path, warehouse: Storage, config: Config, webhooks: bool = True) -> Workspace:
        """The workspace at `path` working through a warehouse already open (a server's job
        cursor, which the server closes): the jobs it runs call these same methods."""
        ws = cls(path)
        ws.__dict__.update(warehouse=warehouse, config=config)
        ws.webhooks = webhooks
        return ws

    def load(self, table: str, path: Path, rejects_file: Path | None = None,
             progress: Progress = _quiet) -> LoadResult:
        """Validate a file and load its rows (one transaction; loading it again adds nothing)."""
        return load_file(self.warehouse, table, path, rejects_file=rejects_file, crm=self.config.crm,
                         progress=lambda pct: progress(f"loading {Path(path).name}", pct))

    def build(self, as_of: dt.date | None = None, full: bool = False, progress: Progress = _quiet) -> Built:
        """Persons, journeys, touches and profiles up to D-2 of `as_of`, then predictions,
        audiences and their webhook."""
        self.require_warehouse()
        return Built.from_plain(build_all(self.warehouse, self.config, self.path, as_of, full, progress,
                                          webhook=self.webhooks))

    def report(self, name: str, query: Query | None = None) -> ReportResult:
        _report_known(name)
        self.require_warehouse()
        return run_report(name, self.warehouse, self.config, query)

    def export(self, name: str, query: Query | None, fmt: str, delimiter: str = ",", bom: bool = False) -> bytes:
        """The report as a file's bytes: csv, xlsx or json (the API's JSON)."""
        result = self.report(name, query)
        if fmt == "csv":
            return result.to_csv(None, delimiter=delimiter, bom=bom).encode("utf-8")
        if fmt == "xlsx":
            return result.to_xlsx()
        return (json.dumps(result.to_dict(), default=str) + "\n").encode("utf-8")

    def attribute(self, model: str, level: str = "channel", fit_level: str = "channel", ci: float | None = None,
                  samples: int = 100, start: dt.date | None = None, end: dt.date | None = None,
                  **params: Any) -> Attributed:
        """Attributed conversions and value per value of `level` under `model` (params: those it
        declares, `registry.MODELS[model].params`), over the reports' period (`start`, `end`:
        as a report's), with a bootstrap interval at `ci` for a data-driven model."""
        self.require_warehouse()
        m = make_model(model, **({"direct": self.config.direct_channels} | params))
        if level not in LEVELS:
            raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
        if ci is not None and not m.data_driven:
            driven = ", ".join(n for n, spec in MODELS.items() if spec.data_driven)
            raise InvalidInput(f"--ci is for the data-driven models ({driven})")
        scope = Scope(self.warehouse, self.config, Query(start=start, end=end))
        period = (dt.datetime.combine(scope.start, dt.time()),
                  dt.datetime.combine(scope.end + dt.timedelta(days=1), dt.time()))
        table = attributed(m, self.warehouse, level, fit_level, period).to_pandas()
        if ci is not None:
            bounds = warehouse_intervals(m, self.warehouse, level, fit_level, ci=ci, samples=samples, period=period)
            table = table.join(bounds, on=level)
        return Attributed(table.sort_values("conversions", ascending=False, ignore_index=True), scope.start,
                          scope.end, [str(w) for w in scope.warnings])

    def audiences(self) -> list[AudienceSize]:
        book = audience_book.Book(self.path, self.config)
        found = book.all()
        try:
            sizes: dict[str, int | None] = {a.name: audience_book.size(self.warehouse, self.config, a.when)
                                            for a in found} if self.has_warehouse() else {}
        except NotBuilt:
            sizes = {}
        return [AudienceSize(a.name, sizes.get(a.name), a.source, a.description) for a in found]

    def audience_problems(self) -> list[str]:
        book = audience_book.Book(self.path, self.config)
        book.all()
        return list(book.problems)

    def save_audience(self, name: str, when: Any, description: str = "") -> int | None:
        """Save (or replace) an audience and write its members at once; their number (None
        before a first build)."""
        a = audience_of({"name": name, "description": description, "when": when}, "audience", "workspace")
        audience_book.Book(self.path, self.config).save(a)
        return (refresh_audience(self.warehouse, self.config, self.path, name) or {}).get(name)

    def delete_audience(self, name: str) -> None:
        audience_book.Book(self.path, self.config).delete(name)
        refresh_audience(self.warehouse, self.config, self.path, name)

    def audience_size(self, when: Any) -> int:
        self.require_warehouse()
        return audience_book.size(self.warehouse, self.config, parse(when, "when"))

    def export_audience(self, name: str, fmt: str, output: Path) -> dict[str, int] | None:
        self.require_warehouse()
        a = audience_book.Book(self.path, self.config).get(name)
        return audience_book.export(self.warehouse, self.config, a, fmt, output)

    def forget(self, identifier: str) -> dict[str, int]:
        """Erase a person everywhere (raw, derived, rejects files); rows deleted per table."""
        self.require_warehouse()
        return privacy.forget(self.warehouse, self.config, identifier, self.path)

    def predict(self, horizon_days: int | None = None, progress: Progress = _quiet) -> dict[str, Any]:
        self.require_warehouse()
        return predict_again(self.warehouse, self.config, self.path, horizon_days, progress)["predict"]

    def info(self) -> Facts:
        self.require_warehouse()
        return describe(self.warehouse)


class RemoteWorkspace:
    """A workspace a running `parcours serve` holds: each job asked of it over HTTP (with the
    token it left in the folder), answered with the same types as `Workspace`'s."""

    def __init__(self, folder: Folder, remote: Remote):
        self.folder, self.remote, self.path = folder, remote, folder.path

    @property
    def config(self) -> Config:
        return self.folder.config

    def load(self, table: str, path: Path, rejects_file: Path | None = None,
             progress: Progress = _quiet) -> LoadResult:
        load = {"table": table, "path": str(Path(path).resolve())}
        if rejects_file is not None:
            load["rejects_file"] = str(Path(rejects_file).resolve())
        d = self.remote.run("ingest", progress, loads=[load])["loads"][0]
        return LoadResult(**{**d, "rejects": [Reject(**r) for r in d["rejects"]],
                             "rejects_file": d["rejects_file"] and Path(d["rejects_file"])})

    def build(self, as_of: dt.date | None = None, full: bool = False, progress: Progress = _quiet) -> Built:
        return Built.from_plain(self.remote.run("build", progress, as_of=as_of and as_of.isoformat(), full=full))

    def _params(self, query: Query | None) -> dict[str, Any]:
        """The query as a URL carries it."""
        out: dict[str, Any] = {}
        for k, v in (query or Query()).as_dict().items():
            if k == "parent":
                out[k] = [f"{lv}={val}" for lv, val in v.items()]
            elif k == "crm":
                out[k] = [f"{a}={'|'.join(vals)}" for a, vals in v.items()]
            elif isinstance(v, list | tuple):
                out[k] = list(v)
            else:
                out[k] = str(v).lower() if isinstance(v, bool) else str(v)
        return out

    def report(self, name: str, query: Query | None = None) -> ReportResult:
        _report_known(name)
        said = self.remote.json(f"/api/v1/reports/{name}", self._params(query))
        return ReportResult(name, pd.DataFrame(said["table"]), said["totals"], None, said["query"],
                            warnings=said.get("warnings", []))

    def export(self, name: str, query: Query | None, fmt: str, delimiter: str = ",", bom: bool = False) -> bytes:
        _report_known(name)
        extra = {"delimiter": delimiter, "bom": str(bom).lower()} if fmt == "csv" else {}
        return self.remote.get(f"/api/v1/reports/{name}", {**self._params(query), "format": fmt, **extra})

    def attribute(self, model: str, level: str = "channel", fit_level: str = "channel", ci: float | None = None,
                  samples: int = 100, start: dt.date | None = None, end: dt.date | None = None,
                  **params: Any) -> Attributed:
        raise ParcoursError(f"parcours serve (pid {self.remote.server.pid}) holds this workspace: `parcours "
                            "attribute` reads the warehouse itself; use `parcours report model_comparison`, "
                            "or stop the server")

    def audiences(self) -> list[AudienceSize]:
        sizes = {a["name"]: a["size"] for a in self.remote.json("/api/v1/audiences")}
        return [AudienceSize(a.name, sizes.get(a.name), a.source, a.description)
                for a in audience_book.Book(self.path, self.config).all()]

    def audience_problems(self) -> list[str]:
        book = audience_book.Book(self.path, self.config)
        book.all()
        return list(book.problems)

    def save_audience(self, name: str, when: Any, description: str = "") -> int | None:
        return self.remote.put(f"/api/v1/audiences/{name}", {"description": description, "when": when})["size"]

    def delete_audience(self, name: str) -> None:
        self.remote.delete(f"/api/v1/audiences/{name}")

    def audience_size(self, when: Any) -> int:
        return self.remote.post("/api/v1/audiences/preview", {"when": when})["size"]

    def export_audience(self, name: str, fmt: str, output: Path) -> dict[str, int] | None:
        output.write_bytes(self.remote.get(f"/api/v1/audiences/{name}/export", {"format": fmt}))
        return None  # the server wrote it; the counts stay there

    def forget(self, identifier: str) -> dict[str, int]:
        return self.remote.run("forget", identifier=identifier)["deleted"]

    def predict(self, horizon_days: int | None = None, progress: Progress = _quiet) -> dict[str, Any]:
        return self.remote.run("predict", progress, horizon_days=horizon_days)["predict"]

    def info(self) -> Facts:
        return Facts(**self.remote.json("/api/v1/info"))

    def close(self) -> None:
        self.folder.close()

    def __enter__(self) -> RemoteWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_workspace(path: Path | str = ".",
                   told: Callable[[str], None] = lambda said: None) -> Workspace | RemoteWorkspace:
    """The workspace at `path`: asked of the server that holds it, if one runs (`told` hears
    so), else read and written here."""
    folder = Folder(path)
    server = folder.server()
    if server is None:
        return Workspace(path)
    told(f"parcours serve (pid {server.pid}) holds this workspace: asking it at {server.url}")
    return RemoteWorkspace(folder, Remote(server))
