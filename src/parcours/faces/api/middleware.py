"""What refuses a request before any endpoint reads it: a body over its limit (413), a Host
this server does not answer to (400)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException

LOOPBACK = ("127.0.0.1", "::1", "localhost")  # this machine's names: always answered

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


async def _refuse(send: Callable, status: int, error: str) -> None:
    """Answer {"error": ...} with `status`, from the middleware (no endpoint has run)."""
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


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
            await _refuse(send, 413, _too_large(limit, path))
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
                await _refuse(send, 413, _too_large(limit, path))


class HostCheck:
    """A request whose Host is not one this server answers to is refused (400) before anything
    reads: this machine's names, the host it is served at, and `[api] hosts`. Without it a page
    of another site could point its own name at 127.0.0.1 and read an API open on loopback
    (DNS rebinding)."""

    def __init__(self, app: Any, allowed: Callable[[], frozenset[str]]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket"):
            host = host_of(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
            if host not in self.allowed():
                await _refuse(send, 400, f"Host {host or '(none)'!r} is not one this server answers to: add it to "
                                         "[api] hosts in the workspace config")
                return
        await self.app(scope, receive, send)


def host_of(header: str) -> str:
    """A Host header's host, without its port: `[::1]:8000` -> `::1`, `Example.com.` -> `example.com`."""
    host = header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")
