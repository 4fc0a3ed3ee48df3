"""Engine benchmark: simulate ~10M touchpoints, ingest them, build journeys.

Each step runs as its own `parcours` process, so its peak memory (max RSS, from wait4) is
its own. Prints rows/s and peak memory per step. Usage:

    .venv/bin/python benchmarks/engine.py [--persons 1000000] [--out bench-out]
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

PARCOURS = [sys.executable, "-m", "parcours.cli"]


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
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    data, ws = args.out / "data", args.out / "ws"

    rows: list[tuple[str, int, float, float]] = []
    secs, mem = run(["simulate", "--persons", str(args.persons), "--seed", "1", "--out", str(data)])
    n_tp = pq.read_metadata(data / "touchpoints.parquet").num_rows
    rows.append(("simulate (touchpoints written)", n_tp, secs, mem))
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
    print(f"warehouse on disk: {size / 2**20:,.0f} MB; cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
