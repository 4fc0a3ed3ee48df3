"""API load: N concurrent report requests against `parcours serve` on a built workspace.

Starts the server on a free port, sends --requests report requests with --concurrency of
them in flight, and prints p50 / p95 / max latency, throughput and errors. The mix is every
report, default and filtered queries and drill-downs, in both languages; people share links,
so four requests in five repeat one already asked, unless --cold makes every request a query
not asked before (distinct periods), which the server must compute.

    .venv/bin/python benchmarks/load.py --workspace bench-out/ws [--concurrency 50] [--requests 200] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx  # the dev extra's HTTP client (httpx's successor, same API)
import numpy as np

REPORTS = ("model-comparison", "assists", "cross-device", "top-paths", "time-lag", "engagement",
           "mono-device", "mono-channel", "path-length", "velocity")
FILTERS = ({}, {"new_customer": "true", "devices": "mobile"}, {"with_channels": "display"}, {"kinds": "sale"},
           {"level": "source", "parent": "channel=paid_search"}, {"mono_device": "true"}, {"min_revenue": "50"})


def mix(requests: int, end: dt.date, cold: bool, reads: dict[str, set[str]], seed: int = 1) -> list[tuple[str, dict]]:
    """(report, params) for each request: new queries, and repeats of them unless cold. A
    report is asked only the filters it reads (`reads`: the catalogue's fields per report),
    as the pages ask: another would be refused (422), not measured."""
    rng = random.Random(seed)
    asked: list[tuple[str, dict]] = []
    out = []
    for i in range(requests):
        if asked and not cold and rng.random() < 0.8:
            out.append(rng.choice(asked))
            continue
        start = end - dt.timedelta(days=29 + (i if cold else rng.randrange(5)))
        report = rng.choice(REPORTS)
        filters = rng.choice([f for f in FILTERS if set(f) <= reads[report]])
        asked.append((report, {"start": str(start), "end": str(end), "lang": rng.choice(["en", "fr"]), **filters}))
        out.append(asked[-1])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(base: str, concurrency: int, asked: list[tuple[str, dict]]) -> tuple[list[float], int]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors = 0

    async def one(client: httpx.AsyncClient, url: str, params: dict) -> None:
        nonlocal errors
        async with gate:
            start = time.perf_counter()
            try:
                res = await client.get(url, params=params)
                if res.status_code != 200:
                    errors += 1
                    print(f"{res.status_code} {url} {params}: {res.text[:200]}", file=sys.stderr)
            except httpx.HTTPError as e:
                errors += 1
                print(f"{type(e).__name__} {url} {params}", file=sys.stderr)
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(one(client, f"{base}/api/v1/reports/{r}", q) for r, q in asked))
    return latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default="bench-out/ws")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--cold", action="store_true", help="every request a query not asked before")
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "parcours.faces.cli", "serve", "-w", args.workspace,
                               "--port", str(port)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                httpx.get(f"{base}/api/v1/reports", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        httpx.get(f"{base}/api/v1/reports/model-comparison", timeout=600)  # the once-per-build fits
        reads = {r["name"]: set(r["fields"]) for r in httpx.get(f"{base}/api/v1/reports", timeout=60).json()}
        end = dt.date.fromisoformat(httpx.get(f"{base}/api/v1/meta", timeout=600).json()["last_reported_day"])
        before = rss_mb(server.pid)
        peak = [before]
        done = threading.Event()

        def sample() -> None:  # the server's memory must stay bounded, however many requests
            while not done.wait(0.5):
                peak[0] = max(peak[0], rss_mb(server.pid))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        latencies, errors = asyncio.run(load(base, args.concurrency, mix(args.requests, end, args.cold, reads)))
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    print(f"{'cold' if args.cold else 'with repeats'}: "
          f"{args.requests} requests, {args.concurrency} in flight: p50 {p50:,.0f} ms, p95 {p95:,.0f} ms, "
          f"max {max(latencies) * 1000:,.0f} ms, {args.requests / wall:.1f} requests/s, {errors} errors; "
          f"server memory {before:,.0f} MB before, {peak[0]:,.0f} MB at most, {after:,.0f} MB after")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024


if __name__ == "__main__":
    main()
