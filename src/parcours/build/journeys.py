"""Build persons, journeys and touches from the canonical tables (docs/architecture.md, "Data model").

Journey rules: a conversion's journey holds the person's touches in the lookback window
before it (inclusive: a touch exactly `lookback_days` before counts), after the person's
previous conversion (a touch at that very instant belongs to the earlier journey), with
views only inside the post-view window; a view is the journey's last touch (`is_last`)
only when it has nothing but views. A person's touches after their last conversion
form one non-converting journey (same windows, ending at its last touch): data-driven
models need them. Conversions after D-`report_lag_days` are not built.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from parcours.build import message_facts
from parcours.build.channels import classify
from parcours.build.identity import crm_matches, customer_ids, hash_links, stitch, with_customers, with_person
from parcours.build.message_events import MESSAGE
from parcours.build.profiles import profiles
from parcours.build.result import BuildResult
from parcours.contract.config import Config
from parcours.contract.exprs import in_order
from parcours.contract.schema import EARLIEST, LOAD_SEQ
from parcours.engine.storage import Storage
from parcours.errors import InvalidInput, NotBuilt

TOUCH_COLUMNS = ("event_id", "ts", "channel", "source", "campaign", "media_plan",
                 "sub_channel", "channel_group", "device", "interaction", "funnel_stage",
                 "pageviews", "duration_s", "consent")
# Copied from the journey onto each touch, so the common report (a period, no other filter)
# and the per-touch credits read the touches alone, without a join on journey_id.
JOURNEY_ON_TOUCH = ("converted", "end_ts", "revenue")
INPUTS = ("touchpoints", "conversions", "identities")  # the tables a build reads
FEW_TOUCHES = 100_000  # an incremental build's profiles of this few touches: one query (`_write_profiles`)
LIST_BYTES_PER_TOUCH = 800  # memory the journey summary needs per touch (measured: 10M touchpoints,
# 4.2M touches, fail under a 1 GB memory limit and pass under 2 GB, with 2 threads; doubled)
# intermediate tables a build materialises (dropped once it has committed)
BUILD_TEMPS = ("_edges", "_vlabel", "_vlabel_next", "_persons", "_conv", "_tp", "_assigned", "_touched", "_stale",
               "_scope", *(f"_scope_{t}" for t in INPUTS))
PROFILE_TEMPS = ("_profiles", "_profile_people", "_profile_persons", "_profile_part", "_profile_out0", "_profile_out1",
                 "_profile_scope", "_profile_gone")
# the persons whose profile the last build wrote or removed (person_id), for the steps after it
# (scoring, the audience refresh) to work in proportion; absent after a full build (every
# profile). A temporary table: it is all they need only when they followed the build before
# (`followed`), which a build's facts say once they ran (`mark_followed`).
PROFILES_CHANGED = "_profiles_changed"
BUILD_VERSION = 7  # bump when the derived tables change shape: readers then ask for a rebuild


def report_cut(as_of: dt.date, report_lag_days: int) -> dt.datetime:
    """First instant not reported: with D-2, midnight starting yesterday."""
    return dt.datetime.combine(as_of - dt.timedelta(days=report_lag_days - 1), dt.time())


# The steps a build names, in order (a full build skips the first; a pass of one is named
# "step (b/k)"): what its progress bar counts.
STEPS = ("finding what changed", "stitching identities", "ordering conversions", "assigning touches to journeys",
         "classifying touches", "summarising journeys", "writing tables", "profiling persons",
         "summarising messages")


def build_progress(report: Callable[[str, float], None]) -> Callable[[str], None]:
    """A `build_journeys` step callback reporting (step, percent done) by the step's place."""
    return lambda name: report(name, 100 * STEPS.index(name.split(" (")[0]) / len(STEPS))


def build_journeys(wh: Storage, config: Config, as_of: dt.date | None = None,
                   step: Callable[[str], None] = lambda name: None, full: bool = False) -> BuildResult:
    """Bring persons, journeys and touches up to date in one transaction: only the persons
    the rows loaded since the last build (or the moved D-2 cut) can change, unless `full` or
    the rules changed. Same input, same tables, either way. Then the profiles, whole, in a
    second one, and the messages' facts (`message_facts`) in a third."""
    with wh.engine_errors():
        if as_of is not None:
            check_as_of(wh, config, as_of)
        built = _build(wh, config, as_of or dt.datetime.now(dt.UTC).date(), step, full)
        step("summarising messages")
        message_facts.keep(wh, full, wh.table(PROFILES_CHANGED) if wh.has(PROFILES_CHANGED) else None)
        return built


def check_as_of(wh: Storage, config: Config, as_of: dt.date) -> None:
    """A day to build as of that the data can support, or InvalidInput naming `as_of`: not
    after today (the days it would report are not over), and with events before its cut (else
    the build would replace every journey served with none)."""
    today = dt.datetime.now(dt.UTC).date()
    if as_of > today:
        raise InvalidInput(f"{as_of} is after today ({today}): the days it would report are not over yet",
                           field="as_of")
    if as_of < dt.date.fromisoformat(EARLIEST):
        raise InvalidInput(f"{as_of} is before {EARLIEST}: no event parcours loads is that old", field="as_of")
    cut = report_cut(as_of, config.journeys.report_lag_days)
    firsts = [wh.table(t).ts.min().execute() for t in ("touchpoints", "conversions") if wh.has(t)]
    first = min((f for f in firsts if f is not None and not pd.isna(f)), default=None)
    if first is not None and first >= cut:
        raise InvalidInput(f"nothing happened before its cut ({cut:%Y-%m-%d}): the data starts {first:%Y-%m-%d}, "
                           f"so the earliest day to build as of is "
                           f"{first.date() + dt.timedelta(days=config.journeys.report_lag_days):%Y-%m-%d}",
                           field="as_of")


def rules_digest(config: Config) -> str:
    """What the derived tables depend on besides the rows: a change rebuilds everything."""
    rules = (BUILD_VERSION, config.journeys, config.direct_channels, config.default_channel,
             config.channel_rules, config.sub_channel_rules, sorted(config.channel_groups.items()),
             config.media_plan_rules, config.funnel_stages, config.funnel_rules, config.crm.id_prefix,
             config.privacy.count_without_consent)
    return hashlib.sha256(repr(rules).encode()).hexdigest()[:16]


def _previous(wh: Storage, config: Config, cut: dt.datetime, crm_seq: int) -> dict | None:
    """The last build, if this one can bring it up to date (same rules, a cut not earlier, the
    same CRM: a customer's hashes can link ids anywhere)."""
    if not wh.has("build_meta"):
        return None
    meta = wh.table("build_meta").to_pyarrow().to_pylist()
    if not meta or meta[0].get("version") != BUILD_VERSION or meta[0].get("rules") != rules_digest(config):
        return None
    if meta[0].get("seq_crm", 0) != crm_seq or not wh.has("customer_ids"):
        return None
    return meta[0] if meta[0]["cut"] <= cut and all(meta[0].get(f"seq_{t}") is not None for t in INPUTS) else None


def _build(wh: Storage, config: Config, as_of: dt.date, step: Callable[[str], None], full: bool) -> BuildResult:
    rules = config.journeys
    cut = report_cut(as_of, rules.report_lag_days)
    # The rows up to each table's latest load: one committed meanwhile waits for the next build.
    # (messages: the profiles read them)
    seqs = {t: int(wh.table(t)[LOAD_SEQ].max().fill_null(0).execute()) for t in (*INPUTS, "crm", "messages")}
    raw = {t: wh.table(t).filter(wh.table(t)[LOAD_SEQ].fill_null(0) <= seqs[t]) for t in (*INPUTS, "crm")}
    crm, prefix = raw.pop("crm"), config.crm.id_prefix
    ids = wh.materialize("_customer_ids", customer_ids(crm, raw["conversions"], prefix))
    before = None if full else _previous(wh, config, cut, seqs["crm"])
    if before is not None and before["cut"] == cut and all(before.get(f"seq_{t}") == n for t, n in seqs.items()):
        return _up_to_date(wh, config, as_of, cut, seqs, before)
    raw["conversions"] = with_customers(raw["conversions"], ids)
    raw["links"] = links = wh.materialize("_hash_links", hash_links(
        {t: raw[t] for t in ("conversions", "identities")}, crm, ids))
    whole = dict(raw)  # every row, for what is written whole (profiles)
    stale = None
    if before is not None:
        step("finding what changed")
        stale, scope = _changed(wh, raw, before, cut, ids)
        raw = {t: wh.materialize(f"_scope_{t}", rows) for t, rows in _within(raw, scope).items()}  # read once
    tp_raw = raw["touchpoints"]
    if not config.privacy.count_without_consent:  # touches without consent: in no report at all
        tp_raw = tp_raw.filter(tp_raw.consent.fill_null(True))

    step("stitching identities")
    identities = raw["identities"].select("visitor_id", "user_id").union(raw["links"].select("visitor_id", "user_id"))
    persons = wh.materialize("_persons", stitch(wh, tp_raw, raw["conversions"], identities))
    visitors = persons.filter(persons.kind == "visitor").select(visitor_id="id", vperson="person_id")

    step("ordering conversions")
    conv_raw = raw["conversions"]
    conv = wh.materialize("_conv", _conversions(conv_raw.filter(conv_raw.ts < cut), persons))

    step("assigning touches to journeys")
    # Narrow rows while assigning; only touches that land in a journey are classified.
    tp = tp_raw.filter(tp_raw.ts < cut).join(visitors, "visitor_id")
    tp = wh.materialize("_tp", tp.select("event_id", "ts", "interaction",
                                         person_id=tp.vperson))
    assigned = _assign(tp, conv, rules.lookback_days, rules.post_view_days)
    assigned = wh.materialize("_assigned", _positions(assigned))

    # Written straight into the tables, in one transaction: readers see the old tables until
    # it commits, and a failure leaves them as they were.
    with wh.transaction():
        step("classifying touches")
        touches = classify(tp_raw.join(assigned, "event_id"), config).select(
            "journey_id", "person_id", "position", "n", "is_last", *TOUCH_COLUMNS, *JOURNEY_ON_TOUCH)
        touches = _write_touches(wh, touches, persons, stale)
        # The journey summary collects each journey's lists (channels, devices), aggregate
        # states no engine spills well: past the warehouse's memory it is done in passes,
        # each over the journeys of one hash bucket.
        _write_journeys(wh, touches, conv, config, stale is None, step)
        journeys = wh.table("journeys")
        step("writing tables")
        if stale is None:
            wh.replace("persons", persons.order_by(["kind", "id"]))
        else:
            wh.insert("persons", persons)
        wh.replace("customer_ids", ids)  # the next build compares its own to these
        last = journeys.filter(journeys.converted).conv_ts.max().execute()
        rebuilt = None if stale is None else int(persons.person_id.nunique().execute())
        # the persons as the last build left them, unless this one wrote some
        kept = before.get("persons_at") if before is not None and rebuilt == 0 else None
        wh.replace("build_meta", ibis.memtable(_meta(config, as_of, cut, last, seqs, stale is not None, crm_matches(
            crm, ids, links, wh.table("persons"), prefix), kept)))
    # The profiles to write again: every one after a full build, else the rebuilt persons' and
    # those a message changes (message events rebuild no journey), in place of the profiles of
    # the ids they were before (`gone`).
    scope = gone = None
    if stale is not None and before is not None:
        scope = _profile_scope(wh, persons, whole, before, cut)
        if scope is not None:
            gone = wh.materialize("_profile_gone", ibis.union(stale, scope, distinct=True))
    for name in BUILD_TEMPS:  # the build's intermediates leave the memory the profiles need
        wh.drop(name)
    # Outside a transaction (one holding every intermediate's versions needs several times the
    # memory): the passes go to a scratch table, and one statement replaces the profiles (or
    # one transaction the scope's).
    step("profiling persons")
    _write_profiles(wh, config, whole, crm, cut, scope, gone)
    return _result(wh, as_of, cut, rebuilt)


def _profile_scope(wh: Storage, rebuilt: ir.Table, raw: dict[str, ir.Table], before: dict,
                   cut: dt.datetime) -> ir.Table | None:
    """The persons whose profile can differ from the last build's (person_id): the `rebuilt`
    ones; those of a row loaded since that build (a login or an order after the cut brings an
    email hash, and rebuilds nobody); and those of a message loaded since or let in by the moved
    cut, with every event of its message (its delivery tells a machine's open from a person's).
    None when the last build did not note its messages (the profiles are then written whole)."""
    persons = wh.table("persons")
    fresh = [raw[t].filter(_loaded_since(raw[t], before, t)).select("visitor_id", "user_id") for t in INPUTS]
    if wh.has("messages"):
        if before.get("seq_messages") is None:
            return None
        m = wh.table("messages")
        new = m.filter(_loaded_since(m, before, "messages") | ((m.ts >= before["cut"]) & (m.ts < cut)))
        fresh.append(m.semi_join(new.select(*MESSAGE).distinct(), list(MESSAGE)).select("visitor_id", "user_id"))
    whose = with_person(ibis.union(*fresh, distinct=True), persons)
    scope = rebuilt.select("person_id").union(whose.filter(whose.person_id.notnull()).select("person_id"))
    return wh.materialize("_profile_scope", scope.distinct())


def _up_to_date(wh: Storage, config: Config, as_of: dt.date, cut: dt.datetime, seqs: dict[str, int],
                before: dict) -> BuildResult:
    """Nothing loaded since the last build, and the same cut: every person is as it built
    them (no row can change one), and so is every profile. Only build_meta says when this
    build looked, as a build that rebuilt nobody."""
    with wh.transaction():
        wh.replace("build_meta", ibis.memtable(_meta(config, as_of, cut, before["last_conversion"], seqs, True,
                                                     {k: v for k, v in before.items() if k.startswith("crm_")},
                                                     before.get("persons_at"))))
    wh.materialize(PROFILES_CHANGED, wh.table("profiles").select("person_id").limit(0))
    return _result(wh, as_of, cut, rebuilt=0)


def _result(wh: Storage, as_of: dt.date, cut: dt.datetime, rebuilt: int | None) -> BuildResult:
    j = wh.table("journeys")
    return BuildResult(
        as_of=as_of, cut=cut,
        persons=int(wh.table("persons").person_id.nunique().execute()),
        journeys=int(j.count().execute()),
        converting=int(j.converted.sum().execute() or 0),
        touches=wh.count("touches"),
        rebuilt=rebuilt,
    )


def _write_journeys(wh: Storage, touches: ir.Table, conv: ir.Table, config: Config, whole: bool,
                    step: Callable[[str], None]) -> None:
    """The journeys summarised from `touches` and written (replacing the table when `whole`,
    else added), in passes over hash buckets of journeys when their lists need them."""
    passes = wh.passes(touches.count().execute(), LIST_BYTES_PER_TOUCH)
    for b in range(passes):
        step(f"summarising journeys ({b + 1}/{passes})" if passes > 1 else "summarising journeys")
        part = _journeys(touches, conv, config.funnel_stages, bucket=(b, passes))
        wh.replace("journeys", part) if b == 0 and whole else wh.insert("journeys", part)


def _write_touches(wh: Storage, touches: ir.Table, persons: ir.Table, stale: ir.Table | None) -> ir.Table:
    """The classified touches written (all of them, or the stale persons' replaced): the
    touches the journeys are summarised from."""
    if stale is None:
        return wh.replace("touches", touches)  # unsorted: sorting ~all rows was the build's memory peak
    # the stale persons' rows go; their persons' new rows come, written once
    for name in ("touches", "journeys", "persons"):
        wh.delete(name, "person_id", stale)
    wh.insert("touches", touches)
    t = wh.table("touches")  # a rebuilt person's id is new to the rows left
    return t.filter(t.person_id.isin(persons.select("person_id").distinct().person_id))


def _meta(config: Config, as_of: dt.date, cut: dt.datetime, last: dt.datetime | None, seqs: dict[str, int],
          incremental: bool, matches: dict[str, int], persons_at: dt.datetime | None = None) -> dict[str, object]:
    """The columns of build_meta's one row (`last`: the last conversion's time, or None;
    `matches`: how the CRM met the site; `persons_at`: when the persons were last written, if
    not by this build)."""
    rules = config.journeys
    built_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return {
        "last_conversion": pd.Series([pd.Timestamp(last) if last is not None else pd.NaT],
                                     dtype="datetime64[us]"),  # the default period ends here
        "version": [BUILD_VERSION],
        "built_at": [built_at],  # tells builds apart
        # the build that last wrote the persons: what was looked up in them before still holds
        "persons_at": pd.Series([pd.Timestamp(persons_at or built_at)], dtype="datetime64[us]"),
        "as_of": [as_of], "cut": [cut], "lookback_days": [rules.lookback_days],
        "post_view_days": [float(rules.post_view_days)],
        "report_lag_days": [rules.report_lag_days], "config": [config.source],
        "funnel_stages": [list(config.funnel_stages)],  # the order of journeys.stage_ts
        "rules": [rules_digest(config)], "incremental": [incremental],
        "followed": [False],  # the steps after it (predictions, audiences) ran: `mark_followed`
        **{f"seq_{t}": pd.Series([seqs[t]], dtype="int64") for t in seqs},
        **{k: pd.Series([v], dtype="int64")  # how the CRM met the site: `parcours info`
           for k, v in matches.items()},
    }


def followed(wh: Storage) -> bool:
    """Whether the steps after the last build (predictions, audiences) ran to their end: then a
    new build's PROFILES_CHANGED holds every person they have not seen. A build they did not
    follow (a failed step, `build_journeys` called alone) leaves them everyone to look at."""
    if not wh.has("build_meta"):
        return False
    rows = wh.table("build_meta").to_pyarrow().to_pylist()
    return bool(rows and rows[0].get("followed"))


def mark_followed(wh: Storage) -> None:
    """The last build's facts say the steps after it ran (its row again, `followed` true)."""
    row = wh.table("build_meta").to_pyarrow()
    if "followed" in row.column_names:
        row = row.drop_columns(["followed"])
    wh.replace("build_meta", ibis.memtable(row.append_column("followed", pa.array([True] * row.num_rows))))


def _write_profiles(wh: Storage, config: Config, whole: dict[str, ir.Table], crm: ir.Table, cut: dt.datetime,
                    scope: ir.Table | None = None, gone: ir.Table | None = None) -> None:
    """The profiles written whole, or those of the persons of `scope` in place of those of
    `gone`; in passes when the lists are too long for one."""
    every = wh.table("persons")
    touches = wh.table("touches")
    if scope is not None:
        every = every.semi_join(scope, "person_id")
        touches = touches.semi_join(scope, "person_id")
    n = int(touches.count().execute())
    passes = wh.passes(n, LIST_BYTES_PER_TOUCH)  # lists again: in passes when short
    # each part stored apart (a dozen aggregates and joins in one query need more memory than
    # their sum), but for the few persons of an incremental build, whose one query is quicker
    # than a dozen statements (tests/test_incremental.py compares the two ways)
    few = scope is not None and n <= FEW_TOUCHES
    keep = (lambda name, part: part) if few else wh.materialize
    for b in range(passes):
        some = every.filter((every.person_id.hash() % passes).abs() == b) if passes > 1 else every
        part = profiles(some, wh.table("touches"), wh.table("journeys"), whole["conversions"],
                        whole["identities"], crm, wh.table("customer_ids"), wh.table("messages"),
                        config.funnel_stages, ibis.timestamp(cut), keep=keep)
        wh.materialize("_profiles", part) if b == 0 else wh.insert("_profiles", part)
    if gone is None:
        wh.replace("profiles", wh.table("_profiles"))
        wh.drop(PROFILES_CHANGED)
    else:
        with wh.transaction():
            wh.delete("profiles", "person_id", gone)
            wh.insert("profiles", wh.table("_profiles"))
        wh.materialize(PROFILES_CHANGED, gone)
    for name in PROFILE_TEMPS:
        wh.drop(name)


def _loaded_since(rows: ir.Table, before: dict, table: str) -> ir.BooleanValue:
    """Whether each row (of `table`, or brought by it) was loaded after the last build read it
    (`before`: its build_meta row)."""
    return rows[LOAD_SEQ].fill_null(0) > before[f"seq_{table}"]


def _changed(wh: Storage, raw: dict[str, ir.Table], before: dict, cut: dt.datetime,
             ids: ir.Table) -> tuple[ir.Table, ir.Table]:
    """The persons something new can change (`stale`: person_id), and the scope to rebuild
    (kind, id): every id of those persons, plus the ids never seen. What can change a person:
    a row before the cut loaded since the last build (late data), a row the moved cut now lets
    in, a link between two ids not yet one person, an id never seen, a customer's graph id
    that is new or moved (`ids`, against the last build's: a new sale can pair a customer with
    an account, and its older rows then link that account, not the one they linked before).
    A new row after the cut changes no journey. Persons are connected components, so the
    scope holds every link of its ids, and stitching it alone finds the persons stitching
    everything finds."""
    fresh = {t: raw[t].filter(_loaded_since(raw[t], before, t)) for t in INPUTS}
    lk = raw["links"]
    fresh["links"] = lk.filter(ibis.or_(*((lk.source == t) & _loaded_since(lk, before, t)
                                          for t in ("conversions", "identities"))))
    dated = [*(fresh[t].filter(fresh[t].ts < cut) for t in ("touchpoints", "conversions")),
             *(raw[t].filter((raw[t].ts >= before["cut"]) & (raw[t].ts < cut)) for t in ("touchpoints", "conversions"))]
    p = wh.table("persons")
    links = ibis.union(*(t.filter(t.visitor_id.notnull() & t.user_id.notnull()).select("visitor_id", "user_id")
                         for t in fresh.values()), distinct=True)
    pv = p.filter(p.kind == "visitor").select(visitor_id="id", pv="person_id")
    pu = p.filter(p.kind == "user").select(user_id="id", pu="person_id")
    links = links.left_join(pv, "visitor_id").select("visitor_id", "user_id", "pv")
    links = links.left_join(pu, "user_id").select("visitor_id", "user_id", "pv", "pu")
    joining = links.filter(links.pv.isnull() | links.pu.isnull() | (links.pv != links.pu))

    def of(t: ir.Table) -> list[ir.Table]:
        return [t.filter(t.visitor_id.notnull()).select(kind=ibis.literal("visitor"), id=t.visitor_id),
                t.filter(t.user_id.notnull()).select(kind=ibis.literal("user"), id=t.user_id)]
    every = ibis.union(*(part for t in fresh.values() for part in of(t)), distinct=True)
    unseen = every.anti_join(p, [every.kind == p.kind, every.id == p.id])
    was = wh.table("customer_ids")
    moved = ids.anti_join(was, ["customer_id", "user_id"])
    graph = ibis.union(moved.select("user_id"), was.semi_join(moved, "customer_id").select("user_id"))
    graph = graph.select(kind=ibis.literal("user"), id=graph.user_id)  # the new graph id and the old
    changed = wh.materialize("_touched", ibis.union(*(part for t in [*dated, joining] for part in of(t)), unseen,
                                                    graph, distinct=True))
    stale = wh.materialize("_stale", p.semi_join(changed, [p.kind == changed.kind, p.id == changed.id])
                           .select("person_id").distinct())
    scope = wh.materialize("_scope", ibis.union(p.semi_join(stale, "person_id").select("kind", "id"), changed,
                                                distinct=True))
    return stale, scope


def _within(raw: dict[str, ir.Table], scope: ir.Table) -> dict[str, ir.Table]:
    """The rows of the scope's ids (a row links ids of one person, so any of its ids will do)."""
    v = scope.filter(scope.kind == "visitor").id
    u = scope.filter(scope.kind == "user").id
    tp, conv, ids, links = raw["touchpoints"], raw["conversions"], raw["identities"], raw["links"]
    return {"touchpoints": tp.filter(tp.visitor_id.isin(v)),
            "conversions": conv.filter(conv.visitor_id.isin(v) | conv.user_id.isin(u)),
            "identities": ids.filter(ids.visitor_id.isin(v) | ids.user_id.isin(u)),
            "links": links.filter(links.visitor_id.isin(v) | links.user_id.isin(u))}


def _conversions(conv: ir.Table, persons: ir.Table) -> ir.Table:
    """Conversions with their person (`with_person`) and the time of the person's previous
    conversion."""
    conv = with_person(conv, persons)
    order = ibis.window(group_by=conv.person_id, order_by=[conv.ts, conv.conversion_id])
    return conv.mutate(prev_ts=conv.ts.lag().over(order))


def _positions(touches: ir.Table) -> ir.Table:
    """1-based position by time (ties by event id), journey length, and `is_last`: the last
    non-view touch, a view only when the journey has nothing else."""
    whole = ibis.window(group_by=touches.journey_id)
    pos = ibis.window(group_by=touches.journey_id, order_by=[touches.ts, touches.event_id])
    touches = touches.mutate(position=ibis.row_number().over(pos) + 1, n=touches.count().over(whole))
    last_click = ibis.ifelse(touches.interaction != "view", touches.position, None).max().over(whole)
    touches = touches.mutate(is_last=touches.position == last_click.coalesce(touches.n))
    return touches.select("journey_id", "person_id", "event_id", "position", "n", "is_last",
                          *JOURNEY_ON_TOUCH)


def require_built(wh: Storage) -> dict:
    """Readers of journeys and touches call this: built, and by this version of parcours.
    Returns the build's facts (build_meta's one row)."""
    try:
        meta = wh.table("build_meta").to_pyarrow().to_pylist()
    except NotBuilt:
        raise NotBuilt("no journeys yet: run `parcours build`") from None
    if not meta or meta[0].get("version") != BUILD_VERSION:
        raise NotBuilt("the journeys were built by another version of parcours: run `parcours build`")
    return meta[0]


def _assign(tp: ir.Table, conv: ir.Table, lookback_days: int, post_view_days: float) -> ir.Table:
    """(journey_id, person_id, event_id, ts, interaction) for every touch in a journey:
    a conversion's, else the person's open (non-converting) one."""
    lookback = ibis.interval(days=lookback_days)
    post_view = ibis.interval(seconds=int(round(post_view_days * 86400)))
    c = conv.select("person_id", "conversion_id", "revenue", conv_ts="ts", prev_ts="prev_ts")
    j = tp.join(c, [tp.person_id == c.person_id, tp.ts <= c.conv_ts,
                    tp.ts >= c.conv_ts - lookback])
    j = j.filter(j.prev_ts.isnull() | (j.ts > j.prev_ts),
                 (j.interaction != "view") | (j.ts >= j.conv_ts - post_view))
    converting = j.select(journey_id="c:" + j.conversion_id, person_id=j.person_id,
                          event_id=j.event_id, ts=j.ts, interaction=j.interaction,
                          converted=ibis.literal(True), end_ts=j.conv_ts,
                          revenue=j.revenue.fill_null(0.0).cast("float64"))

    last = conv.group_by("person_id").agg(last_conv=conv.ts.max())
    rest = tp.left_join(last, "person_id")
    rest = rest.filter(rest.last_conv.isnull() | (rest.ts > rest.last_conv))
    rest = rest.mutate(end=rest.ts.max().over(ibis.window(group_by=rest.person_id)))
    rest = rest.filter(rest.ts >= rest.end - lookback,
                       (rest.interaction != "view") | (rest.ts >= rest.end - post_view))
    open_ = rest.select(journey_id="n:" + rest.person_id, person_id=rest.person_id,
                        event_id=rest.event_id, ts=rest.ts, interaction=rest.interaction,
                        converted=ibis.literal(False), end_ts=rest.end,
                        revenue=ibis.literal(0.0, type="float64"))
    return converting.union(open_)


def _journeys(touches: ir.Table, conv: ir.Table, stages: tuple[str, ...],
              bucket: tuple[int, int] = (0, 1)) -> ir.Table:
    """One row per journey. Besides the journey's shape, the sums and firsts that reports
    would otherwise recompute from every touch: pageviews, time on site, and when each funnel
    stage was first reached (stage_ts, in the order of the configured stages).
    bucket (b, k): only the journeys whose id hashes to b modulo k."""
    b, k = bucket
    t, c = touches, conv.mutate(journey_id="c:" + conv.conversion_id)
    if k > 1:
        t, c = (x.filter((x.journey_id.hash() % k).abs() == b) for x in (t, c))
    firsts = [ibis.ifelse(t.funnel_stage == s, t.ts, ibis.null("timestamp")).min() for s in stages]
    agg = t.group_by("journey_id").agg(
        pageviews=t.pageviews.sum(), duration_s=t.duration_s.sum(),
        stage_ts=ibis.array(firsts) if stages else ibis.literal([], type="array<timestamp>"),
        person_id=t.person_id.first(),
        first_ts=t.ts.min(), last_ts=t.ts.max(), n_touches=t.count(),
        touch_devices=t.device.collect(),
        channels=in_order(t.channel, t.position),
        last_channel=ibis.ifelse(t.is_last, t.channel, ibis.null("string")).max(),  # one is_last
    )
    agg = agg.mutate(touch_devices=agg.touch_devices.unique(), channel_set=agg.channels.unique().sort(),
                     first_channel=agg.channels[0])
    agg = agg.mutate(n_channels=agg.channel_set.length())
    j = c.left_join(agg, "journey_id")
    conv_device = ibis.ifelse(j.origin == "online", ibis.array([j.device]),
                              ibis.literal([], type="array<string>"))
    devices = j.touch_devices.coalesce(ibis.literal([], type="array<string>")).union(conv_device).sort()
    converting = j.select(
        journey_id=j.journey_id, person_id=j.person_id, conversion_id=j.conversion_id,
        converted=ibis.literal(True), conv_ts=j.ts, kind=j.kind, revenue=j.revenue,
        new_customer=j.new_customer, categories=j.categories, origin=j.origin,
        attributes=j.attributes, conv_device=j.device, first_ts=j.first_ts, last_ts=j.last_ts,
        lag_s=j.ts.epoch_seconds() - j.first_ts.epoch_seconds(),
        n_touches=j.n_touches.fill_null(0), n_channels=j.n_channels.fill_null(0),
        n_devices=devices.length(), devices=devices,
        channels=j.channels.coalesce(ibis.literal([], type="array<string>")),
        channel_set=j.channel_set.coalesce(ibis.literal([], type="array<string>")),
        first_channel=j.first_channel, last_channel=j.last_channel,
        pageviews=j.pageviews.fill_null(0), duration_s=j.duration_s.fill_null(0.0),
        stage_ts=j.stage_ts.coalesce(ibis.literal([None] * len(stages), type="array<timestamp>")),
    )
    a = agg.filter(agg.journey_id.startswith("n:"))
    s = converting.schema()
    open_ = a.select(
        journey_id=a.journey_id, person_id=a.person_id,
        conversion_id=ibis.null(s["conversion_id"]), converted=ibis.literal(False),
        conv_ts=ibis.null(s["conv_ts"]), kind=ibis.null(s["kind"]),
        revenue=ibis.literal(0.0, type=s["revenue"]), new_customer=ibis.null(s["new_customer"]),
        categories=ibis.null(s["categories"]), origin=ibis.null(s["origin"]),
        attributes=ibis.null(s["attributes"]), conv_device=ibis.null(s["conv_device"]),
        first_ts=a.first_ts, last_ts=a.last_ts, lag_s=ibis.null(s["lag_s"]),
        n_touches=a.n_touches, n_channels=a.n_channels,
        n_devices=a.touch_devices.length(), devices=a.touch_devices.sort(), channels=a.channels,
        channel_set=a.channel_set, first_channel=a.first_channel, last_channel=a.last_channel,
        pageviews=a.pageviews.fill_null(0), duration_s=a.duration_s.fill_null(0.0), stage_ts=a.stage_ts,
    )
    return converting.union(open_)
