"""Reports: the catalogue, the Query's fields, the attribution models, one report (JSON, CSV or
XLSX) and the facts a client needs to build a query."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from parcours.attribution import NAMES
from parcours.attribution.registry import MODELS
from parcours.contract.config import Config
from parcours.contract.query import DEFAULTS, DRILL, LEVELS, SPECS, by_language
from parcours.contract.query import Query as ReportQuery
from parcours.contract.schema import DEVICES, KINDS, ORIGINS
from parcours.faces.api.server import READ, ServerDep, Written
from parcours.reports import CATALOGUE
from parcours.reports.labels import VALUES, Words
from parcours.reports.meta import query_facts

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter()


def _param(name: str) -> tuple[Any, Any]:
    """The URL parameter of one Query field, from its declaration (so OpenAPI documents it)."""
    spec, default = SPECS[name], DEFAULTS[name]
    kind: Any
    if spec.multiple:
        kind, default = list[str], []
    elif spec.kind == "date":
        kind = dt.date | None
    elif spec.kind == "bool":
        kind = bool | None if default is None else bool
    else:
        kind = {"int": int, "float": float | None, "text": str}[spec.kind]
    if not spec.multiple:  # `?start=` (a blank form field) means "not given", as on the command line
        kind = Annotated[kind, BeforeValidator(lambda v, d=default: d if v == "" else v)]
    numeric = spec.kind in ("int", "float")
    return kind, Field(default, description=spec.help[0], ge=spec.minimum if numeric else None,
                       le=spec.maximum if numeric else None)


class _Output(BaseModel):
    """How a report is written back; `ReportParams` adds one parameter per Query field."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["json", "csv", "xlsx"] = "json"
    lang: Literal["en", "fr"] | None = Field(None, description=(
        "a page's language: the figure, warnings, column labels and value names in it; a CSV or "
        "XLSX written for people in it (labelled columns; in French `;`, decimal commas and a BOM)"))
    delimiter: Literal[",", ";"] | None = Field(None, description="CSV: ',' (';' with lang=fr)")
    bom: bool | None = Field(None, description="CSV: a byte-order mark for spreadsheets (with lang=fr)")

    def query(self) -> ReportQuery:
        params = self.model_dump(exclude=set(_Output.model_fields))
        text = {k: (v if isinstance(v, list) else None if v is None else
                    str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()}
        return ReportQuery.from_params(text)


if TYPE_CHECKING:
    ReportParams = _Output
else:  # the Query as URL parameters; lists repeat (devices=a&devices=b) or use commas
    ReportParams = create_model("ReportParams", __base__=_Output, **{name: _param(name) for name in SPECS})


def write(result: Any, name: str, params: _Output, config: Config) -> Written:
    """A report's answer as `params` ask: CSV, XLSX or JSON, in their language."""
    words = Words(params.lang, config) if params.lang else None
    if params.format == "csv":
        french = params.lang == "fr"
        delimiter = params.delimiter or (";" if french else ",")
        bom = params.bom if params.bom is not None else french
        return (result.to_csv(delimiter=delimiter, bom=bom, words=words).encode("utf-8"), "text/csv",
                {"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if params.format == "xlsx":
        return (result.to_xlsx(words=words), XLSX, {"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    body = json.dumps(result.to_dict(words or Words("en", config)), ensure_ascii=False,
                      allow_nan=False, separators=(",", ":"))  # as JSONResponse writes it
    return body.encode("utf-8"), "application/json", {}


@router.get("/api/v1/reports", dependencies=READ)
def catalogue() -> list[dict]:
    """Every report: titles and questions (en, fr), its chart, the Query fields it reads."""
    return [r.describe() for r in CATALOGUE.values()]


@router.get("/api/v1/fields", dependencies=READ)
def query_fields() -> list[dict]:
    """Every Query field as declared: kind, labels and help (en, fr), default, bounds, the
    values it takes (or the /api/v1/meta key listing them) and the reports that read it.
    The web's filter panel is built from this."""
    return [{"name": name, "kind": spec.kind, "multiple": spec.multiple, "default": DEFAULTS[name],
             "labels": by_language(spec.label),
             "help": by_language(spec.help),
             "choices": list(spec.choices), "values": spec.values, "minimum": spec.minimum,
             "maximum": spec.maximum, "control": spec.control, "page": spec.page, "verbatim": spec.verbatim,
             "value_labels": {v: by_language(t) for v, t in spec.value_labels.items()},
             "reports": [r.name for r in CATALOGUE.values() if name in r.fields]}
            for name, spec in SPECS.items()]


@router.get("/api/v1/models", dependencies=READ)
def models() -> list[dict]:
    """Every attribution model: name, labels (en, fr), data-driven or not, parameters."""
    return [MODELS[n].describe() for n in NAMES]


@router.get("/api/v1/reports/{name}", dependencies=READ,
            responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
def report(name: str, params: Annotated[ReportParams, Query()], server: ServerDep) -> Response:
    """One report. format=json (table, tables, totals, query as applied, warnings, figure),
    csv or xlsx."""
    if name not in CATALOGUE:
        raise HTTPException(404, f"unknown report {name!r}; reports: {', '.join(CATALOGUE)}")
    query, config = params.query(), server.ws.config
    with server.reading() as wh:
        said = server.answers.answer(name, query, wh, config)
    return server.answers.written(said, (params.format, params.lang, params.delimiter, params.bom),
                                  lambda result: write(result, name, params, config))


@router.get("/api/v1/meta", dependencies=READ)
def meta(server: ServerDep) -> dict:
    """Date bounds after the D-2 cut, levels and the level a row drills down to, the
    channel > source > campaign tree and the values each filter can take."""
    config = server.ws.config
    with server.reading() as wh:
        facts = query_facts(wh, config)
    names = {**VALUES, **config.channel_names}
    return {"levels": list(LEVELS), "drill": DRILL, "devices": list(DEVICES), "kinds": list(KINDS),
            "origins": list(ORIGINS), **facts, "currency": config.reports.currency,
            "names": {value: by_language(name) for value, name in names.items()}}
