"""The app: a `Server` in `app.state`, the routers, the error handlers, the middleware and the
pages; and serving it (`served`, `check_bind`)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from parcours.errors import InvalidInput
from parcours.faces.api import admin, audiences, data, persons, reports
from parcours.faces.api.errors import handle_errors
from parcours.faces.api.middleware import LOOPBACK, BodyLimit, HostCheck, host_of
from parcours.faces.api.server import Server
from parcours.faces.web import mount_web
from parcours.reports import CATALOGUE


def create_app(workspace: Path | str, url: str | None = None,
               announce: Callable[[str], None] | None = None) -> FastAPI:
    """The API over one workspace (opened at start-up, closed at shutdown). Told the `url` it
    is served at, a server holding its warehouse alone registers on the workspace, so this
    machine's `parcours` commands ask it to load, build and read (`Workspace.serving`), and
    `announce` is told the link that lets this machine's browser save from the pages (the
    registration's token, as Jupyter's link carries its own)."""
    served_at = frozenset({host_of(urllib.parse.urlsplit(url).netloc)} if url else set())
    server = Server(workspace, url, announce, hosts=frozenset(LOOPBACK) | served_at)
    # No /docs: Swagger UI loads its files from a CDN, and parcours must work offline.
    app = FastAPI(title="parcours", version="1", lifespan=server.lifespan, docs_url=None, redoc_url=None,
                  description="Customer-journey analytics and multi-touch attribution.")
    app.state.server = server
    handle_errors(app)
    for router in (admin.front, reports.router, data.router, audiences.router, persons.router, admin.router):
        app.include_router(router)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)  # JSON, CSV and pages
    app.add_middleware(HostCheck, allowed=server.allowed_hosts)
    app.add_middleware(BodyLimit, limit=server.body_limit)

    mount_web(app, list(CATALOGUE), home="summary", asks={name: r.page for name, r in CATALOGUE.items()})
    return app


@contextmanager
def served(workspace: Path | str) -> Iterator[str]:
    """The app on the workspace, on a free loopback port in a thread: its base URL until the
    block ends (for the browser tests, the screenshots and the page benchmark)."""
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
        raise InvalidInput(f"refusing to serve on {host} without tokens: add [api] tokens to the workspace "
                         "config, or serve on 127.0.0.1")
    if host in ("0.0.0.0", "::") and not hosts:
        raise InvalidInput(f"serving on {host}: say the names clients reach this server by in [api] hosts (e.g. "
                         'hosts = ["parcours.example.com"]); a request naming another host is refused')
