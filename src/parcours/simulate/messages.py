"""Simulated email and SMS journeys: the `messages` table and what the messages do.

Two automations (JOURNEYS): a welcome series (three emails at entry, +2 and +5 days) for
account holders who sign up during the period, and a cart-abandonment series (an email an
hour after the person's first cart-stage touch, an SMS a day later). HOLDOUT of the entrants
are held out (a `held_out` event, nothing sent): the randomised control group the true lift
is read from. A hard bounce, an unsubscribe or a complaint ends a recipient's series.

Every message event an emailing tool exports is written: sent, then delivered or bounced
(email, hard or soft) / undelivered (SMS); opens by people (some twice) and by mail privacy
proxies (within seconds of delivery: half from Gmail's image proxy user agent, half from a
generic one, which only the timing gives away); clicks (after an open, or without one when
images are off; SMS clicks); unsubscribes and complaints.

What messages do (the effect the truth measures): each click is also a touchpoint of the
person (channel email or sms, source crm or sms_provider, campaign = the journey), so it
adds exposure like any touch; a delivered message adds SEEN_WEIGHT of exposure to its
channel (the inbox preview works unopened) and a person's open OPEN_WEIGHT more. Those two
are invisible in the touchpoints, as in life: only a holdout measures them.

Uses base only (NumPy, PyArrow), like the rest of the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Step:
    name: str
    channel: str  # email | sms
    delay_days: float  # after the entry


@dataclass(frozen=True)
class Journey:
    name: str
    entry: str  # signup: account holders, on a random day; cart: at the first cart-stage touch
    rate: float  # share of the eligible persons who enter
    steps: tuple[Step, ...]


JOURNEYS = (
    Journey("welcome", "signup", 0.3, (Step("welcome-1", "email", 0.0), Step("welcome-2", "email", 2.0),
                                        Step("welcome-3", "email", 5.0))),
    Journey("cart_abandon", "cart", 1.0, (Step("cart-email", "email", 1 / 24), Step("cart-sms", "sms", 1.0))),
)
SOURCES = {"email": "crm", "sms": "sms_provider"}  # of a click's touchpoint; its campaign is the journey
HOLDOUT = 0.10
DELIVERED = {"email": 0.96, "sms": 0.97}
HARD_BOUNCE = 0.4  # of bounces
MACHINE_OPEN, PROXY_AGENT_SHARE = 0.3, 0.5  # of email deliveries; of machine opens, by a known proxy agent
HUMAN_OPEN, REOPEN = 0.35, 0.3
CLICK_AFTER_OPEN, CLICK_BLIND, SMS_CLICK, RECLICK = 0.2, 0.01, 0.1, 0.2
UNSUBSCRIBE = {"email": 0.004, "sms": 0.01}
COMPLAINT = 0.0005  # of email deliveries
SEEN_WEIGHT, OPEN_WEIGHT = 0.2, 0.5  # exposure a delivered message, and a person's open, add
PROXY_AGENT = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
GENERIC_AGENT = "Mozilla/5.0"
READER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
MESSAGE_CHANNELS = ("email", "sms")  # the events' channel codes
EVENT_NAMES = ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained",
               "undelivered", "held_out")


@dataclass
class Messages:
    """One chunk's messages: the events, the touchpoints their clicks are, the exposure they
    add unseen, and per journey the sent entrants (for the truth)."""

    events: pa.Table
    touches: dict[str, np.ndarray]  # owner, t (seconds from t0), channel, camp, dev, journey
    unseen: dict[str, np.ndarray]  # owner, t, channel, weight, journey
    entrants: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per journey: (chunk's person, day)


class _Events:
    """Columns of events as they are drawn, one block at a time."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in (
            "person", "t", "journey", "step", "channel", "event", "bounce", "agent", "url")}

    def add(self, person: np.ndarray, t: np.ndarray, journey: int, step: int, channel: int, event: str,
            bounce: np.ndarray | None = None, agent: np.ndarray | None = None, url: bool = False) -> None:
        n = len(person)
        self.cols["person"].append(person)
        self.cols["t"].append(t)
        self.cols["journey"].append(np.full(n, journey))
        self.cols["step"].append(np.full(n, step))
        self.cols["channel"].append(np.full(n, channel))
        self.cols["event"].append(np.full(n, EVENT_NAMES.index(event)))
        self.cols["bounce"].append(np.full(n, -1) if bounce is None else bounce)
        self.cols["agent"].append(np.full(n, -1) if agent is None else agent)
        self.cols["url"].append(np.full(n, url))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in self.cols.items()}


_Parts = list[tuple[np.ndarray, ...]]  # blocks of columns, stacked by _stack


def simulate_messages(rng: np.random.Generator, first: int, P: int, D: int, channel_index: dict[str, int],
                      camps: dict[tuple[str, str], int], account: np.ndarray, n_dev: np.ndarray,
                      carts: tuple[np.ndarray, np.ndarray], off: int | None) -> Messages:
    """The chunk's journeys, from its persons and their first cart-stage touch (`carts`:
    persons, seconds from t0). Steps in a channel the catalogue lacks are not sent; steps in
    the channel switched `off` are drawn all the same (so the other steps see the same
    draws) and then vanish, with everything they did."""
    horizon = D * 86400
    ev = _Events()
    clicks: _Parts = []
    unseen: _Parts = []
    entrants = []
    for ji, journey in enumerate(JOURNEYS):
        person, t_entry = _entries(rng, journey, P, horizon, account, carts)
        held = rng.random(len(person)) < HOLDOUT
        ev.add(person[held], t_entry[held], ji, 0, MESSAGE_CHANNELS.index(journey.steps[0].channel), "held_out")
        person, t_entry = person[~held], t_entry[~held]
        entrants.append((person, t_entry // 86400))
        stopped = np.zeros(len(person), dtype=bool)
        for si, step in enumerate(journey.steps):
            ci = channel_index.get(step.channel)
            if ci is None:
                continue
            t_sent = t_entry + int(step.delay_days * 86400) + rng.integers(0, 600, size=len(person))
            go = ~stopped & (t_sent < horizon)
            stop = _send(rng, ev, clicks, unseen, person[go], t_sent[go], ji, si, ci,
                         camps[(journey.name, step.channel)], step.channel)
            stopped[np.flatnonzero(go)[stop]] = True
    a = ev.arrays()
    off_channel = [c for c, i in channel_index.items() if i == off]
    off_code = MESSAGE_CHANNELS.index(off_channel[0]) if off_channel and off_channel[0] in MESSAGE_CHANNELS else -1
    keep = (a["t"] < horizon) & ((a["channel"] != off_code) | (a["event"] == EVENT_NAMES.index("held_out")))
    a = {k: v[keep] for k, v in a.items()}  # what happens after today has not happened
    touches = _stack(clicks, ("owner", "t", "channel", "camp", "journey"), horizon, off)
    touches["dev"] = np.minimum((rng.random(len(touches["owner"])) * n_dev[touches["owner"]]).astype(np.int64),
                                n_dev[touches["owner"]] - 1)
    return Messages(_table(first, a), touches,
                    _stack(unseen, ("owner", "t", "channel", "weight", "journey"), horizon, off), entrants)


def _entries(rng: np.random.Generator, journey: Journey, P: int, horizon: int, account: np.ndarray,
             carts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Who enters the journey, and when (seconds from t0)."""
    if journey.entry == "signup":
        person = np.flatnonzero(account & (rng.random(P) < journey.rate))
        return person, rng.integers(0, horizon, size=len(person))
    person, t_entry = (a[account[carts[0]]] for a in carts)
    return person, t_entry


def _send(rng: np.random.Generator, ev: _Events, clicks: _Parts, unseen: _Parts, p: np.ndarray, ts: np.ndarray,
          ji: int, si: int, ci: int, camp: int, ch: str) -> np.ndarray:
    """Step `si` of journey `ji` sent in channel `ch` (catalogue index `ci`) to persons `p` at
    `ts`: its events drawn into `ev`, its clicks' touches (campaign row `camp`) and the exposure
    it adds unseen appended; returns whom it stops (a hard bounce, an unsubscribe, a complaint)."""
    c = MESSAGE_CHANNELS.index(ch)
    n = len(p)
    ev.add(p, ts, ji, si, c, "sent")
    delivered = rng.random(n) < DELIVERED[ch]
    t_del = ts + rng.integers(1, 60, size=n)
    failed = ~delivered
    if ch == "email":
        hard = rng.random(n) < HARD_BOUNCE
        ev.add(p[failed], t_del[failed], ji, si, c, "bounced", bounce=hard[failed].astype(np.int64))
        stop = failed & hard
    else:
        ev.add(p[failed], t_del[failed], ji, si, c, "undelivered")
        stop = np.zeros(n, dtype=bool)
    ev.add(p[delivered], t_del[delivered], ji, si, c, "delivered")
    unseen.append((p[delivered], t_del[delivered], np.full(int(delivered.sum()), ci),
                   np.full(int(delivered.sum()), SEEN_WEIGHT), np.full(int(delivered.sum()), ji)))
    if ch == "email":
        clicked, t_click = _email_opens(rng, ev, unseen, p, t_del, delivered, ji, si, c, ci)
    else:
        clicked = delivered & (rng.random(n) < SMS_CLICK)
        t_click = t_del + 10 + rng.exponential(1800, size=n).astype(np.int64)
    reclick = clicked & (rng.random(n) < RECLICK)
    for mask, t in ((clicked, t_click), (reclick, t_click + 30 + rng.exponential(3600, size=n).astype(np.int64))):
        ev.add(p[mask], t[mask], ji, si, c, "clicked", url=True)
        clicks.append((p[mask], t[mask], np.full(int(mask.sum()), ci),
                       np.full(int(mask.sum()), camp), np.full(int(mask.sum()), ji)))
    unsubscribed = delivered & (rng.random(n) < UNSUBSCRIBE[ch])
    ev.add(p[unsubscribed], t_del[unsubscribed] + rng.exponential(6 * 3600, size=n).astype(np.int64)[
        unsubscribed], ji, si, c, "unsubscribed")
    stop |= unsubscribed
    if ch == "email":
        complained = delivered & (rng.random(n) < COMPLAINT)
        ev.add(p[complained], t_del[complained] + rng.exponential(86400, size=n).astype(np.int64)[
            complained], ji, si, c, "complained")
        stop |= complained
    return stop


def _email_opens(rng: np.random.Generator, ev: _Events, unseen: _Parts, p: np.ndarray, t_del: np.ndarray,
                 delivered: np.ndarray, ji: int, si: int, c: int, ci: int) -> tuple[np.ndarray, np.ndarray]:
    """An email's opens (by proxies and by people, some twice) drawn into `ev`, people's opens'
    exposure appended to `unseen`; returns who clicks (after an open, or blind) and when."""
    n = len(p)
    machine = delivered & (rng.random(n) < MACHINE_OPEN)
    agent = (rng.random(n) >= PROXY_AGENT_SHARE).astype(np.int64)  # 0: proxy, 1: generic
    ev.add(p[machine], t_del[machine] + rng.integers(1, 9, size=n)[machine], ji, si, c, "opened",
           agent=agent[machine])
    human = delivered & (rng.random(n) < HUMAN_OPEN)
    t_open = t_del + 60 + rng.exponential(4 * 3600, size=n).astype(np.int64)
    ev.add(p[human], t_open[human], ji, si, c, "opened", agent=np.full(int(human.sum()), 2))
    unseen.append((p[human], t_open[human], np.full(int(human.sum()), ci),
                   np.full(int(human.sum()), OPEN_WEIGHT), np.full(int(human.sum()), ji)))
    again = human & (rng.random(n) < REOPEN)
    t_again = t_open + 60 + rng.exponential(86400, size=n).astype(np.int64)
    ev.add(p[again], t_again[again], ji, si, c, "opened", agent=np.full(int(again.sum()), 2))
    after_open = human & (rng.random(n) < CLICK_AFTER_OPEN)
    blind = delivered & ~human & (rng.random(n) < CLICK_BLIND)
    t_click = np.where(after_open, t_open + 5 + rng.exponential(120, size=n).astype(np.int64),
                       t_del + 60 + rng.exponential(4 * 3600, size=n).astype(np.int64))
    return after_open | blind, t_click


def _stack(parts: list[tuple[np.ndarray, ...]], names: tuple[str, ...], horizon: int,
           off: int | None) -> dict[str, np.ndarray]:
    """The parts' columns end to end, without what happens after today or in the `off` channel."""
    cols = {n: np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
            for i, n in enumerate(names)}
    keep = (cols["t"] < horizon) & (cols["channel"] != (-1 if off is None else off))
    return {n: v[keep] for n, v in cols.items()}


def _table(first: int, a: dict[str, np.ndarray]) -> pa.Table:
    """The events as the `messages` table (ts in seconds from t0 until `with_times` says when)."""
    order = np.lexsort((a["event"], a["t"], a["person"]))
    a = {k: v[order] for k, v in a.items()}
    n = len(a["t"])
    person = (first + a["person"]).astype(str)
    email = a["channel"] == 0
    journeys = np.array([j.name for j in JOURNEYS])
    steps = np.array([[s.name for s in j.steps] + [""] * (3 - len(j.steps)) for j in JOURNEYS])
    agents = np.array([PROXY_AGENT, GENERIC_AGENT, READER_AGENT])
    recipient = np.where(email, np.char.add(np.char.add("client", person), "@example.com"),
                         np.char.add("+336", np.char.zfill(person, 8)))
    url = np.char.add(np.char.add(np.char.add("https://shop.example/", journeys[a["journey"]]), "/"),
                      steps[a["journey"], a["step"]])
    return pa.table({
        "event_id": pa.array(np.char.add(f"m{first}-", np.arange(n).astype(str))),
        "t": pa.array(a["t"]),
        "journey": pa.array(journeys[a["journey"]]),
        "step": pa.array(steps[a["journey"], a["step"]]),
        "channel": pa.array(np.array(["email", "sms"])[a["channel"]]),
        "recipient": pa.array(recipient),
        "event": pa.array(np.array(EVENT_NAMES)[a["event"]]),
        "user_id": pa.array(np.char.add("u", person)),
        "bounce_type": pa.array(np.array(["soft", "hard", ""])[a["bounce"]], mask=a["bounce"] < 0),
        "url": pa.array(url, mask=~a["url"].astype(bool)),
        "user_agent": pa.array(agents[a["agent"]], mask=a["agent"] < 0),
    })
