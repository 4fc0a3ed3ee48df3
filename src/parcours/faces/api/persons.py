"""Persons and privacy: a person's audiences and profile facts by any identifier, and their
erasure (a job)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException

from parcours.activation.audiences import person as find
from parcours.faces.api.server import READ, WRITE, ServerDep

router = APIRouter()


@router.post("/api/v1/forget", status_code=202, dependencies=WRITE)
def forget(body: Annotated[dict, Body(examples=[{"identifier": "jane.doe@example.com"}])], server: ServerDep) -> dict:
    """Erase a person (right to erasure) by any identifier: a job, run in turn with loads and
    builds; follow it at /api/v1/jobs/{id} (its result: the rows deleted per table)."""
    return server.jobs.submit("forget", body).describe()


@router.get("/api/v1/persons/{identifier}", dependencies=READ)
def person(identifier: str, server: ServerDep) -> dict:
    """A person by any identifier (person, visitor, user or customer id; an email or a phone,
    plain or SHA-256): their audiences and profile facts as of the last build, for a site
    or a CMS to personalise. Two indexed point queries on precomputed tables."""
    with server.reading() as wh:
        found = find(wh, server.ws.config, identifier)
    if found is None:
        raise HTTPException(404, "no person has this identifier (as of the last build)")
    return found
