"""What each step of a messaging journey earns in the customer journey (issue 15): the
multi-touch credit of the touchpoints its clicks became, under any attribution model, beside
the orders the emailing tools' last-click rule gives it.

A click's touchpoint is its person's touch of the same channel within CLICK_SECONDS after
the click (the visit the tracked link opens); a touch follows the last click before it. The
credit is the model's, as model comparison computes it (`credit_columns`), so a step's
credit under last touch is its share of the conversions whose last touch it was, and the
credits of all steps add up to at most the conversions of the journeys they touched.
"""

from __future__ import annotations

import ibis
import pandas as pd

from parcours.attribution.catalogue import make_model
from parcours.attribution.credit import credit_columns
from parcours.contract.config import Config
from parcours.engine.storage import Storage
from parcours.reports.messaging_metrics import Selection, clicked

CLICK_SECONDS = 120
DEFAULT_MODELS = ("last_touch", "linear", "position_based", "markov")


def step_credit(wh: Storage, config: Config, selection: Selection, models: tuple[str, ...] = ()) -> pd.DataFrame:
    """(journey, step, `<model>_conversions` per model, `<model>_value` per model), one row
    per step whose clicks became credited touches."""
    names = list(models or DEFAULT_MODELS)
    clicks = clicked(wh, selection)
    clicks = clicks.filter(clicks.person_id.notnull()).select(
        "journey", "step", c_person="person_id", c_channel="channel", c_ts="ts", c_event="event_id")
    t = credit_columns({n: make_model(n, direct=config.direct_channels) for n in names}, wh)
    after = ibis.interval(seconds=CLICK_SECONDS)
    j = t.join(clicks, [t.person_id == clicks.c_person, t.channel == clicks.c_channel, t.ts >= clicks.c_ts,
                        t.ts <= clicks.c_ts + after])
    last = ibis.window(group_by=[j.journey_id, j.event_id], order_by=[ibis.desc(j.c_ts), ibis.desc(j.c_event)])
    j = j.filter(ibis.row_number().over(last) == 0)
    by = j.group_by(["journey", "step"]).agg(**{
        f"{n}_{k}": (j[f"credit_{n}"] * (j.revenue if k == "value" else 1.0)).sum()
        for n in names for k in ("conversions", "value")})
    return by.to_pandas().sort_values(["journey", "step"], ignore_index=True)
