"""Scaling benchmark: ingest, build, rule-based credits and all ten reports at growing sizes,
on DuckDB and on Spark (local), with the growth exponent of each step.

Each step runs as its own process; its peak memory is the peak summed RSS of the process
and everything it starts (Spark's JVM included), sampled every 0.2 s. The growth exponent
is the slope of log(time) against log(touchpoints): 1 is linear, below 1 better.

    .venv/bin/python benchmarks/scaling.py [--duckdb 1e6 1e7 1e8] [--spark 1e6 1e7]
        [--out bench-out/scaling] [--memory-limit 12GB] [--spark-memory 12g]

Sizes are touchpoints (the simulator writes about 10 per person). Simulated files are kept
in OUT/data-N and reused. The table is printed and saved as OUT/scaling.json.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

PARCOURS = [sys.executable, "-m", "parcours.faces.cli"]
TABLES = ("touchpoints", "conversions", "identities", "costs")


def _tree_rss_mb(pid: int) -> float:
    """Summed RSS of a process and its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines()
                              if line.startswith("VmRSS")))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def run(args: list[str]) -> tuple[float, float]:
    """Seconds and peak memory (MB) of one command and its children."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            peak = max(peak, _tree_rss_mb(proc.pid))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        sys.exit(f"step failed: {' '.join(args)}\n{err[-3000:]}")
    return time.perf_counter() - start, peak


def simulated(out: Path, size: int) -> Path:
    data = out / f"data-{size}"
    if not (data / "touchpoints.parquet").exists():
        shutil.rmtree(data, ignore_errors=True)
        run([*PARCOURS, "simulate", "--persons", str(size // 10), "--seed", "1", "--out", str(data)])
    return data


def config(engine: str, args) -> str:
    lines = ["[warehouse]", f'engine = "{engine}"']
    if args.memory_limit:
        lines.append(f'memory_limit = "{args.memory_limit}"')
    if engine == "spark":
        lines += ['spark_master = "local[*]"', f'spark_memory = "{args.spark_memory}"']
    return "\n".join(lines) + "\n"


def bench(engine: str, size: int, args) -> list[dict]:
    data = simulated(args.out, size)
    n = pq.read_metadata(data / "touchpoints.parquet").num_rows
    ws = args.out / f"{engine}-{size}"
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    (ws / "parcours.toml").write_text(config(engine, args))
    steps = []
    secs = peak = 0.0
    for table in TABLES:
        s, p = run([*PARCOURS, "ingest", table, str(data / f"{table}.parquet"), "-w", str(ws)])
        secs, peak = secs + s, max(peak, p)
    steps.append(("ingest", secs, peak))
    steps.append(("build", *run([*PARCOURS, "build", "-w", str(ws)])))
    me = [sys.executable, __file__, "--workspace", str(ws)]
    steps.append(("rule-based credits", *run([*me, "--step", "credits"])))
    steps.append(("ten reports", *run([*me, "--step", "reports"])))
    facts = json.loads((ws / "facts.json").read_text())
    out = [{"engine": engine, "touchpoints": n, "step": step, "seconds": s, "peak_mb": p, **facts}
           for step, s, p in steps]
    shutil.rmtree(ws, ignore_errors=True)  # 100M workspaces are tens of GB
    return out


def step_credits(workspace: Path) -> None:
    """Every rule-based model's credits over the built touches, summed per channel."""
    from parcours import Workspace
    from parcours.attribution.catalogue import make_model
    from parcours.attribution.credit import credit_columns
    rules = ("first_touch", "last_touch", "last_non_direct", "linear", "position_based",
             "time_decay", "custom")
    with Workspace(workspace) as ws:
        c = credit_columns({m: make_model(m) for m in rules}, ws.warehouse)
        sums = c.group_by("channel").agg(**{m: c[f"credit_{m}"].sum() for m in rules}).to_pandas()
        conv = ws.warehouse.table("journeys")
        n = int(conv.filter(conv.converted & (conv.n_touches > 0)).count().execute())
        for m in rules:  # every model hands out each converting journey's one conversion
            assert math.isclose(sums[m].sum(), n, rel_tol=1e-9), (m, sums[m].sum(), n)
        facts = {"touches": ws.warehouse.count("touches"), "journeys": ws.warehouse.count("journeys")}
        (workspace / "facts.json").write_text(json.dumps(facts))


def step_reports(workspace: Path) -> None:
    from parcours import Workspace
    from parcours.reports import REPORTS, run_report
    with Workspace(workspace) as ws:
        for name in REPORTS:
            run_report(name, ws.warehouse, ws.config)


def exponent(rows: list[dict], engine: str, step: str, last: bool = False) -> float | None:
    """The fitted slope over all sizes, or (last) the slope between the two largest."""
    pts = [(r["touchpoints"], r["seconds"]) for r in rows if r["engine"] == engine and r["step"] == step]
    pts = sorted(pts)[-2:] if last else pts
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def show(rows: list[dict]) -> None:
    print("| engine | touchpoints | touches built | step | seconds | touchpoints/s | peak MB |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['engine']} | {r['touchpoints']:,} | {r['touches']:,} | {r['step']} | "
              f"{r['seconds']:.1f} | {r['touchpoints'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} |")
    print("\ngrowth exponent (slope of log time vs log size; 1 = linear):")
    for engine in dict.fromkeys(r["engine"] for r in rows):
        parts = [f"{s} {e:.2f} ({exponent(rows, engine, s, last=True):.2f} between the two largest)"
                 for s in dict.fromkeys(r["step"] for r in rows)
                 if (e := exponent(rows, engine, s)) is not None]
        print(f"  {engine}: {', '.join(parts) or 'one size only'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duckdb", type=float, nargs="*", default=[1e6, 1e7, 1e8])
    ap.add_argument("--spark", type=float, nargs="*", default=[1e6, 1e7])
    ap.add_argument("--out", type=Path, default=Path("bench-out/scaling"))
    ap.add_argument("--memory-limit", default="12GB", help="DuckDB memory_limit (it spills past it)")
    ap.add_argument("--spark-memory", default="12g", help="Spark driver memory (local master)")
    ap.add_argument("--append", action="store_true",
                    help="keep OUT/scaling.json's rows of other engines and sizes")
    ap.add_argument("--show", action="store_true", help="print OUT/scaling.json's table again")
    ap.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)  # one step, in a child
    ap.add_argument("--step", choices=("credits", "reports"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.show:
        show(json.loads((args.out / "scaling.json").read_text()))
        return
    if args.step:
        (step_credits if args.step == "credits" else step_reports)(args.workspace)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    saved = args.out / "scaling.json"
    if args.append and saved.exists():
        rows = json.loads(saved.read_text())
    for engine, sizes in (("duckdb", args.duckdb), ("spark", args.spark)):
        for size in sorted(int(s) for s in sizes):
            new = bench(engine, size, args)
            rows = [r for r in rows if (r["engine"], r["touchpoints"]) != (engine, new[0]["touchpoints"])]
            rows = sorted(rows + new, key=lambda r: (r["engine"] != "duckdb", r["touchpoints"]))
            (args.out / "scaling.json").write_text(json.dumps(rows, indent=1))
            print(f"done: {engine} {size:,}", file=sys.stderr, flush=True)
    show(rows)


if __name__ == "__main__":
    main()
