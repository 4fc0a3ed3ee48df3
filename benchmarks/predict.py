"""Prediction benchmark (issue 17): the propensity and the next best channel against the
simulator's truth, and the time to fit and score.

Simulates --persons (default 200,000) of the heterogeneous world over 60 days into
bench-out/predict/<persons>/ (kept: a second run reuses it), loads it and builds it with
`parcours build` (which predicts as of the build: its features, fit and scoring times are
printed), then, unless --no-evaluate, predicts again as of the simulation's cut and compares
with its truth (`parcours evaluate --predictions`).

    .venv/bin/python benchmarks/predict.py [--persons 200000] [--no-evaluate]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simulated import workspace

from parcours import Workspace
from parcours.predict.evaluate import evaluate

TABLES = ("touchpoints", "conversions", "identities", "crm", "costs", "messages")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=200_000)
    ap.add_argument("--no-evaluate", action="store_true")
    args = ap.parse_args()
    root = Path("bench-out/predict") / str(args.persons)
    ws = workspace(root, ["--persons", str(args.persons), "--seed", "5", "--days", "60", "--scenario",
                          "heterogeneous"], TABLES, build=False)  # built below, timed with its prediction
    t = time.perf_counter()
    from parcours.front.jobs import build_all

    with Workspace(ws) as w:
        done = build_all(w.warehouse, w.config, w.path)
        took = time.perf_counter() - t
        got = done["predict"]
        print(f"build and predict {took:.0f} s; prediction: " + json.dumps(
            {k: round(v, 4) if isinstance(v, float) else v for k, v in got.items()}), flush=True)
        if not args.no_evaluate:
            t = time.perf_counter()
            table, _ = evaluate(w.warehouse, w.config, root / "data")
            print(f"evaluate (predict again at the truth's cut, compare) {time.perf_counter() - t:.0f} s")
            for metric, value in table.itertuples(index=False):
                print(f"  {metric}: {value:,.4f}" if isinstance(value, float) else f"  {metric}: {value}")


if __name__ == "__main__":
    main()
