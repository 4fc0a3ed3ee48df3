"""A workspace a running `parcours serve` holds: each job asked of it over HTTP. It imports
neither Ibis nor pandas (the server has them), so `parcours build` beside a server costs the build alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.engine.workspace import Folder
from parcours.errors import ParcoursError
from parcours.front.client import Remote
from parcours.front.door import Attributed, AudienceSize, Built, Progress, quiet, report_known
from parcours.load.inventory import Facts
from parcours.load.results import LoadResult, Reject

if TYPE_CHECKING:
    from parcours.contract.config import Config
    from parcours.contract.query import Query
    from parcours.reports import ReportResult


class RemoteWorkspace:
    """A workspace a running `parcours serve` holds: each job asked of it over HTTP (with the
    token it left in the folder), answered with the same types as `Workspace`'s."""

    def __init__(self, folder: Folder, remote: Remote):
        self.folder, self.remote, self.path = folder, remote, folder.path

    @property
    def config(self) -> Config:
        return self.folder.config

    def load(self, table: str, path: Path, rejects_file: Path | None = None,
             progress: Progress = quiet) -> LoadResult:
        load = {"table": table, "path": str(Path(path).resolve())}
        if rejects_file is not None:
            load["rejects_file"] = str(Path(rejects_file).resolve())
        d = self.remote.run("ingest", progress, loads=[load])["loads"][0]
        return LoadResult(**{**d, "rejects": [Reject(**r) for r in d["rejects"]],
                             "rejects_file": d["rejects_file"] and Path(d["rejects_file"])})

    def build(self, as_of: dt.date | None = None, full: bool = False, progress: Progress = quiet) -> Built:
        return Built.from_plain(self.remote.run("build", progress, as_of=as_of and as_of.isoformat(), full=full))

    def _params(self, query: Query | None) -> dict[str, Any]:
        """The query as a URL carries it."""
        from parcours.contract.query import Query

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
        report_known(name)
        import pandas as pd

        from parcours.reports import ReportResult

        said = self.remote.json(f"/api/v1/reports/{name}", self._params(query))
        return ReportResult(name, pd.DataFrame(said["table"]), said["totals"], None, said["query"],
                            warnings=said.get("warnings", []))

    def export(self, name: str, query: Query | None, fmt: str, delimiter: str = ",", bom: bool = False) -> bytes:
        report_known(name)
        extra = {"delimiter": delimiter, "bom": str(bom).lower()} if fmt == "csv" else {}
        return self.remote.get(f"/api/v1/reports/{name}", {**self._params(query), "format": fmt, **extra})

    def attribute(self, model: str, level: str = "channel", fit_level: str = "channel", ci: float | None = None,
                  samples: int = 100, start: dt.date | None = None, end: dt.date | None = None,
                  **params: Any) -> Attributed:
        raise ParcoursError(f"parcours serve (pid {self.remote.server.pid}) holds this workspace: `parcours "
                            "attribute` reads the warehouse itself; use `parcours report model_comparison`, "
                            "or stop the server")

    def audiences(self) -> list[AudienceSize]:
        from parcours.activation import audiences as audience_book

        sizes = {a["name"]: a["size"] for a in self.remote.json("/api/v1/audiences")}
        return [AudienceSize(a.name, sizes.get(a.name), a.source, a.description)
                for a in audience_book.Book(self.path, self.config).all()]

    def audience_problems(self) -> list[str]:
        from parcours.activation import audiences as audience_book

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

    def predict(self, horizon_days: int | None = None, progress: Progress = quiet) -> dict[str, Any]:
        return self.remote.run("predict", progress, horizon_days=horizon_days)["predict"]

    def info(self) -> Facts:
        return Facts(**self.remote.json("/api/v1/info"))

    def close(self) -> None:
        self.folder.close()

    def __enter__(self) -> RemoteWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

