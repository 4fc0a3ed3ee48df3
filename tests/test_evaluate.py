import datetime as dt

import pandas as pd
import pytest

from parcours.attribution.evaluate import nmae, true_incremental


def test_nmae_scales_to_the_true_total_then_compares():
    truth = pd.Series({"a": 2.0, "b": 1.0})
    assert nmae(pd.Series({"a": 6.0, "b": 3.0, "(no touch)": 1.0}), truth) == pytest.approx(0.0)
    # 3:3 scaled to 1.5:1.5 against 2:1 -> (0.5 + 0.5) / 3
    assert nmae(pd.Series({"a": 3.0, "b": 3.0}), truth) == pytest.approx(1 / 3)
    # a channel the model never credits counts in full
    assert nmae(pd.Series({"a": 5.0}), truth) == pytest.approx((1 + 1) / 3)


def test_truth_keeps_built_days_and_leaves_out_the_base():
    truth = pd.DataFrame({
        "date": [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 21)],
        "channel": ["a", "a", "a", "(base)"],
        "incremental_conversions": [1.0, 2.0, 4.0, 8.0],
    })
    got = true_incremental(truth, dt.datetime(2026, 11, 22))
    assert got.to_dict() == {"a": 3.0}
