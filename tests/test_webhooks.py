"""Audience changes to a webhook (issue 16): a local receiver that fails the first attempts;
every change arrives exactly once per idempotency key, and a batch that fails every attempt
of a run is sent at the next one, under the same key, with the same persons.

What a receiver cannot make parcours do (a security review): count anything but a 2xx as
delivered, follow a redirect, be reached at an address that is not public (loopback,
private, link-local, cloud metadata) unless `[activation] allow_networks` lists it, hold an
attempt past `timeout_s` by trickling its answer, or hold the server's job queue. The
receivers here listen on 127.0.0.1, so they are allowed with allow_networks = ["127.0.0.0/8"].
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builders import AS_OF, A, B, C, day_at, load_rows
from parcours import Workspace
from parcours.activation.audiences import Book, refresh
from parcours.activation.webhooks import Courier, deliver, pending, refusal
from parcours.build.journeys import build_journeys
from parcours.contract.conditions import Audience, parse

LOCAL = '["127.0.0.0/8"]'  # where the tests' receivers listen


class Receiver:
    """An HTTP endpoint that answers `status` (503) with `extra` headers to its first `fail`
    requests, then 200; it keeps every body it accepted by idempotency key (what a careful
    receiver does) and every request (method, path, headers). A path under /ok is always
    answered 200 (where a followed redirect would land). With `hold`, it answers once the
    event is set; with `protocol` HTTP/1.1, it keeps connections open unless asked to close."""

    def __init__(self, fail: int = 0, status: int = 503, extra: dict | None = None,
                 hold: threading.Event | None = None, protocol: str = "HTTP/1.0"):
        self.fail, self.status, self.extra, self.hold = fail, status, extra or {}, hold
        self.calls, self.seen, self.requests = 0, {}, []
        self.arrived = threading.Event()
        me = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = protocol

            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.headers["Idempotency-Key"] == body["idempotency_key"]
                self.answer(body)

            def do_GET(self):  # noqa: N802
                self.answer(None)

            def answer(self, body):
                me.requests.append((self.command, self.path, dict(self.headers)))
                me.arrived.set()
                if me.hold is not None:
                    me.hold.wait()
                if self.path.startswith("/ok"):
                    self.send_response(200)
                    self.end_headers()
                    return
                me.calls += 1
                if me.calls <= me.fail:
                    self.send_response(me.status)
                    for k, v in me.extra.items():
                        self.send_header(k, v)
                else:
                    if body is not None:
                        me.seen.setdefault(body["idempotency_key"], body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.url = f"{self.base}/hook"

    def changes(self) -> list[tuple[str, str, str]]:
        return sorted((b["audience"], b["change"], p["person_id"]) for b in self.seen.values() for p in b["persons"])


class Trickler:
    """A TCP endpoint that reads a request and answers `answer`, its first `at_once` bytes at
    once and then one byte every `every` seconds: never silent long enough for a socket's own
    timeout, so only a deadline on the whole attempt ends it."""

    def __init__(self, answer: bytes, at_once: int = 0, every: float = 0.5):
        self.connections = 0
        me = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                me.connections += 1
                _read_request(self.request)
                try:
                    self.request.sendall(answer[:at_once])
                    for i in range(at_once, len(answer)):
                        time.sleep(every)
                        self.request.sendall(answer[i:i + 1])
                except OSError:
                    pass  # the sender gave up

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _read_request(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length")), 0)
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk


def _configure(ws, url: str, retries: int = 3, batch: int = 1, backoff: float = 0.5, timeout: float = 10.0,
               allow: str | None = LOCAL) -> None:
    (ws.path / "parcours.toml").write_text(
        f'[activation]\nwebhook_url = "{url}"\nretries = {retries}\nbatch_size = {batch}\nbackoff_s = {backoff}\n'
        f'timeout_s = {timeout}\n' + (f"allow_networks = {allow}\n" if allow is not None else ""))
    ws.__dict__.pop("config", None)


def _until(done: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory, built_workspace):
    """build_three with a buyers audience refreshed: two batches pending (A and C joined, a
    person a batch), never sent. Built once; each test delivers from its own copy."""
    ws = Workspace(shutil.copytree(built_workspace("three"), tmp_path_factory.mktemp("refreshed") / "ws"))
    try:
        _configure(ws, "", batch=1, allow=None)
        Book(ws.path, ws.config).save(Audience("buyers", parse({"converted": True})))
        refresh(ws.warehouse, ws.config, ws.path)
    finally:
        ws.close()
    return ws.path


@pytest.fixture
def two(refreshed, tmp_path):
    """A workspace with two batches pending (a copy of `refreshed`)."""
    with Workspace(shutil.copytree(refreshed, tmp_path / "ws")) as ws:
        yield ws


def _keys(ws) -> list[str]:
    return [b["batch"] for b in pending(ws.warehouse)]


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


def test_a_run_stops_at_the_first_batch_that_fails_every_attempt(two):
    rx = Receiver(fail=2)
    _configure(two, rx.url, retries=2)
    keys = _keys(two)
    first = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (first.batches, first.failed, first.reason) == (0, 2, "answered 503")
    assert rx.calls == 2  # the first batch's two attempts; the second batch was not tried
    second = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (second.batches, second.failed) == (2, 0) and sorted(rx.seen) == sorted(keys)


# --- only a 2xx is a delivery; a redirect is neither followed nor a delivery ----------------

REDIRECTS = (301, 302, 303, 307, 308)
NOT_2XX = (*REDIRECTS, 100, 103, 300, 304, 399, 400, 404, 429, 500, 503, 599, 999)  # every class, and the odd ones


@pytest.mark.parametrize("status", NOT_2XX)
def test_an_answer_other_than_2xx_is_no_delivery_and_the_batch_goes_again_under_its_key(two, status):
    rx = Receiver(fail=2, status=status, extra={"Location": "/ok"})
    _configure(two, rx.url, retries=2)
    keys = _keys(two)
    first = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (first.batches, first.failed) == (0, 2) and rx.seen == {}
    assert [(method, path) for method, path, _ in rx.requests] == [("POST", "/hook")] * 2  # nothing followed
    assert _keys(two) == keys
    second = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (second.batches, second.failed) == (2, 0) and sorted(rx.seen) == sorted(keys)


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirect_is_said_to_be_no_delivery(two, status):
    rx = Receiver(fail=1, status=status, extra={"Location": "http://169.254.169.254/latest/meta-data/"})
    _configure(two, rx.url, retries=1)
    done = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert done.reason == f"answered {status}: a redirect is no delivery, and parcours does not follow it"


def test_an_answer_without_a_length_from_a_keep_alive_receiver_is_a_delivery(two):
    rx = Receiver(protocol="HTTP/1.1")  # no Content-Length: its answer ends when it closes
    _configure(two, rx.url, retries=1, timeout=5)
    assert deliver(two.warehouse, two.config).batches == 2


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_a_delivery(two, status):
    rx = Receiver(fail=2, status=status)
    _configure(two, rx.url)
    done = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (done.batches, done.failed, rx.calls) == (2, 0, 2) and pending(two.warehouse) == []


# --- receivers at public addresses only, unless allowed ---------------------------------------

@pytest.mark.parametrize(("address", "kind"), [
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"), ("169.254.170.2", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"), ("168.63.129.16", "cloud metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"), ("fe80::1%2", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.254", "private"), ("192.168.1.1", "private"),
    ("100.64.0.1", "private"), ("fc00::1", "private"), ("fd12:3456::1", "private"), ("192.0.2.1", "private"),
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("0.1.2.3", "private"),
    ("224.0.0.1", "multicast"), ("239.1.2.3", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("::a9fe:a9fe", "reserved"), ("fec0::1", "site-local"),
    # IPv4 written as IPv6: judged as the IPv4 address it reaches
    ("::ffff:169.254.169.254", "cloud metadata"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("2002:a9fe:a9fe::1", "cloud metadata"), ("64:ff9b::a9fe:a9fe", "cloud metadata"), ("64:ff9b::7f00:1", "loopback"),
])
def test_an_address_that_is_not_public_is_refused(address, kind):
    assert f"is a {kind} address" in refusal(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808"])
def test_a_public_address_is_not_refused(address):
    assert refusal(address) is None


def test_allow_networks_lets_its_addresses_through_and_a_metadata_address_only_listed_alone():
    assert refusal("127.0.0.1", ["127.0.0.0/8"]) is None
    assert refusal("::ffff:127.0.0.1", ["127.0.0.0/8"]) is None
    assert refusal("10.20.0.7", ["127.0.0.0/8", "10.20.0.0/16"]) is None
    assert "private" in refusal("10.21.0.7", ["127.0.0.0/8", "10.20.0.0/16"])
    assert refusal("169.254.1.1", ["169.254.0.0/16"]) is None
    assert "cloud metadata" in refusal("169.254.169.254", ["169.254.0.0/16"])
    assert "cloud metadata" in refusal("169.254.169.254", ["0.0.0.0/0", "::/0"])
    assert refusal("169.254.169.254", ["169.254.169.254/32"]) is None


def test_a_receiver_on_this_machine_is_refused_unless_allow_networks_lists_it(two):
    rx = Receiver()
    _configure(two, rx.url, allow="[]")
    done = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (done.batches, done.failed, rx.requests) == (0, 2, [])
    assert done.reason.startswith("refused: 127.0.0.1 is a loopback address; ") and "allow_networks" in done.reason
    _configure(two, rx.url, allow=LOCAL)
    assert deliver(two.warehouse, two.config).batches == 2


def _resolving(address: str, lookups: list | None = None):
    """socket.getaddrinfo as a DNS that answers `address` for every name."""
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if lookups is not None:
            lookups.append(host)
        return real(address, port, *args, **kwargs)
    return fake


def test_a_harmless_name_resolving_to_a_metadata_address_is_refused_before_connecting(two, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolving("169.254.169.254"))
    connects: list = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connects.append(address))
    _configure(two, "https://hooks.example.com/parcours", allow='["169.254.0.0/16"]')
    done = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (done.batches, done.failed, connects) == (0, 2, [])
    assert done.reason.startswith("refused: hooks.example.com: 169.254.169.254 is a cloud metadata address")


def test_a_name_goes_to_the_allowed_address_it_resolves_to_under_its_own_host_header(two, monkeypatch):
    rx = Receiver()
    monkeypatch.setattr(socket, "getaddrinfo", _resolving("127.0.0.1"))
    _configure(two, f"http://hooks.example.com:{rx.server.server_port}/hook?to=crm")
    done = deliver(two.warehouse, two.config)
    assert done.batches == 2
    assert {(path, headers["Host"]) for _, path, headers in rx.requests} == {
        ("/hook?to=crm", f"hooks.example.com:{rx.server.server_port}")}


def test_a_metadata_host_name_is_refused_without_a_lookup_whatever_is_allowed(two, monkeypatch):
    lookups: list = []
    monkeypatch.setattr(socket, "getaddrinfo", _resolving("127.0.0.1", lookups))
    _configure(two, "http://metadata.google.internal/computeMetadata/v1/", allow='["0.0.0.0/0", "::/0"]')
    done = deliver(two.warehouse, two.config, sleep=lambda s: None)
    assert (done.batches, done.failed, lookups) == (0, 2, [])
    assert done.reason == "refused: metadata.google.internal is a cloud metadata endpoint"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost (openssl): (cert, key) files."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
                    "-out", str(folder / "cert.pem")], check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


def test_an_https_receiver_is_reached_by_its_name_and_its_certificate_checked(two, certificate, monkeypatch):
    rx = Receiver()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*certificate)
    rx.server.socket = tls.wrap_socket(rx.server.socket, server_side=True)
    _configure(two, f"https://localhost:{rx.server.server_port}/hook", retries=1)
    untrusted = deliver(two.warehouse, two.config)
    assert (untrusted.batches, rx.requests) == (0, []) and "CERTIFICATE_VERIFY_FAILED" in untrusted.reason
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trusted now
    assert deliver(two.warehouse, two.config).batches == 2
    assert {headers["Host"] for _, _, headers in rx.requests} == {f"localhost:{rx.server.server_port}"}


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://x", "expected an http:// or https:// URL"),
    ("hooks.example.com", "expected an http:// or https:// URL"),
    ("https://hooks.example.com/a b", "expected an http:// or https:// URL"),
    ("https://user:secret@hooks.example.com/parcours", "credentials in the URL (user:password@) are refused"),
    ("https://token@hooks.example.com/parcours", "credentials in the URL (user:password@) are refused"),
    ("https:///parcours", "no host in the URL"),
    ("http://:8080/parcours", "no host in the URL"),
    ("https://hooks.example.com:99999/", "not a valid URL"),
    ("https://hooks.example.com:x/", "not a valid URL"),
    ("http://[::1/", "not a valid URL"),
])
def test_a_bad_webhook_url_is_a_config_error(tmp_path, url, reason):
    from parcours.contract.config import load_config
    from parcours.errors import ConfigError

    (tmp_path / "parcours.toml").write_text(f'[activation]\nwebhook_url = "{url}"\n')
    with pytest.raises(ConfigError, match="activation.webhook_url: ") as exc:
        load_config(tmp_path)
    assert exc.value.reason.startswith(reason) and "\n" not in str(exc.value) and "secret" not in str(exc.value)


@pytest.mark.parametrize(("value", "field", "reason"), [
    ('["127.0.0.0/8", "office"]', "activation.allow_networks[1]", "expected a network such as"),
    ('["10.0.0.1/8"]', "activation.allow_networks[0]", "expected a network such as"),
    ('["10.0.0.0/33"]', "activation.allow_networks[0]", "expected a network such as"),
    ("[3]", "activation.allow_networks", "expected a string or a list of strings"),
])
def test_a_bad_allowed_network_is_a_config_error_naming_its_place(tmp_path, value, field, reason):
    from parcours.contract.config import load_config
    from parcours.errors import ConfigError

    (tmp_path / "parcours.toml").write_text(f"[activation]\nallow_networks = {value}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert exc.value.field == field and exc.value.reason.startswith(reason)


def test_allowed_networks_are_read_as_networks(tmp_path):
    from parcours.contract.config import load_config

    (tmp_path / "parcours.toml").write_text('[activation]\nallow_networks = ["127.0.0.1", "10.0.0.0/8", "FD00::/8"]\n')
    assert load_config(tmp_path).activation.allow_networks == ("127.0.0.1/32", "10.0.0.0/8", "fd00::/8")
    (tmp_path / "none").mkdir()
    assert load_config(tmp_path / "none").activation.allow_networks == ()  # the default: public receivers only


# --- timeout_s bounds an attempt as a whole; deliveries hold no job queue -----------------------

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n"


@pytest.mark.parametrize("at_once", [0, len(HEADERS)], ids=["the status line trickles", "the body trickles"])
def test_a_trickling_receiver_is_given_up_after_timeout_s_an_attempt(two, at_once):
    rx = Trickler(HEADERS + b"x" * 60, at_once, every=0.5)  # 30 s and more to the answer's end
    _configure(two, rx.url, retries=2, timeout=1, backoff=0.5)
    started = time.monotonic()
    done = deliver(two.warehouse, two.config)
    assert time.monotonic() - started < 10  # about 1 s + 0.5 s + 1 s
    assert (done.batches, done.failed) == (0, 2) and rx.connections == 2  # the second batch waits for the next run
    assert done.reason == "no complete answer within timeout_s = 1 s"


def test_the_courier_delivers_on_its_own_thread_and_coalesces_asks(two):
    hold = threading.Event()
    rx = Receiver(hold=hold)
    _configure(two, rx.url)
    courier = Courier(two.config, lambda: nullcontext(two.warehouse))
    try:
        courier.ask()  # returns at once: the receiver holds the first batch meanwhile
        assert rx.arrived.wait(20)
        courier.ask()  # two builds commit during the run: one more run, not two
        courier.ask()
        hold.set()
        _until(lambda: courier.runs == 2)
    finally:
        hold.set()
        courier.stop()
    assert courier.runs == 2 and rx.calls == 2 and pending(two.warehouse) == []


def test_stopping_the_courier_ends_its_run_within_the_attempt_under_way(two):
    hold = threading.Event()
    rx = Receiver(hold=hold)
    _configure(two, rx.url, retries=3, timeout=1, backoff=30)
    courier = Courier(two.config, lambda: nullcontext(two.warehouse))
    try:
        courier.ask()
        assert rx.arrived.wait(20)
        started = time.monotonic()
        courier.stop()
        assert time.monotonic() - started < 8  # the attempt's 1 s: no back-off, no next attempt or batch
    finally:
        hold.set()
    assert courier.last.failed == 2 and rx.calls <= 1 and len(pending(two.warehouse)) == 2


def test_a_courier_run_that_breaks_is_said_and_the_next_ask_works(two):
    rx = Receiver()
    _configure(two, rx.url)
    broken = iter([True])

    def opening():
        if next(broken, False):
            raise RuntimeError("the warehouse is closing")
        return nullcontext(two.warehouse)
    courier = Courier(two.config, opening)
    try:
        courier.ask()
        _until(lambda: courier.runs == 1)
        assert courier.last.reason == "RuntimeError: the warehouse is closing"
        courier.ask()
        _until(lambda: courier.runs == 2)
    finally:
        courier.stop()
    assert courier.last.batches == 2


# --- the CLI's side of a server (client.py): the same urllib, the same traps ------------------

def test_the_cli_client_follows_no_redirect_and_uses_no_proxy(monkeypatch):
    from parcours.engine.workspace import Server
    from parcours.errors import ParcoursError
    from parcours.front.client import Remote

    elsewhere = Receiver()
    moved = Receiver(fail=1, status=302, extra={"Location": f"{elsewhere.base}/steal"})
    with pytest.raises(ParcoursError, match="redirect"):
        Remote(Server(moved.base, os.getpid(), "local-token-0123456789")).get("/api/v1/info")
    assert elsewhere.requests == []  # the bearer token went nowhere else
    proxy, server = Receiver(), Receiver()
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.base)
    Remote(Server(server.base, os.getpid(), "local-token-0123456789")).get("/api/v1/info")
    assert proxy.requests == [] and len(server.requests) == 1
