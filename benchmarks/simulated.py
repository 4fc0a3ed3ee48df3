"""A simulated workspace for a benchmark: made once with the `parcours` commands a user runs
(each step timed and printed), then reused by the next run (`.built` marks it done)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "parcours"


def workspace(root: Path, simulate: list[str], tables: tuple[str, ...], build: bool) -> Path:
    """root/ws, holding `tables` of `parcours simulate <simulate> --out root/data`, and built
    when `build`."""
    data, ws = root / "data", root / "ws"
    if (root / ".built").exists():
        return ws
    steps = [["simulate", *simulate, "--out", str(data)],
             *[["ingest", t, str(data / f"{t}.parquet"), "-w", str(ws)] for t in tables],
             *([["build", "-w", str(ws)]] if build else [])]
    for step in steps:
        t = time.perf_counter()
        subprocess.run([str(BIN), *step], check=True, stdout=subprocess.DEVNULL)
        label = " ".join(step[:2]) if step[0] == "ingest" else step[0]
        print(f"{label:<28} {time.perf_counter() - t:7.1f} s", flush=True)
    (root / ".built").touch()
    return ws
