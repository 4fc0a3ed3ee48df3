"""The `parcours` command's side of a running server. While `parcours serve` holds a workspace
whose warehouse one process opens alone (DuckDB's file lock), `ingest`, `build`, `info` and
`report` ask the server over HTTP, with the token it left in the workspace; the server loads
and builds one job at a time and reads the last commit meanwhile (docs/architecture.md, "One
writer, many readers"). The standard library's urllib is enough for a few JSON calls; it
follows no redirect and asks no proxy, since either would carry the token to another host."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.client import HTTPMessage
from typing import IO, Any

from parcours.engine.workspace import Server
from parcours.errors import ParcoursError, error_of


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would send the next request, token included, wherever it points."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage,
                         newurl: str) -> urllib.request.Request | None:
        fp.close()
        raise ParcoursError(f"the server at {req.full_url} answered a redirect ({code}) to {newurl}: not followed")


# the server is on this machine: a proxy named in the environment (http_proxy) is not asked
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class Remote:
    def __init__(self, server: Server, wait: float = 0.3):
        self.server, self.wait = server, wait  # how long a job's answer waits for its end: the progress's pace

    def _call(self, path: str, body: Any = None, params: dict | None = None, method: str | None = None) -> bytes:
        url = self.server.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        method = method or ("GET" if body is None else "POST")
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.server.token}", "Content-Type": "application/json"})
        try:
            with _OPENER.open(request, timeout=600) as response:
                return response.read()
        except urllib.error.HTTPError as exc:  # the server's one-line {"error": ...}
            try:
                said = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                said = exc.reason
            raise error_of(exc.code, str(said)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ParcoursError(f"the server at {self.server.url} (pid {self.server.pid}) did not answer: "
                                f"{getattr(exc, 'reason', exc)}") from None

    def get(self, path: str, params: dict | None = None) -> bytes:
        return self._call(path, params=params)

    def json(self, path: str, params: dict | None = None) -> Any:
        return json.loads(self._call(path, params=params))

    def post(self, path: str, body: Any) -> Any:
        return json.loads(self._call(path, body=body))

    def put(self, path: str, body: Any) -> Any:
        return json.loads(self._call(path, body=body, method="PUT"))

    def delete(self, path: str) -> Any:
        return json.loads(self._call(path, method="DELETE"))

    def run(self, command: str, progress: Callable[[str, float], None] = lambda step, pct: None,
            **params: Any) -> dict:
        """Submit a job and follow it to its end: its result, or its error raised."""
        job = json.loads(self._call("/api/v1/jobs", body={"command": command, **params}))
        while job["status"] in ("queued", "running"):
            progress(job["step"] or job["status"], job["percent"])
            job = self.json(f"/api/v1/jobs/{job['id']}", {"wait": self.wait})  # or at its end
        if job["status"] == "failed":
            raise ParcoursError(job["error"])
        return job["result"]
