"""The HTTP API (FastAPI; OpenAPI at /openapi.json): the report catalogue, every report with
the Query as parameters (JSON, CSV or XLSX), the facts a client needs to build a query, and
event batches through the same validation as file ingest.

Tokens come from `[api] tokens` in the workspace config (Authorization: Bearer ...). Writes
always need a "write" token; with no tokens configured reads are open, which `parcours serve`
allows on a loopback address only. Bad input is a 4xx with {"error": ...}, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from parcours.errors import NotBuilt, ParcoursError, WarehouseBusy
from parcours.query import LEVELS
from parcours.query import Query as ReportQuery
from parcours.schema import DEVICES, KINDS, ORIGINS
from parcours.workspace import Workspace

MAX_BATCH = 10_000  # events per POST
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ReportParams(BaseModel):
    """The Query as URL parameters; lists repeat (devices=mobile&devices=tablet) or use commas."""

    model_config = ConfigDict(extra="forbid")
    start: dt.date | None = None
    end: dt.date | None = None
    kinds: list[str] = []
    level: str = "channel"
    parent: list[str] = Field([], description="drill-down, level=value")
    models: list[str] = []
    top: int = Field(10, ge=1, le=10_000)
    new_customer: bool | None = None
    crm: list[str] = Field([], description="attribute=value1|value2")
    categories: list[str] = []
    audiences: list[str] = []
    with_channels: list[str] = []
    without_channels: list[str] = []
    first_channel: list[str] = []
    last_channel: list[str] = []
    devices: list[str] = []
    mono_device: bool = False
    origins: list[str] = []
    min_revenue: float | None = Field(None, ge=0)
    collapse: bool = True
    distinct: bool = False
    format: Literal["json", "csv", "xlsx"] = "json"
    delimiter: Literal[",", ";"] = ","
    bom: bool = False

    def query(self) -> ReportQuery:
        params = self.model_dump(exclude={"format", "delimiter", "bom"})
        text = {k: (v if isinstance(v, list) else None if v is None else
                    str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()}
        return ReportQuery.from_params(text)


def create_app(workspace: Path | str) -> FastAPI:
    """The API over one workspace (opened at start-up, closed at shutdown)."""
    lock = threading.Lock()  # one DuckDB connection: requests take turns on it
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["ws"] = Workspace(workspace)
        state["tokens"] = {t.token: t.scopes for t in state["ws"].config.tokens}
        yield
        state["ws"].close()

    # No /docs: Swagger UI loads its files from a CDN, and parcours must work offline.
    app = FastAPI(title="parcours", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Customer-journey analytics and multi-touch attribution.")

    def allowed(scope: str):
        def check(authorization: Annotated[str | None, Header()] = None) -> None:
            tokens = state["tokens"]
            if not tokens:
                if scope == "write":
                    raise HTTPException(401, "writes need a token with the write scope: add [api] tokens "
                                             "to the workspace config")
                return  # reads open: `serve` binds to loopback only when no token is configured
            scheme, _, token = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or token not in tokens:
                raise HTTPException(401, "missing or unknown token (Authorization: Bearer <token>)")
            if scope not in tokens[token] and not (scope == "read" and "write" in tokens[token]):
                raise HTTPException(403, f"this token lacks the {scope} scope")
        return Depends(check)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:])) or e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(ParcoursError)
    async def parcours_error(request: Request, exc: ParcoursError):
        status = 409 if isinstance(exc, NotBuilt) else 503 if isinstance(exc, WarehouseBusy) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.get("/api/v1", dependencies=[allowed("read")])
    def index() -> dict:
        """Where things are."""
        return {"reports": "/api/v1/reports", "meta": "/api/v1/meta", "openapi": "/openapi.json",
                "post": ["/api/v1/touchpoints", "/api/v1/conversions"]}

    @app.get("/api/v1/reports", dependencies=[allowed("read")])
    def catalogue() -> list[dict]:
        """Every report: what it answers, and the Query fields it reads beyond the shared ones."""
        from parcours.reports import REPORTS

        out = [{"name": r.name, "title": r.title, "question": r.question, "options": list(r.options),
                "formats": ["json", "csv", "xlsx"]} for r in REPORTS.values()]
        return out + [{"name": "summary", "title": "Real-time summary", "formats": ["json", "csv", "xlsx"],
                       "question": "Last-touch conversions by day and channel, today included.",
                       "options": []}]

    @app.get("/api/v1/reports/{name}", dependencies=[allowed("read")],
             responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet": {}}}})
    def report(name: str, params: Annotated[ReportParams, Query()]):
        """One report. format=json (table, tables, totals, query as applied, warnings, figure),
        csv or xlsx."""
        from parcours.reports import REPORTS, run_report, summary

        if name not in REPORTS and name != "summary":
            raise HTTPException(404, f"unknown report {name!r}; reports: {', '.join(REPORTS)}, summary")
        query = params.query()
        ws = state["ws"]
        with lock:
            result = (summary(ws.warehouse, ws.config, query.start, query.end) if name == "summary"
                      else run_report(name, ws.warehouse, ws.config, query))
        if params.format == "csv":
            return Response(result.to_csv(delimiter=params.delimiter, bom=params.bom), media_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        if params.format == "xlsx":
            return Response(result.to_xlsx(), media_type="application/vnd.openxmlformats-officedocument."
                                                        "spreadsheetml.sheet",
                            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        return JSONResponse({**result.to_dict(), "figure": json.loads(result.figure.to_json())})

    @app.get("/api/v1/meta", dependencies=[allowed("read")])
    def meta() -> dict:
        """Date bounds after the D-2 cut, levels, the channel > source > campaign tree and the
        values each filter can take."""
        from parcours.reports.meta import query_facts

        ws = state["ws"]
        with lock:
            facts = query_facts(ws.warehouse, ws.config)
        return {"levels": list(LEVELS), "devices": list(DEVICES), "kinds": list(KINDS),
                "origins": list(ORIGINS), **facts}

    def post_events(table: str, events: list[dict]) -> dict:
        from parcours.ingest import load_events

        if len(events) > MAX_BATCH:
            raise HTTPException(413, f"at most {MAX_BATCH:,} events per batch")
        ws = state["ws"]
        with lock, tempfile.TemporaryDirectory(dir=ws.path) as tmp:
            return load_events(ws.warehouse, table, events, Path(tmp))

    @app.post("/api/v1/touchpoints", dependencies=[allowed("write")])
    def touchpoints(events: list[dict]) -> dict:
        """A batch of touchpoints (the fields of a touchpoints file), validated like a file: the
        answer lists every rejected row (1-based) and why; accepted rows are committed before
        it; a batch sent again adds nothing."""
        return post_events("touchpoints", events)

    @app.post("/api/v1/conversions", dependencies=[allowed("write")])
    def conversions(events: list[dict]) -> dict:
        """A batch of conversions, as for touchpoints."""
        return post_events("conversions", events)

    from parcours.reports import REPORTS
    from parcours.web import mount_web

    mount_web(app, ["summary", *REPORTS])
    return app


def check_bind(host: str, has_tokens: bool) -> None:
    """Serving beyond this machine needs tokens: reads are open only on loopback."""
    if host not in LOOPBACK and not has_tokens:
        raise ValueError(f"refusing to serve on {host} without tokens: add [api] tokens to the workspace "
                         "config, or serve on 127.0.0.1")
