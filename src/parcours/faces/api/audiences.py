"""Audiences: saved conditions with their sizes, history and overlaps; the condition grammar;
the build's profiles; sizing a condition before saving it; a member list's export."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from parcours.activation.audiences import Book, export, size, standing, summary
from parcours.contract.conditions import audience, check, grammar, parse
from parcours.engine.storage import Storage
from parcours.errors import NotBuilt
from parcours.faces.api.server import READ, WRITE, Server, ServerDep

REFRESH_WAIT_S = 30.0  # how long saving an audience waits for its members

router = APIRouter()


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


def book(server: Server) -> Book:
    return Book(server.ws.path, server.ws.config)


def sized(server: Server, found: list[Any], wh: Storage) -> list[dict]:
    """Audiences with their size now, and the sizes and overlaps of their last refreshes."""
    try:
        known = standing(wh)
        sizes: list[int | None] = [size(wh, server.ws.config, a.when) for a in found]
    except NotBuilt:
        known, sizes = {}, [None] * len(found)
    empty: dict = {"history": [], "overlap": {}}
    return [{**a.plain(), "size": n, **known.get(a.name, empty)} for a, n in zip(found, sizes, strict=True)]


def refreshed(server: Server, name: str) -> dict:
    """The audience's members written now (a job, in turn with loads and builds), waited
    for a while: not ready when a long job runs first (its build refreshes every audience)."""
    job = server.jobs.submit("audience", {"name": name})
    ready = job.ended.wait(REFRESH_WAIT_S) and job.status == "done"
    return {"members_ready": ready, **({"members_error": job.error} if job.error else {})}


@router.get("/api/v1/audiences", dependencies=READ)
def audiences(server: ServerDep) -> list[dict]:
    """Every audience: name, description, condition, where it is defined (config: read-only
    here; workspace: audiences.json), its size as of the last build (null before one), its
    size at each build (`history`) and the persons it shares with each audience (`overlap`)."""
    found = book(server).all()
    with server.reading() as wh:
        return sized(server, found, wh)


@router.get("/api/v1/conditions", dependencies=READ)
def conditions() -> list[dict]:
    """The tests an audience's condition combines (with all, any, not): each kind's key,
    value, other keys, labels, and which list of /api/v1/meta suggests its values."""
    return grammar()


@router.get("/api/v1/profiles", dependencies=READ)
def profiles(server: ServerDep) -> dict:
    """The persons the last build profiled, the last day it reports, and its CRM match (null
    without a CRM): customers, linked to an online identity, how, and the match rate."""
    with server.reading() as wh:
        return summary(wh)


@router.post("/api/v1/audiences/preview", dependencies=READ)
def audience_preview(body: AudienceCondition, server: ServerDep) -> dict:
    """The size a condition would have, as of the last build, out of every person profiled:
    what the page shows while you edit."""
    condition = parse(body.when)
    check(condition, server.ws.config.funnel_stages)
    with server.reading() as wh:
        return {"size": size(wh, server.ws.config, condition),
                "persons": int(wh.table("profiles").count().execute())}


@router.get("/api/v1/audiences/{name}", dependencies=READ)
def audience_one(name: str, server: ServerDep) -> dict:
    """One audience, with its size."""
    found = book(server).get(name)
    with server.reading() as wh:
        return sized(server, [found], wh)[0]


@router.put("/api/v1/audiences/{name}", dependencies=WRITE)
def audience_save(name: str, body: AudienceBody, server: ServerDep) -> dict:
    """Create or replace a workspace audience; its members are written at once (every report
    can filter by it), or, while a build runs, by that build (`members_ready` says which)."""
    a = audience({"name": name, "description": body.description, "when": body.when}, "audience", "workspace")
    book(server).save(a)
    ready = refreshed(server, name)
    with server.reading() as wh:
        return {**sized(server, [a], wh)[0], **ready}


@router.delete("/api/v1/audiences/{name}", dependencies=WRITE)
def audience_delete(name: str, server: ServerDep) -> dict:
    """Delete a workspace audience (its members go at once)."""
    book(server).delete(name)
    refreshed(server, name)
    return {"deleted": name}


@router.get("/api/v1/audiences/{name}/export", dependencies=READ,
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}})
def audience_export(name: str, server: ServerDep,
                    format: Literal["csv", "parquet", "customer-match"] = "csv") -> Response:
    """The audience's members: csv or parquet (person, ids, SHA-256 email and phone hashes),
    or customer-match (Google Ads' customer list layout: Email and Phone hashes)."""
    found = book(server).get(name)
    suffix = ".parquet" if format == "parquet" else ".csv"
    with server.reading() as wh, tempfile.TemporaryDirectory(dir=server.ws.path) as tmp:
        path = Path(tmp) / f"{name}{suffix}"
        export(wh, server.ws.config, found, format, path)
        body = path.read_bytes()
    kind = "application/vnd.apache.parquet" if format == "parquet" else "text/csv"
    return Response(body, media_type=kind,
                    headers={"Content-Disposition": f'attachment; filename="{name}{suffix}"'})
