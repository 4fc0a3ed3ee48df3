"""Data and jobs: batches of events, validated as files are, and the job queue (loads and
builds, one at a time)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException, Query

from parcours.faces.api.server import READ, WRITE, Server, ServerDep
from parcours.load.ingest import load_events

MAX_BATCH = 10_000  # events per POST

MAX_WAIT = 10.0  # seconds a job's answer may wait for its end (`job`): a request thread is held meanwhile

router = APIRouter()


def post_events(server: Server, table: str, events: list[dict]) -> dict:
    if len(events) > MAX_BATCH:
        raise HTTPException(413, f"at most {MAX_BATCH:,} events per batch")
    with server.loading() as wh, tempfile.TemporaryDirectory(dir=server.ws.path) as tmp:
        return load_events(wh, table, events, Path(tmp), server.ws.config.crm)


@router.post("/api/v1/touchpoints", dependencies=WRITE)
def touchpoints(events: list[dict], server: ServerDep) -> dict:
    """A batch of touchpoints (the fields of a touchpoints file), validated like a file: the
    answer lists every rejected row (1-based) and why; accepted rows are committed before
    it; a batch sent again adds nothing."""
    return post_events(server, "touchpoints", events)


@router.post("/api/v1/conversions", dependencies=WRITE)
def conversions(events: list[dict], server: ServerDep) -> dict:
    """A batch of conversions, as for touchpoints."""
    return post_events(server, "conversions", events)


@router.post("/api/v1/jobs", status_code=202, dependencies=WRITE)
def submit_job(body: Annotated[dict, Body()], server: ServerDep,
               authorization: Annotated[str | None, Header()] = None) -> dict:
    """A load or a build, queued: {"command": "build", "as_of": "YYYY-MM-DD"?, "full": bool?}
    or {"command": "ingest", "loads": [{"table", "path", "rejects_file"?}]}. Jobs run one at
    a time, in order; reports meanwhile read the last committed data. Files are read where
    the server runs, so only this machine's `parcours ingest` may name them."""
    params = {k: v for k, v in body.items() if k != "command"}
    if body.get("command") == "ingest" and not server.from_here(authorization):
        raise HTTPException(403, "only this machine's `parcours ingest` loads files by path; "
                                 "POST rows to /api/v1/touchpoints or /api/v1/conversions")
    return server.jobs.submit(str(body.get("command")), params).describe()


@router.get("/api/v1/jobs", dependencies=READ)
def jobs(server: ServerDep) -> list[dict]:
    """The latest jobs, oldest first: queued, running (step, percent), done or failed."""
    return [job.describe() for job in server.jobs.list()]


@router.get("/api/v1/jobs/{job_id}", dependencies=READ)
def job(job_id: int, server: ServerDep, wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0) -> dict:
    """One job: its status, step and percent done, then its result or its error. With `wait`
    (seconds), the answer waits that long for the job to end, and comes as soon as it has: a
    client following a job hears its end at once, not at its next poll."""
    found = server.jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id} (the server keeps its latest 100)")
    if wait:
        found.ended.wait(wait)
    return found.describe()
