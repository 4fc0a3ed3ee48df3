"""Spark build benchmark: a small world built on Spark, in full then incrementally.

A Spark build of a few thousand rows costs about a second a query whatever the rows, so
this measures the engine's fixed costs (steps, writes, code generation), not throughput.
Usage:

    .venv/bin/python benchmarks/spark_build.py [--persons 600] [--conf spark.sql.codegen.wholeStage=false]

Prints the seconds of the full build (as of the day before the last) and of the
incremental one that follows (as of the last day). Compare two versions by running each
from its own checkout, one after the other, on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from parcours import Workspace
from parcours.build.journeys import build_journeys
from parcours.load.ingest import load_file
from parcours.simulate import simulate

AS_OF = dt.date(2026, 11, 23)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--persons", type=int, default=600)
    ap.add_argument("--conf", action="append", default=[], help="a Spark setting key=value (repeatable)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="spark-build-"))
    simulate(root / "data", persons=args.persons, seed=21, days=45, end=AS_OF)
    Workspace.init(root / "ws").close()
    (root / "ws" / "parcours.toml").write_text(
        '[warehouse]\nengine = "spark"\nspark_master = "local[2]"\nspark_memory = "2g"\n'
        + (f"spark_conf = {json.dumps(args.conf)}\n" if args.conf else ""))  # an older parcours lacks the key
    ws = Workspace(root / "ws")
    for table in ("touchpoints", "conversions", "identities"):
        load_file(ws.warehouse, table, root / "data" / f"{table}.parquet")
    clock = time.perf_counter()
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF - dt.timedelta(days=1))
    full = time.perf_counter() - clock
    clock = time.perf_counter()
    build_journeys(ws.warehouse, ws.config, as_of=AS_OF)
    incremental = time.perf_counter() - clock
    ws.close()
    print(f"persons {args.persons:,}: full build {full:.1f} s (Spark start included), "
          f"incremental build {incremental:.1f} s")


if __name__ == "__main__":
    main()
