"""Where things are, and what the workspace holds (`parcours info`)."""

from __future__ import annotations

from fastapi import APIRouter

from parcours.faces.api.server import READ, ServerDep
from parcours.front.jobs import plain
from parcours.load.inventory import describe

front = APIRouter()  # the index, first in /openapi.json; `router` (the rest) comes last
router = APIRouter()


@front.get("/api/v1", dependencies=READ)
def index() -> dict:
    """Where things are."""
    return {"reports": "/api/v1/reports", "fields": "/api/v1/fields", "models": "/api/v1/models",
            "meta": "/api/v1/meta", "info": "/api/v1/info", "jobs": "/api/v1/jobs", "openapi": "/openapi.json",
            "audiences": "/api/v1/audiences", "conditions": "/api/v1/conditions", "profiles": "/api/v1/profiles",
            "persons": "/api/v1/persons/{id}", "post": ["/api/v1/touchpoints", "/api/v1/conversions"]}


@router.get("/api/v1/info", dependencies=READ)
def info(server: ServerDep) -> dict:
    """What `parcours info` says: rows and date ranges per table, channels, persons."""
    with server.reading() as wh:
        return plain(describe(wh))
