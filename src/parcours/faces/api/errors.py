"""The error family, mapped once: every refusal is {"error": one line} with its status, for a
page (which asks with `lang`) said in its language, fields by their labels. Endpoints raise;
they do not catch."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from parcours.contract.query import LANGUAGES
from parcours.errors import InvalidInput, ParcoursError, status_of, storage_error
from parcours.faces.api.server import server_of
from parcours.reports.refusals import said


def problem(error: dict) -> str:
    """One of pydantic's validation errors in one line: the parameter and why (a body that is
    not JSON said so, with where it broke)."""
    if error.get("type") == "json_invalid":
        return f"the body is not JSON: {error.get('ctx', {}).get('error', 'invalid')} at character {error['loc'][-1]}"
    return f"{'.'.join(map(str, error['loc'][1:])) or error['loc'][0]}: {error['msg']}"


def refused(request: Request, message: str, status: int) -> JSONResponse:
    """A refusal as {"error": one line}: for a page (which asks with `lang`), said in its
    language, fields by their labels; for a program, as raised."""
    lang = request.query_params.get("lang")
    if lang in LANGUAGES:
        message = said(message, lang)[0]
    return JSONResponse({"error": message}, status_code=status)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's HTTPException, and the router's own (404, 405)."""
    assert isinstance(exc, StarletteHTTPException)
    return refused(request, str(exc.detail), exc.status_code)


async def bad_params(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return refused(request, "; ".join(problem(e) for e in exc.errors()), 422)


async def bad_input(request: Request, exc: Exception) -> JSONResponse:
    """A ParcoursError (InvalidInput and its kin) or a ValueError: its status from `errors.STATUS`."""
    return refused(request, str(exc), status_of(exc))


async def storage_failed(request: Request, exc: Exception) -> JSONResponse:
    """A file a request writes, on a full or read-only disk; another OSError is a 500."""
    assert isinstance(exc, OSError)
    error = storage_error(exc, server_of(request).ws.path)
    if error is None:
        raise exc
    return await bad_input(request, error)


def handle_errors(app: FastAPI) -> None:
    """The app's exception handlers: the family above, once for every endpoint."""
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_params)
    for family in (ParcoursError, InvalidInput, ValueError):  # InvalidInput may be both of the others
        app.add_exception_handler(family, bad_input)
    app.add_exception_handler(OSError, storage_failed)
