"""Audience changes to a webhook (issue 16): a local receiver that fails the first attempts;
every change arrives exactly once per idempotency key, and a batch that fails every attempt
of a run is sent at the next one, under the same key, with the same persons."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builders import AS_OF, A, B, C, day_at, load_rows
from parcours.audiences import Book, refresh
from parcours.conditions import Audience, parse
from parcours.journeys import build_journeys
from parcours.webhooks import deliver, pending


class Receiver:
    """An HTTP endpoint that answers 503 to its first `fail` requests, then 200; it keeps
    every body it accepted by idempotency key (what a careful receiver does)."""

    def __init__(self, fail: int = 0):
        self.fail, self.calls, self.seen = fail, 0, {}
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                me.calls += 1
                assert self.headers["Idempotency-Key"] == body["idempotency_key"]
                if me.calls <= me.fail:
                    self.send_response(503)
                else:
                    me.seen.setdefault(body["idempotency_key"], body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def changes(self) -> list[tuple[str, str, str]]:
        return sorted((b["audience"], b["change"], p["person_id"]) for b in self.seen.values() for p in b["persons"])


def _configure(ws, url: str, retries: int = 3, batch: int = 1) -> None:
    (ws.path / "parcours.toml").write_text(
        f'[activation]\nwebhook_url = "{url}"\nretries = {retries}\nbatch_size = {batch}\nbackoff_s = 0.5\n')
    ws.__dict__.pop("config", None)


def test_every_change_arrives_once_though_the_first_attempts_fail(three):
    rx = Receiver(fail=2)
    _configure(three, rx.url, retries=3, batch=1)
    Book(three.path, three.config).save(Audience("buyers", parse({"converted": True})))
    refresh(three.warehouse, three.config, three.path)
    waits: list[float] = []
    done = deliver(three.warehouse, three.config, sleep=waits.append)
    assert (done.batches, done.persons, done.failed) == (2, 2, 0)
    assert waits == [0.5, 1.0]  # the first batch's two failures, with a doubling back-off
    assert rx.changes() == [("buyers", "joined", A), ("buyers", "joined", C)]
    person = next(p for b in rx.seen.values() for p in b["persons"] if p["person_id"] == A)
    assert person["user_ids"] == ["ua"] and person["customer_ids"] == ["C1"] and len(person["email_sha256"]) == 1
    assert deliver(three.warehouse, three.config, sleep=waits.append).batches == 0  # nothing sent twice


def test_a_batch_that_fails_a_whole_run_is_sent_at_the_next_under_the_same_key(three):
    rx = Receiver(fail=3)
    _configure(three, rx.url, retries=3, batch=10)
    Book(three.path, three.config).save(Audience("buyers", parse({"converted": True})))
    refresh(three.warehouse, three.config, three.path)
    first = deliver(three.warehouse, three.config, sleep=lambda s: None)
    assert (first.batches, first.failed) == (0, 1) and rx.seen == {}
    key = pending(three.warehouse)[0]["batch"]
    # a new build meanwhile: B converts, so B joins (a batch of its own build)
    load_rows(three, "conversions", [{"conversion_id": "ob", "ts": day_at(6), "visitor_id": "vb", "revenue": "5"}])
    build_journeys(three.warehouse, three.config, as_of=AS_OF)
    refresh(three.warehouse, three.config, three.path)
    second = deliver(three.warehouse, three.config, sleep=lambda s: None)
    assert (second.batches, second.persons, second.failed) == (2, 3, 0)
    assert key in rx.seen and [p["person_id"] for p in rx.seen[key]["persons"]] == [A, C]  # the same batch
    assert rx.changes() == [("buyers", "joined", A), ("buyers", "joined", B), ("buyers", "joined", C)]


def test_without_a_url_nothing_is_sent_and_nothing_is_lost(three):
    Book(three.path, three.config).save(Audience("buyers", parse({"converted": True})))
    refresh(three.warehouse, three.config, three.path)
    assert deliver(three.warehouse, three.config).batches == 0
    assert sum(len(b["persons"]) for b in pending(three.warehouse)) == 2  # kept for when a URL is set


@pytest.mark.parametrize(("url", "reason"), [("ftp://x", "expected an http:// or https:// URL"),
                                             ("hooks.example.com", "expected an http:// or https:// URL")])
def test_a_bad_webhook_url_is_a_config_error(tmp_path, url, reason):
    from parcours.config import load_config
    from parcours.errors import ConfigError

    (tmp_path / "parcours.toml").write_text(f'[activation]\nwebhook_url = "{url}"\n')
    with pytest.raises(ConfigError, match=f"activation.webhook_url: {reason}"):
        load_config(tmp_path)
