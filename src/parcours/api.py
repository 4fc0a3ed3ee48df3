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
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from parcours.config import Config
from parcours.errors import DiskFull, NotBuilt, NotFound, ParcoursError, ReadOnlyWorkspace, WarehouseBusy, storage_error
from parcours.front import Workspace
from parcours.jobs import Jobs, plain
from parcours.query import DEFAULTS, DRILL, LANGUAGES, LEVELS, SPECS, by_language
from parcours.query import Query as ReportQuery
from parcours.reports.labels import VALUES, Words
from parcours.schema import DEVICES, KINDS, ORIGINS
from parcours.storage import Storage

MAX_BATCH = 10_000  # events per POST
REFRESH_WAIT_S = 30.0  # how long saving an audience waits for its members
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LOOPBACK = ("127.0.0.1", "::1", "localhost")  # this machine's names: always answered


class AudienceBody(BaseModel):
    """An audience's definition: its condition (docs/architecture.md, "Audiences")."""

    model_config = ConfigDict(extra="forbid")
    description: str = Field("", max_length=500)
    when: dict = Field(description='e.g. {"all": [{"touched": "email", "within_days": 7}, '
                                   '{"not": {"converted": true, "within_days": 30}}]}')


class AudienceCondition(BaseModel):
    """A condition alone, to size it before saving."""

    model_config = ConfigDict(extra="forbid")
    when: dict


def _problem(error: dict) -> str:
    """One of pydantic's validation errors in one line: the parameter and why (a body that is
    not JSON said so, with where it broke)."""
    if error.get("type") == "json_invalid":
        return f"the body is not JSON: {error.get('ctx', {}).get('error', 'invalid')} at character {error['loc'][-1]}"
    return f"{'.'.join(map(str, error['loc'][1:])) or error['loc'][0]}: {error['msg']}"


def _param(name: str) -> tuple[Any, Any]:
    """The URL parameter of one Query field, from its declaration (so OpenAPI documents it)."""
    spec, default = SPECS[name], DEFAULTS[name]
    kind: Any
    if spec.multiple:
        kind, default = list[str], []
    elif spec.kind == "date":
        kind = dt.date | None
    elif spec.kind == "bool":
        kind = bool | None if default is None else bool
    else:
        kind = {"int": int, "float": float | None, "text": str}[spec.kind]
    if not spec.multiple:  # `?start=` (a blank form field) means "not given", as on the command line
        kind = Annotated[kind, BeforeValidator(lambda v, d=default: d if v == "" else v)]
    numeric = spec.kind in ("int", "float")
    return kind, Field(default, description=spec.help[0], ge=spec.minimum if numeric else None,
                       le=spec.maximum if numeric else None)


class _Output(BaseModel):
    """How a report is written back; `ReportParams` adds one parameter per Query field."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["json", "csv", "xlsx"] = "json"
    lang: Literal["en", "fr"] | None = Field(None, description=(
        "a page's language: the figure, warnings, column labels and value names in it; a CSV or "
        "XLSX written for people in it (labelled columns; in French `;`, decimal commas and a BOM)"))
    delimiter: Literal[",", ";"] | None = Field(None, description="CSV: ',' (';' with lang=fr)")
    bom: bool | None = Field(None, description="CSV: a byte-order mark for spreadsheets (with lang=fr)")

    def query(self) -> ReportQuery:
        params = self.model_dump(exclude=set(_Output.model_fields))
        text = {k: (v if isinstance(v, list) else None if v is None else
                    str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()}
        return ReportQuery.from_params(text)


if TYPE_CHECKING:
    ReportParams = _Output
else:  # the Query as URL parameters; lists repeat (devices=a&devices=b) or use commas
    ReportParams = create_model("ReportParams", __base__=_Output, **{name: _param(name) for name in SPECS})


@dataclass
class Said:
    """A report's answer, and the responses written from it (by format and language)."""

    result: Any  # ReportResult
    written: dict[tuple, tuple[bytes, str, dict]] = field(default_factory=dict)


class Answers:
    """The latest report answers, by report, query, day and the warehouse's data version, with
    the responses written from them: a page visited again, by anyone, is answered without
    running or writing it again until data lands or a build finishes. The least recently used
    go, so memory stays bounded."""

    def __init__(self, size: int = 64, computing: int = 1):
        self.size, self.items = size, OrderedDict[tuple, Said]()
        self.lock = threading.Lock()  # requests run side by side: the dict changes under this only
        # An engine query already uses every core: more at once only share them (and the GIL
        # that compiles them), so a kept answer never waits, and `computing` reports run at once.
        self.slots = threading.BoundedSemaphore(computing)

    def answer(self, name: str, query: ReportQuery, wh: Storage, config: Config) -> Said:
        from parcours.reports import run_report

        key = (name, query, wh.data_version(), dt.date.today())
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        with self.slots:  # outside the lock: kept answers are given meanwhile
            with self.lock:
                if key in self.items:  # answered while this one waited for a slot
                    return self.items[key]
            said = Said(run_report(name, wh, config, query))
        with self.lock:
            self.items[key] = said
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return said

    def written(self, said: Said, how: tuple, write: Callable[[Any], tuple[bytes, str, dict]]) -> Response:
        """The response `how` (format, language...) of an answer, written once."""
        if how not in said.written:
            said.written[how] = write(said.result)
        body, media, headers = said.written[how]
        return Response(body, media_type=media, headers=headers)


# The bodies of the endpoints that take a definition, not data: an audience's condition (a
# list of values is bounded too: conditions.MAX_VALUES), a job, an erasure. Batches of events
# take up to `[api] max_body_mb`.
BODY_LIMITS = {"/api/v1/audiences": 256 * 1024, "/api/v1/jobs": 64 * 1024, "/api/v1/forget": 4 * 1024}


class BodyTooLarge(HTTPException):
    """Raised as a chunked body passes the limit (FastAPI answers an HTTPException as it is)."""

    def __init__(self, limit: int, path: str):
        super().__init__(413, _too_large(limit, path))


def _endpoint(path: str) -> str | None:
    return next((prefix for prefix in BODY_LIMITS if path.startswith(prefix)), None)


def _too_large(limit: int, path: str) -> str:
    if (endpoint := _endpoint(path)) is not None:
        return f"the body is over {limit // 1024:,} KB, the most {endpoint} takes"
    return f"the body is over {limit / 2**20:.3g} MB ([api] max_body_mb)"


class BodyLimit:
    """A request body larger than its endpoint takes (`BODY_LIMITS`, else the workspace's
    `[api] max_body_mb`) is refused with a 413 before it is read whole: by its Content-Length,
    or, sent in chunks, as it passes."""

    def __init__(self, app: Any, limit: Callable[[], int]):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = _endpoint(path)
        limit = BODY_LIMITS[endpoint] if endpoint is not None else self.limit()
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            await self._refuse(send, limit, path)
            return
        seen, started = 0, False

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit, path)
            return message

        async def sending(message: dict) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit, path)

    @staticmethod
    async def _refuse(send: Callable, limit: int, path: str) -> None:
        body = json.dumps({"error": _too_large(limit, path)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class HostCheck:
    """A request whose Host is not one this server answers to is refused (400) before anything
    reads: this machine's names, the host it is served at, and `[api] hosts`. Without it a page
    of another site could point its own name at 127.0.0.1 and read an API open on loopback
    (DNS rebinding)."""

    def __init__(self, app: Any, allowed: Callable[[], frozenset[str]]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _host_of(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
            if host not in self.allowed():
                body = json.dumps({"error": f"Host {host or '(none)'!r} is not one this server answers to: add it to "
                                           "[api] hosts in the workspace config"}).encode()
                await send({"type": "http.response.start", "status": 400, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _host_of(header: str) -> str:
    """A Host header's host, without its port: `[::1]:8000` -> `::1`, `Example.com.` -> `example.com`."""
    host = header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


def create_app(workspace: Path | str, url: str | None = None,
               announce: Callable[[str], None] | None = None) -> FastAPI:
    """The API over one workspace (opened at start-up, closed at shutdown). Told the `url` it
    is served at, a server holding its warehouse alone registers on the workspace, so this
    machine's `parcours` commands ask it to load, build and read (`Workspace.serving`), and
    `announce` is told the link that lets this machine's browser save from the pages (the
    registration's token, as Jupyter's link carries its own)."""
    lock = threading.Lock()  # on an engine without concurrent reads, reads and writes take turns
    load_lock = threading.Lock()  # loads take turns: a row sent twice is stored once
    warming = threading.Lock()
    state: dict = {"local": None}
    answers = Answers()
    local = threading.local()  # each worker thread's reader
    readers: list[Storage] = []

    def cursor(key: str) -> Storage:
        """The warehouse's own cursor for `key` (a build, the loads), made once."""
        if key not in state:
            state[key] = state["ws"].warehouse.reader()
            readers.append(state[key])
        return state[key]

    @contextmanager
    def own(key: str) -> Iterator[Storage]:
        """The warehouse's own cursor for one kind of work (its transactions apart from the
        requests'), or, on an engine without concurrent reads, the warehouse under the lock.
        A build writes on "build" in one transaction while requests read the last commit;
        loads (files and POSTed batches) commit on "loads" meanwhile."""
        wh = state["ws"].warehouse
        if wh.concurrent_reads:
            yield cursor(key)
            return
        with lock:
            yield wh

    @contextmanager
    def loading() -> Iterator[Storage]:
        with load_lock, own("loads") as wh:
            yield wh

    @contextmanager
    def reading() -> Iterator[Storage]:
        """The warehouse for this request: the thread's own reader, so reports run side by
        side; or, on an engine without concurrent reads, the warehouse under the lock."""
        wh = state["ws"].warehouse
        if not wh.concurrent_reads:
            with lock:
                yield wh
            return
        if getattr(local, "reader", None) is None:
            local.reader = wh.reader()
            with lock:
                readers.append(local.reader)
        yield local.reader

    def warm(names: tuple[str, ...] = ("summary",)) -> None:
        """Pages' default answers, ready before their first visit: the home page's at start-up,
        every page's after a build the server ran."""
        from parcours.reports import CATALOGUE

        with warming:  # one warm-up at a time, on one cursor
            for name in names:
                if state.get("closing"):
                    return
                page = {f: str(SPECS[f].page) for f in CATALOGUE[name].fields if SPECS[f].page is not None}
                with suppress(ParcoursError, ValueError), own("warm") as wh:
                    answers.answer(name, ReportQuery.from_params(page), wh, state["ws"].config)

    def built() -> None:
        from parcours.reports import CATALOGUE

        if state["ws"].warehouse.concurrent_reads:  # on one driver, requests would wait for it all
            threading.Thread(target=warm, args=(tuple(CATALOGUE),), daemon=True).start()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ws = state["ws"] = Workspace(workspace)
        state["tokens"] = {t.token: t.scopes for t in ws.config.tokens}
        with ExitStack() as stack:
            with suppress(ParcoursError):
                if ws.warehouse.one_process and url is not None:  # opened here, before threads ask for it
                    state["local"] = stack.enter_context(ws.serving(url)).token
                    if announce is not None:
                        announce(f"{url}/audiences?token={state['local']}")
            state["jobs"] = Jobs(ws.config, loading, lambda: own("build"), built=built, folder=ws.path)
            first = threading.Thread(target=warm, daemon=True)
            first.start()
            yield
            first.join()
            state["jobs"].stop()
            state["closing"] = True
            with warming:  # a warm-up after the last build stops at its next report
                pass
        with lock:
            for reader in readers:
                reader.close()
            ws.close()

    # No /docs: Swagger UI loads its files from a CDN, and parcours must work offline.
    app = FastAPI(title="parcours", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Customer-journey analytics and multi-touch attribution.")

    def from_here(authorization: str | None) -> bool:
        """This machine's `parcours` commands: the token the server left in the workspace."""
        return state["local"] is not None and authorization == f"Bearer {state['local']}"

    def allowed(scope: str):
        def check(authorization: Annotated[str | None, Header()] = None) -> None:
            if from_here(authorization):
                return  # every scope: the token file is readable by the workspace's owner only
            tokens = state["tokens"]
            if not tokens:
                if scope == "write":
                    raise HTTPException(401, "writes need a token with the write scope: add [api] tokens "
                                             "to the workspace config, or open the link `parcours serve` "
                                             "printed (it carries this machine's)")
                return  # reads open: `serve` binds to loopback only when no token is configured
            scheme, _, token = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or token not in tokens:
                raise HTTPException(401, "missing or unknown token (Authorization: Bearer <token>)")
            if scope not in tokens[token] and not (scope == "read" and "write" in tokens[token]):
                raise HTTPException(403, f"this token lacks the {scope} scope")
        return Depends(check)

    def refused(request: Request, message: str, status: int) -> JSONResponse:
        """Every refusal as {"error": one line}: for a page (which asks with `lang`), said in its
        language, fields by their labels; for a program, as raised."""
        from parcours.reports.refusals import said

        lang = request.query_params.get("lang")
        if lang in LANGUAGES:
            message = said(message, lang)[0]
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's, and the router's own (404, 405)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return refused(request, str(exc.detail), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, exc: RequestValidationError):
        return refused(request, "; ".join(_problem(e) for e in exc.errors()), 422)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError):
        return refused(request, str(exc), 400)

    @app.exception_handler(ParcoursError)
    async def parcours_error(request: Request, exc: ParcoursError):
        status = (409 if isinstance(exc, NotBuilt) else 503 if isinstance(exc, WarehouseBusy | ReadOnlyWorkspace)
                  else 507 if isinstance(exc, DiskFull) else 404 if isinstance(exc, NotFound) else 400)
        return refused(request, str(exc), status)

    @app.exception_handler(OSError)
    async def storage_failed(request: Request, exc: OSError):
        said = storage_error(exc, state["ws"].path)  # a file a request writes, on a full or read-only disk
        if said is None:
            raise exc
        return await parcours_error(request, said)

    @app.get("/api/v1", dependencies=[allowed("read")])
    def index() -> dict:
        """Where things are."""
        return {"reports": "/api/v1/reports", "fields": "/api/v1/fields", "models": "/api/v1/models",
                "meta": "/api/v1/meta", "info": "/api/v1/info", "jobs": "/api/v1/jobs", "openapi": "/openapi.json",
                "audiences": "/api/v1/audiences", "conditions": "/api/v1/conditions", "profiles": "/api/v1/profiles",
                "persons": "/api/v1/persons/{id}", "post": ["/api/v1/touchpoints", "/api/v1/conversions"]}

    @app.get("/api/v1/reports", dependencies=[allowed("read")])
    def catalogue() -> list[dict]:
        """Every report: titles and questions (en, fr), its chart, the Query fields it reads."""
        from parcours.reports import CATALOGUE

        return [r.describe() for r in CATALOGUE.values()]

    @app.get("/api/v1/fields", dependencies=[allowed("read")])
    def query_fields() -> list[dict]:
        """Every Query field as declared: kind, labels and help (en, fr), default, bounds, the
        values it takes (or the /api/v1/meta key listing them) and the reports that read it.
        The web's filter panel is built from this."""
        from parcours.reports import CATALOGUE

        return [{"name": name, "kind": spec.kind, "multiple": spec.multiple, "default": DEFAULTS[name],
                 "labels": by_language(spec.label),
                 "help": by_language(spec.help),
                 "choices": list(spec.choices), "values": spec.values, "minimum": spec.minimum,
                 "maximum": spec.maximum, "control": spec.control, "page": spec.page, "verbatim": spec.verbatim,
                 "value_labels": {v: by_language(t) for v, t in spec.value_labels.items()},
                 "reports": [r.name for r in CATALOGUE.values() if name in r.fields]}
                for name, spec in SPECS.items()]

    @app.get("/api/v1/models", dependencies=[allowed("read")])
    def models() -> list[dict]:
        """Every attribution model: name, labels (en, fr), data-driven or not, parameters."""
        from parcours.attribution import NAMES
        from parcours.attribution.registry import MODELS

        return [MODELS[n].describe() for n in NAMES]

    @app.get("/api/v1/reports/{name}", dependencies=[allowed("read")],
             responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument."
                                          "spreadsheetml.sheet": {}}}})
    def report(name: str, params: Annotated[ReportParams, Query()]):
        """One report. format=json (table, tables, totals, query as applied, warnings, figure),
        csv or xlsx."""
        from parcours.reports import CATALOGUE

        if name not in CATALOGUE:
            raise HTTPException(404, f"unknown report {name!r}; reports: {', '.join(CATALOGUE)}")
        query = params.query()
        ws = state["ws"]
        with reading() as wh:
            said = answers.answer(name, query, wh, ws.config)
        words = Words(params.lang, ws.config) if params.lang else None

        def write(result: Any) -> tuple[bytes, str, dict]:
            if params.format == "csv":
                french = params.lang == "fr"
                delimiter = params.delimiter or (";" if french else ",")
                bom = params.bom if params.bom is not None else french
                return (result.to_csv(delimiter=delimiter, bom=bom, words=words).encode("utf-8"), "text/csv",
                        {"Content-Disposition": f'attachment; filename="{name}.csv"'})
            if params.format == "xlsx":
                return (result.to_xlsx(words=words), XLSX,
                        {"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
            body = json.dumps(result.to_dict(words or Words("en", ws.config)), ensure_ascii=False,
                              allow_nan=False, separators=(",", ":"))  # as JSONResponse writes it
            return body.encode("utf-8"), "application/json", {}

        return answers.written(said, (params.format, params.lang, params.delimiter, params.bom), write)

    @app.get("/api/v1/meta", dependencies=[allowed("read")])
    def meta() -> dict:
        """Date bounds after the D-2 cut, levels and the level a row drills down to, the
        channel > source > campaign tree and the values each filter can take."""
        from parcours.reports.meta import query_facts

        ws = state["ws"]
        with reading() as wh:
            facts = query_facts(wh, ws.config)
        names = {**VALUES, **ws.config.channel_names}
        return {"levels": list(LEVELS), "drill": DRILL, "devices": list(DEVICES), "kinds": list(KINDS),
                "origins": list(ORIGINS), **facts, "currency": ws.config.reports.currency,
                "names": {value: by_language(name) for value, name in names.items()}}

    def post_events(table: str, events: list[dict]) -> dict:
        from parcours.ingest import load_events

        if len(events) > MAX_BATCH:
            raise HTTPException(413, f"at most {MAX_BATCH:,} events per batch")
        with loading() as wh, tempfile.TemporaryDirectory(dir=state["ws"].path) as tmp:
            return load_events(wh, table, events, Path(tmp), state["ws"].config.crm)

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

    @app.post("/api/v1/jobs", status_code=202, dependencies=[allowed("write")])
    def submit_job(body: Annotated[dict, Body()],
                   authorization: Annotated[str | None, Header()] = None) -> dict:
        """A load or a build, queued: {"command": "build", "as_of": "YYYY-MM-DD"?, "full": bool?}
        or {"command": "ingest", "loads": [{"table", "path", "rejects_file"?}]}. Jobs run one at
        a time, in order; reports meanwhile read the last committed data. Files are read where
        the server runs, so only this machine's `parcours ingest` may name them."""
        params = {k: v for k, v in body.items() if k != "command"}
        if body.get("command") == "ingest" and not from_here(authorization):
            raise HTTPException(403, "only this machine's `parcours ingest` loads files by path; "
                                     "POST rows to /api/v1/touchpoints or /api/v1/conversions")
        return state["jobs"].submit(str(body.get("command")), params).describe()

    @app.get("/api/v1/jobs", dependencies=[allowed("read")])
    def jobs() -> list[dict]:
        """The latest jobs, oldest first: queued, running (step, percent), done or failed."""
        return [job.describe() for job in state["jobs"].list()]

    @app.get("/api/v1/jobs/{job_id}", dependencies=[allowed("read")])
    def job(job_id: int) -> dict:
        """One job: its status, step and percent done, then its result or its error."""
        found = state["jobs"].get(job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id} (the server keeps its latest 100)")
        return found.describe()

    def book() -> Any:
        from parcours.audiences import Book

        ws = state["ws"]
        return Book(ws.path, ws.config)

    def sized(found: list[Any], wh: Storage) -> list[dict]:
        """Audiences with their size now, and the sizes and overlaps of their last refreshes."""
        from parcours.audiences import size, standing

        try:
            known = standing(wh)
            sizes: list[int | None] = [size(wh, state["ws"].config, a.when) for a in found]
        except NotBuilt:
            known, sizes = {}, [None] * len(found)
        empty: dict = {"history": [], "overlap": {}}
        return [{**a.plain(), "size": n, **known.get(a.name, empty)} for a, n in zip(found, sizes, strict=True)]

    @app.get("/api/v1/audiences", dependencies=[allowed("read")])
    def audiences() -> list[dict]:
        """Every audience: name, description, condition, where it is defined (config: read-only
        here; workspace: audiences.json), its size as of the last build (null before one), its
        size at each build (`history`) and the persons it shares with each audience (`overlap`)."""
        found = book().all()
        with reading() as wh:
            return sized(found, wh)

    @app.get("/api/v1/conditions", dependencies=[allowed("read")])
    def conditions() -> list[dict]:
        """The tests an audience's condition combines (with all, any, not): each kind's key,
        value, other keys, labels, and which list of /api/v1/meta suggests its values."""
        from parcours.conditions import grammar

        return grammar()

    @app.get("/api/v1/profiles", dependencies=[allowed("read")])
    def profiles() -> dict:
        """The persons the last build profiled, the last day it reports, and its CRM match (null
        without a CRM): customers, linked to an online identity, how, and the match rate."""
        from parcours.audiences import summary

        with reading() as wh:
            return summary(wh)

    @app.post("/api/v1/audiences/preview", dependencies=[allowed("read")])
    def audience_preview(body: AudienceCondition) -> dict:
        """The size a condition would have, as of the last build, out of every person profiled:
        what the page shows while you edit."""
        from parcours.audiences import size
        from parcours.conditions import check, parse

        condition = parse(body.when)
        check(condition, state["ws"].config.funnel_stages)
        with reading() as wh:
            return {"size": size(wh, state["ws"].config, condition),
                    "persons": int(wh.table("profiles").count().execute())}

    @app.get("/api/v1/audiences/{name}", dependencies=[allowed("read")])
    def audience_one(name: str) -> dict:
        """One audience, with its size."""
        found = book().get(name)
        with reading() as wh:
            return sized([found], wh)[0]

    def refreshed(name: str) -> dict:
        """The audience's members written now (a job, in turn with loads and builds), waited
        for a while: not ready when a long job runs first (its build refreshes every audience)."""
        job = state["jobs"].submit("audience", {"name": name})
        ready = job.ended.wait(REFRESH_WAIT_S) and job.status == "done"
        return {"members_ready": ready, **({"members_error": job.error} if job.error else {})}

    @app.put("/api/v1/audiences/{name}", dependencies=[allowed("write")])
    def audience_save(name: str, body: AudienceBody) -> dict:
        """Create or replace a workspace audience; its members are written at once (every report
        can filter by it), or, while a build runs, by that build (`members_ready` says which)."""
        from parcours.conditions import audience

        a = audience({"name": name, "description": body.description, "when": body.when}, "audience", "workspace")
        book().save(a)
        ready = refreshed(name)
        with reading() as wh:
            return {**sized([a], wh)[0], **ready}

    @app.delete("/api/v1/audiences/{name}", dependencies=[allowed("write")])
    def audience_delete(name: str) -> dict:
        """Delete a workspace audience (its members go at once)."""
        book().delete(name)
        refreshed(name)
        return {"deleted": name}

    @app.get("/api/v1/audiences/{name}/export", dependencies=[allowed("read")],
             responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}})
    def audience_export(name: str, format: Literal["csv", "parquet", "customer-match"] = "csv") -> Response:
        """The audience's members: csv or parquet (person, ids, SHA-256 email and phone hashes),
        or customer-match (Google Ads' customer list layout: Email and Phone hashes)."""
        from parcours.audiences import export

        found = book().get(name)
        suffix = ".parquet" if format == "parquet" else ".csv"
        with reading() as wh, tempfile.TemporaryDirectory(dir=state["ws"].path) as tmp:
            path = Path(tmp) / f"{name}{suffix}"
            export(wh, state["ws"].config, found, format, path)
            body = path.read_bytes()
        kind = "application/vnd.apache.parquet" if format == "parquet" else "text/csv"
        return Response(body, media_type=kind,
                        headers={"Content-Disposition": f'attachment; filename="{name}{suffix}"'})

    @app.post("/api/v1/forget", status_code=202, dependencies=[allowed("write")])
    def forget(body: Annotated[dict, Body(examples=[{"identifier": "jane.doe@example.com"}])]) -> dict:
        """Erase a person (right to erasure) by any identifier: a job, run in turn with loads and
        builds; follow it at /api/v1/jobs/{id} (its result: the rows deleted per table)."""
        return state["jobs"].submit("forget", body).describe()

    @app.get("/api/v1/persons/{identifier}", dependencies=[allowed("read")])
    def person(identifier: str) -> dict:
        """A person by any identifier (person, visitor, user or customer id; an email or a phone,
        plain or SHA-256): their audiences and profile facts as of the last build, for a site
        or a CMS to personalise. Two indexed point queries on precomputed tables."""
        from parcours.audiences import person as find

        with reading() as wh:
            found = find(wh, state["ws"].config, identifier)
        if found is None:
            raise HTTPException(404, "no person has this identifier (as of the last build)")
        return found

    @app.get("/api/v1/info", dependencies=[allowed("read")])
    def info() -> dict:
        """What `parcours info` says: rows and date ranges per table, channels, persons."""
        from parcours.inventory import describe

        with reading() as wh:
            return plain(describe(wh))

    from parcours.reports import CATALOGUE
    from parcours.web import mount_web

    served_at = frozenset({_host_of(urllib.parse.urlsplit(url).netloc)} if url else set())
    hosts = frozenset(LOOPBACK) | served_at
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)  # JSON, CSV and pages
    app.add_middleware(HostCheck, allowed=lambda: hosts | frozenset(state["ws"].config.hosts) if "ws" in state
                       else hosts)
    app.add_middleware(BodyLimit, limit=lambda: int(state["ws"].config.max_body_mb * 1024 * 1024))

    asks = {name: {f: SPECS[f].page for f in r.fields if SPECS[f].page is not None} for name, r in CATALOGUE.items()}
    mount_web(app, list(CATALOGUE), home="summary", asks=asks)
    return app


@contextmanager
def served(workspace: Path | str) -> Iterator[str]:
    """The app on the workspace, on a free loopback port in a thread: its base URL until the
    block ends (for the browser tests, the screenshots and the page benchmark)."""
    import socket
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(create_app(workspace, url), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def check_bind(host: str, has_tokens: bool, hosts: tuple[str, ...] = ()) -> None:
    """Serving beyond this machine needs tokens (reads are open only on loopback), and on every
    address the names clients use (a request naming another host is refused)."""
    if host not in LOOPBACK and not has_tokens:
        raise ValueError(f"refusing to serve on {host} without tokens: add [api] tokens to the workspace "
                         "config, or serve on 127.0.0.1")
    if host in ("0.0.0.0", "::") and not hosts:
        raise ValueError(f"serving on {host}: say the names clients reach this server by in [api] hosts (e.g. "
                         'hosts = ["parcours.example.com"]); a request naming another host is refused')
