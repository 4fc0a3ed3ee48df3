"""The ten Customer Journey reports and the real-time summary (design.md section 5).

`run_report(name, wh, config, query)` -> ReportResult; REPORTS lists each report with what
it answers, for the CLI, the API catalogue and the web pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from parcours.config import Config
from parcours.query import Query
from parcours.reports import (
    assists,
    cross_device,
    engagement,
    model_comparison,
    mono,
    path_length,
    time_lag,
    top_paths,
    velocity,
)
from parcours.reports.base import ReportResult, Scope
from parcours.reports.summary import summary
from parcours.storage import Storage


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    question: str
    run: Callable[[Scope], ReportResult]
    options: tuple[str, ...] = ()  # Query fields this report reads beyond period, level, filters


REPORTS = {r.name: r for r in (
    Report("model-comparison", "Model comparison", "How does each attribution model shift credit between channels?",
           model_comparison.run, ("models",)),
    Report("assists", "Assisting vs final", "Which channels assist conversions, and which close them?",
           assists.run),
    Report("cross-device", "Cross-device", "How many devices do converting journeys use, in which order?",
           cross_device.run, ("top",)),
    Report("top-paths", "Top paths", "Which sequences of channels come before conversion?",
           top_paths.run, ("top", "collapse")),
    Report("time-lag", "Time lag", "How long from the first touch to the conversion?", time_lag.run),
    Report("engagement", "Engagement", "How involved are people, and how much of it does each channel bring?",
           engagement.run),
    Report("mono-device", "Mono-device", "How many conversions come from journeys on a single device type?",
           mono.mono_device),
    Report("mono-channel", "Mono-channel", "How many conversions come from a single channel alone?",
           mono.mono_channel),
    Report("path-length", "Path length", "How many touches before conversion?", path_length.run, ("distinct",)),
    Report("velocity", "Velocity", "How fast do journeys move through the funnel stages?", velocity.run),
)}


def run_report(name: str, wh: Storage, config: Config, query: Query | None = None) -> ReportResult:
    """One Customer Journey report on a built warehouse."""
    if name not in REPORTS:
        raise ValueError(f"unknown report {name!r}; reports: {', '.join(REPORTS)}")
    with wh.engine_errors():
        return REPORTS[name].run(Scope(wh, config, query or Query()))


__all__ = ["REPORTS", "Report", "ReportResult", "Scope", "run_report", "summary", "Query"]
