"""Canonical tables (docs/architecture.md, "Data model"): columns, types and validation rules.

One `Field` list per table drives three things: the warehouse DDL, ingest validation and
the column order of rejects. Types are Ibis type strings so every engine reads them alike.
Timestamps are stored as naive UTC (`timestamp`), the one form DuckDB and Spark agree on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis

NONE = "(none)"  # a dimension value that is not known, as analytics tools show it
EARLIEST = "2000-01-01"  # no event of a journey-analytics workspace is older; later than tomorrow is a bad clock
DEVICES = ("desktop", "mobile", "tablet", "other")
INTERACTIONS = ("click", "view", "visit", "email", "sms", "call", "store")
KINDS = ("sale", "lead", "custom")
ORIGINS = ("online", "store", "call_centre")


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # ibis type string: string, timestamp, float64, int64, boolean, array<string>, map<string, string>
    required: bool = False
    choices: tuple[str, ...] = ()
    default: object = None  # value used when the field is absent or empty
    minimum: float | None = None
    maximum: float | None = None  # no real value is larger (and sums of larger ones overflow)
    # (value, other field, its values): this value is valid only on rows whose other field
    # has one of those values (an open is an email event: not on an SMS)
    only_when: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    # "email" or "phone": the field is that identifier's SHA-256 (identifiers.py), read from
    # a column of this name (64 hex digits) or, hashed at load, from the plain column `email`
    # or `phone`; the plain value itself is never stored here.
    identifier: str = ""
    # "email" or "phone": the field is the plain, normalised identifier, stored only when the
    # config says so ([crm] keep_plain); otherwise always null.
    plain: str = ""
    # an id (of an event, a device, an account, a customer): one token (identifiers.is_token)
    token: bool = False
    # the field names a person (an id, a recipient): what an erasure looks for, in the
    # tables and in the rejects files (identifier and plain fields name a person too)
    personal: bool = False


TOUCHPOINTS = (
    Field("event_id", "string", required=True, token=True),
    Field("ts", "timestamp", required=True),
    Field("visitor_id", "string", required=True, token=True, personal=True),
    Field("user_id", "string", token=True, personal=True),
    Field("device", "string", choices=DEVICES, default="other"),
    Field("interaction", "string", choices=INTERACTIONS, default="visit"),
    Field("channel", "string"),
    Field("source", "string"),
    Field("campaign", "string"),
    Field("media_plan", "string"),
    Field("funnel_stage", "string"),
    Field("pageviews", "int64", minimum=0, maximum=1e6),
    Field("duration_s", "float64", minimum=0, maximum=1e8),
    Field("utm_source", "string"),
    Field("utm_medium", "string"),
    Field("utm_campaign", "string"),
    Field("referrer", "string"),
    Field("url", "string"),
    # false: the person did not consent to tracking (a consent-mode ping): the touch never
    # reaches a person-level output (profiles, audiences, exports, the person API); it counts
    # in aggregate reports unless [privacy] count_without_consent = false. Empty: consented.
    Field("consent", "boolean"),
)

CONVERSIONS = (
    Field("conversion_id", "string", required=True, token=True),
    Field("ts", "timestamp", required=True),
    Field("visitor_id", "string", token=True, personal=True),
    Field("user_id", "string", token=True, personal=True),
    Field("device", "string", choices=DEVICES, default="other"),
    Field("kind", "string", choices=KINDS, default="sale"),
    Field("revenue", "float64", minimum=0, maximum=1e12, default=0.0),
    Field("new_customer", "boolean"),
    Field("categories", "array<string>"),
    Field("origin", "string", choices=ORIGINS, default="online"),
    Field("attributes", "map<string, string>"),
    # The buyer's CRM customer (a store sale's loyalty card, a call-centre order): the
    # conversion joins the CRM customer's person. `store`: where an offline sale was made.
    Field("customer_id", "string", token=True, personal=True),
    Field("store", "string"),
    # The buyer's email and phone (an online checkout's): how CRM customers are matched online.
    Field("email_sha256", "string", identifier="email"),
    Field("phone_sha256", "string", identifier="phone"),
)

IDENTITIES = (
    Field("visitor_id", "string", required=True, token=True, personal=True),
    Field("user_id", "string", required=True, token=True, personal=True),
    Field("ts", "timestamp"),
    # The login's email or phone (what the user signed in with): links CRM customers online.
    Field("email_sha256", "string", identifier="email"),
    Field("phone_sha256", "string", identifier="phone"),
)

COSTS = (
    Field("date", "date", required=True),
    Field("channel", "string", required=True),
    Field("source", "string", default=NONE),
    Field("campaign", "string", default=NONE),
    Field("cost", "float64", required=True, minimum=0, maximum=1e12),
)

# The CRM's customers (`parcours ingest crm`): emails and phones hashed at load, plain only
# with [crm] keep_plain. A customer's hashes matching an online row's link the customer to
# that row's ids in the identity graph; `user_id` is the customer's site account when the CRM
# knows it. Loading a customer again replaces the stored row (a CRM extract is a snapshot).
CRM = (
    Field("customer_id", "string", required=True, token=True, personal=True),
    Field("user_id", "string", token=True, personal=True),
    Field("email_sha256", "string", identifier="email"),
    Field("phone_sha256", "string", identifier="phone"),
    Field("email", "string", plain="email"),
    Field("phone", "string", plain="phone"),
    Field("attributes", "map<string, string>"),
)

MESSAGE_CHANNELS = ("email", "sms")
# A message's events, as emailing and SMS tools export them; `held_out`: a recipient who
# entered the journey and was deliberately not sent (its holdout group, for the true lift).
MESSAGE_EVENTS = ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained",
                  "undelivered", "held_out")
EMAIL, SMS = ("email",), ("sms",)

# One row per message event of an automated email or SMS journey. A message is the pair
# (step, recipient) within a journey.
MESSAGES = (
    Field("event_id", "string", required=True, token=True),
    Field("ts", "timestamp", required=True),
    Field("journey", "string", required=True),
    Field("step", "string", required=True),
    Field("channel", "string", required=True, choices=MESSAGE_CHANNELS),
    Field("recipient", "string", required=True, token=True, personal=True),  # an address or a number
    Field("event", "string", required=True, choices=MESSAGE_EVENTS,
          only_when=(("opened", "channel", EMAIL), ("bounced", "channel", EMAIL), ("undelivered", "channel", SMS))),
    Field("user_id", "string", token=True, personal=True),
    Field("visitor_id", "string", token=True, personal=True),
    Field("bounce_type", "string", choices=("hard", "soft")),
    Field("url", "string"),
    Field("user_agent", "string"),  # an open's: mail privacy proxies are recognised by it
    Field("machine_open", "boolean"),  # the sending tool's own flag of a machine-generated open
)

# Simulated data only: per day and channel, the conversions (and revenue) that would not have
# happened without the channel, as `parcours simulate` writes them (truth.parquet). Model
# comparison shows them beside the models; the channel TRUTH_BASE holds those no channel caused.
TRUTH = (
    Field("date", "date", required=True),
    Field("channel", "string", required=True),
    Field("incremental_conversions", "float64", required=True, maximum=1e12),
    Field("incremental_revenue", "float64", default=0.0, maximum=1e12),
)
TRUTH_BASE = "(base)"

# Simulated data only: per messaging journey and day after entry, the conversions (and
# revenue) of its sent entrants that its messages caused, as `parcours simulate` writes them
# (messages_truth.parquet). The messaging report sets the holdout's lift beside them.
MESSAGES_TRUTH = (
    Field("journey", "string", required=True),
    Field("days_after_entry", "int64", required=True, minimum=0, maximum=1e6),
    Field("incremental_conversions", "float64", required=True, maximum=1e12),
    Field("incremental_orders", "float64", maximum=1e12),  # the sales among them (a lead is no order)
    Field("incremental_revenue", "float64", default=0.0, maximum=1e12),
)

TABLES: dict[str, tuple[Field, ...]] = {
    "touchpoints": TOUCHPOINTS,
    "conversions": CONVERSIONS,
    "identities": IDENTITIES,
    "costs": COSTS,
    "crm": CRM,
    "truth": TRUTH,
    "messages": MESSAGES,
    "messages_truth": MESSAGES_TRUTH,
}

# What makes a row the same row: loading it again adds nothing.
KEYS: dict[str, tuple[str, ...]] = {
    "touchpoints": ("event_id",),
    "conversions": ("conversion_id",),
    "identities": ("visitor_id", "user_id"),
    "costs": ("date", "channel", "source", "campaign"),
    "crm": ("customer_id",),
    "truth": ("date", "channel"),
    "messages": ("event_id",),
    "messages_truth": ("journey", "days_after_entry"),
}

# When each row happened: the column a table's date range, its retention and an as-of read
# use (the built tables' too: a journey ends at its conversion, a touch happened at its time).
TIME_COLUMNS: dict[str, str] = {
    "touchpoints": "ts", "conversions": "ts", "identities": "ts", "costs": "date", "truth": "date",
    "messages": "ts", "journeys": "conv_ts", "touches": "ts",
}

# Tables where a row whose key is stored replaces the stored row when any value differs
# (the latest load wins); elsewhere a stored key keeps its first row.
LATEST_WINS = ("crm",)

# Written by each audience refresh (after a build, or when an audience is saved): who is in
# each audience, each audience's size at each build, who joined or left each audience at each
# refresh (what webhooks deliver), and each identifier's person with its audiences (what the
# person API reads). An answer filtered by an audience depends on the first three.
MEMBERS, SIZES, CHANGES, CARDS = "audience_members", "audience_sizes", "audience_changes", "person_cards"
REFRESHED = (MEMBERS, SIZES, CHANGES)
# What the last refresh evaluated: each audience's condition (with the funnel stages) and the
# cut. A build that changed a few profiles refreshes only their persons when both still hold.
CONDITIONS = "audience_conditions"

# Stored on every row besides its fields, never read from a file: which load brought it (1, 2,
# ... per table, in commit order; 0 or null: before loads were numbered). A build reads the
# rows up to the latest load and notes it, so the next build knows which rows are new.
LOAD_SEQ = "load_seq"


def personal(table: str) -> frozenset[str]:
    """The columns of a `table` file that name a person: its personal fields, and each
    identifier's hash and plain column (`email_sha256`, `email`)."""
    out: set[str] = set()
    for f in TABLES[table]:
        if f.personal or f.identifier or f.plain:
            out |= {f.name, f.identifier or f.plain} - {""}
    return frozenset(out)


def ibis_schema(table: str) -> ibis.Schema:
    import ibis  # here, not at the top: the command line reads this module without the engine

    return ibis.schema({**{f.name: f.type for f in TABLES[table]}, LOAD_SEQ: "int64"})


def fields(table: str) -> tuple[Field, ...]:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}") from None
