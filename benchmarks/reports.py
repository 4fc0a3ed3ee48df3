"""Report benchmark: every report's query time on a built workspace (about 10M touchpoints).

Each report runs under several queries (the default period; a filtered one; a drill-down;
those it reads), `--runs` times each, in one process as a server would (the data-driven fits
are cached per build; their first fit is reported apart). Prints p50 / p95 / max per report.

    .venv/bin/python benchmarks/reports.py --workspace bench-out/ws [--runs 10]

Build the workspace first with `benchmarks/engine.py --persons 1000000` (it leaves it in
bench-out/ws), or any built workspace.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from parcours import Workspace
from parcours.contract.query import Query
from parcours.reports import REPORTS, run_report

QUERIES = {
    "default": Query(),
    "filtered": Query(new_customer=True, devices=("mobile",), with_channels=("paid_search", "email")),
    "drill-down": Query().drill("paid_search"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default="bench-out/ws")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with Workspace(args.workspace) as ws:
        wh = ws.warehouse
        print(f"{wh.count('touches'):,} touches, {wh.count('journeys'):,} journeys")
        start = time.perf_counter()
        run_report("model-comparison", wh, ws.config, Query())
        print(f"first model-comparison (fits Markov and Shapley once per build): {time.perf_counter() - start:.2f} s")
        print(f"{'report':<18}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}   (queries: {', '.join(QUERIES)})")
        everything = []
        for name in REPORTS:
            times = []
            queries = [q for q in QUERIES.values() if not REPORTS[name].unread(q)]  # what it reads
            for _ in range(args.runs):
                for q in queries:
                    t = time.perf_counter()
                    run_report(name, wh, ws.config, q)
                    times.append((time.perf_counter() - t) * 1000)
            everything += times
            p50, p95 = np.percentile(times, [50, 95])
            print(f"{name:<18}{p50:>9.0f}{p95:>9.0f}{max(times):>9.0f}")
        p50, p95 = np.percentile(everything, [50, 95])
        print(f"{'all reports':<18}{p50:>9.0f}{p95:>9.0f}{max(everything):>9.0f}")


if __name__ == "__main__":
    main()
