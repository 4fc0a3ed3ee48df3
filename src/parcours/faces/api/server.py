"""The server's state: the workspace it holds, the cursors and locks its requests, loads and
builds take turns on, the kept report answers, the job queue and the tokens. One `Server` per
app (`app.state.server`); endpoints reach it through the `ServerDep` dependency."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import Response

from parcours.contract.config import Config
from parcours.contract.query import Query as ReportQuery
from parcours.engine.storage import Storage
from parcours.errors import ParcoursError
from parcours.front import Workspace
from parcours.front.jobs import Jobs, prepare
from parcours.reports import CATALOGUE, run_report

Written = tuple[bytes, str, dict]  # a response's body, media type and headers


@dataclass
class Said:
    """A report's answer, and the responses written from it (by format and language)."""

    result: Any  # ReportResult
    written: dict[tuple, Written] = field(default_factory=dict)


class Answers:
    """The latest report answers, by report, query, day and the warehouse's data version, with
    the responses written from them: a page visited again, by anyone, is answered without
    running or writing it again until data lands or a build finishes. The least recently used
    go, so memory stays bounded."""

    def __init__(self, size: int = 64, computing: int = 2):
        self.size, self.items = size, OrderedDict[tuple, Said]()
        self.lock = threading.Lock()  # requests run side by side: the dict changes under this only
        # An engine query already uses every core, but a report is also Python (Ibis, pandas,
        # the figure) holding the GIL: two at once overlap one's Python with the other's engine
        # (10M touchpoints, 50 clients: 6.9 -> 7.7 new answers/s); more only share the cores.
        # A kept answer never waits for these `computing` slots.
        self.slots = threading.BoundedSemaphore(computing)
        self.asked: dict[tuple, threading.Event] = {}  # the answers being computed, set when done

    def answer(self, name: str, query: ReportQuery, wh: Storage, config: Config) -> Said:
        key = (name, query, wh.data_version(), dt.date.today())
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            asked = self.asked.get(key)
            if asked is None:
                asked = self.asked[key] = threading.Event()
                mine = True
            else:
                mine = False
        if not mine:  # being computed: its answer, not a second computation of it (people share links)
            asked.wait()
            with self.lock:
                if key in self.items:
                    return self.items[key]
            return self._compute(key, name, query, wh, config)  # it failed there: said here, as alone
        try:
            return self._compute(key, name, query, wh, config)
        finally:
            with self.lock:
                del self.asked[key]
            asked.set()

    def _compute(self, key: tuple, name: str, query: ReportQuery, wh: Storage, config: Config) -> Said:
        with self.slots:  # outside the lock: kept answers are given meanwhile
            said = Said(run_report(name, wh, config, query))
        with self.lock:
            self.items[key] = said
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return said

    def written(self, said: Said, how: tuple, write: Callable[[Any], Written]) -> Response:
        """The response `how` (format, language...) of an answer, written once."""
        if how not in said.written:
            said.written[how] = write(said.result)
        body, media, headers = said.written[how]
        return Response(body, media_type=media, headers=headers)


class Server:
    """The API over one workspace, opened by `lifespan` (at start-up) and closed with it.

    Told the `url` it is served at, a server holding its warehouse alone registers on the
    workspace (`Workspace.serving`), and `announce` is told the link that lets this machine's
    browser save from the pages."""

    def __init__(self, workspace: Path | str, url: str | None = None,
                 announce: Callable[[str], None] | None = None, hosts: frozenset[str] = frozenset()):
        self.workspace, self.url, self.announce = workspace, url, announce
        self.hosts = hosts  # the names it always answers to: this machine's and the URL's
        self.opened: Workspace | None = None
        self.local: str | None = None  # the token this machine's `parcours` commands use
        self.tokens: dict[str, tuple[str, ...]] = {}  # [api] tokens: token -> scopes
        self.answers = Answers()
        self.lock = threading.Lock()  # on an engine without concurrent reads, reads and writes take turns
        self.load_lock = threading.Lock()  # loads take turns: a row sent twice is stored once
        self.warming = threading.Lock()  # one warm-up at a time, on one cursor
        self.closing = False
        self.cursors: dict[str, Storage] = {}  # the warehouse's own cursors: "build", "loads", "warm"
        self.readers: list[Storage] = []  # every cursor made, closed at shutdown
        self.thread = threading.local()  # each worker thread's reader
        self._jobs: Jobs | None = None

    @property
    def ws(self) -> Workspace:
        if self.opened is None:
            raise RuntimeError("the server has not started: its workspace opens in the app's lifespan")
        return self.opened

    @property
    def jobs(self) -> Jobs:
        if self._jobs is None:
            raise RuntimeError("the server has not started: its jobs start in the app's lifespan")
        return self._jobs

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        ws = self.opened = Workspace(self.workspace)
        self.tokens = {t.token: t.scopes for t in ws.config.tokens}
        with ExitStack() as stack:
            with suppress(ParcoursError):
                if ws.warehouse.one_process and self.url is not None:  # opened here, before threads ask for it
                    self.local = stack.enter_context(ws.serving(self.url)).token
                    if self.announce is not None:
                        self.announce(f"{self.url}/audiences?token={self.local}")
            self._jobs = Jobs(ws.config, self.loading, lambda: self.own("build"), built=self.built,
                              door=lambda wh: Workspace.over(ws.path, wh, ws.config, webhooks=False))
            first = threading.Thread(target=self.warm, daemon=True)
            first.start()
            yield
            first.join()
            self._jobs.stop()
            self.closing = True
            with self.warming:  # a warm-up after the last build stops at its next report
                pass
        with self.lock:
            for reader in self.readers:
                reader.close()
            ws.close()

    def cursor(self, key: str) -> Storage:
        """The warehouse's own cursor for `key` (a build, the loads), made once."""
        if key not in self.cursors:
            self.cursors[key] = self.ws.warehouse.reader()
            self.readers.append(self.cursors[key])
        return self.cursors[key]

    @contextmanager
    def own(self, key: str) -> Iterator[Storage]:
        """The warehouse's own cursor for one kind of work (its transactions apart from the
        requests'), or, on an engine without concurrent reads, the warehouse under the lock.
        A build writes on "build" in one transaction while requests read the last commit;
        loads (files and POSTed batches) commit on "loads" meanwhile."""
        wh = self.ws.warehouse
        if wh.concurrent_reads:
            yield self.cursor(key)
            return
        with self.lock:
            yield wh

    @contextmanager
    def loading(self) -> Iterator[Storage]:
        with self.load_lock, self.own("loads") as wh:
            yield wh

    @contextmanager
    def reading(self) -> Iterator[Storage]:
        """The warehouse for this request: the thread's own reader, so reports run side by
        side; or, on an engine without concurrent reads, the warehouse under the lock."""
        wh = self.ws.warehouse
        if not wh.concurrent_reads:
            with self.lock:
                yield wh
            return
        if getattr(self.thread, "reader", None) is None:
            self.thread.reader = wh.reader()
            with self.lock:
                self.readers.append(self.thread.reader)
        yield self.thread.reader

    def warm(self, names: tuple[str, ...] = ("summary",), jobs: bool = True) -> None:
        """Pages' default answers, ready before their first visit: the home page's at start-up,
        every page's after a build the server ran; at start-up, then what a job imports."""
        with self.warming:
            for name in names:
                if self.closing:
                    return
                page = {f: str(v) for f, v in CATALOGUE[name].page.items()}
                with suppress(ParcoursError, ValueError), self.own("warm") as wh:
                    self.answers.answer(name, ReportQuery.from_params(page), wh, self.ws.config)
            if jobs and not self.closing:
                prepare(self.ws.config)

    def built(self) -> None:
        if self.ws.warehouse.concurrent_reads:  # on one driver, requests would wait for it all
            threading.Thread(target=self.warm, args=(tuple(CATALOGUE), False), daemon=True).start()

    def allowed_hosts(self) -> frozenset[str]:
        """The names a request may give as its Host: `hosts`, and the workspace's `[api] hosts`."""
        return self.hosts | frozenset(self.opened.config.hosts) if self.opened is not None else self.hosts

    def body_limit(self) -> int:
        return int(self.ws.config.max_body_mb * 1024 * 1024)

    def from_here(self, authorization: str | None) -> bool:
        """This machine's `parcours` commands: the token the server left in the workspace."""
        return self.local is not None and authorization == f"Bearer {self.local}"

    def check(self, scope: str, authorization: str | None) -> None:
        """Refuse a request without a token that has `scope` (401, 403)."""
        if self.from_here(authorization):
            return  # every scope: the token file is readable by the workspace's owner only
        if not self.tokens:
            if scope == "write":
                raise HTTPException(401, "writes need a token with the write scope: add [api] tokens "
                                         "to the workspace config, or open the link `parcours serve` "
                                         "printed (it carries this machine's)")
            return  # reads open: `serve` binds to loopback only when no token is configured
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise HTTPException(401, "missing or unknown token (Authorization: Bearer <token>)")
        if scope not in self.tokens[token] and not (scope == "read" and "write" in self.tokens[token]):
            raise HTTPException(403, f"this token lacks the {scope} scope")


def server_of(request: Request) -> Server:
    """The app's server (`create_app` puts it in `app.state`)."""
    return request.app.state.server


ServerDep = Annotated[Server, Depends(server_of)]


def allowed(scope: str) -> Any:
    """A route's dependency: the request's token has `scope` (the Authorization header)."""

    def check(server: ServerDep, authorization: Annotated[str | None, Header()] = None) -> None:
        server.check(scope, authorization)

    return Depends(check)


READ, WRITE = [allowed("read")], [allowed("write")]  # a route's `dependencies`
