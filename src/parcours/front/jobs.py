"""The writes a running server takes: loads and builds asked of `parcours serve` (by this
machine's `parcours ingest` and `build` while it holds the warehouse, or by any client with a
write token), run one at a time and in order by one thread, with their progress, while
requests keep reading the last committed data (docs/architecture.md, "One writer, many
readers")."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import json
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.contract.config import Config
from parcours.contract.schema import EARLIEST, TABLES
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput, ParcoursError

if TYPE_CHECKING:  # the front door loads no engine library until a job runs
    from concurrent.futures import Future

    import ibis.expr.types as ir


def plain(value: Any) -> Any:
    """A result (dataclasses, paths, dates) as JSON values."""
    return json.loads(json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value,
                                 default=str))


@dataclass
class Job:
    id: int
    command: str  # "ingest" or "build"
    params: dict
    status: str = "queued"  # then running, then done or failed
    step: str = ""
    percent: float = 0.0
    result: Any = None
    error: str | None = None
    submitted: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    finished: str | None = None
    ended: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def describe(self) -> dict:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "ended"}


def _checked(command: str, params: Any, config: Config) -> dict:
    """A job's parameters, or InvalidInput naming the key that is wrong. Build:
    {"as_of": "YYYY-MM-DD"?, "full": bool?}; ingest: {"loads": [{table, path, rejects_file?}]}."""
    if not isinstance(params, dict):
        raise InvalidInput("a job is an object: {\"command\": ..., ...}", field="body")
    if command == "build":
        if set(params) - {"as_of", "full"}:
            raise InvalidInput("build takes as_of and full", field=", ".join(sorted(set(params) - {"as_of", "full"})))
        if not isinstance(params.get("full", False), bool):
            raise InvalidInput("true or false", field="full")
        if params.get("as_of") is not None:
            try:
                day = dt.date.fromisoformat(str(params["as_of"]))
            except ValueError:
                raise InvalidInput("not a date (YYYY-MM-DD)", field="as_of") from None
            if not dt.date.fromisoformat(EARLIEST) <= day <= dt.datetime.now(dt.UTC).date():
                raise InvalidInput(f"{day} is not a day between {EARLIEST} and today: the days it would report are "
                                   "not over, or no data is that old", field="as_of")
        return params
    if command == "ingest":
        loads = params.get("loads")
        if set(params) != {"loads"} or not isinstance(loads, list) or not loads:
            raise InvalidInput("ingest takes loads: [{table, path, rejects_file}, ...]", field="loads")
        for i, load in enumerate(loads):
            if not isinstance(load, dict) or load.get("table") not in TABLES or not isinstance(load.get("path"), str):
                raise InvalidInput(f"each load names a table ({', '.join(TABLES)}) and a path", field=f"loads[{i}]")
            if not Path(load["path"]).is_absolute():
                raise InvalidInput("the server reads files by absolute path", field=f"loads[{i}].path")
        return params
    if command == "predict":
        days = params.get("horizon_days")
        if set(params) - {"horizon_days"} or (days is not None and (isinstance(days, bool) or not isinstance(days, int)
                                                                     or not 1 <= days <= 365)):
            raise InvalidInput("predict takes horizon_days: a whole number of days from 1 to 365", field="horizon_days")
        return params
    if command == "audience":
        from parcours.contract.conditions import check_name

        if set(params) != {"name"}:
            raise InvalidInput("audience takes name: the audience saved or deleted", field="name")
        check_name(params["name"])
        return params
    if command == "forget":
        from parcours.activation.privacy import kind_of

        said = params.get("identifier")
        if set(params) != {"identifier"} or not isinstance(said, str) or not said.strip():
            raise InvalidInput("forget takes identifier: a person, visitor, user or customer id, an email or a phone",
                               field="identifier")
        kind_of(said, config.crm.default_country)  # refused now, not after the job queue reaches it
        return params
    raise InvalidInput("command is ingest, build, predict, forget or audience", field="command")


def prepare(config: Config) -> None:
    """Import what a build runs (its steps, the audiences, the predictions' library): a server
    does it while idle at start-up, so its first build is not a second slower than the next."""
    import parcours.activation.audiences  # noqa: F401
    import parcours.build.journeys  # noqa: F401

    if config.predict.enabled:
        from parcours.predict import preload

        preload()


def build_all(wh: Storage, config: Config, folder: Path | None, as_of: dt.date | None = None, full: bool = False,
              report: Callable[[str, float], None] = lambda step, pct: None, webhook: bool = True) -> dict:
    """What `parcours build` does, wherever it runs: drop rows past the retention (a full
    build then), build, predict (propensity, next best channel: into the profiles; the model
    fitted again only when due or on a full build, `predict.run`), refresh
    the audiences (which may use the scores), deliver their changes to the webhook (not with
    `webhook=False`: a server's Courier delivers them on its own thread once the build commits)."""
    from parcours.build.journeys import PROFILES_CHANGED, followed, mark_followed

    with wh.engine_errors():  # every step's engine failure said as such (a lost worker...)
        in_step = followed(wh)  # the steps after the last build ran: the changed persons suffice
        done = _build_all(wh, config, folder, as_of, full, report, webhook, in_step)
        if folder is not None:  # the audiences were refreshed too
            mark_followed(wh)
    wh.drop(PROFILES_CHANGED)
    return done


def _build_all(wh: Storage, config: Config, folder: Path | None, as_of: dt.date | None, full: bool,
               report: Callable[[str, float], None], webhook: bool, in_step: bool) -> dict:
    from parcours.activation.privacy import retain
    from parcours.build.journeys import PROFILES_CHANGED, build_journeys, build_progress

    today = as_of or dt.datetime.now(dt.UTC).date()
    dropped = retain(wh, config, today, folder) if folder is not None else {}
    refit = "a full build" if full or dropped else ""
    pending = None
    if config.predict.enabled and not refit:  # the kept fit read while the journeys build
        from parcours.predict import unpickling

        pending = unpickling(wh)
    done = plain(build_journeys(wh, config, as_of=as_of, step=build_progress(report), full=full or bool(dropped)))
    done["retention"] = dropped
    # the persons whose profile this build changed, when the steps after it need no one else
    changed = wh.table(PROFILES_CHANGED) if in_step and wh.has(PROFILES_CHANGED) else None
    if config.predict.enabled:
        done["predict"] = predicted(wh, config, report, refit=refit, changed=changed, pending=pending)
        every_score = bool(done["predict"]["refit"] or done["predict"]["skipped"])  # fitted, or dropped
    else:  # no scores of an older build beside this one's
        from parcours.predict import drop

        every_score = drop(wh)
    if folder is not None:
        from parcours.activation.audiences import Book, refresh

        report("refreshing audiences", 99.0)
        # the changed persons, when no one else's profile changed (their scores included)
        done["audiences"] = refresh(wh, config, folder, changed=None if every_score else changed)
        book = Book(folder, config)
        book.all()
        done["audience_problems"] = book.problems  # saved audiences this build skipped, and why
        if webhook:
            from parcours.activation.webhooks import deliver

            done["webhook"] = plain(deliver(wh, config))
    return done


def refresh_audience(wh: Storage, config: Config, folder: Path, name: str) -> dict[str, int] | None:
    """After audience `name` was saved or deleted: its members now, if a build made profiles
    (None before one: the first build refreshes every audience)."""
    from parcours.activation.audiences import refresh
    from parcours.errors import NotBuilt

    try:
        return refresh(wh, config, folder, only=name)
    except NotBuilt:
        return None


def predicted(wh: Storage, config: Config, report: Callable[[str, float], None] = lambda step, pct: None,
              refit: str = "asked", changed: ir.Table | None = None, pending: Future[Any] | None = None) -> dict:
    """Fit (now, for the reason `refit` gives, or when due), check, score and recommend as of the
    last build (parcours.predict.run; `changed`: the only persons whose profile may have
    moved; `pending`: the kept fit being read), said plainly."""
    from parcours.predict import run

    outcome = run(wh, config, lambda step: report(step, 97.0), refit=refit, changed=changed, pending=pending)
    return {"scored": outcome.scored, "skipped": outcome.skipped, "refit": outcome.refit,
            "fitted_cut": outcome.fitted_cut.isoformat(sep=" ") if outcome.fitted_cut else None, **outcome.figures,
            **{f"{k}_seconds": v for k, v in outcome.seconds.items()}}


def predict_again(wh: Storage, config: Config, folder: Path | None, horizon_days: int | None = None,
                  report: Callable[[str, float], None] = lambda step, pct: None) -> dict:
    """`parcours predict fit`: a fit and predictions again as of the last build (another horizon,
    say), then the audiences, which may use the scores."""
    if horizon_days is not None:
        config = dataclasses.replace(config, predict=dataclasses.replace(config.predict, horizon_days=horizon_days))
    done = {"predict": predicted(wh, config, report)}
    if folder is not None:
        from parcours.activation.audiences import refresh

        done["audiences"] = refresh(wh, config, folder)
    return done


class Jobs:
    """The server's job queue. `loading` and `building` give the warehouse a load or a build
    writes through (a load on its own cursor, so data keeps landing during a build)."""

    def __init__(self, config: Config, loading: Callable[[], AbstractContextManager[Storage]],
                 building: Callable[[], AbstractContextManager[Storage]], door: Callable[[Storage], Any],
                 keep: int = 100, built: Callable[[], None] = lambda: None):
        self.config, self.loading, self.building, self.keep = config, loading, building, keep
        self.door = door  # the workspace working through a cursor: its methods are the jobs (front.py)
        self.built = built  # told after each build commits (the server computes the pages' answers)
        self.items: OrderedDict[int, Job] = OrderedDict()
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.waiting: queue.Queue[Job | None] = queue.Queue()
        from parcours.activation.webhooks import Courier

        # webhooks on their own thread, on the loads' cursor: a slow receiver holds no job
        self.courier = Courier(config, loading)
        self.worker = threading.Thread(target=self._work, name="parcours-jobs", daemon=True)
        self.worker.start()

    def submit(self, command: str, params: Any) -> Job:
        params = _checked(command, params, self.config)
        with self.lock:
            job = Job(next(self.ids), command, params)
            self.items[job.id] = job
            finished = [i for i, j in self.items.items() if j.finished is not None]
            for i in finished[:max(0, len(self.items) - self.keep)]:  # the oldest finished go
                del self.items[i]
        self.waiting.put(job)
        return job

    def get(self, job_id: int) -> Job | None:
        with self.lock:
            return self.items.get(job_id)

    def list(self) -> list[Job]:
        with self.lock:
            return list(self.items.values())

    def stop(self) -> None:
        """Finish the running job (a build cannot stop half-way: it commits or rolls back)."""
        self.waiting.put(None)
        self.worker.join()
        self.courier.stop()  # within the attempt under way; what is not delivered goes at the next run

    def _work(self) -> None:
        while (job := self.waiting.get()) is not None:
            job.status = "running"
            try:
                job.result = self._run(job)
                job.status, job.percent = "done", 100.0
            except (ParcoursError, ValueError) as exc:
                job.status, job.error = "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 (the server lives on; the job says what broke)
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            job.finished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            job.ended.set()

    def _run(self, job: Job) -> Any:
        def report(step: str, percent: float) -> None:
            job.step, job.percent = step, percent

        if job.command in ("build", "predict", "audience", "forget"):
            with self.building() as wh:
                done = self._write(job, self.door(wh), report)
            self.built()  # the pages' answers are computed again
            self.courier.ask()  # what the write's refresh batched for the webhook, now committed
            return done
        results: list[dict] = []
        job.result = {"loads": results}  # what loaded before a file that fails stays said
        loads = job.params["loads"]
        for i, load in enumerate(loads):
            name = Path(load["path"]).name
            rejects = load.get("rejects_file")

            def moved(step: str, pct: float, i: int = i) -> None:
                report(step, (100 * i + pct) / len(loads))
            report(f"loading {name}", 100 * i / len(loads))
            with self.loading() as wh:
                results.append(plain(self.door(wh).load(load["table"], Path(load["path"]), progress=moved,
                                                        rejects_file=Path(rejects) if rejects else None)))
        return job.result

    @staticmethod
    def _write(job: Job, ws: Any, report: Callable[[str, float], None]) -> Any:
        """A build, predictions, an audience's refresh or an erasure, by the workspace's method."""
        if job.command == "build":
            as_of = job.params.get("as_of")
            return ws.build(dt.date.fromisoformat(as_of) if as_of else None, bool(job.params.get("full")),
                            report).plain()
        if job.command == "predict":
            return {"predict": ws.predict(job.params.get("horizon_days"), report)}
        if job.command == "audience":
            return {"audiences": refresh_audience(ws.warehouse, ws.config, ws.path, job.params["name"])}
        return {"deleted": ws.forget(job.params["identifier"])}
