"""Incremental build against full build: a workspace holding history is built, a new day's
files land, and the incremental build is timed against a full build of the same data; then a
handful of rows (three touches of known visitors, before the cut) land and the build after
them is timed (nothing but those persons to rebuild, profile and score again).

    .venv/bin/python benchmarks/incremental.py [--touchpoints 1e7] [--out bench-out/incremental]

The simulator writes about 10 touchpoints per person over 90 days, so the last day is about
1% of them. The history is every row before the last day (identities: all but the last 1%);
the new day is the rest. Each step runs as its own `parcours` process (seconds and peak
memory, as in scaling.py). The table is printed and saved as OUT/incremental.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from scaling import PARCOURS, run  # noqa: E402  (the same step runner and memory sampling)

INPUTS = ("touchpoints", "conversions", "identities")


def split(data: Path, parts: Path, day: dt.datetime) -> dict[str, tuple[int, int]]:
    """Each input cut at `day`: history before, the new day from it. Rows per part."""
    parts.mkdir(parents=True, exist_ok=True)
    rows = {}
    for table in INPUTS:
        t = pq.read_table(data / f"{table}.parquet")
        if table == "identities":
            cut = t.num_rows * 99 // 100
            old, new = t.slice(0, cut), t.slice(cut)
        else:
            early = pc.less(t["ts"], pa.scalar(day, type=t["ts"].type))
            old, new = t.filter(early), t.filter(pc.invert(early))
        pq.write_table(old, parts / f"{table}-history.parquet")
        pq.write_table(new, parts / f"{table}-day.parquet")
        rows[table] = (old.num_rows, new.num_rows)
    return rows


def handful(parts: Path, out: Path, day: dt.datetime) -> Path:
    """Three touches of three known visitors, the day before the new day: before the build's
    cut, so late data their persons are rebuilt for."""
    t = pq.read_table(parts / "touchpoints-day.parquet").slice(0, 3)
    t = t.set_column(t.schema.get_field_index("event_id"), "event_id",
                     pc.binary_join_element_wise(t["event_id"], pa.scalar("-again"), ""))
    ts = pa.array([day - dt.timedelta(hours=20 - i) for i in range(3)], type=t["ts"].type)
    pq.write_table(t.set_column(t.schema.get_field_index("ts"), "ts", ts), out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--touchpoints", type=float, default=1e7)
    ap.add_argument("--out", type=Path, default=Path("bench-out/incremental"))
    args = ap.parse_args()
    size = int(args.touchpoints)
    today = dt.date(2026, 11, 30)
    data, parts, ws = args.out / f"data-{size}", args.out / f"parts-{size}", args.out / f"ws-{size}"
    if not (data / "touchpoints.parquet").exists():
        print(f"simulating {size:,} touchpoints", flush=True)
        run([*PARCOURS, "simulate", "--persons", str(size // 10), "--seed", "1", "--end", today.isoformat(),
             "--out", str(data)])
    rows = split(data, parts, dt.datetime.combine(today, dt.time()))
    shutil.rmtree(ws, ignore_errors=True)
    steps = []
    for table in INPUTS:
        run([*PARCOURS, "ingest", table, str(parts / f"{table}-history.parquet"), "-w", str(ws)])
    # the history built the day before the new day lands (its D-2 cut one day earlier)
    steps.append(("full build of the history", *run([*PARCOURS, "build", "--as-of", today.isoformat(),
                                                     "-w", str(ws)])))
    secs = peak = 0.0
    for table in INPUTS:
        s, p = run([*PARCOURS, "ingest", table, str(parts / f"{table}-day.parquet"), "-w", str(ws)])
        secs, peak = secs + s, max(peak, p)
    steps.append(("ingest the new day", secs, peak))
    after = (today + dt.timedelta(days=1)).isoformat()
    steps.append(("incremental build", *run([*PARCOURS, "build", "--as-of", after, "-w", str(ws)])))
    few = handful(parts, args.out / f"handful-{size}.parquet", dt.datetime.combine(today, dt.time()))
    run([*PARCOURS, "ingest", "touchpoints", str(few), "-w", str(ws)])
    steps.append(("a handful of rows, build", *run([*PARCOURS, "build", "--as-of", after, "-w", str(ws)])))
    steps.append(("full build, same data", *run([*PARCOURS, "build", "--as-of", after, "--full", "-w", str(ws)])))
    new = sum(n for _, n in rows.values())
    old = sum(n for n, _ in rows.values())
    result = {"touchpoints": rows["touchpoints"][0] + rows["touchpoints"][1], "new_rows": new,
              "new_share": new / (old + new), "steps": [{"step": s, "seconds": round(t, 2), "peak_mb": round(p)}
                                                        for s, t, p in steps]}
    inc, full = steps[2][1], steps[4][1]
    result["incremental_over_full"] = inc / full
    print(f"{result['touchpoints']:,} touchpoints; the new day: {new:,} rows ({result['new_share']:.2%})")
    for s in result["steps"]:
        print(f"  {s['step']:<28} {s['seconds']:>8.1f} s  {s['peak_mb']:>7,} MB")
    print(f"  incremental / full: {inc / full:.1%}")
    (args.out / "incremental.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
