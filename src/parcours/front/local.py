"""A workspace this process reads and writes itself: every job of the front door run here,
through the engine (which is why this module is imported only when a job runs here)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from parcours.activation import audiences as audience_book
from parcours.activation import privacy
from parcours.attribution.catalogue import make_model
from parcours.attribution.credit import attributed
from parcours.attribution.intervals import warehouse_intervals
from parcours.attribution.registry import MODELS
from parcours.contract.conditions import audience as audience_of
from parcours.contract.conditions import parse
from parcours.contract.config import Config
from parcours.contract.query import LEVELS, Query
from parcours.engine.storage import Storage
from parcours.engine.workspace import Folder
from parcours.errors import InvalidInput, NotBuilt
from parcours.front.door import Attributed, AudienceSize, Built, Progress, quiet, report_known
from parcours.front.jobs import build_all, predict_again, refresh_audience
from parcours.load.ingest import load_file
from parcours.load.inventory import Facts, describe
from parcours.load.results import LoadResult
from parcours.reports import ReportResult, run_report
from parcours.reports.base import Scope


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
             progress: Progress = quiet) -> LoadResult:
        """Validate a file and load its rows (one transaction; loading it again adds nothing)."""
        return load_file(self.warehouse, table, path, rejects_file=rejects_file, crm=self.config.crm,
                         progress=lambda pct: progress(f"loading {Path(path).name}", pct))

    def build(self, as_of: dt.date | None = None, full: bool = False, progress: Progress = quiet) -> Built:
        """Persons, journeys, touches and profiles up to D-2 of `as_of`, then predictions,
        audiences and their webhook."""
        self.require_warehouse()
        return Built.from_plain(build_all(self.warehouse, self.config, self.path, as_of, full, progress,
                                          webhook=self.webhooks))

    def report(self, name: str, query: Query | None = None) -> ReportResult:
        report_known(name)
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

    def predict(self, horizon_days: int | None = None, progress: Progress = quiet) -> dict[str, Any]:
        self.require_warehouse()
        return predict_again(self.warehouse, self.config, self.path, horizon_days, progress)["predict"]

    def info(self) -> Facts:
        self.require_warehouse()
        return describe(self.warehouse)

