"""Audiences and the person API benchmark (issue 16), on 1M simulated persons with their CRM.

Simulates --persons (default 1,000,000) over 90 days into bench-out/audiences/ (kept: a
second run reuses it), loads everything, builds, then times:

- each audience of AUDIENCES evaluated on the profiles (size), twice (cold, warm);
- the refresh after a build (members, sizes, changes, person cards, indexes);
- `GET /api/v1/persons/{id}` through the HTTP API in-process (FastAPI's TestClient: the
  app's whole request path, without a network), for 2,000 identifiers drawn at random from
  the person cards (visitor, user and customer ids, email and phone hashes) and 500 plain
  emails typed as people type them: median, p95, p99;
- the audience page's calls: the list (sizes, history, overlap) and a preview, 10 each.

    .venv/bin/python benchmarks/audiences.py [--persons 1000000]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from fastapi.testclient import TestClient
from simulated import workspace

from parcours import Workspace
from parcours.activation.audiences import Book, refresh, size
from parcours.contract.conditions import Audience, parse
from parcours.faces.api import create_app

TABLES = ("touchpoints", "conversions", "identities", "crm", "messages")
AUDIENCES = {
    "email_recent_no_order": {"all": [{"touched": "email", "within_days": 7},
                                      {"not": {"converted": True, "within_days": 30}}]},
    "mobile_cart": {"all": [{"device": "mobile"}, {"stage_reached": "cart"}]},
    "premium_returning": {"all": [{"attribute": "segment", "equals": "premium"}, {"customer": "returning"}]},
    "welcome_openers": {"message": "opened", "journey": "welcome"},
    "big_spenders": {"any": [{"revenue_over": 300}, {"field": "conversions", "op": ">=", "value": 3}]},
}


def percentiles(ms: list[float]) -> str:
    ms = sorted(ms)
    at = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return f"median {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, max {ms[-1]:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    args = ap.parse_args()
    root = Path("bench-out/audiences") / str(args.persons)
    path = workspace(root, ["--persons", str(args.persons), "--seed", "13"], TABLES, build=True)
    with Workspace(path) as ws:
        wh = ws.warehouse
        print(f"profiles: {wh.count('profiles'):,}")
        book = Book(ws.path, ws.config)
        for name, when in AUDIENCES.items():
            book.save(Audience(name, parse(when)))
            times = []
            for _ in range(2):
                t = time.perf_counter()
                n = size(wh, ws.config, parse(when))
                times.append(time.perf_counter() - t)
            print(f"audience {name:<22} {n:>9,} persons: {times[0] * 1000:6.0f} ms cold, "
                  f"{times[1] * 1000:6.0f} ms warm")
        t = time.perf_counter()
        refresh(wh, ws.config, ws.path)
        print(f"refresh ({len(AUDIENCES)} audiences, cards, indexes): {time.perf_counter() - t:.1f} s")
        cards = wh.table("person_cards")
        ids = cards.select("id").to_pyarrow().column(0).to_pylist()
        users = [i[1:] for i in ids if i.startswith("u") and i[1:].isdigit()]
    rng = random.Random(1)
    asks = rng.sample(ids, 2000)
    emails = [f" Client{u}@Example.com" for u in rng.sample(users, 500)]
    with TestClient(create_app(path)) as client:
        for _ in range(50):  # the server's first answers pay for imports and caches
            client.get(f"/api/v1/persons/{asks[0]}")
        for label, batch in (("identifiers", asks), ("plain emails", emails)):
            ms, found = [], 0
            for ident in batch:
                t = time.perf_counter()
                r = client.get(f"/api/v1/persons/{ident}")
                ms.append((time.perf_counter() - t) * 1000)
                found += r.status_code == 200
            print(f"GET /api/v1/persons/{{id}} ({label}, {len(batch):,}, {found:,} found): {percentiles(ms)}")
        # what the audience page asks: the list (sizes now, history, overlap) and a preview per edit
        for label, call in (("GET /api/v1/audiences", lambda: client.get("/api/v1/audiences")),
                            ("POST /api/v1/audiences/preview", lambda: client.post(
                                "/api/v1/audiences/preview", json={"when": AUDIENCES["email_recent_no_order"]}))):
            ms = []
            for _ in range(10):
                t = time.perf_counter()
                assert call().status_code == 200
                ms.append((time.perf_counter() - t) * 1000)
            print(f"{label} (the audience page, 10 calls): {percentiles(ms)}")


if __name__ == "__main__":
    main()
