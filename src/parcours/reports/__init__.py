"""The ten Customer Journey reports and the real-time summary (docs/architecture.md, "Reports").

Each report module declares its `Report` (name, titles and questions in English and French,
options, chart, `run`) and registers it; importing this package imports every module in it,
so the catalogue fills itself. `CATALOGUE` holds them all, in menu order; `REPORTS` the ten
that read the built journeys. `run_report(name, wh, config, query)` -> ReportResult.
"""

from __future__ import annotations

import importlib
import pkgutil

from parcours.contract.config import Config
from parcours.contract.query import Query
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput
from parcours.reports import base
from parcours.reports.base import Report, ReportResult, Scope
from parcours.reports.summary import summary

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

CATALOGUE: dict[str, Report] = dict(sorted(base.CATALOGUE.items(), key=lambda item: item[1].order))
REPORTS: dict[str, Report] = {name: r for name, r in CATALOGUE.items() if not r.realtime}


def run_report(name: str, wh: Storage, config: Config, query: Query | None = None) -> ReportResult:
    """One report of the catalogue on a warehouse, read from one snapshot: its several
    queries see the same build even if one commits meanwhile."""
    if name not in CATALOGUE:
        raise InvalidInput(f"unknown report {name!r}; reports: {', '.join(CATALOGUE)}")
    with wh.snapshot():
        return CATALOGUE[name](wh, config, query or Query())


__all__ = ["CATALOGUE", "REPORTS", "Report", "ReportResult", "Scope", "run_report", "summary", "Query"]
