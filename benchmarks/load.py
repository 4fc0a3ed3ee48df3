"""API load: N concurrent report requests against `parcours serve` on a built workspace.

Starts the server on a free port, sends --requests report requests (every report, the default
and a filtered query, in turn) with --concurrency of them in flight, and prints p50 / p95 /
max latency, throughput and errors.

    .venv/bin/python benchmarks/load.py --workspace bench-out/ws [--concurrency 50] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import socket
import subprocess
import sys
import time

import httpx2 as httpx  # the dev extra's HTTP client (httpx's successor, same API)
import numpy as np

REPORTS = ("model-comparison", "assists", "cross-device", "top-paths", "time-lag", "engagement",
           "mono-device", "mono-channel", "path-length", "velocity")
QUERIES = ({}, {"new_customer": "true", "devices": "mobile"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(base: str, concurrency: int, requests: int) -> tuple[list[float], int]:
    urls = itertools.cycle([(f"{base}/api/v1/reports/{r}", q) for q in QUERIES for r in REPORTS])
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
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(one(client, *next(urls)) for _ in range(requests)))
    return latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default="bench-out/ws")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "parcours.cli", "serve", "-w", args.workspace,
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
        start = time.perf_counter()
        latencies, errors = asyncio.run(load(base, args.concurrency, args.requests))
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait()
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    print(f"{args.requests} requests, {args.concurrency} in flight: p50 {p50:,.0f} ms, p95 {p95:,.0f} ms, "
          f"max {max(latencies) * 1000:,.0f} ms, {args.requests / wall:.1f} requests/s, {errors} errors")


if __name__ == "__main__":
    main()
