"""Audience changes to activation tools: each refresh's joined/left persons POSTed as JSON
batches to `[activation] webhook_url` (docs/architecture.md, "Activation").

A batch's persons and its key are fixed when the refresh writes the change rows
(`audience_changes.batch`), so a batch sent again is the same batch under the same
`Idempotency-Key`: a receiver that keeps the keys it has seen applies each change once. A
batch is retried with a doubling back-off; one that still fails stays undelivered and is sent
at the next run. Delivered batches are noted in `audience_deliveries` (batch, delivered_at,
attempts), one transaction per batch. The standard library's urllib is enough for a POST.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import ibis

from parcours.audiences import CHANGES
from parcours.config import Config
from parcours.storage import Storage

DELIVERIES = "audience_deliveries"
PERSON = ("person_id", "user_ids", "customer_ids", "email_sha256", "phone_sha256")  # what a receiver gets


@dataclass
class Delivery:
    batches: int = 0  # sent this run
    persons: int = 0
    failed: int = 0  # batches still undelivered (sent at the next run)


def pending(wh: Storage) -> list[dict]:
    """The undelivered batches, oldest first: {batch, built_at, audience, change, persons}."""
    if not wh.has(CHANGES):
        return []
    c = wh.table(CHANGES)
    if wh.has(DELIVERIES):
        c = c.anti_join(wh.table(DELIVERIES), "batch")
    p = wh.table("profiles")
    j = c.left_join(p, c.person_id == p.person_id).select(
        "batch", "built_at", "audience", "change", person_id=c.person_id,
        **{k: p[k] for k in PERSON[1:]}).order_by(["built_at", "batch", "person_id"])
    out: dict[str, dict] = {}
    for r in j.to_pyarrow().to_pylist():
        b = out.setdefault(r["batch"], {k: r[k] for k in ("batch", "built_at", "audience", "change")} | {"persons": []})
        b["persons"].append({k: r[k] or ([] if k != "person_id" else None) for k in PERSON})
    return list(out.values())


def deliver(wh: Storage, config: Config, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send every undelivered batch (none without a webhook URL)."""
    a = config.activation
    done = Delivery()
    if not a.webhook_url:
        return done
    for b in pending(wh):
        body = json.dumps({"idempotency_key": b["batch"], "audience": b["audience"], "change": b["change"],
                           "built_at": b["built_at"].isoformat(), "persons": b["persons"]}).encode()
        attempts = _post(a.webhook_url, body, b["batch"], a.retries, a.backoff_s, a.timeout_s, sleep)
        if attempts is None:
            done.failed += 1
            continue
        with wh.transaction():
            c = wh.table(CHANGES)
            row = c.filter(c.batch == b["batch"]).select("batch").limit(1).mutate(
                delivered_at=ibis.literal(dt.datetime.now(dt.UTC).replace(tzinfo=None)).cast("timestamp"),
                attempts=ibis.literal(attempts).cast("int64"))
            wh.insert(DELIVERIES, row) if wh.has(DELIVERIES) else wh.replace(DELIVERIES, row)
        done.batches += 1
        done.persons += len(b["persons"])
    return done


def _post(url: str, body: bytes, key: str, retries: int, backoff: float, timeout: float,
          sleep: Callable[[float], None]) -> int | None:
    """The attempts it took to get a 2xx, or None when every attempt failed."""
    wait = backoff
    for attempt in range(1, retries + 1):
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "parcours"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    return attempt
        except (urllib.error.URLError, OSError, ValueError):
            pass  # refused, timed out, a 4xx or 5xx: the next attempt, or the next run
        if attempt < retries:
            sleep(wait)
            wait *= 2
    return None
