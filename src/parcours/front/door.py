"""The front door's shape: every job of a workspace (`Door`) and the types its answers come in.
`Workspace` (local.py) does the jobs, `RemoteWorkspace` (remote.py) asks a server; this module
and the remote one import neither Ibis nor pandas, so a command a server answers starts in 0.2 s."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from parcours.build.result import BuildResult
from parcours.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from parcours.contract.config import Config
    from parcours.contract.query import Query
    from parcours.load.inventory import Facts
    from parcours.load.results import LoadResult
    from parcours.reports import ReportResult

Progress = Callable[[str, float], None]  # (step, percent done)


def quiet(step: str, percent: float) -> None:
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
        from parcours.front.jobs import plain

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
             progress: Progress = quiet) -> LoadResult: ...

    def build(self, as_of: dt.date | None = None, full: bool = False, progress: Progress = quiet) -> Built: ...

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

    def predict(self, horizon_days: int | None = None, progress: Progress = quiet) -> dict[str, Any]: ...

    def info(self) -> Facts: ...

    def close(self) -> None: ...



def report_known(name: str) -> None:
    from parcours.reports import CATALOGUE  # the reports' names, and their modules with them

    if name not in CATALOGUE:
        raise InvalidInput(f"unknown report {name!r}; reports: {', '.join(CATALOGUE)}")
