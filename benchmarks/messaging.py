"""Messaging journeys benchmark (issue 15): the report's time on a simulated workspace's
messages, and how close each journey's holdout lift comes to the simulator's truth.

Simulates --persons (default 1,000,000) over 90 days into bench-out/messaging/ (kept: a
second run reuses it), loads and builds it, then times the `messaging` report (every
journey by step, by journey, one step's recipients, and engagement only: what a workspace
without a build answers), each run twice (cold, then warm), and prints `parcours evaluate
--messages-truth` (estimate, 95% interval, truth, error per journey).

    .venv/bin/python benchmarks/messaging.py [--persons 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from parcours import Workspace
from parcours.query import Query
from parcours.reports import run_report
from parcours.reports.messaging_lift import against_truth
from parcours.reports.messaging_metrics import TOTAL, Selection, engagement

BIN = Path(sys.executable).parent / "parcours"
TABLES = ("touchpoints", "conversions", "identities", "costs", "truth", "messages", "messages_truth")


def prepare(root: Path, persons: int) -> Path:
    data, ws = root / "data", root / "ws"
    if (root / ".built").exists():
        return ws
    steps = [[str(BIN), "simulate", "--persons", str(persons), "--seed", "11", "--out", str(data)],
             *[[str(BIN), "ingest", t, str(data / f"{t}.parquet"), "-w", str(ws)] for t in TABLES],
             [str(BIN), "build", "-w", str(ws)]]
    for step in steps:
        t = time.perf_counter()
        subprocess.run(step, check=True, stdout=subprocess.DEVNULL)
        print(f"{' '.join(step[1:3]):<28} {time.perf_counter() - t:7.1f} s", flush=True)
    (root / ".built").touch()
    return ws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    args = ap.parse_args()
    root = Path("bench-out/messaging") / str(args.persons)
    ws_path = prepare(root, args.persons)
    with Workspace(ws_path) as ws:
        wh = ws.warehouse
        print(f"messages: {wh.count('messages'):,} events; conversions {wh.count('conversions'):,}")
        asks = {"by step (the page)": Query(by="step"), "by journey": Query(by="journey"),
                "one step's recipients": Query(journey="welcome", step="welcome-1", by="recipient")}
        for name, q in asks.items():
            times = []
            for _ in range(2):
                t = time.perf_counter()
                r = run_report("messaging", wh, ws.config, q)
                times.append(time.perf_counter() - t)
            print(f"report {name:<24} cold {times[0]:5.2f} s, warm {times[1]:5.2f} s ({len(r.table):,} rows)")
        t = time.perf_counter()
        engagement(wh, TOTAL, selection=Selection())
        print(f"engagement only (no build needed) {time.perf_counter() - t:5.2f} s")
        truth = pd.read_parquet(root / "data" / "messages_truth.parquet")
        pd.set_option("display.width", 200)
        print(against_truth(wh, truth, ws.config.messaging.lift_window_days).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
