"""Google Analytics 4's BigQuery export (`events_YYYYMMDD`, as Parquet or JSON Lines) into
the canonical tables, through the same validation as any file (docs/architecture.md, "Data
model").

- **touchpoints:** one per session (user_pseudo_id, ga_session_id), at its first event. Its
  source, medium and campaign come from the session's first event that carries them:
  `collected_traffic_source` (manual_*), then `session_traffic_source_last_click`
  (manual_campaign), then the `source`/`medium`/`campaign` event parameters. A gclid
  without a medium is google / cpc. GA4's `(direct)`, `(none)` and `(not set)` are no value,
  so the channel rules see a direct visit.
- **conversions:** `purchase` events as sales (ecommerce.transaction_id, purchase_revenue,
  the items' categories); the `lead_events` (generate_lead, sign_up by default) as leads.
- **identities:** user_pseudo_id with user_id, where the export has both.

Sessions without a session id or a user_pseudo_id (consent mode) give no touchpoint; they are
counted. A repeated transaction_id is kept once: the load rejects the others as duplicates.
The converted tables are written next to the rejects, so a rejected row can be looked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from parcours.errors import InvalidInput

LEAD_EVENTS = ("generate_lead", "sign_up")
CATEGORIES = "list_filter(list_distinct([i.item_category for i in items]), c -> c IS NOT NULL)"
NO_VALUE = ("(direct)", "(none)", "(not set)", "")
_VALUE = "STRUCT(string_value VARCHAR, int_value BIGINT, float_value DOUBLE, double_value DOUBLE)"
# The fields read, typed as the export's schema has them: BigQuery's JSON writes integers as
# text, and a field that is null in every row would otherwise be guessed as JSON.
JSON_COLUMNS = {
    "event_timestamp": "BIGINT", "event_name": "VARCHAR", "user_id": "VARCHAR", "user_pseudo_id": "VARCHAR",
    "event_params": f"STRUCT(key VARCHAR, value {_VALUE})[]",
    "device": "STRUCT(category VARCHAR)",
    "collected_traffic_source": "STRUCT(manual_campaign_name VARCHAR, manual_source VARCHAR, manual_medium VARCHAR, "
                                "gclid VARCHAR)",
    "session_traffic_source_last_click": "STRUCT(manual_campaign STRUCT(campaign_name VARCHAR, source VARCHAR, "
                                         "medium VARCHAR))",
    "ecommerce": "STRUCT(purchase_revenue DOUBLE, transaction_id VARCHAR)",
    "items": "STRUCT(item_category VARCHAR)[]",
}


@dataclass
class Converted:
    files: dict[str, Path]  # canonical table -> the Parquet file written for it
    events: int = 0
    sessions_without_id: int = 0  # events with no ga_session_id or no user_pseudo_id


def convert(paths: list[Path], out: Path, lead_events: tuple[str, ...] = LEAD_EVENTS) -> Converted:
    """Read GA4 export files and write touchpoints, conversions and identities as Parquet
    files in `out`; every bad file is refused with its name."""
    if not paths:
        raise InvalidInput("no GA4 export file given", file="ga4")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    events = _read(con, paths)
    columns = _paths(con, events)
    missing = {"event_timestamp", "event_name", "user_pseudo_id"} - columns
    if missing:
        raise InvalidInput(f"not a GA4 export: no {', '.join(sorted(missing))} column",
                           file=", ".join(map(str, paths)))
    rows, named = con.execute(f"SELECT count(*), count(event_name) FROM {events}").fetchall()[0]
    if rows and not named:  # JSON Lines are read by the export's columns: none of them here
        raise InvalidInput("not a GA4 export: no row has an event_name", file=", ".join(map(str, paths)))
    con.execute(f"CREATE TEMP VIEW ga4 AS SELECT {_fields(columns)} FROM {events}")
    out.mkdir(parents=True, exist_ok=True)
    stem = paths[0].name.split(".")[0] if len(paths) == 1 else f"{paths[0].name.split('.')[0]}-and-more"
    files = {}
    leads = ", ".join(f"'{e}'" for e in lead_events) or "NULL"
    for table, sql in (("touchpoints", TOUCHPOINTS), ("conversions", CONVERSIONS.format(leads=leads)),
                       ("identities", IDENTITIES)):
        files[table] = out / f"{stem}.{table}.parquet"
        con.execute(f"COPY ({sql}) TO '{_quoted(files[table])}' (FORMAT parquet)")
    n, no_id = con.execute("SELECT count(*), count(*) FILTER (WHERE session_id IS NULL OR visitor IS NULL) "
                           "FROM ga4").fetchall()[0]
    con.close()
    return Converted(files, int(n), int(no_id))


def _read(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> str:
    """The export files as one relation (files of one kind: Parquet, or JSON Lines)."""
    kinds = {"parquet" if ".parquet" in p.name.lower() else "json" for p in paths}
    if len(kinds) > 1:
        raise InvalidInput("give Parquet files or JSON Lines files, not both", file="ga4")
    for p in paths:
        if not p.is_file():
            raise InvalidInput("no such file", file=str(p))
    files = "[" + ", ".join(f"'{_quoted(p)}'" for p in paths) + "]"
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in JSON_COLUMNS.items())
    reader = (f"read_parquet({files}, union_by_name=true)" if kinds == {"parquet"} else
              f"read_json({files}, format='newline_delimited', columns={{{columns}}})")
    try:
        con.execute(f"CREATE TEMP VIEW raw_events AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise InvalidInput(f"cannot read this GA4 export: {reason}", file=", ".join(map(str, paths))) from None
    return "raw_events"


def _paths(con: duckdb.DuckDBPyConnection, events: str) -> set[str]:
    """Every column and nested field of the export, dotted ("device.category"; a list's
    items as the list: "event_params.value.int_value")."""
    out: set[str] = set()

    def walk(path: str, kind: Any) -> None:  # a DuckDBPyType (its children are typed loosely)
        out.add(path)
        if kind.id == "struct":
            for name, child in kind.children:
                walk(f"{path}.{name}", child)
        elif kind.id == "list":
            walk(path, kind.children[0][1])

    rel = con.sql(f"SELECT * FROM {events}")
    for name, kind in zip(rel.columns, rel.types, strict=True):
        walk(name, kind)
    return out


def _fields(columns: set[str]) -> str:
    """The fields every query reads, null where this export has no such column or nested
    field (exports gained collected_traffic_source in 2023 and session_traffic_source_last_click
    in 2024; an older or trimmed export lacks fields of a record)."""
    def has(name: str) -> bool:
        return name in columns

    def field(path: str) -> str:
        return path if has(path) else "NULL"

    def param(key: str, kind: str = "string_value") -> str:
        if not has("event_params.key"):
            return "NULL"
        found = f"list_filter(event_params, p -> p.key = '{key}')"

        def value(part: str, cast: str) -> str:
            return f"TRY_CAST({found}[1].value.{part} AS {cast})" if has(f"event_params.value.{part}") else "NULL"
        if kind == "int":  # a session id is an int_value, sometimes a string_value
            return f"coalesce({value('int_value', 'VARCHAR')}, {value('string_value', 'VARCHAR')})"
        if kind == "number":
            return (f"coalesce({value('double_value', 'DOUBLE')}, {value('float_value', 'DOUBLE')}, "
                    f"{value('int_value', 'DOUBLE')})")
        return value("string_value", "VARCHAR")

    def clean(expr: str) -> str:
        return f"CASE WHEN lower(trim({expr})) IN ({', '.join(repr(v) for v in NO_VALUE)}) THEN NULL ELSE {expr} END"

    def source(part: str, manual: str) -> str:
        options = [field(f"collected_traffic_source.manual_{manual}"),
                   field(f"session_traffic_source_last_click.manual_campaign.{part}"),
                   param(part if part != "campaign_name" else "campaign")]
        return "coalesce(" + ", ".join(clean(o) for o in options) + ")"

    gclid = f"coalesce({field('collected_traffic_source.gclid')}, {param('gclid')})"
    return ",\n".join([
        "nullif(trim(CAST(user_pseudo_id AS VARCHAR)), '') AS visitor",
        f"{'nullif(trim(CAST(user_id AS VARCHAR)), ' + repr('') + ')' if has('user_id') else 'NULL'} AS user_id",
        "event_name",
        "make_timestamp(CAST(event_timestamp AS BIGINT)) AS ts",
        "CAST(event_timestamp AS VARCHAR) AS event_micros",
        f"{param('ga_session_id', 'int')} AS session_id",
        f"lower({field('device.category')}) AS device",
        f"{source('source', 'source')} AS utm_source",
        f"{source('medium', 'medium')} AS utm_medium",
        f"{source('campaign_name', 'campaign_name')} AS utm_campaign",
        f"{gclid} AS gclid",
        f"{param('page_referrer')} AS referrer",
        f"{param('page_location')} AS url",
        f"{field('ecommerce.transaction_id')} AS ecommerce_transaction",
        f"{param('transaction_id')} AS param_transaction",
        f"{field('ecommerce.purchase_revenue')} AS purchase_revenue",
        f"{param('value', 'number')} AS param_value",
        f"{CATEGORIES if has('items.item_category') else 'NULL'} AS categories",
    ])


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


# One touchpoint per session: its first event, the first source the session carries.
TOUCHPOINTS = """
SELECT visitor || '.' || session_id AS event_id, min(ts) AS ts, visitor AS visitor_id,
       first(user_id ORDER BY ts) FILTER (WHERE user_id IS NOT NULL) AS user_id,
       CASE WHEN first(device ORDER BY ts) IN ('desktop', 'mobile', 'tablet') THEN first(device ORDER BY ts)
            ELSE 'other' END AS device,
       CASE WHEN bool_or(gclid IS NOT NULL OR utm_medium IS NOT NULL) THEN 'click' ELSE 'visit' END AS interaction,
       coalesce(first(utm_source ORDER BY ts) FILTER (WHERE utm_source IS NOT NULL),
                CASE WHEN bool_or(gclid IS NOT NULL) THEN 'google' END) AS utm_source,
       coalesce(first(utm_medium ORDER BY ts) FILTER (WHERE utm_medium IS NOT NULL),
                CASE WHEN bool_or(gclid IS NOT NULL) THEN 'cpc' END) AS utm_medium,
       first(utm_campaign ORDER BY ts) FILTER (WHERE utm_campaign IS NOT NULL) AS utm_campaign,
       first(referrer ORDER BY ts) FILTER (WHERE referrer IS NOT NULL) AS referrer,
       first(url ORDER BY ts) AS url
FROM ga4
WHERE session_id IS NOT NULL AND visitor IS NOT NULL
GROUP BY visitor, session_id
ORDER BY ts, event_id
"""

# Purchases are sales; the lead events are leads. A conversion without a transaction id is
# named by its visitor and time.
CONVERSIONS = """
SELECT coalesce(nullif(ecommerce_transaction, ''), nullif(param_transaction, ''),
                coalesce(visitor, user_id, '(no id)') || '.' || event_name || '.' || event_micros) AS conversion_id,
       ts, visitor AS visitor_id, user_id,
       CASE WHEN device IN ('desktop', 'mobile', 'tablet') THEN device ELSE 'other' END AS device,
       CASE WHEN event_name = 'purchase' THEN 'sale' ELSE 'lead' END AS kind,
       CASE WHEN event_name = 'purchase' THEN coalesce(purchase_revenue, param_value, 0) ELSE 0 END AS revenue,
       categories, 'online' AS origin
FROM ga4
WHERE event_name = 'purchase' OR event_name IN ({leads})
ORDER BY ts, conversion_id
"""

IDENTITIES = """
SELECT visitor AS visitor_id, user_id, min(ts) AS ts
FROM ga4
WHERE visitor IS NOT NULL AND user_id IS NOT NULL
GROUP BY visitor, user_id
ORDER BY ts, visitor_id, user_id
"""
