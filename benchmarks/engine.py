"""Engine benchmark: simulate ~10M touchpoints, ingest them, build journeys.

Each step runs as its own `parcours` process, so its peak memory (max RSS, from wait4) is
its own. Prints rows/s and peak memory per step. Usage:

    .venv/bin/python benchmarks/engine.py [--persons 1000000] [--out bench-out]
                                          [--memory-limit 1GB] [--data DIR]

--memory-limit caps DuckDB's memory (warehouse.memory_limit): peak memory then stays flat
as files grow, DuckDB spilling to disk instead. --data reuses files simulated before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

PARCOURS = [sys.executable, "-m", "parcours.faces.cli"]


def run(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen([*PARCOURS, *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"step failed: parcours {' '.join(args)}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--memory-limit", default="", help="DuckDB memory_limit, e.g. 1GB")
    ap.add_argument("--data", type=Path, help="reuse simulated files from this folder")
    args = ap.parse_args()
    shutil.rmtree(args.out / "ws", ignore_errors=True)
    data, ws = args.data or args.out / "data", args.out / "ws"
    ws.mkdir(parents=True)
    if args.memory_limit:
        (ws / "parcours.toml").write_text(f'[warehouse]\nmemory_limit = "{args.memory_limit}"\n')

    rows: list[tuple[str, int, float, float]] = []
    if args.data is None:
        shutil.rmtree(data, ignore_errors=True)
        secs, mem = run(["simulate", "--persons", str(args.persons), "--seed", "1",
                         "--out", str(data)])
        rows.append(("simulate (touchpoints written)",
                     pq.read_metadata(data / "touchpoints.parquet").num_rows, secs, mem))
    n_tp = pq.read_metadata(data / "touchpoints.parquet").num_rows
    for table in ("touchpoints", "conversions", "identities", "costs"):
        path = data / f"{table}.parquet"
        secs, mem = run(["ingest", table, str(path), "-w", str(ws)])
        rows.append((f"ingest {table}", pq.read_metadata(path).num_rows, secs, mem))
    secs, mem = run(["ingest", "touchpoints", str(data / "touchpoints.parquet"), "-w", str(ws)])
    rows.append(("ingest touchpoints again (adds 0)", n_tp, secs, mem))
    secs, mem = run(["build", "-w", str(ws)])
    rows.append(("build (touchpoints in)", n_tp, secs, mem))

    print(f"{'step':<36}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak MB':>10}")
    for name, n, s, m in rows:
        print(f"{name:<36}{n:>12,}{s:>10.1f}{n / s:>14,.0f}{m:>10,.0f}")
    size = sum(f.stat().st_size for f in ws.iterdir() if f.is_file())
    print(f"warehouse on disk: {size / 2**20:,.0f} MB; cores: {os.cpu_count()}; "
          f"memory_limit: {args.memory_limit or 'DuckDB default (80% of RAM)'}")


if __name__ == "__main__":
    main()
