"""What a prediction should find, in the simulated shop: effects that differ by person, and
each person's true conversion probability and true gain per channel at a cut.

The heterogeneous world multiplies each channel's beta by a factor of the person (and, for
display, of the day), from facts parcours can see:

- sms works for young mobile users (CRM segment young, first device a phone): x5; else x0.2;
- email for premium loyal ones (segment premium, loyalty tier gold or platinum): x5; else x0.3;
- display only early in a journey: x3 while the person has had fewer than 3 touches before
  the day, 0 after;
- paid search for desktop users (first device a desktop): x2; else x0.5.

The truth at the cut (day D - horizon, 00:00): a person's probability to convert in the
horizon is 1 - exp(-sum of their hazard over its days), the hazard of what then happened
(their later touches included): exactly the probability of the draw that decides it. The gain
of channel c is that probability with one more click of c at the cut (its exposure decaying
as any touch's) minus the probability without it: the touch's own effect (the display
"early" days are those of the touches that happened). Segment and tier are the CRM's
(`crm.segment`, `crm.tier`, functions of the person number), so no draw is added: every
other world's data is the same as without this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from parcours.simulate.crm import segment, tier

Terms = tuple[np.ndarray, np.ndarray | float]  # a world's (online, offline) hazard [person, day]
Hazard = Callable[[np.ndarray, np.ndarray, np.ndarray, frozenset[int], dict[str, Any]], Terms]  # E, k, beta, off, ctx

EARLY_TOUCHES = 3  # display works before a person's third touch
MOBILE, DESKTOP = 1, 0  # DEVICE_TYPES' indexes
# channel -> (who it works for, its factor there, its factor elsewhere)
FACTORS = {"sms": (5.0, 0.2), "email": (5.0, 0.3), "paid_search": (2.0, 0.5)}
DISPLAY_EARLY = 3.0
LOYAL = ("gold", "platinum")


def effects(first: int, P: int, D: int, dev_type: np.ndarray, owner: np.ndarray, day: np.ndarray,
            channel: np.ndarray, idx: dict[str, int], C: int) -> tuple[np.ndarray, np.ndarray]:
    """(factor [C, P] of each person's beta per channel, touches [C, P, D] per channel and day:
    display's early days are counted from them, without the channels a world switches off)."""
    person = first + np.arange(P)
    works = {"sms": (segment(person) == "young") & (dev_type[:, 0] == MOBILE),
             "email": (segment(person) == "premium") & np.isin(tier(person), LOYAL),
             "paid_search": dev_type[:, 0] == DESKTOP}
    factor = np.ones((C, P))
    for name, (there, elsewhere) in FACTORS.items():
        if name in idx:
            factor[idx[name]] = np.where(works[name], there, elsewhere)
    if "display" in idx:
        factor[idx["display"]] = DISPLAY_EARLY
    touches = np.bincount((channel * P + owner) * D + day, minlength=C * P * D)
    return factor, np.minimum(touches, 255).astype(np.uint8).reshape(C, P, D)


def _late(touches: np.ndarray, off: frozenset[int]) -> np.ndarray:
    """[P, D]: the days a person has had EARLY_TOUCHES touches before (of the channels on)."""
    on = [c for c in range(len(touches)) if c not in off]
    daily = touches[on].sum(axis=0, dtype=np.int32)
    return (np.cumsum(daily, axis=1) - daily) >= EARLY_TOUCHES


def heterogeneous(E: np.ndarray, k: np.ndarray, beta: np.ndarray, off: frozenset[int],
                  ctx: dict[str, Any]) -> Terms:
    """lambda = k (base + sum_c beta_c factor_c E_c), display's term 0 on late days (counted
    without the channels switched off: the world without them has fewer touches)."""
    b = beta.copy()
    b[list(off)] = 0.0
    factor = ctx["factor"]
    terms = np.einsum("c,cp,cpd->pd", b, factor, E)
    if "display" in ctx["idx"]:
        d = ctx["idx"]["display"]
        late = ctx.setdefault("_late", {})  # one per channel set switched off: the hazard is asked many times
        if off not in late:
            late[off] = _late(ctx["touches"], off)
        terms -= b[d] * factor[d][:, None] * E[d] * late[off]
    return k * (ctx["base"] + terms), 0.0


def truth(E: np.ndarray, k: np.ndarray, beta: np.ndarray, ctx: dict[str, Any], hazard: Hazard,
          converts: np.ndarray, first: int, horizon: int, decay: float, names: list[str],
          cut: dt.date) -> tuple[pa.Table, pa.Table]:
    """(propensity_truth: person, cut, horizon_days, probability, converted;
    channel_truth: person, channel, gain) at day D - horizon of the chunk's persons."""
    P, D = converts.shape
    at = D - horizon

    def probability() -> np.ndarray:
        on, off_line = hazard(E, k, beta, frozenset(), ctx)
        return 1 - np.exp(-(on + off_line)[:, at:].sum(axis=1))

    p = probability()
    touch = decay ** np.arange(horizon)  # one click at the cut, decaying
    gains = np.empty((len(names), P))
    for c in range(len(names)):
        E[c, :, at:] += touch
        gains[c] = probability() - p
        E[c, :, at:] -= touch
    person = first + np.arange(P)
    propensity = pa.table({
        "person": pa.array(person), "cut": pa.array([cut] * P, type=pa.date32()),
        "horizon_days": pa.array(np.full(P, horizon)), "probability": pa.array(p),
        "converted": pa.array(converts[:, at:].any(axis=1))})
    channel = pa.table({
        "person": pa.array(np.tile(person, len(names))),
        "channel": pa.array(np.repeat(np.array(names), P)),
        "gain": pa.array(gains.ravel())})
    return propensity, channel
