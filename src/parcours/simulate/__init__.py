"""Synthetic touchpoints and conversions with a known incremental effect per channel, in
several worlds (`WORLDS`), each a different way channels cause conversions.

Common to every world (per person p and day d): exposure to channel c decays geometrically,
    E_c[p, d] = w * touches_c[p, d] + DECAY * E_c[p, d-1]   (w = 0.3 for views, 1 otherwise),
the conversion hazard lambda[p, d] is the world's, P(convert) = 1 - exp(-lambda), and a
conversion happens when a uniform draw U[p, d] falls below P. k_p ~ Gamma(2, 0.5) is the
person's propensity. The worlds' hazards (beta_c per channel from CHANNELS):

- additive:   lambda = k (base + sum_c beta_c E_c), the same for everyone.
- selection:  intent days I[p, d] (3% of days) multiply the base by 1 + 300 I, and show:
              that morning the person visits (direct or organic search) and reaches the
              cart. Retargeting (display), brand search (paid_search) and email are sent on
              that signal: 80% of their touches move to the afternoon of an intent day of
              their person, and their own effect is a quarter of beta:
              lambda = k (base (1 + 300 I) + sum_c beta'_c E_c). Last click credits them
              with conversions intent alone would have brought; the cart visits show intent.
- synergy:    search works mostly through display: paid_search's term is
              beta_s E_s (0.25 + 2 min(E_display, 1)); the rest as additive.
- saturation: diminishing returns: each channel adds beta_c S (1 - exp(-E_c / S)), S = 0.5.
- heterogeneous: effects differ by person (segment, device) and by journey stage (display
              works only early): lambda = k (base + sum_c beta_c factor_c[p, d] E_c); the
              factors are in `prediction.py`.
- offline:    display and social drive store and call-centre sales: an offline hazard
              k (base_off + 5 (beta_display E_display + beta_social E_social)) adds to the
              online one (where they keep 30% of beta). A conversion is offline with the
              offline hazard's share (its own draw). Offline buyers without an account get
              a CRM id that no online identity matches: their sales have no journey.

The truth of channel c is re-simulated with c switched off and the *same* draws (common
random numbers): its true incremental conversions are conv(all) - conv(without c), day by
day (`simulate(off=c)` writes that world). Touches are written with their channel half the
time and only with utm/referrer the other half, so classifying them is part of what the
engine must get right.

Messaging journeys (`messages.py`, on a draw stream of their own): a welcome series and a
cart-abandonment journey send emails and SMS; their clicks are touches like the others and
their deliveries and opens add exposure unseen. Each journey's true lift is re-simulated
with its messages' exposure taken away, on the same draws (`messages_truth`). With
`messages=False` the data is what it was without them, draw for draw.

Prediction's truth (`prediction.py`): at the cut `horizon` days before the end, each
person's true probability to convert within the horizon and, per channel, the true gain in it
from one more touch (`propensity_truth`, `channel_truth`).

Uses base only (no warehouse): NumPy arrays, PyArrow files; persons in fixed-size chunks,
so memory stays flat whatever their number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from parcours.errors import InvalidInput
from parcours.simulate import crm as crm_data
from parcours.simulate import prediction
from parcours.simulate.crm import attributes_json
from parcours.simulate.messages import JOURNEYS, SOURCES, Messages, simulate_messages
from parcours.simulate.prediction import Hazard, Terms

CHUNK = 20_000  # persons per chunk; fixed so results do not depend on the total
DECAY = 0.8
VIEW_WEIGHT = 0.3
BASE = 0.00015
HORIZON = 7  # days: the truth of predictions, by default
DEVICE_TYPES = np.array(["desktop", "mobile", "tablet"])
STAGES = np.array(["awareness", "consideration", "intent", "cart"])
CATEGORIES = np.array(["fashion", "home", "beauty", "electronics", "sports", "kids"])


@dataclass(frozen=True)
class Channel:
    name: str
    share: float  # of touches
    beta: float  # hazard lift per unit of exposure
    medium: str | None  # utm_medium when only utm is written; None: referrer or nothing
    sources: dict[str, tuple[str, ...]]  # source -> campaigns
    view_share: float = 0.0
    interaction: str = "click"
    cpc: float = 0.0
    cpm: float = 0.0
    plan: str = "(none)"
    always_labelled: bool = False


CHANNELS = (
    Channel("paid_search", 0.17, 0.0016, "cpc",
            {"google": ("brand_fr", "generic_shoes", "generic_home"), "bing": ("brand_fr", "generic_all")},
            cpc=0.8, plan="always_on_search"),
    Channel("display", 0.15, 0.0005, "display",
            {"criteo": ("retargeting_q4", "prospecting_q4"), "dv360": ("awareness_video",)},
            view_share=0.75, cpc=0.4, cpm=4.0, plan="q4_acquisition"),
    Channel("affiliation", 0.07, 0.0014, "affiliate",
            {"awin": ("cashback", "vouchers"), "effinity": ("coupons",)}, cpc=0.3,
            plan="performance_partners"),
    Channel("email", 0.12, 0.0010, "email",
            {"newsletter": ("weekly", "black_friday"), "crm": ("welcome", "winback")},
            interaction="email", cpc=0.002, plan="crm_calendar"),
    Channel("sms", 0.04, 0.0009, "sms", {"sms_provider": ("flash_sale", "reminder")},
            interaction="sms", cpc=0.05, plan="crm_calendar"),
    Channel("social", 0.10, 0.0005, "paid_social",
            {"facebook": ("prospecting_video", "retargeting"), "instagram": ("stories",),
             "tiktok": ("ugc_q4",)}, view_share=0.6, cpc=0.6, cpm=6.0, plan="q4_acquisition"),
    Channel("organic_search", 0.12, 0.0008, None,
            {"google.com": ("(none)",), "bing.com": ("(none)",), "qwant.com": ("(none)",)},
            interaction="visit"),
    Channel("direct", 0.12, 0.0004, None, {"(none)": ("(none)",)}, interaction="visit"),
    Channel("referral", 0.04, 0.0006, None,
            {"blog-mode.fr": ("(none)",), "forum-deco.com": ("(none)",)}, interaction="visit"),
    Channel("store", 0.04, 0.0025, None, {"store": ("paris", "lyon", "lille")},
            interaction="store", always_labelled=True),
    Channel("call_centre", 0.03, 0.0020, None, {"call_centre": ("inbound",)},
            interaction="call", always_labelled=True),
)
OFFLINE = {"store", "call_centre"}


INTENT_RATE, INTENT_LIFT, SENT_ON_INTENT, TARGETED_EFFECT = 0.03, 300.0, 0.8, 0.25
TARGETED = ("display", "paid_search", "email")  # selection: sent on observable intent
SYNERGY_SOLO, SYNERGY_LIFT = 0.25, 2.0
SATURATION = 0.5
OFFLINE_BASE, OFFLINE_LIFT, ONLINE_KEEP = 0.00008, 5.0, 0.3
OFFLINE_DRIVERS = ("display", "social")
NEEDS = {"synergy": ("paid_search", "display"), "selection": ("direct", "organic_search")}  # channels a world names


def _terms(E: np.ndarray, beta: np.ndarray, off: frozenset[int]) -> np.ndarray:
    """sum_c beta_c E_c over the channels not switched off."""
    b = beta.copy()
    b[list(off)] = 0.0
    return np.tensordot(b, E, 1)


def _additive(E: np.ndarray, k: np.ndarray, beta: np.ndarray, off: frozenset[int], ctx: dict[str, Any]) -> Terms:
    return k * (BASE + _terms(E, beta, off)), 0.0


def _selection(E: np.ndarray, k: np.ndarray, beta: np.ndarray, off: frozenset[int], ctx: dict[str, Any]) -> Terms:
    b = beta.copy()
    b[ctx["targeted"]] *= TARGETED_EFFECT
    return k * (BASE * (1 + INTENT_LIFT * ctx["intent"]) + _terms(E, b, off)), 0.0


def _synergy(E: np.ndarray, k: np.ndarray, beta: np.ndarray, off: frozenset[int], ctx: dict[str, Any]) -> Terms:
    s, d = ctx["idx"]["paid_search"], ctx["idx"]["display"]
    rest = _terms(E, beta, off | {s})
    if s in off:
        return k * (BASE + rest), 0.0
    boost = SYNERGY_SOLO + (0.0 if d in off else SYNERGY_LIFT * np.minimum(E[d], 1.0))
    return k * (BASE + rest + beta[s] * E[s] * boost), 0.0


def _saturation(E: np.ndarray, k: np.ndarray, beta: np.ndarray, off: frozenset[int], ctx: dict[str, Any]) -> Terms:
    return k * (BASE + _terms(SATURATION * (1 - np.exp(-E / SATURATION)), beta, off)), 0.0


def _offline(E: np.ndarray, k: np.ndarray, beta: np.ndarray, off: frozenset[int], ctx: dict[str, Any]) -> Terms:
    drivers = ctx["drivers"]
    online = beta.copy()
    online[drivers] *= ONLINE_KEEP
    only = np.zeros_like(beta)
    only[drivers] = beta[drivers] * OFFLINE_LIFT
    return k * (BASE + _terms(E, online, off)), k * (OFFLINE_BASE + _terms(E, only, off))


WORLDS: dict[str, Hazard] = {"additive": _additive, "selection": _selection, "synergy": _synergy,
                               "saturation": _saturation, "offline": _offline,
                               "heterogeneous": prediction.heterogeneous}  # equations: the docstring


@dataclass
class SimulationResult:
    files: dict[str, Path]
    touchpoints: int
    conversions: int
    persons: int
    touches_by_channel: dict[str, int]


def _campaign_catalogue(channels: tuple[Channel, ...]) -> tuple[
        list[tuple[int, str, str]], np.ndarray, dict[tuple[str, str], int]]:
    """Flat arrays over every (channel, source, campaign), to draw and to aggregate costs;
    then the campaigns of the messaging journeys' clicks (source by channel, campaign the
    journey), drawn by no other touch: `ch_idx` covers the drawn ones only."""
    rows = [(ci, s, c) for ci, ch in enumerate(channels) for s, camps in ch.sources.items()
            for c in camps]
    ch_idx = np.array([r[0] for r in rows])
    names = [c.name for c in channels]
    journey_camps = {}
    for journey in JOURNEYS:
        stepped = {s.channel for s in journey.steps}
        for ch in [n for n in names if n in stepped]:  # in the channels' order: a set's varies by process
            row = (names.index(ch), SOURCES[ch], journey.name)
            if row not in rows:
                rows.append(row)
            journey_camps[(journey.name, ch)] = rows.index(row)
    return rows, ch_idx, journey_camps


def _checked(fmt: str, scenario: str, names: list[str], days: int, horizon: int | None, off: str | None,
             end: dt.date | None) -> tuple[tuple[str, int | None], int, dt.date]:
    """The simulation's arguments checked: (world: scenario and the index of the channel switched
    off, horizon, last day)."""
    if fmt not in ("parquet", "csv"):
        raise InvalidInput("fmt must be 'parquet' or 'csv'")
    if scenario not in WORLDS:
        raise InvalidInput(f"unknown scenario {scenario!r}; scenarios: {', '.join(WORLDS)}")
    needs = NEEDS.get(scenario, ())
    if not set(needs) <= set(names):
        raise InvalidInput(f"the {scenario} world needs the {' and '.join(needs)} channels")
    horizon = min(HORIZON, days - 1) if horizon is None else horizon
    if not 0 <= horizon < days:
        raise InvalidInput(f"horizon must be 0 to {days - 1} days (fewer than the days simulated)")
    if off is not None and off not in names:
        raise InvalidInput(f"unknown channel {off!r}; channels: {', '.join(names)}")
    world = (scenario, None if off is None else names.index(off))
    today = dt.datetime.now(dt.UTC).date()
    end = end or today - dt.timedelta(days=1)  # the last whole day: nothing it writes happens after now
    if end >= today:
        raise InvalidInput(f"end {end} is not before today ({today}): every simulated day must be over, or its "
                         "events would happen after now")
    return world, horizon, end


def simulate(out: Path | str, persons: int = 10_000, seed: int = 0, days: int = 90,
             end: dt.date | None = None, fmt: str = "parquet", touches_per_person: float = 10.0,
             channels: tuple[Channel, ...] = CHANNELS, scenario: str = "additive", off: str | None = None,
             messages: bool = True, crm: bool = True, horizon: int | None = None,
             progress: Callable[[int, int], None] = lambda done, total: None) -> SimulationResult:
    """Write touchpoints, conversions, identities, costs, truth and persons_truth to `out`,
    and with `messages` the email and SMS journeys' events and their true lift
    (`messages`, `messages_truth`: see `parcours.simulate.messages`), with `crm` the CRM's
    customers, the identifiers orders carry and each customer's true person (`crm`,
    `crm_truth`: see `parcours.simulate.crm`), and the truth of predictions at `horizon` days
    before the end (`propensity_truth`, `channel_truth`: see `parcours.simulate.prediction`;
    none when a channel is switched off, or with horizon 0; by default 7 days, or the days
    simulated but one when fewer).

    `channels` replaces the catalogue (e.g. a channel with beta=0 has no effect at all);
    `scenario` picks the world (WORLDS); `off` switches one channel off on the same draws
    (no touch of it, its effect gone): the world its truth is measured against.
    """
    world, horizon, end = _checked(fmt, scenario, [c.name for c in channels], days, horizon, off, end)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = end - dt.timedelta(days=days - 1)
    t0 = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp())
    rows, camp_channel, journey_camps = _campaign_catalogue(channels)
    writers = _Writers(out, fmt)
    costs = np.zeros((days, len(rows)))
    truth = np.zeros((len(channels) + 1, days, 2))  # [channel or base, day, (conv, revenue)]
    lift = np.zeros((len(JOURNEYS), days, 3))  # [journey, days after entry, (conv, revenue, orders)]
    by_channel = np.zeros(len(channels), dtype=np.int64)
    n_tp = n_conv = 0
    for first in range(0, persons, CHUNK):
        size = min(CHUNK, persons - first)
        rng = np.random.default_rng([seed, first // CHUNK])
        mrng = np.random.default_rng([seed, first // CHUNK, 1]) if messages else None
        chunk = _simulate_chunk(rng, channels, first, size, days, t0, touches_per_person, rows,
                                camp_channel, world, mrng, journey_camps,
                                horizon if off is None else 0, start)
        writers.write("touchpoints", chunk["touchpoints"])
        if crm:  # the CRM's own draw stream: the rest of the data is the same with or without it
            crng = np.random.default_rng([seed, first // CHUNK, 2])
            customers, customers_truth = crm_data.customers(crng, first, chunk["account"])
            writers.write("crm", customers)
            writers.write("crm_truth", customers_truth)
            chunk["conversions"] = crm_data.with_identifiers(crng, chunk["conversions"], chunk["buyer"],
                                                             chunk["account"], first)
            chunk["identities"] = crm_data.with_login(crng, chunk["identities"])
        writers.write("conversions", chunk["conversions"])
        writers.write("identities", chunk["identities"])
        writers.write("persons_truth", chunk["persons_truth"])
        costs += chunk["costs"]
        truth += chunk["truth"]
        if messages:
            writers.write("messages", chunk["messages"])
            lift += chunk["lift"]
        for name in ("propensity_truth", "channel_truth"):
            if name in chunk:
                writers.write(name, chunk[name])
        by_channel += chunk["by_channel"]
        n_tp += chunk["touchpoints"].num_rows
        n_conv += chunk["conversions"].num_rows
        progress(first + size, persons)
    writers.write("costs", _costs_table(channels, costs, rows, start))
    writers.write("truth", _truth_table(channels, truth, start))
    if messages:
        writers.write("messages_truth", _lift_table(lift))
    return SimulationResult(writers.close(), n_tp, n_conv, persons,
                            {c.name: int(n) for c, n in zip(channels, by_channel, strict=True)})


@dataclass(frozen=True)
class _People:
    """A chunk's persons: devices, accounts, CRM profile, propensity, favourite channel."""

    n_dev: np.ndarray
    dev_type: np.ndarray
    account: np.ndarray
    logged: np.ndarray
    prior_customer: np.ndarray
    propensity: np.ndarray
    favourite: np.ndarray


Touches = tuple[np.ndarray, ...]  # owner, day, sec, channel, camp, is_view, offline, dev, cart


def _draw_people(rng: np.random.Generator, channels: tuple[Channel, ...], P: int) -> _People:
    n_dev = rng.choice([1, 2, 3], size=P, p=[0.55, 0.35, 0.10])
    dev_type = rng.choice(3, size=(P, 3), p=[0.45, 0.45, 0.10])
    account = rng.random(P) < 0.55
    logged = (rng.random((P, 3)) < np.array([0.85, 0.7, 0.7])) & account[:, None]
    prior_customer = rng.random(P) < 0.35
    propensity = rng.gamma(2.0, 0.5, size=P)
    favourite = rng.choice(len(channels), size=P, p=[c.share for c in channels])
    return _People(n_dev, dev_type, account, logged, prior_customer, propensity, favourite)


def _draw_touches(rng: np.random.Generator, channels: tuple[Channel, ...], people: _People, P: int, D: int,
                  per_person: float, camp_channel: np.ndarray) -> Touches:
    """Touches: how many, when, which channel, device, source, campaign (none at the cart yet)."""
    C = len(channels)
    counts = rng.poisson(rng.gamma(1.0, per_person, size=P))
    T = int(counts.sum())
    owner = np.repeat(np.arange(P), counts)
    day = rng.integers(0, D, size=T)
    sec = rng.integers(0, 86400, size=T)
    order = np.lexsort((sec, day, owner))
    owner, day, sec = owner[order], day[order], sec[order]
    channel = np.where(rng.random(T) < 0.4, people.favourite[owner],
                       rng.choice(C, size=T, p=[c.share for c in channels]))
    camp = np.empty(T, dtype=np.int64)
    for ci in range(C):
        mask = channel == ci
        choices = np.flatnonzero(camp_channel == ci)
        camp[mask] = rng.choice(choices, size=int(mask.sum()))
    is_view = rng.random(T) < np.array([c.view_share for c in channels])[channel]
    offline = np.isin(channel, [i for i, c in enumerate(channels) if c.name in OFFLINE])
    n_dev = people.n_dev
    dev = np.minimum((rng.random(T) * n_dev[owner]).astype(np.int64), n_dev[owner] - 1)
    cart = np.zeros(T, dtype=bool)  # a visit that reached the cart: intent people can see
    return owner, day, sec, channel, camp, is_view, offline, dev, cart


def _selection_touches(rng: np.random.Generator, touches: Touches, n_dev: np.ndarray, P: int, D: int,
                       idx: dict[str, int], camp_channel: np.ndarray, ctx: dict[str, Any]) -> Touches:
    """The selection world: intent shows (a morning visit to the cart, by direct or organic
    search), and the targeted channels' touches follow it; sets ctx's intent and targeted."""
    owner, day, sec, channel, camp, is_view, offline, dev, cart = touches
    T = len(owner)
    intent = rng.random((P, D)) < INTENT_RATE
    ctx["intent"], ctx["targeted"] = intent, [idx[n] for n in TARGETED if n in idx]
    targeted = np.isin(channel, ctx["targeted"])
    moved = _sent_on_intent(rng, intent, owner, day, targeted)
    sec = np.where(moved != day, 43_200 + rng.integers(0, 43_200, size=T), sec)  # the afternoon
    day = moved
    vp, vd = np.nonzero(intent)  # one morning visit per intent day, to the cart
    n = len(vp)
    direct, organic = idx["direct"], idx["organic_search"]
    vchannel = rng.choice([direct, organic], size=n)
    vcamp = np.where(vchannel == direct, np.flatnonzero(camp_channel == direct)[0],
                     np.flatnonzero(camp_channel == organic)[0])
    vdev = np.minimum((rng.random(n) * n_dev[vp]).astype(np.int64), n_dev[vp] - 1)
    added = (vp, vd, rng.integers(0, 43_200, size=n), vchannel, vcamp, np.zeros(n, bool), np.zeros(n, bool),
             vdev, np.ones(n, bool))
    mine = (owner, day, sec, channel, camp, is_view, offline, dev, cart)
    joined = [np.concatenate(pair) for pair in zip(mine, added, strict=True)]
    owner, day, sec = joined[:3]
    return _take(np.lexsort((sec, day, owner)), *joined)


def _first_carts(touches: Touches) -> tuple[np.ndarray, np.ndarray]:
    """Each person's first cart-stage touch: (persons, seconds from t0)."""
    owner, day, sec, cart = touches[0], touches[1], touches[2], touches[8]
    stage = cart | ((np.arange(len(owner)) - np.searchsorted(owner, owner)) >= 9)
    first_cart = np.unique(owner[stage], return_index=True)[1]
    at = np.flatnonzero(stage)[first_cart]
    return owner[at], day[at] * 86400 + sec[at]


def _with_message_touches(touches: Touches, mt: dict[str, np.ndarray]) -> Touches:
    """The touches and the messages' clicks, in order."""
    n = len(mt["owner"])
    added = (mt["owner"], mt["t"] // 86400, mt["t"] % 86400, mt["channel"], mt["camp"], np.zeros(n, bool),
             np.zeros(n, bool), mt["dev"], np.zeros(n, bool))
    joined = [np.concatenate(pair) for pair in zip(touches, added, strict=True)]
    return _take(np.lexsort((joined[2], joined[1], joined[0])), *joined)


def _exposure(C: int, owner: np.ndarray, day: np.ndarray, channel: np.ndarray, weight: np.ndarray,
              msg: Messages | None, P: int, D: int) -> np.ndarray:
    """Decayed exposure [channel, person, day] of the touches, and of what messages do unseen."""
    E = np.zeros((C, P, D))
    for ci in range(C):
        m = channel == ci
        daily = np.bincount(owner[m] * D + day[m], weights=weight[m], minlength=P * D).reshape(P, D)
        if msg is not None:  # what messages do unseen (delivered, opened)
            u = msg.unseen
            mu = u["channel"] == ci
            daily += np.bincount(u["owner"][mu] * D + u["t"][mu] // 86400, weights=u["weight"][mu],
                                 minlength=P * D).reshape(P, D)
        E[ci] = _decayed(daily)
    return E


def _channel_truth(converts: np.ndarray, converting: Callable[[frozenset[int]], np.ndarray],
                   value: np.ndarray, C: int, D: int) -> np.ndarray:
    """[channel or base, day, (conversions, revenue)] that would not happen without it."""
    truth = np.zeros((C + 1, D, 2))
    for ci in range(C):
        gained = converts & ~converting(frozenset({ci}))
        truth[ci, :, 0] = gained.sum(axis=0)
        truth[ci, :, 1] = (gained * value).sum(axis=0)
    base_only = converts & converting(frozenset(range(C)))
    truth[C, :, 0] = base_only.sum(axis=0)
    truth[C, :, 1] = (base_only * value).sum(axis=0)
    return truth


def _touch_costs(channels: tuple[Channel, ...], day: np.ndarray, camp: np.ndarray, channel: np.ndarray,
                 is_view: np.ndarray, D: int, n_rows: int) -> np.ndarray:
    """Cost [day, campaign row] of the touches: views by CPM, the rest by CPC."""
    costs = np.zeros((D, n_rows))
    unit = np.where(is_view, np.array([c.cpm / 1000 for c in channels])[channel],
                    np.array([c.cpc for c in channels])[channel])
    np.add.at(costs, (day, camp), unit)
    return costs


def _messages_table(msg: Messages, t0: int) -> pa.Table:
    """The messages' events with their timestamps."""
    return msg.events.append_column("ts", _ts(t0, *np.divmod(
        msg.events["t"].to_numpy(), 86400))).drop(["t"]).select(
        ["event_id", "ts", *[n for n in msg.events.column_names if n not in ("event_id", "t")]])


def _simulate_chunk(rng: np.random.Generator, channels: tuple[Channel, ...], first: int, P: int, D: int,
                    t0: int, per_person: float, rows: list[tuple[int, str, str]], camp_channel: np.ndarray,
                    world: tuple[str, int | None], mrng: np.random.Generator | None = None,
                    journey_camps: dict[tuple[str, str], int] | None = None, horizon: int = 0,
                    start: dt.date | None = None) -> dict[str, Any]:
    C = len(channels)
    scenario, off = world
    idx = {c.name: i for i, c in enumerate(channels)}
    people = _draw_people(rng, channels, P)
    n_dev, dev_type, account = people.n_dev, people.dev_type, people.account
    touches = _draw_touches(rng, channels, people, P, D, per_person, camp_channel)
    ctx: dict[str, Any] = {"idx": idx, "base": BASE}
    if scenario == "selection":  # intent shows: a morning visit to the cart; targeting follows it
        touches = _selection_touches(rng, touches, n_dev, P, D, idx, camp_channel, ctx)
    if scenario == "offline":
        ctx["drivers"] = [idx[n] for n in OFFLINE_DRIVERS if n in idx]
    carts = None
    if mrng is not None:  # each person's first cart-stage touch (before any switch-off: journeys start there)
        carts = _first_carts(touches)
    if off is not None:  # switched off: its touches never happen
        touches = _take(touches[3] != off, *touches)
    msg = None
    if mrng is not None and carts is not None:  # the journeys' messages; their clicks become touches
        msg = simulate_messages(mrng, first, P, D, idx, journey_camps or {}, account, n_dev, carts, off)
        touches = _with_message_touches(touches, msg.touches)
    owner, day, sec, channel, camp, is_view, offline, dev, cart = touches
    weight = np.where(is_view, VIEW_WEIGHT, 1.0)
    if scenario == "heterogeneous":  # from the touches that happen (display's early days)
        ctx["factor"], ctx["touches"] = prediction.effects(first, P, D, dev_type, owner, day, channel, idx, C)

    # Conversions: the world's hazard from decayed exposure; the same draws for every world.
    U = rng.random((P, D))
    E = _exposure(C, owner, day, channel, weight, msg, P, D)
    k = people.propensity[:, None]
    beta = np.array([c.beta for c in channels])
    hazard = WORLDS[scenario]

    def converting(without: frozenset[int]) -> np.ndarray:
        on, off_line = hazard(E, k, beta, without, ctx)
        return 1 - np.exp(-(on + off_line)) > U

    on, off_line = hazard(E, k, beta, frozenset(), ctx)
    converts = 1 - np.exp(-(on + off_line)) > U
    revenue_draw = np.round(rng.lognormal(4.2, 0.6, size=(P, D)), 2)
    is_lead = rng.random((P, D)) < 0.15
    value = np.where(is_lead, 0.0, revenue_draw)
    truth = _channel_truth(converts, converting, value, C, D)

    lift = np.zeros((len(JOURNEYS), D, 3))
    if msg is not None:
        lift = _journey_lift(msg, E, k, beta, ctx, hazard, converts, U, value, ~is_lead, P, D)

    predicted = {}
    if horizon and start is not None:
        predicted = dict(zip(("propensity_truth", "channel_truth"), prediction.truth(
            E, k, beta, ctx, hazard, converts, first, horizon, DECAY, [c.name for c in channels],
            start + dt.timedelta(days=D - horizon)), strict=True))

    conv_p, conv_d = np.nonzero(converts)
    offline_share = None
    if scenario == "offline":  # offline with the offline hazard's share, on a draw of its own
        total = (on + off_line)[conv_p, conv_d]
        offline_share = np.divide(np.asarray(off_line)[conv_p, conv_d], total, out=np.zeros(len(conv_p)),
                                  where=total > 0)
    conversions = _conversions(rng, channels, conv_p, conv_d, first, t0, owner, day, sec,
                               dev, offline, dev_type, account, people.logged,
                               people.prior_customer, is_lead, value, channel, offline_share)
    touchpoints = _touchpoints(rng, channels, first, owner, day, sec, channel, camp, is_view, offline, dev, cart,
                               dev_type, account, people.logged, t0, rows)
    identities, persons_truth = _identities(rng, first, P, n_dev, dev_type, people.logged, t0, D)
    out = {"touchpoints": touchpoints, "conversions": conversions, "identities": identities,
           "persons_truth": persons_truth, "costs": _touch_costs(channels, day, camp, channel, is_view, D, len(rows)),
           "truth": truth, "account": account, "buyer": conv_p,
           "by_channel": np.bincount(channel, minlength=C), **predicted}
    if msg is not None:
        out["messages"] = _messages_table(msg, t0)
        out["lift"] = lift
    return out


def _decayed(daily: np.ndarray) -> np.ndarray:
    """Exposure by day: E[:, d] = daily[:, d] + DECAY * E[:, d-1]."""
    E = np.empty_like(daily)
    E[:, 0] = daily[:, 0]
    for d in range(1, daily.shape[1]):
        E[:, d] = daily[:, d] + DECAY * E[:, d - 1]
    return E


def _journey_lift(msg: Messages, E: np.ndarray, k: np.ndarray, beta: np.ndarray, ctx: dict[str, Any],
                  hazard: Hazard, converts: np.ndarray, U: np.ndarray, value: np.ndarray, sale: np.ndarray,
                  P: int, D: int) -> np.ndarray:
    """Per journey and day after entry, the conversions (and revenue, and the sales among
    them) of its sent entrants that would not have happened without its messages (their
    clicks' touches and what they did unseen), on the same draws: [journey, days after entry,
    (conversions, revenue, orders)]."""
    lift = np.zeros((len(JOURNEYS), D, 3))
    for ji, (person, entry_day) in enumerate(msg.entrants):
        E_without = E.copy()
        t, u = msg.touches, msg.unseen
        for part, weights in ((t, np.ones(len(t["owner"]))), (u, u["weight"])):
            mine = part["journey"] == ji
            for ci in np.unique(part["channel"][mine]):
                m = mine & (part["channel"] == ci)
                daily = np.bincount(part["owner"][m] * D + part["t"][m] // 86400, weights=weights[m],
                                    minlength=P * D).reshape(P, D)
                E_without[ci] -= _decayed(daily)
        on, off_line = hazard(E_without, k, beta, frozenset(), ctx)
        without = 1 - np.exp(-(on + off_line)) > U
        gained = (converts[person].astype(np.int64) - without[person].astype(np.int64))
        after = np.arange(D)[None, :] - entry_day[:, None]
        inside = after >= 0
        np.add.at(lift[ji, :, 0], after[inside], gained[inside])
        np.add.at(lift[ji, :, 1], after[inside], (gained * value[person])[inside])
        np.add.at(lift[ji, :, 2], after[inside], (gained * sale[person])[inside])
    return lift


def _take(rows: np.ndarray, *arrays: np.ndarray) -> tuple[Any, ...]:
    """The same rows (an order or a mask) of every touch array."""
    return tuple(a[rows] for a in arrays)


def _sent_on_intent(rng: np.random.Generator, intent: np.ndarray, owner: np.ndarray, day: np.ndarray,
                    targeted: np.ndarray) -> np.ndarray:
    """Days of the touches, the targeted ones moved (SENT_ON_INTENT of them) to a random
    intent day of their person, when the person has one."""
    per_person = intent.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(per_person)])
    days_flat = np.nonzero(intent)[1]  # row-major: each person's intent days in a run
    n = per_person[owner]
    move = targeted & (n > 0) & (rng.random(len(day)) < SENT_ON_INTENT)
    pick = offsets[owner] + (rng.random(len(day)) * np.maximum(n, 1)).astype(np.int64)
    return np.where(move, days_flat[np.minimum(pick, len(days_flat) - 1)] if len(days_flat) else day, day)


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(numbers).cast(pa.string()), "")


def _visitor_ids(person: np.ndarray, dev: np.ndarray) -> pa.Array:
    """`v<person>-<device>`, device 'o' for the offline (store/call) identity."""
    suffix = pa.array(np.where(dev < 0, "o", dev.astype(str)))
    return pc.binary_join_element_wise("v", pa.array(person).cast(pa.string()), "-", suffix, "")


def _ts(t0: int, day: np.ndarray, sec: np.ndarray) -> pa.Array:
    return pa.array((t0 + day * 86400 + sec) * 1_000_000, type=pa.timestamp("us", tz="UTC"))


def _touchpoints(rng: np.random.Generator, channels: tuple[Channel, ...], first: int, owner: np.ndarray,
                 day: np.ndarray, sec: np.ndarray, channel: np.ndarray, camp: np.ndarray, is_view: np.ndarray,
                 offline: np.ndarray, dev: np.ndarray, cart: np.ndarray, dev_type: np.ndarray,
                 account: np.ndarray, logged: np.ndarray, t0: int, rows: list[tuple[int, str, str]]) -> pa.Table:
    T = len(owner)
    names = np.array([c.name for c in channels])
    src = np.array([r[1] for r in rows])[camp]
    cmp_ = np.array([r[2] for r in rows])[camp]
    plan = np.array([channels[r[0]].plan for r in rows])[camp]
    interaction = np.array([c.interaction for c in channels])[channel]
    interaction = np.where(is_view, "view", interaction)
    labelled = (rng.random(T) < 0.5) | np.array([c.always_labelled for c in channels])[channel]
    medium = np.array([c.medium or "" for c in channels])[channel]
    uses_utm = ~labelled & (medium != "")
    uses_ref = ~labelled & np.isin(names[channel], ["organic_search", "referral"])
    device = np.where(offline, "other", DEVICE_TYPES[dev_type[owner, dev]])
    dev_for_id = np.where(offline, -1, dev)
    logged_touch = np.where(offline, account[owner], logged[owner, dev]) & (
        offline | (rng.random(T) < 0.4))
    visit_like = np.isin(interaction, ["click", "visit"])
    pageviews = np.where(visit_like, 1 + rng.poisson(2.5, size=T), 0)
    duration = np.round(pageviews * rng.exponential(45.0, size=T), 1)
    ordinal = np.arange(T) - np.searchsorted(owner, owner)  # touch number within person
    stage = STAGES[np.minimum(ordinal // 3, 3)]

    def opt(values: np.ndarray, mask: np.ndarray) -> pa.Array:
        return pc.if_else(pa.array(mask, type=pa.bool_()), pa.array(values, type=pa.string()), None)

    return pa.table({
        "event_id": _ids(f"e{first}-", np.arange(T)),
        "ts": _ts(t0, day, sec),
        "visitor_id": _visitor_ids(first + owner, dev_for_id),
        "user_id": opt(np.char.add("u", (first + owner).astype(str)), logged_touch),
        "device": pa.array(device),
        "interaction": pa.array(interaction),
        "channel": opt(names[channel], labelled),
        "source": opt(src, labelled & (src != "(none)")),
        "campaign": opt(cmp_, labelled & (cmp_ != "(none)")),
        "media_plan": opt(plan, labelled & (plan != "(none)")),
        "funnel_stage": opt(np.where(cart, "cart", stage), (rng.random(T) < 0.6) | cart),
        "pageviews": pa.array(pageviews, mask=~visit_like),
        "duration_s": pa.array(duration, mask=~visit_like),
        "utm_source": opt(src, uses_utm),
        "utm_medium": opt(medium, uses_utm),
        "utm_campaign": opt(cmp_, uses_utm),
        "referrer": opt(np.char.add(np.char.add("https://www.", src), "/"), uses_ref),
    })


def _conversions(rng: np.random.Generator, channels: tuple[Channel, ...], conv_p: np.ndarray,
                 conv_d: np.ndarray, first: int, t0: int, owner: np.ndarray, day: np.ndarray, sec: np.ndarray,
                 dev: np.ndarray, offline: np.ndarray, dev_type: np.ndarray, account: np.ndarray,
                 logged: np.ndarray, prior_customer: np.ndarray, is_lead: np.ndarray, value: np.ndarray,
                 channel: np.ndarray, offline_share: np.ndarray | None = None) -> pa.Table:
    n = len(conv_p)
    # The last touch before the conversion's day ends decides device and time.
    key_touch = owner.astype(np.int64) * 10**6 + day * 86400 // 100 + sec // 100
    key_day_end = conv_p.astype(np.int64) * 10**6 + (conv_d + 1) * 86400 // 100
    idx = np.searchsorted(key_touch, key_day_end) - 1
    has_prev = (idx >= 0) & (owner[np.maximum(idx, 0)] == conv_p)
    same_day = has_prev & (day[np.maximum(idx, 0)] == conv_d)
    last_sec = np.where(same_day, sec[np.maximum(idx, 0)], -1)
    conv_sec = np.minimum(86399, np.maximum(last_sec + rng.integers(60, 1800, size=n),
                                            rng.integers(0, 86400, size=n)))
    last_offline = has_prev & offline[np.maximum(idx, 0)]
    p_store = np.where(last_offline, 0.6, 0.12)
    r = rng.random(n)
    origin = np.where(account[conv_p] & (r < p_store), "store",
                      np.where(account[conv_p] & (r < p_store + 0.06), "call_centre", "online"))
    crm_only = np.zeros(n, dtype=bool)  # offline buyers no online identity matches
    if offline_share is not None:  # the offline world: where the sale happened follows its cause
        v = rng.random(n)
        origin = np.where(v < offline_share, np.where(v < offline_share * 0.7, "store", "call_centre"), "online")
        crm_only = (origin != "online") & ~account[conv_p]
    online = origin == "online"
    d = np.where(has_prev & ~last_offline, dev[np.maximum(idx, 0)], 0)
    device = np.where(online, DEVICE_TYPES[dev_type[conv_p, d]], "other")
    with_user = (account[conv_p] & (~online | logged[conv_p, d])) | crm_only
    lead = is_lead[conv_p, conv_d]
    revenue = value[conv_p, conv_d]
    # New customer: not a customer before, and this is their first sale in the period.
    sale = ~lead
    first_sale = np.zeros(n, dtype=bool)
    if n:
        sale_idx = np.flatnonzero(sale)
        _, first_pos = np.unique(conv_p[sale_idx], return_index=True)
        first_sale[sale_idx[first_pos]] = True
    new_customer = ~prior_customer[conv_p] & (first_sale | lead)
    cats = np.sort(rng.choice(len(CATEGORIES), size=(n, 2)), axis=1)
    n_cat = np.where(lead, 0, np.where(rng.random(n) < 0.5, 1, 2 - (cats[:, 0] == cats[:, 1])))
    offsets = np.concatenate([[0], np.cumsum(n_cat)]).astype(np.int32)
    flat = CATEGORIES[cats[np.arange(2)[None, :] < n_cat[:, None]]]
    categories = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=pa.string()))
    person = first + conv_p
    attributes = pc.if_else(pa.array(account[conv_p], type=pa.bool_()), attributes_json(person), None)
    visitor = _visitor_ids(first + conv_p, d)
    return pa.table({
        "conversion_id": _ids(f"o{first}-", np.arange(n)),
        "ts": _ts(t0, conv_d, conv_sec),
        "visitor_id": pc.if_else(pa.array(online), visitor, None),
        "user_id": pc.if_else(pa.array(with_user), pa.array(np.char.add(
            np.where(crm_only, "crm", "u"), (first + conv_p).astype(str))), None),
        "device": pa.array(device),
        "kind": pa.array(np.where(lead, "lead", "sale")),
        "revenue": pa.array(revenue),
        "new_customer": pa.array(new_customer),
        "categories": categories,
        "origin": pa.array(origin),
        "attributes": attributes,
    })


def _identities(rng: np.random.Generator, first: int, P: int, n_dev: np.ndarray, dev_type: np.ndarray,
                logged: np.ndarray, t0: int, D: int) -> tuple[pa.Table, pa.Table]:
    p, d = np.nonzero(logged & (np.arange(3)[None, :] < n_dev[:, None]))
    when = rng.integers(0, D * 86400, size=len(p))
    ident = pa.table({
        "visitor_id": _visitor_ids(first + p, d),
        "user_id": pa.array(np.char.add("u", (first + p).astype(str))),
        "ts": pa.array((t0 + when) * 1_000_000, type=pa.timestamp("us", tz="UTC")),
    })
    ap, ad = np.nonzero(np.arange(3)[None, :] < n_dev[:, None])
    ap = np.concatenate([ap, np.arange(P)])
    ad = np.concatenate([ad, np.full(P, -1)])
    truth = pa.table({"visitor_id": _visitor_ids(first + ap, ad),
                      "person": pa.array(first + ap)})
    return ident, truth


def _costs_table(channels: tuple[Channel, ...], costs: np.ndarray, rows: list[tuple[int, str, str]],
                 start: dt.date) -> pa.Table:
    d, c = np.nonzero(costs)
    return pa.table({
        "date": pa.array([start + dt.timedelta(days=int(x)) for x in d], type=pa.date32()),
        "channel": pa.array([channels[rows[i][0]].name for i in c]),
        "source": pa.array([rows[i][1] for i in c]),
        "campaign": pa.array([rows[i][2] for i in c]),
        "cost": pa.array(np.round(costs[d, c], 2)),
    })


def _lift_table(lift: np.ndarray) -> pa.Table:
    """`messages_truth`: per journey and day after entry, its true incremental conversions
    and revenue (its sent entrants' conversions that its messages caused)."""
    ji, d = (a.ravel() for a in np.meshgrid(np.arange(len(JOURNEYS)), np.arange(lift.shape[1]), indexing="ij"))
    return pa.table({
        "journey": pa.array([JOURNEYS[i].name for i in ji]),
        "days_after_entry": pa.array(d.astype(np.int64)),
        "incremental_conversions": pa.array(lift[ji, d, 0]),
        "incremental_orders": pa.array(lift[ji, d, 2]),
        "incremental_revenue": pa.array(np.round(lift[ji, d, 1], 2)),
    })


def _truth_table(channels: tuple[Channel, ...], truth: np.ndarray, start: dt.date) -> pa.Table:
    names = [c.name for c in channels] + ["(base)"]  # schema.TRUTH_BASE (simulate imports no schema)
    ci, d = (a.ravel() for a in np.meshgrid(np.arange(len(names)), np.arange(truth.shape[1]), indexing="ij"))
    return pa.table({
        "date": pa.array([start + dt.timedelta(days=int(x)) for x in d], type=pa.date32()),
        "channel": pa.array([names[i] for i in ci]),
        "incremental_conversions": pa.array(truth[ci, d, 0]),
        "incremental_revenue": pa.array(np.round(truth[ci, d, 1], 2)),
    })


class _Writers:
    """One file per table, written chunk by chunk."""

    def __init__(self, out: Path, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        self.open: dict[str, Any] = {}

    def write(self, name: str, table: pa.Table) -> None:
        if self.fmt == "csv":
            table = _flatten_for_csv(table)
        if name not in self.open:
            path = self.out / f"{name}.{self.fmt}"
            writer = (pq.ParquetWriter(path, table.schema) if self.fmt == "parquet"
                      else pcsv.CSVWriter(path, table.schema))
            self.open[name] = (path, writer)
        self.open[name][1].write_table(table)

    def close(self) -> dict[str, Path]:
        for _, writer in self.open.values():
            writer.close()
        return {name: path for name, (path, _) in self.open.items()}


def _flatten_for_csv(table: pa.Table) -> pa.Table:
    """Lists become `a|b`, as ingest reads them from CSV."""
    for i, f in enumerate(table.schema):
        if pa.types.is_list(f.type):
            joined = pc.binary_join(table.column(i), "|")
            table = table.set_column(i, f.name, joined)
    return table
