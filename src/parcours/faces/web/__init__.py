"""The web pages: served by the API's app, they call the same JSON API from the browser.

No CDN: everything is in static/, plotly.js as a partial bundle of the traces the reports
draw (1.4 MB to parse, where the plotly package's full plotly.min.js is 4.8 MB; built by
tools/plotly). Page state (report, period, level, drill-down, filters, mode, language) lives
in the URL.

Static files are named with a hash of their content (`app.js?v=...`) and cached by browsers
for a year; plotly.js is gzipped once, in memory, for every client that accepts it.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(str(resources.files("parcours.faces.web")))
PLOTLY = "plotly-parcours.min.js"
PLOTLY_JS = HERE / "static" / PLOTLY
FOREVER = "public, max-age=31536000, immutable"  # a changed file gets a new ?v=


def _version(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


@cache
def _plotly_gzipped() -> bytes:
    return gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=6)


def mount_web(app: FastAPI, reports: list[str], home: str, asks: dict[str, dict] | None = None) -> None:
    """The pages: `home` at /, every report at /reports/{name}, the audiences at /audiences.
    `asks`: per report, what its page asks when the URL does not say (so its first request,
    sent before the field declarations arrive, asks it too)."""
    asks = asks or {}
    templates = Jinja2Templates(directory=HERE / "templates")
    versions = {name: _version(HERE / "static" / name)
                for name in ("common.js", "app.js", "audiences.js", "app.css", PLOTLY)}
    templates.env.globals["asset"] = lambda name: f"/static/{name}?v={versions[name]}"

    @app.get(f"/static/{PLOTLY}", include_in_schema=False)  # before the mount, which would shadow it
    def plotly_js(request: Request) -> Response:
        headers = {"Cache-Control": FOREVER, "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(_plotly_gzipped(), media_type="text/javascript",
                            headers={**headers, "Content-Encoding": "gzip"})
        return Response(PLOTLY_JS.read_bytes(), media_type="text/javascript", headers=headers)

    @app.middleware("http")
    async def cache_static(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/static/") and "v" in request.query_params and response.status_code == 200:
            response.headers["Cache-Control"] = FOREVER
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html", {"report": home, "reports": reports, "script": "app.js",
                                                                 "asks": asks.get(home, {})})

    @app.get("/reports/{name}", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request, name: str) -> Response:
        if name not in reports:
            raise HTTPException(404, f"unknown report {name!r}")
        return templates.TemplateResponse(request, "page.html", {"report": name, "reports": reports, "script": "app.js",
                                                                 "asks": asks.get(name, {})})

    @app.get("/audiences", response_class=HTMLResponse, include_in_schema=False)
    def audiences_page(request: Request) -> Response:
        """Build a condition and see its size, save it, export it; sizes build after build and overlaps."""
        return templates.TemplateResponse(request, "audiences.html", {"report": "audiences", "reports": reports,
                                                                      "script": "audiences.js", "asks": {}})
