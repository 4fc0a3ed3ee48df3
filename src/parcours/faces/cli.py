"""The `parcours` command: parse, call the engine, render. Nothing is computed here.

Start-up imports only Typer, Rich and the Query declarations: the engine (Ibis, DuckDB,
pandas, Plotly) is imported by the command that needs it, so `parcours --help` is quick.
The options of `parcours report` are generated from `parcours.contract.query.SPECS`.
"""

from __future__ import annotations

import datetime as dt
import gc
import inspect
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from parcours.contract.model_params import PARAMS
from parcours.contract.query import DEFAULTS, LEVELS, SPECS, cli_option
from parcours.contract.schema import TABLES
from parcours.errors import InvalidInput, ParcoursError, storage_error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pandas as pd
    import pyarrow as pa
    from rich.progress import Progress, TaskID

    from parcours.attribution.model import Model
    from parcours.contract.config import Config


out = Console(soft_wrap=True, markup=False)  # it prints data (a channel named `[/]`): never read as markup
err = Console(stderr=True, soft_wrap=True)


class _Commands(TyperGroup):
    """Every command: what parcours refuses (a config, an input, a busy warehouse) is one
    line on stderr and exit 2, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ParcoursError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        except OSError as exc:  # a file parcours writes itself, on a full or read-only disk
            said = storage_error(exc)
            if said is None:
                raise
            err.print(f"[bold red]error:[/] {escape(str(said))}")
            raise typer.Exit(2) from None


# Click's plain help (no Rich panels): option help keeps most of an 80-column terminal.
app = typer.Typer(help="Customer-journey analytics and multi-touch attribution.", cls=_Commands,
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)

LevelOpt = Annotated[str, typer.Option(help=SPECS["level"].help[0] + f" Values: {', '.join(LEVELS)}.")]
WorkspaceOpt = Annotated[Path, typer.Option(
    "--workspace", "-w", envvar="PARCOURS_WORKSPACE", file_okay=False,
    help="Workspace folder (config parcours.toml and warehouse). Default: current folder.")]


# the tables `parcours ingest` loads (schema.TABLES), and ga4: a GA4 BigQuery export, converted
# into touchpoints, conversions and identities
TableName = StrEnum("TableName", {name: name for name in (*TABLES, "ga4")})  # type: ignore[misc]


class SimFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


class Scenario(StrEnum):  # simulate.WORLDS, named here so `--help` needs no NumPy
    additive = "additive"
    selection = "selection"
    synergy = "synergy"
    saturation = "saturation"
    offline = "offline"
    heterogeneous = "heterogeneous"


def _progress() -> Progress:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), console=err, transient=False, disable=not err.is_terminal)


def _advance(bar: Progress, task: TaskID) -> Callable[[float], None]:
    """A progress callback (percent done) moving one task of a bar."""
    return lambda pct: bar.update(task, completed=pct)


def _told(said: str) -> None:
    """What the front door says on the way (a server holds the workspace), on stderr."""
    err.print(escape(said))


def _moved(bar: Progress, task: TaskID) -> Callable[[str, float], None]:
    """A job's progress (step, percent done) on a bar."""
    return lambda step, pct: bar.update(task, description=step, completed=pct)


def _fail(exc: Exception) -> NoReturn:
    """Exit 2 with the error's message (printed as is: messages name [sections] of the config)."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(2)


@app.command()
def init(workspace: WorkspaceOpt = Path(".")) -> None:
    """Create a workspace: the folder and a parcours.toml holding every default setting."""
    from parcours.front import Workspace

    ws = Workspace.init(workspace)
    out.print(f"workspace ready at {ws.path}")


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the files to.")],
    persons: Annotated[int, typer.Option(min=1, help="Number of people to simulate.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 0,
    days: Annotated[int, typer.Option(min=1, help="Length of the simulated period.")] = 90,
    end: Annotated[str | None, typer.Option(
        help="Last simulated day, YYYY-MM-DD, before today. Default: yesterday (UTC): nothing happens after "
             "now.")] = None,
    fmt: Annotated[SimFormat, typer.Option("--format", help="File format.")] = SimFormat.parquet,
    touches_per_person: Annotated[float, typer.Option(help="Average touches per person.")] = 10.0,
    scenario: Annotated[Scenario, typer.Option(
        help="The world: how channels cause conversions (the simulator's docstring and the README "
             "give each one's equations).")] = Scenario.additive,
    horizon: Annotated[int | None, typer.Option(
        min=0, help="The truth of predictions at this many days before the end (0: none; default 7, or "
                    "fewer than the days).")] = None,
    load_into: Annotated[Path | None, typer.Option(
        "--load-into", file_okay=False,
        help="Then load every table written into this workspace (created if need be), as `parcours ingest` "
             "would, in the same process.")] = None,
) -> None:
    """Write simulated touchpoints, conversions, identities and costs, plus the truth.

    truth.<fmt> holds, per day and channel, the true incremental conversions and revenue
    (re-simulated with the channel switched off, same random draws); persons_truth.<fmt>
    maps every visitor id to its real person; propensity_truth.<fmt> and channel_truth.<fmt>
    each person's true probability to convert within the horizon and each channel's true gain
    (`parcours evaluate --predictions`).
    """
    from parcours.simulate import simulate as run

    end_date = _date(end) if end is not None else None
    if horizon is not None and horizon >= days:
        _fail(InvalidInput(f"{horizon} days is not fewer than the {days} days simulated (--days): the truth is "
                           "taken that many days before the end", field="--horizon"))
    with _progress() as bar:
        task = bar.add_task("simulating persons", total=persons)
        res = run(out_dir, persons=persons, seed=seed, days=days, end=end_date, fmt=fmt.value,
                  touches_per_person=touches_per_person, scenario=scenario.value, horizon=horizon,
                  progress=lambda done, total: bar.update(task, completed=done))
    out.print(f"{res.persons:,} persons, {res.touchpoints:,} touchpoints, "
              f"{res.conversions:,} conversions written to {out_dir}")
    for name, path in res.files.items():
        out.print(f"  {name:<14} {path}")
    if load_into is not None:
        from parcours.contract.schema import TABLES
        from parcours.engine.workspace import Folder
        from parcours.front import open_workspace

        Folder.init(load_into)
        with open_workspace(load_into, _told) as ws:
            for name in (t for t in TABLES if t in res.files):
                _load_one(ws, name, res.files[name], ws.path / "rejects")  # the simulator writes no bad row


def _print_rejects(rejects: list, count: int, files: bool = False) -> None:
    """The first rejects of a load (row, field, reason, value; the file too when several were
    read at once), and whether more follow."""
    for r in rejects:
        out.print(f"  {r.file + ': ' if files else ''}row {r.row}, field {r.field}: {r.reason}"
                  + (f" (value {r.value!r})" if r.value is not None else ""))
    if count > len(rejects):
        out.print("  ...")


@app.command()
def ingest(
    table: Annotated[TableName, typer.Argument(
        help="Table to load into, or ga4: a GA4 BigQuery export (events_YYYYMMDD as Parquet or JSON "
             "Lines) into touchpoints (a session each), conversions and identities.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON Lines files.")],
    workspace: WorkspaceOpt = Path("."),
    allow_rejects: Annotated[bool, typer.Option(
        "--allow-rejects", help="Exit 0 even when rows were rejected (the valid rows load either way).")] = False,
    rejects_dir: Annotated[Path | None, typer.Option(
        "--rejects-dir", file_okay=False,
        help="Folder for the rejected rows, one <file>.rejects.csv per file. Default: <workspace>/rejects")] = None,
    lead_events: Annotated[str, typer.Option(
        help="ga4: the events loaded as leads (purchases are sales), comma-separated.")] = "generate_lead,sign_up",
) -> None:
    """Validate files and load their rows. Each file is one transaction; reloading adds nothing.

    Bad rows never enter the warehouse: each is reported with file, row, field and reason,
    and all of them are written to a rejects file.
    """
    from parcours.engine.workspace import Folder
    from parcours.front import open_workspace

    any_rejected = False
    Folder.init(workspace)  # the folder and its config (no engine: a server may hold it)
    with open_workspace(workspace, _told) as ws:
        loads = [(table.value, path) for path in files]
        if table.value == "ga4":
            from parcours.load.ga4 import convert

            got = convert(files, ws.path / "ga4", tuple(e.strip() for e in lead_events.split(",") if e.strip()),
                          rejects_dir=rejects_dir or ws.path / "rejects")
            out.print(f"ga4: {got.events:,} events read; {got.sessions_without_id:,} without a session id or a "
                      f"user_pseudo_id (consent mode) give no touchpoint; {got.rejected:,} rejected")
            if got.rejected:
                any_rejected = True
                _print_rejects(got.rejects, got.rejected, files=True)
                for f in got.rejects_files:
                    out.print(f"  all rejects: {f}")
            loads = list(got.files.items())
        for name, path in loads:
            any_rejected = _load_one(ws, name, path, rejects_dir or ws.path / "rejects") or any_rejected
    if any_rejected and not allow_rejects:
        err.print("[bold red]some rows were rejected:[/] the valid rows are loaded, the rejected ones are in the "
                  "rejects file; fix and load it again (exit 1; --allow-rejects exits 0)")
        raise typer.Exit(1)


def _load_one(ws: Any, table: str, path: Path, rejects_dir: Path) -> bool:
    """Load one file into `table` with its progress, and say what happened; whether rows were
    rejected."""
    with _progress() as bar:
        task = bar.add_task(f"loading {path.name}", total=100)
        res = ws.load(table, path, rejects_file=rejects_dir / f"{path.name}.rejects.csv", progress=_moved(bar, task))
    out.print(f"{path}: {res.rows_read:,} rows read, {res.inserted:,} loaded, "
              + (f"{res.updated:,} updated, " if res.updated else "")
              + f"{res.already_loaded:,} already loaded, {res.rejected_rows:,} rejected")
    if res.ignored_columns:
        out.print(f"  ignored columns: {', '.join(res.ignored_columns)}")
    if res.rejected_rows:
        _print_rejects(res.rejects, res.rejected_rows)
        out.print(f"  all rejects: {res.rejects_file}")
    return res.rejected_rows > 0


@app.command()
def build(
    workspace: WorkspaceOpt = Path("."),
    as_of: Annotated[str | None, typer.Option(
        help="Pretend today is this day (YYYY-MM-DD); conversions up to D-2 of it are built.")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Rebuild every person, not only those the new rows and the moved D-2 cut can change.")] = False,
) -> None:
    """Stitch identities and bring persons, journeys and touches up to date (deterministic:
    an incremental build gives the tables a full one would)."""
    from parcours.front import open_workspace

    day = _date(as_of) if as_of is not None else None  # "" is no day (it built as of today)
    with open_workspace(workspace, _told) as ws, _progress() as bar:
        task = bar.add_task("building", total=100)
        done = ws.build(day, full, _moved(bar, task))
        bar.update(task, completed=100, description="built")
        config = ws.config
    _print_built(done, config)


def _print_built(done: Any, config: Any) -> None:
    res, predicted, sent = done.result, done.predict, done.webhook
    out.print(f"built up to {res.cut - dt.timedelta(seconds=1):%Y-%m-%d} (D-{config.journeys.report_lag_days} "
              f"of {res.as_of}): {res.persons:,} persons, {res.journeys:,} journeys "
              f"({res.converting:,} converting), {res.touches:,} touches; "
              + ("every person rebuilt" if res.rebuilt is None else f"{res.rebuilt:,} persons rebuilt (incremental)"))
    if done.retention:
        out.print(f"retention ({config.privacy.retention_days} days): dropped "
                  + ", ".join(f"{n:,} {t}" for t, n in done.retention.items()))
    if predicted.get("skipped"):
        out.print(f"predictions: none ({predicted['skipped']})")
    elif predicted and not predicted.get("refit"):
        fitted = dt.datetime.fromisoformat(predicted["fitted_cut"]) - dt.timedelta(seconds=1)
        out.print(f"predictions: scored again {predicted['scored']:,} persons whose profile changed, by the model "
                  f"fitted on the data up to {fitted:%Y-%m-%d}; fitted again after "
                  f"{config.predict.refit_every_days} days ([predict] refit_every_days) or by `parcours predict fit`")
    elif predicted:
        out.print(f"predictions: {predicted['scored']:,} persons scored; propensity within "
                  f"{config.predict.horizon_days} days on the held-out cut-off: AUC {predicted['auc']:.3f}, "
                  f"top decile {predicted['top_decile_lift']:.1f}x the base rate "
                  f"(`parcours report propensity`)")
    if done.audiences:
        out.print("audiences: " + ", ".join(f"{name} {n:,}" for name, n in done.audiences.items()))
    for problem in done.audience_problems:
        err.print(escape(f"warning: {problem}"))
    if sent.get("batches") or sent.get("failed"):
        out.print(f"webhook: {sent['batches']:,} batches ({sent['persons']:,} persons) delivered"
                  + (f"; {sent['failed']:,} not, sent at the next build ({sent['reason']})" if sent["failed"] else ""))


@app.command()
def info(workspace: WorkspaceOpt = Path(".")) -> None:
    """Row counts, date ranges, channels, persons and the stitched share."""
    from rich.table import Table

    from parcours.front import open_workspace

    with open_workspace(workspace, _told) as ws:
        facts = ws.info()
    t = Table(title=f"workspace {ws.path}")
    t.add_column("table")
    t.add_column("rows", justify="right")
    t.add_column("from")
    t.add_column("to")
    for name, (rows, lo, hi) in facts.tables.items():
        t.add_row(name, f"{rows:,}", str(lo or ""), str(hi or ""))
    out.print(t)
    for line in facts.lines():
        out.print(line)


class OutFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def attribute(
    model: Annotated[str, typer.Option(help="An attribution model (`parcours models` lists them).")],
    workspace: WorkspaceOpt = Path("."),
    level: LevelOpt = "channel",
    fit_level: Annotated[str, typer.Option(
        help="Data-driven models are fitted on paths at this level, then each journey is split "
             "over its touches, so every --level adds up to the same channel totals.")] = "channel",
    paths: Annotated[Path | None, typer.Option(
        help="Attribute an aggregated path file (ChannelAttribution / GA layout) instead of the warehouse.",
        dir_okay=False)] = None,
    delimiter: Annotated[str, typer.Option(help="--paths: field delimiter.")] = ",",
    path_sep: Annotated[str, typer.Option(help="--paths: separator between steps of a path.")] = ">",
    path_column: Annotated[str, typer.Option(help="--paths: column holding the path.")] = "path",
    conversions_column: Annotated[str, typer.Option(help="--paths: conversions column.")] = "total_conversions",
    nulls_column: Annotated[str | None, typer.Option(help="--paths: non-conversions column.")] = None,
    value_column: Annotated[str | None, typer.Option(help="--paths: conversion value column.")] = None,
    collapse_repeats: Annotated[bool, typer.Option(
        help="--paths: count consecutive repeats once (a > a > b is a > b) before any model. "
             "Without it each step is a touch, as written.")] = False,
    ci: Annotated[float | None, typer.Option(
        help="Data-driven models: bootstrap interval at this level, e.g. 0.9 (resampling journeys).")] = None,
    samples: Annotated[int, typer.Option(min=10, help="Bootstrap resamples for --ci.")] = 100,
    start: Annotated[str | None, typer.Option(
        help="Warehouse: first day of conversions (default: as the reports, 30 days to the last).",
        metavar="YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Warehouse: last day (cut at D-2).", metavar="YYYY-MM-DD")] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Output format.")] = OutFormat.table,
    **options: Any,
) -> None:
    """Attributed conversions and value per channel (or level) under one model, over the
    reports' period (printed; --start and --end change it). The models' parameters are options
    too (registry.PARAMS)."""
    from parcours.attribution.catalogue import make_model
    from parcours.attribution.registry import MODELS

    params = {name: _model_param(name, options[name]) for name in options}
    if paths is None:
        table = _attribute_warehouse(workspace, model, level, fit_level, ci, samples, start, end, **params)
    else:
        m = make_model(model, **params)
        if ci is not None and not MODELS[model].data_driven:
            driven = ", ".join(n for n, spec in MODELS.items() if spec.data_driven)
            _fail(InvalidInput(f"--ci is for the data-driven models ({driven})"))
        bootstrap = None if ci is None else dict(
            make_model=lambda: make_model(model, **params), ci=ci, samples=samples)
        columns = (path_column, conversions_column, nulls_column, value_column)
        try:
            table = _attribute_file(m, paths, delimiter, path_sep, columns, bootstrap, collapse_repeats)
        except FileNotFoundError as exc:
            _fail(exc)
    _print_table(table, fmt)


def _model_param(name: str, value: Any) -> Any:
    """An option's value as the model takes it (numbers: a tuple of as many as the default's)."""
    param = PARAMS[name]
    if param.kind != "numbers":
        return value
    try:
        numbers = tuple(float(x) for x in str(value).split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != len(param.default):
        raise typer.BadParameter(f"{param.cli} takes {len(param.default)} numbers separated by commas ({param.help})")
    return numbers


def _model_option(name: str) -> inspect.Parameter:
    """The `parcours attribute` option of one model parameter, from its declaration."""
    param = PARAMS[name]
    kind: Any = {"int": int, "float": float, "numbers": str}[param.kind]
    default = ",".join(f"{x:g}" for x in param.default) if param.kind == "numbers" else param.default
    whole = param.kind == "int"
    option = typer.Option(param.cli, help=param.help + ".", min=param.minimum if whole else None,
                          max=param.maximum if whole else None)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option])


_attribute_signature = inspect.signature(attribute, eval_str=True)
_attribute_signature = _attribute_signature.replace(parameters=[
    *(p for p in _attribute_signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD),
    *(_model_option(name) for name, param in PARAMS.items() if param.cli)])
attribute.__signature__ = _attribute_signature  # type: ignore[attr-defined]
attribute.__annotations__ = {p.name: p.annotation for p in _attribute_signature.parameters.values()}
app.command()(attribute)


def _attribute_file(model: Model, path: Path, delimiter: str, path_sep: str,
                    columns: tuple[str, str, str | None, str | None], bootstrap: dict[str, Any] | None,
                    collapse: bool) -> pa.Table | pd.DataFrame:
    """A path file: the model's own credits (as ChannelAttribution prints them)."""
    from parcours.attribution.catalogue import attribute_paths
    from parcours.attribution.paths import read_paths

    try:
        p = read_paths(path, *columns, sep=path_sep, delimiter=delimiter, collapse=collapse)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc}") from None
    table = attribute_paths(model, p)
    if not bootstrap:
        return table
    from parcours.attribution.intervals import intervals

    return table.to_pandas().join(intervals(p, per_touch=False, **bootstrap), on="channel")


def _attribute_warehouse(workspace: Path, model: str, level: str, fit_level: str, ci: float | None,
                         samples: int, start: str | None, end: str | None, **params: Any) -> Any:
    """The warehouse: per-touch credits summed at `level` (data-driven models fitted at
    `fit_level`), over the conversions of the reports' period, which it prints."""
    from parcours.front import open_workspace

    with open_workspace(workspace, _told) as ws:
        done = ws.attribute(model, level, fit_level, ci, samples, _date(start) if start else None,
                            _date(end) if end else None, **params)
    for w in done.warnings:
        err.print(f"[yellow]warning:[/] {escape(str(w))}")
    err.print(f"conversions from {done.start} to {done.end}")
    return done.table


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    xlsx = "xlsx"
    json = "json"


METAVARS = {"date": "YYYY-MM-DD", "int": "N", "float": "NUMBER", "text": "NAME", "list": "VALUE",
            "pairs": "LEVEL=VALUE", "crm": "ATTRIBUTE=A|B", "bool": "new|returning"}


def _query_option(name: str) -> inspect.Parameter:
    """The `parcours report` option of one Query field, from its declaration."""
    spec = SPECS[name]
    opt = cli_option(name)
    default: Any = None
    if spec.kind == "bool" and spec.value_labels:  # three states: --customers new|returning
        kind: Any = str | None
    elif spec.kind == "bool":
        kind, default = bool, False  # a flag; cli_invert: the flag sets the field to False
    elif spec.kind == "int":
        kind, default = int, DEFAULTS[name]
    elif spec.kind == "float":
        kind = float | None
    elif spec.kind == "text":
        kind, default = str, DEFAULTS[name]
    elif spec.multiple:
        kind = list[str] | None
    else:
        kind = str | None
    text = spec.help[0] + (f" Values: {', '.join(spec.choices)}." if spec.choices else "")
    whole = spec.kind == "int"  # float bounds are the Query's to check, with its message
    option = typer.Option(opt, help=text, metavar=METAVARS.get(spec.kind), show_default=default not in (None, False),
                          min=spec.minimum if whole else None, max=spec.maximum if whole else None)
    return inspect.Parameter(_argument(name), inspect.Parameter.KEYWORD_ONLY,
                             default=default, annotation=Annotated[kind, option])


def _argument(name: str) -> str:
    """The Python name Typer gives the option of a Query field (--with-channel: with_channel)."""
    return cli_option(name).lstrip("-").replace("-", "_")


def _query_params(options: dict[str, Any]) -> dict[str, Any]:
    """The options as Query text parameters (what a URL would carry)."""
    params: dict[str, Any] = {}
    for name, spec in SPECS.items():
        value = options[_argument(name)]
        if spec.kind == "bool" and not spec.value_labels:
            value = str(not value if spec.cli_invert else value)
        elif value is not None and not isinstance(value, list):
            value = str(value)
        params[name] = value
    return params


def report(name: str, workspace: Path, fmt: ReportFormat, output: Path | None, delimiter: str, bom: bool,
           **options: Any) -> None:
    """One report of the catalogue (`parcours reports` lists them), as a table or a file."""
    from parcours.contract.query import Query
    from parcours.front import open_workspace
    from parcours.reports import CATALOGUE
    from parcours.reports.labels import Words

    if name not in CATALOGUE:
        _fail(InvalidInput(f"unknown report {name!r}; reports: {', '.join(CATALOGUE)}"))
    if fmt is ReportFormat.xlsx and output is None:
        raise typer.BadParameter("--format xlsx writes a file: give --output FILE.xlsx")
    params = _query_params(options)
    if fmt is ReportFormat.table:  # on screen, what a page shows when not told (one measure...)
        params = {**{k: str(v) for k, v in CATALOGUE[name].page.items()}, **{k: v for k, v in params.items() if v}}
    query = Query.from_params(params)  # checked here: a bad option is the same one line
    if fmt is ReportFormat.csv and delimiter not in (",", ";", "\t"):
        raise typer.BadParameter("delimiter must be ',', ';' or a tab")
    with open_workspace(workspace, _told) as ws:
        if fmt is not ReportFormat.table:
            body = ws.export(name, query, fmt.value, delimiter=delimiter, bom=bom)
        else:
            result = ws.report(name, query)
            words = Words("en", ws.config)
    if fmt is not ReportFormat.table:
        if output is None:
            sys.stdout.write(body.decode("utf-8"))
        else:
            output.write_bytes(body)
            err.print(f"written to {output}")
        return
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(str(w))}")
    _print_report(result, words)


_P = inspect.Parameter
_signature = inspect.Signature([  # what Typer reads to make the options
    _P("name", _P.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, typer.Argument(
        help="The report: `parcours reports` lists them.")]),
    _P("workspace", _P.KEYWORD_ONLY, default=Path("."), annotation=WorkspaceOpt),
    *(_query_option(name) for name in SPECS),
    _P("fmt", _P.KEYWORD_ONLY, default=ReportFormat.table,
       annotation=Annotated[ReportFormat, typer.Option("--format", help="Output format.")]),
    _P("output", _P.KEYWORD_ONLY, default=None, annotation=Annotated[Path | None, typer.Option(
        help="Write to this file (needed for xlsx).", dir_okay=False)]),
    _P("delimiter", _P.KEYWORD_ONLY, default=",",
       annotation=Annotated[str, typer.Option(help="CSV delimiter: ',' or ';'.")]),
    _P("bom", _P.KEYWORD_ONLY, default=False,
       annotation=Annotated[bool, typer.Option(help="CSV: start with a UTF-8 BOM (spreadsheets).")]),
])
report.__signature__ = _signature  # type: ignore[attr-defined]
report.__annotations__ = {p.name: p.annotation for p in _signature.parameters.values()}
app.command(name="report")(report)


@app.command(name="reports")
def list_reports(fmt: Annotated[OutFormat, typer.Option("--format", help="Output format.")] = OutFormat.table,
                 ) -> None:
    """The report catalogue: each report, the question it answers and the options it reads."""
    import pandas as pd

    from parcours.reports import CATALOGUE

    _print_table(pd.DataFrame([{"report": r.name, "question": r.question[0],
                                "options": ", ".join(cli_option(o) for o in r.options),
                                "today included": r.describe()["today_included"]} for r in CATALOGUE.values()]), fmt)


@app.command(name="models")
def list_models(fmt: Annotated[OutFormat, typer.Option("--format", help="Output format.")] = OutFormat.table,
                ) -> None:
    """The attribution models: name, data-driven or rule-based, parameters."""
    import pandas as pd

    from parcours.attribution import NAMES
    from parcours.attribution.registry import MODELS

    _print_table(pd.DataFrame([{"model": n, "label": MODELS[n].label[0], "data-driven": MODELS[n].data_driven,
                                "parameters": ", ".join(MODELS[n].params)} for n in NAMES]), fmt)


@app.command()
def serve(
    workspace: WorkspaceOpt = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on; beyond loopback, [api] tokens are required.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json)."""
    import uvicorn

    from parcours.faces.api import check_bind, create_app
    from parcours.front import Workspace

    with Workspace(workspace) as ws:
        ws.require_warehouse()
        check_bind(host, bool(ws.config.tokens), ws.config.hosts)
    out.print(f"parcours serving {workspace} on http://{host}:{port}  (API: /api/v1, OpenAPI: /openapi.json)")
    here = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    app_ = create_app(workspace, f"http://{here}:{port}",
                      announce=lambda link: out.print(f"to save audiences from the pages on this machine, open {link}"))
    uvicorn.run(app_, host=host, port=port, log_level="warning")


def _evaluate_predictions(workspace: Path, folder: Path, fmt: OutFormat) -> None:
    from parcours.front import Workspace
    from parcours.predict.evaluate import evaluate as judge

    with Workspace(workspace) as ws:
        ws.require_warehouse()
        table, _ = judge(ws.warehouse, ws.config, folder)
    if fmt == OutFormat.table:
        out.print("predictions as of the simulation's cut vs its truth:")
        table = table.assign(value=[f"{v:,.3f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else v
                                    for v in table.value])
    _print_table(table, fmt)


def _evaluate_lift(workspace: Path, truth: Path, fmt: OutFormat) -> None:
    import pandas as pd

    from parcours.front import Workspace
    from parcours.reports.messaging_lift import against_truth

    frame = pd.read_parquet(truth) if truth.suffix == ".parquet" else pd.read_csv(truth)
    with Workspace(workspace) as ws:
        window = ws.config.messaging.lift_window_days
        table = against_truth(ws.warehouse, frame, window)
    if table.empty:
        _fail(InvalidInput("no journey of the truth has a holdout group in this workspace: load its messages "
                         "(`parcours ingest messages`) and build"))
    if fmt != OutFormat.table:  # a file's columns, whole
        _print_table(table.round(3), fmt)
        return
    out.print(f"incremental orders over {window} days after entry, estimated from the holdout (95% interval) "
              "vs the simulator's truth:")
    short = {"incremental_orders": "estimate", "incremental_orders_low": "low", "incremental_orders_high": "high",
             "true_incremental_orders": "truth", "relative_error": "rel_error"}
    _print_table(table[["journey", "entrants", "held_out", *short, "covered"]].rename(columns=short).round(3), fmt)


@app.command()
def evaluate(
    truth: Annotated[Path | None, typer.Option(help="truth.parquet (or .csv) written by `parcours simulate`.",
                                               dir_okay=False, exists=True)] = None,
    workspace: WorkspaceOpt = Path("."),
    scenario: Annotated[str | None, typer.Option(
        help="Instead of a workspace: simulate this world (or `all` of them), build it and score every "
             "model there; one row per model, a column per world.")] = None,
    persons: Annotated[int, typer.Option(
        min=100, help="--scenario: persons per world (fewer and the truth itself is noise: at 20,000 a "
                      "channel's true conversions are a few dozen).")] = 100_000,
    seed: Annotated[int, typer.Option(help="--scenario: the simulation's seed.")] = 1,
    days: Annotated[int, typer.Option(min=7, help="--scenario: simulated days per world.")] = 60,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", file_okay=False, help="--scenario: keep each world's data and workspace here.")] = None,
    samples: Annotated[int, typer.Option(min=10, help="Bootstrap resamples for the intervals.")] = 100,
    messages_truth: Annotated[Path | None, typer.Option(
        help="Instead of the models: the messaging journeys' true lift (messages_truth.parquet from "
             "`parcours simulate`) against the workspace's holdout estimate.", dir_okay=False,
        exists=True)] = None,
    predictions: Annotated[Path | None, typer.Option(
        help="Instead of the models: the propensity and the next best channel, predicted as of the "
             "simulation's cut, against its truth (the folder `parcours simulate` wrote).", file_okay=False,
        exists=True)] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Output format.")] = OutFormat.table,
) -> None:
    """Score every model against the simulator's true incremental conversions (--truth, or
    the workspace's `truth` table when it was loaded); with --messages-truth, the messaging
    journeys' lift estimated from their holdout groups against the true lift; with
    --predictions, the propensity and next best channel against the true probabilities and gains.

    nmae: attributed conversions scaled to the true total, sum |attributed - true| / sum true.
    ci_coverage (data-driven models): share of channels whose truth lies in the 90% bootstrap
    interval."""
    if scenario is not None and truth is not None:
        _fail(InvalidInput("--scenario simulates its own truth: give --truth or --scenario, not both"))
    if messages_truth is not None:
        _evaluate_lift(workspace, messages_truth, fmt)
        return
    if predictions is not None:
        _evaluate_predictions(workspace, predictions, fmt)
        return
    if scenario is not None:
        _evaluate_worlds(scenario, out_dir, persons, seed, days, samples, fmt)
        return
    _evaluate_models(workspace, truth, samples, fmt)


def _evaluate_models(workspace: Path, truth: Path | None, samples: int, fmt: OutFormat) -> None:
    """Every model of the workspace against the truth (--truth, or its loaded `truth` table)."""
    import pandas as pd

    from parcours.attribution.evaluate import evaluate as run
    from parcours.engine.engines import warehouse_exists
    from parcours.front import Workspace

    with Workspace(workspace) as ws:
        exists = warehouse_exists(ws.path, ws.config.warehouse)
        if truth is not None:
            frame = pd.read_parquet(truth) if truth.suffix == ".parquet" else pd.read_csv(truth)
        elif exists and ws.warehouse.has("truth") and ws.warehouse.count("truth"):
            frame = ws.warehouse.table("truth").to_pandas()
        else:
            _fail(InvalidInput("evaluate needs --truth, a workspace with the simulator's truth loaded "
                             "(`parcours ingest truth`), or --scenario"))
        ws.require_warehouse()
        with _progress() as bar:
            task = bar.add_task("scoring models", total=None)
            table = run(ws.warehouse, frame, _evaluated_models(ws.config), samples=samples,
                        progress=lambda done, total, name: bar.update(
                            task, completed=done, total=total, description=f"scoring {name}" if name else "scored"))
    _print_table(table, fmt)


def _evaluated_models(config: Config) -> dict[str, Model]:
    """Every model of the catalogue, with the config's direct channels, and Markov of order 2."""
    from parcours.attribution import NAMES
    from parcours.attribution.catalogue import make_model

    chosen = {name: make_model(name, direct=config.direct_channels) for name in NAMES}
    chosen["markov_order2"] = make_model("markov", order=2)
    return chosen


def _evaluate_worlds(scenario: str, out_dir: Path | None, persons: int, seed: int, days: int, samples: int,
                     fmt: OutFormat) -> None:
    """--scenario: the world (or `all` of them) simulated, built and every model scored there."""
    import tempfile

    from parcours.attribution.evaluate import evaluate_worlds
    from parcours.simulate import WORLDS

    worlds = list(WORLDS) if scenario == "all" else [scenario]
    if worlds[0] not in WORLDS:
        _fail(InvalidInput(f"--scenario: unknown world {scenario!r}; worlds: all, {', '.join(WORLDS)}"))
    with tempfile.TemporaryDirectory(prefix="parcours-worlds-") as scratch, _progress() as bar:
        task = bar.add_task("worlds", total=None)
        table = evaluate_worlds(out_dir or Path(scratch), worlds, _evaluated_models, persons=persons, seed=seed,
                                days=days, samples=samples,
                                progress=lambda step: bar.update(task, description=step))
    _print_table(table, fmt)


def _print_table(df: pd.DataFrame | pa.Table, fmt: OutFormat) -> None:
    """A table as a terminal table, CSV or JSON records. An Arrow table is printed on a
    terminal as it is (a path file's credits need no pandas); CSV and JSON go through pandas,
    so every command writes them alike."""
    import pyarrow as pa
    from rich.table import Table

    if fmt is not OutFormat.table and isinstance(df, pa.Table):
        df = df.to_pandas()
    if fmt is OutFormat.csv:
        from parcours.contract.cells import neutralise

        sys.stdout.write(df.map(neutralise).to_csv(index=False))
    elif fmt is OutFormat.json:
        sys.stdout.write(df.to_json(orient="records") + "\n")
    else:
        if isinstance(df, pa.Table):
            columns = df.column_names
            numeric = [pa.types.is_integer(df[c].type) or pa.types.is_floating(df[c].type) for c in columns]
            rows: Iterable[Any] = (row.values() for row in df.to_pylist())
        else:
            import pandas as pd

            columns = [str(c) for c in df.columns]
            numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
            rows = df.itertuples(index=False)
        t = Table()
        for col, right in zip(columns, numeric, strict=True):
            t.add_column(col, justify="right" if right else "left")
        for row in rows:
            t.add_row(*(_cell(col, v) for col, v in zip(columns, row, strict=True)))
        out.print(t)


def _print_report(result: Any, words: Any) -> None:
    """A report on a terminal: its period, its table with labelled columns and named values,
    as many columns as the width holds (the others named), and its totals."""
    from rich.table import Table

    level = result.query.get("level", "channel")
    names = words.names(level)
    period = f"{result.query.get('start')} to {result.query.get('end')}" if "start" in result.query \
        else f"as of the build cut {result.query.get('cut')}"
    out.print(f"{result.name}: {period}")
    df = result.table.drop(columns=["low_volume"], errors="ignore")
    cells = {c: [_unit_cell(v, words.column(str(c), level)[1], names) for v in df[c]] for c in df.columns}
    width, used = out.width - 1, 1
    shown: list[str] = []
    widths: dict[str, int] = {}
    for c in df.columns:  # each column as wide as its widest cell; headers wrap past 16 characters
        label = words.column(str(c), level)[0]
        widths[c] = max([len(x) for x in cells[c]] + [min(len(label), 16)])
        if words.column(str(c), level)[1] == "text":  # a long path wraps
            widths[c] = min(widths[c], 40)
        if shown and used + widths[c] + 3 > width:
            break
        shown.append(c)
        used += widths[c] + 3
    t = Table(show_lines=False)
    for c in shown:
        unit = words.column(str(c), level)[1]
        t.add_column(words.column(str(c), level)[0], justify="left" if unit == "text" else "right",
                     min_width=widths[c], max_width=widths[c], overflow="fold")
    for i in range(len(df)):
        t.add_row(*(cells[c][i] for c in shown))
    out.print(t)
    hidden = [words.column(str(c), level)[0] for c in df.columns if c not in shown]
    if hidden:
        out.print(f"{len(hidden)} more column(s) wider than the terminal: {', '.join(hidden)}. "
                  "`--format csv` or `--output FILE.xlsx` has them all.")
    out.print(" · ".join(f"{words.column(k, level)[0].removesuffix(f' ({words.currency})')} "
                         f"{_unit_cell(v, words.column(k, level)[1], names, words.currency)}"
                         for k, v in result.totals.items() if v is not None))


def _unit_cell(value: object, unit: str, names: dict[str, str], currency: str = "") -> str:
    """A cell as the page shows it, by its column's unit (money with `currency` if given)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        from parcours.reports.labels import name_of
        return "" if value is None else str(name_of(value, names))
    if value != value:
        return ""
    if unit == "share":
        return f"{value:.1%}"
    if unit in ("rate", "points"):  # a probability that may be small: two significant digits, as the page
        text = f"{float(f'{value * 100:.2g}'):,.10g}"
        return f"{text}%" if unit == "rate" else f"{text} pt"
    if unit == "pct":
        return f"{value:+.1f} %"
    if unit == "money":
        return f"{value:,.2f}" + (f" {currency}" if currency else "")
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "ratio":
        return f"{value:,.2f}"
    return f"{value:,.1f}" if not float(value).is_integer() else f"{value:,.0f}"


def _cell(column: str, value: object) -> str:
    """A number as the page shows it: shares and rates in %, others with two decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if value != value:  # NaN: nothing to show
        return ""
    if "share" in column or column.endswith("_rate"):
        return f"{value:.1%}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None



audience_app = typer.Typer(help="Audiences: named conditions over person profiles, sized, saved and exported.",
                           cls=_Commands, no_args_is_help=True, rich_markup_mode=None)
app.add_typer(audience_app, name="audience")
WhenOpt = Annotated[str, typer.Option(
    "--when", help='The condition, as JSON: {"all": [{"touched": "email", "within_days": 7}, {"not": '
                   '{"converted": true, "within_days": 30}}]}. Tests: touched, device, converted, bought, '
                   'revenue_over, customer, attribute (+ equals), stage_reached, message (+ journey), field '
                   '(+ op, value); combine with all, any, not.')]


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    customer_match = "customer-match"


def _condition(text: str) -> Any:
    from parcours.contract.conditions import parse

    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"not JSON: {exc}", field="--when") from None
    return raw, parse(raw, "--when")


@audience_app.command(name="list")
def audience_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every audience: name, size as of the last build, where it is defined, description."""
    from rich.table import Table

    from parcours.front import open_workspace

    with open_workspace(workspace, _told) as ws:
        found = ws.audiences()
        problems = ws.audience_problems()
    for problem in problems:
        err.print(escape(f"warning: {problem}"))
    if not found:
        out.print("no audience yet: `parcours audience save NAME --when '{...}'` or [[audiences]] in "
                  "parcours.toml")
        return
    t = Table()
    for col in ("audience", "persons", "defined in", "description"):
        t.add_column(col, justify="right" if col == "persons" else "left")
    for a in found:
        t.add_row(a.name, "not built" if a.size is None else f"{a.size:,}", a.source, a.description)
    out.print(t)


@audience_app.command(name="show")
def audience_show(name: Annotated[str, typer.Argument(help="The audience.")],
                  workspace: WorkspaceOpt = Path(".")) -> None:
    """One audience's definition (JSON) and size."""
    from parcours.activation.audiences import Book
    from parcours.front import open_workspace

    with open_workspace(workspace, _told) as ws:
        a = Book(ws.path, ws.config).get(name)
        n = next((s.size for s in ws.audiences() if s.name == name), None)
    sys.stdout.write(json.dumps({**a.plain(), "size": n}, indent=2, ensure_ascii=False) + "\n")


@audience_app.command(name="save")
def audience_save(name: Annotated[str, typer.Argument(help="The audience: lower-case letters, digits, - and _.")],
                  when: WhenOpt, description: Annotated[str, typer.Option(help="What it is for.")] = "",
                  workspace: WorkspaceOpt = Path(".")) -> None:
    """Create an audience, or replace one saved before (audiences.json); its members are written
    at once, so every report can filter by it; prints its size."""
    from parcours.front import open_workspace

    raw, _ = _condition(when)
    with open_workspace(workspace, _told) as ws:
        n = ws.save_audience(name, raw, description)
    out.print(f"saved audience {name}: " + ("not built yet (`parcours build`)" if n is None else f"{n:,} persons"))


@audience_app.command(name="delete")
def audience_delete(name: Annotated[str, typer.Argument(help="The audience.")],
                    workspace: WorkspaceOpt = Path(".")) -> None:
    """Delete a saved audience (one of parcours.toml is deleted there)."""
    from parcours.front import open_workspace

    with open_workspace(workspace, _told) as ws:
        ws.delete_audience(name)
    out.print(f"deleted audience {name}")


@audience_app.command(name="size")
def audience_size(when: WhenOpt, workspace: WorkspaceOpt = Path(".")) -> None:
    """How many persons a condition holds, as of the last build, without saving it."""
    from parcours.front import open_workspace

    raw, _ = _condition(when)
    with open_workspace(workspace, _told) as ws:
        n = ws.audience_size(raw)
    out.print(f"{n:,} persons")


@audience_app.command(name="export")
def audience_export(name: Annotated[str, typer.Argument(help="The audience.")],
                    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="The file to write.")],
                    fmt: Annotated[ExportFormat, typer.Option("--format", help=(
                        "csv or parquet: person, ids and SHA-256 email and phone hashes; customer-match: "
                        "Google Ads' customer list upload (Email, Phone hashes)."))] = ExportFormat.csv,
                    workspace: WorkspaceOpt = Path(".")) -> None:
    """Write an audience's members for an activation tool."""
    from parcours.front import open_workspace

    with open_workspace(workspace, _told) as ws:
        counts = ws.export_audience(name, fmt.value, output)
    out.print(f"{output}: written by the server" if counts is None
              else f"{output}: {counts['members']:,} persons, {counts['rows']:,} rows")


predict_app = typer.Typer(help="Predictions as of the last build: who converts next, and each person's next best "
                                "channel (also after every `parcours build`: the persons whose profile changed, "
                                "and everyone when the model is fitted again).", no_args_is_help=True)
app.add_typer(predict_app, name="predict")
FIGURES = (("auc", "AUC", "{:.3f}"), ("log_loss", "log loss", "{:.4f}"), ("brier", "Brier score", "{:.4f}"),
           ("calibration_error", "calibration error", "{:.2%}"), ("base_rate", "base rate", "{:.2%}"),
           ("top_decile_lift", "top decile lift", "{:.1f}x"))


def _days(text: str, option: str) -> int:
    """A number of days: 7d or 7."""
    import re

    m = re.fullmatch(r"\s*(\d{1,3})\s*d?\s*", text)
    if not m or not 1 <= int(m[1]) <= 365:
        _fail(InvalidInput(f"expected a number of days from 1 to 365 such as 7d, not {text!r}", field=option))
    return int(m[1])


@predict_app.command(name="fit")
@predict_app.command(name="propensity", hidden=True)  # its first name, kept for the scripts that use it
def predict_fit(
        horizon: Annotated[str, typer.Option(help="The horizon: the probability to convert within it (7d).")] = "7d",
        workspace: WorkspaceOpt = Path(".")) -> None:
    """Fit the propensity model now on earlier cut-offs, check it on the latest one (never reading
    past a cut-off), score every person and recommend each their next best channel; into the
    profiles. Builds fit again every [predict] refit_every_days and otherwise score only the
    persons whose profile changed. Prints the held-out figures (`parcours report propensity` has
    the calibration curve)."""
    from parcours.front import open_workspace

    days = _days(horizon, "--horizon")
    with open_workspace(workspace, _told) as ws, _progress() as bar:
        task = bar.add_task("predicting", total=100)
        got = ws.predict(days, _moved(bar, task))
        bar.update(task, completed=100, description="predicted")
    if got.get("skipped"):
        out.print(f"no model: {got['skipped']}")
        return
    out.print(f"propensity to convert within {days} days: {got['scored']:,} persons scored; on the held-out "
              f"cut-off ({got['held_out_rows']:,} persons; learnt from {got['train_rows']:,} rows of "
              f"{got['training_cutoffs']} earlier cut-offs):")
    out.print("  " + ", ".join(f"{label} {fmt.format(got[key])}" for key, label, fmt in FIGURES))
    out.print(f"next best channel, one touch each: {got['recommended_conversions']:,.1f} expected incremental "
              f"conversions for {got['recommended_cost']:,.2f} by the recommendation "
              f"({got['recommended_persons']:,} persons touched), {got['mix_conversions']:,.1f} for "
              f"{got['mix_cost']:,.2f} by the current mix")


@app.command()
def forget(identifier: Annotated[str, typer.Argument(help=(
        "Any identifier of the person: a person, visitor, user or customer id, an email or a phone "
        "(plain or SHA-256)."))],
           workspace: WorkspaceOpt = Path(".")) -> None:
    """Erase a person from every table, raw and derived, in one transaction (the right to
    erasure), and from the rejects files; an audit line (when, which tables, how many rows; never
    the values) goes to privacy-audit.jsonl."""
    from parcours.front import open_workspace

    with open_workspace(workspace, _told) as ws:
        deleted = ws.forget(identifier)
    if not deleted:
        out.print("no row holds this identifier: nothing to erase (the audit notes the request)")
        return
    out.print("erased: " + ", ".join(f"{n:,} rows of {t}" for t, n in deleted.items()))


def main() -> None:  # pragma: no cover
    """The command line. Whatever it loaded is frozen out of the garbage collector at the end:
    the interpreter's last full collection, over every object of Ibis, pandas and
    scikit-learn, took half a second of a three-second build."""
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover  (last: `python -m` sees every command registered)
    main()
