"""Fixed costs on small data: what a load, a build and a new answer cost before any row counts.

On a few hundred rows the time goes to building and compiling queries, not to running them,
so this measures the engine's overhead per query (what `parcours.engine.compiled` keeps).
Usage:

    .venv/bin/python benchmarks/fixed_costs.py [--persons 60] [--repeat 5]

Prints, as JSON, medians over `--repeat` rounds in one process, each on a fresh workspace
after one warm-up round: a small load (the first 200 touchpoints), the world's loads and
build, and the ten reports asked for a new period each time. Compare two versions by running
each from its own checkout (`PYTHONPATH=<checkout>/src`), one after the other, on a quiet
machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from parcours import Workspace
from parcours.build.journeys import build_journeys
from parcours.contract.query import Query
from parcours.load.ingest import load_file
from parcours.reports import REPORTS, run_report
from parcours.simulate import simulate

END = dt.date(2026, 11, 23)
TABLES = ("touchpoints", "conversions", "identities", "crm", "costs")


def _round(data: Path, small: Path, periods: int, offset: int) -> dict[str, float]:
    ws = Workspace.init(Path(tempfile.mkdtemp(prefix="fixed-costs-")) / "ws")
    clock = time.perf_counter()
    load_file(ws.warehouse, "touchpoints", small)
    seconds = {"small load": time.perf_counter() - clock}
    clock = time.perf_counter()
    for name in TABLES:
        load_file(ws.warehouse, name, data / f"{name}.parquet", crm=ws.config.crm)
    build_journeys(ws.warehouse, ws.config, as_of=END + dt.timedelta(days=2))
    seconds["loads and build"] = time.perf_counter() - clock
    clock = time.perf_counter()
    for k in range(periods):  # a period no round asked before: new values in every query
        query = Query(start=END - dt.timedelta(days=40 + offset * periods + k), end=END)
        for name in REPORTS:
            run_report(name, ws.warehouse, ws.config, query)
    seconds["ten reports, a new period"] = (time.perf_counter() - clock) / periods
    ws.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--persons", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fixed-costs-"))
    simulate(root / "data", persons=args.persons, seed=5, days=45, end=END)
    small = root / "small.parquet"
    pq.write_table(pq.read_table(root / "data" / "touchpoints.parquet").slice(0, 200), small)
    _round(root / "data", small, 2, 0)  # imports, and the first compilation of every shape
    rounds = [_round(root / "data", small, 2, i + 1) for i in range(args.repeat)]
    print(json.dumps({name: round(statistics.median(r[name] for r in rounds), 3) for name in rounds[0]}))


if __name__ == "__main__":
    main()
