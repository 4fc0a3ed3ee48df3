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


def test_every_model_in_every_world_in_one_table(tmp_path):
    from parcours.attribution import NAMES
    from parcours.attribution.catalogue import make_model
    from parcours.attribution.evaluate import evaluate_worlds

    steps = []
    table = evaluate_worlds(tmp_path, ["additive", "synergy"],
                            lambda config: {n: make_model(n, direct=config.direct_channels) for n in NAMES},
                            persons=600, days=30, end=dt.date(2026, 11, 23), samples=10, progress=steps.append)
    assert list(table.columns) == ["model", "additive", "synergy", "additive ci", "synergy ci"]
    assert set(table.model) == {*NAMES, "counterfactual (incremental)"}
    assert table[["additive", "synergy"]].notna().all().all() and (table[["additive", "synergy"]] >= 0).all().all()
    rules = table.set_index("model").loc["linear"]
    assert pd.isna(rules["additive ci"])  # intervals are the data-driven models'
    assert table.additive.is_monotonic_increasing  # the best in the first world first
    assert table.set_index("model")["additive ci"].loc[["counterfactual", "counterfactual (incremental)"]].notna().all()
    assert "synergy: scoring markov" in steps and (tmp_path / "synergy" / "ws" / "parcours.toml").exists()


def test_evaluate_asks_for_a_truth_or_a_world(tmp_path):
    from typer.testing import CliRunner

    from parcours.faces.cli import app

    res = CliRunner().invoke(app, ["evaluate", "-w", str(tmp_path)])
    assert res.exit_code == 2 and "evaluate needs --truth" in res.output
    res = CliRunner().invoke(app, ["evaluate", "--scenario", "mars"])
    assert res.exit_code == 2 and "unknown world 'mars'; worlds: all, additive, selection" in res.output
