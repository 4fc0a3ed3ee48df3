"""The web pages: served by the API's app, they call the same JSON API from the browser.

No CDN: plotly.js comes from the installed plotly package, the rest is in static/. Page state
(report, period, level, drill-down, filters, mode, language) lives in the URL.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import plotly
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(str(resources.files("parcours.web")))
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def mount_web(app: FastAPI, reports: list[str], home: str) -> None:
    """The pages: `home` at /, every report at /reports/{name}."""
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.get("/static/plotly.min.js", include_in_schema=False)  # before the mount, which would shadow it
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home_page(request: Request):
        return templates.TemplateResponse(request, "page.html", {"report": home, "reports": reports})

    @app.get("/reports/{name}", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request, name: str):
        if name not in reports:
            raise HTTPException(404, f"unknown report {name!r}")
        return templates.TemplateResponse(request, "page.html", {"report": name, "reports": reports})
