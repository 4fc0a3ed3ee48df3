"""Counterfactual model benchmark: what its fit costs on a built workspace, and how close it
comes to the simulator's truth in every world.

1. --workspace WS: the engine's rows (Exposure.from_warehouse), the fit over every half-life,
   one bootstrap refit and the per-touch credits in the engine, timed; peak memory. The
   figures in docs/architecture.md ("The counterfactual model") are this on the 1M-person
   workspace `benchmarks/incremental.py` builds.
2. --worlds: `parcours evaluate --scenario all` at --persons (default 100,000), the table the
   README's "Attribution" prints (every model x world NMAE and interval coverage).

    .venv/bin/python benchmarks/counterfactual.py --workspace bench-out/incremental/ws-10000000
    .venv/bin/python benchmarks/counterfactual.py --worlds [--persons 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from parcours import Workspace
from parcours.attribution import NAMES, Counterfactual, attributed
from parcours.attribution.catalogue import make_model
from parcours.attribution.counterfactual import Exposure
from parcours.attribution.evaluate import evaluate_worlds
from parcours.simulate import WORLDS


def fit_costs(workspace: Path) -> None:
    with Workspace(workspace) as ws:
        wh = ws.warehouse
        t0 = time.perf_counter()
        x = Exposure.from_warehouse(wh)
        t1 = time.perf_counter()
        m = Counterfactual().fit(x)
        t2 = time.perf_counter()
        w = np.random.default_rng(0).poisson(1.0, len(x.converted)).astype(float)
        m.refit(x, w).split(x, w)
        t3 = time.perf_counter()
        attributed(Counterfactual(), wh).to_pandas()  # its own rows and fit again, then the engine's credits
        t4 = time.perf_counter()
    print(f"journeys {len(x.converted):,}, rows {len(x.count):,}, fitted on identified persons: {not x.fit.all()}")
    print(f"rows (engine) {t1 - t0:.1f} s, fit of {len(m.beta)} features x 7 half-lives {t2 - t1:.1f} s "
          f"(h = {m.half_life:g} days, base share {m.base_share:.3f}), one bootstrap refit {t3 - t2:.2f} s, "
          f"credits per channel from scratch {t4 - t3:.1f} s")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


def worlds(persons: int, samples: int) -> None:
    def models(config) -> dict:
        chosen = {name: make_model(name, direct=config.direct_channels) for name in NAMES}
        chosen["markov_order2"] = make_model("markov", order=2)
        return chosen

    with tempfile.TemporaryDirectory(prefix="parcours-worlds-") as folder:
        t0 = time.perf_counter()
        table = evaluate_worlds(Path(folder), list(WORLDS), models, persons=persons, seed=1, days=60,
                                end=dt.date(2026, 11, 29), samples=samples, progress=print)
    print(table.round(3).to_csv(index=False))
    print(f"{time.perf_counter() - t0:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--worlds", action="store_true")
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=100)
    args = ap.parse_args()
    if args.workspace:
        fit_costs(args.workspace)
    if args.worlds:
        worlds(args.persons, args.samples)
    if not (args.workspace or args.worlds):
        ap.error("say --workspace WS, --worlds, or both")


if __name__ == "__main__":
    main()
