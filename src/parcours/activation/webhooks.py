"""Audience changes to activation tools: each refresh's joined/left persons POSTed as JSON
batches to `[activation] webhook_url` (docs/architecture.md, "Activation").

A batch's persons and its key are fixed when the refresh writes the change rows
(`audience_changes.batch`), so a batch sent again is the same batch under the same
`Idempotency-Key`: a receiver that keeps the keys it has seen applies each change once. A
batch is retried with a doubling back-off; one that still fails stays undelivered, and so do
the batches after it: the run stops there (the receiver is down, and changes keep their
order), so a receiver that is down costs a run about retries x timeout_s plus the back-offs.
Delivered batches are noted in `audience_deliveries` (batch, delivered_at, attempts), one
transaction per batch.

The webhook URL comes from a config file, and the receiver answers what it likes, so
neither is trusted:
- only a 2xx answer, read to its end, is a delivery; a redirect is neither a delivery nor
  followed (urllib would repeat a redirected POST as a body-less GET, elsewhere);
- the receiver must be at a public address: every address its name resolves to is checked,
  and the connection goes to the checked address itself, so a name resolving (or rebinding)
  to 169.254.169.254 is refused. Loopback, private, link-local, multicast and reserved
  addresses go only to the networks `[activation] allow_networks` lists (a receiver on this
  machine, the office), cloud metadata endpoints only when listed alone (`refusal`);
- `timeout_s` bounds an attempt as a whole (lookup, connection, TLS, request, answer): a
  socket's timeout only bounds each read, which a receiver trickling a byte a second never
  reaches.
The POST goes through http.client, which follows no redirect and asks no proxy. A server
delivers on a thread of its own (`Courier`), so a slow receiver never holds its job queue;
`parcours build` without a server delivers once the build has committed (`deliver`).
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass

import ibis

from parcours.contract.config import ActivationSettings, Config
from parcours.contract.schema import CHANGES
from parcours.engine.storage import Storage

DELIVERIES = "audience_deliveries"
PERSON = ("person_id", "user_ids", "customer_ids", "email_sha256", "phone_sha256")  # what a receiver gets
ANSWER_BYTES = 64 * 1024  # of an answer's body read before its status counts; the rest is not waited for
# Cloud metadata endpoints hand out the machine's credentials: refused unless allowed one by one.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, Google Cloud, Azure, Oracle, DigitalOcean, OpenStack...
    "fd00:ec2::254",  # AWS over IPv6
    "169.254.170.2",  # AWS ECS task credentials
    "100.100.100.200",  # Alibaba Cloud
    "168.63.129.16",  # Azure WireServer
))
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal"})
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address in its last 32 bits (RFC 6052)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Opening = Callable[[], AbstractContextManager[Storage]]


@dataclass
class Delivery:
    batches: int = 0  # sent this run
    persons: int = 0
    failed: int = 0  # batches still undelivered (sent at the next run)
    reason: str = ""  # why the batch that stopped the run was not delivered ("" when none failed)


class _Undelivered(Exception):
    """An attempt that did not end in a 2xx answer; the message says why."""


class _Refused(_Undelivered):
    """The receiver is at an address parcours does not send to: no other attempt this run."""


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
    """Send every undelivered batch (none without a webhook URL): the CLI's build, after it commits."""
    return _run(lambda: nullcontext(wh), config, sleep, lambda: False)


class Courier:
    """A server's deliveries, on a thread of their own so that a slow or dead receiver never
    holds the job queue: `ask` after each build commits; asks made during a run make one more
    run, not one each. `opening` gives the warehouse only to read the pending batches and to
    note each delivery, never while a receiver is waited for."""

    def __init__(self, config: Config, opening: Opening):
        self.config, self.opening = config, opening
        self.runs, self.last = 0, Delivery()
        self._asked, self._stopping = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._work, name="parcours-webhooks", daemon=True)
        self._thread.start()

    def ask(self) -> None:
        """Deliver soon; returns at once."""
        self._asked.set()

    def stop(self) -> None:
        """End the run under way within the attempt it is in (no back-off, no next batch); what
        is not delivered goes at the next run."""
        self._stopping.set()
        self._asked.set()
        self._thread.join()

    def _work(self) -> None:
        while self._asked.wait() and not self._stopping.is_set():
            self._asked.clear()
            try:
                self.last = _run(self.opening, self.config, self._stopping.wait, self._stopping.is_set)
            except Exception as exc:  # noqa: BLE001 (the server lives on; the next ask tries again)
                self.last = Delivery(reason=f"{type(exc).__name__}: {exc}")
            self.runs += 1


def _run(opening: Opening, config: Config, sleep: Callable[[float], object], stopping: Callable[[], bool]) -> Delivery:
    """Send the pending batches, oldest first, until one fails every attempt."""
    a = config.activation
    done = Delivery()
    if not a.webhook_url:
        return done
    with opening() as wh:
        batches = pending(wh)
    for i, b in enumerate(batches):
        body = json.dumps({"idempotency_key": b["batch"], "audience": b["audience"], "change": b["change"],
                           "built_at": b["built_at"].isoformat(), "persons": b["persons"]}).encode()
        try:
            attempts = _post(a, body, b["batch"], sleep, stopping)
        except _Undelivered as exc:
            done.failed, done.reason = len(batches) - i, str(exc)
            break
        with opening() as wh:
            _note(wh, b["batch"], attempts)
        done.batches += 1
        done.persons += len(b["persons"])
    return done


def _note(wh: Storage, batch: str, attempts: int) -> None:
    """`batch` delivered, in a transaction of its own: a batch delivered is never sent again."""
    with wh.transaction():
        c = wh.table(CHANGES)
        row = c.filter(c.batch == batch).select("batch").limit(1).mutate(
            delivered_at=ibis.literal(dt.datetime.now(dt.UTC).replace(tzinfo=None)).cast("timestamp"),
            attempts=ibis.literal(attempts).cast("int64"))
        wh.insert(DELIVERIES, row) if wh.has(DELIVERIES) else wh.replace(DELIVERIES, row)


def _post(a: ActivationSettings, body: bytes, key: str, sleep: Callable[[float], object],
          stopping: Callable[[], bool]) -> int:
    """The attempts it took to get a 2xx; the last failure raised when every attempt failed."""
    failure = _Undelivered("parcours is stopping")
    for attempt in range(1, a.retries + 1):
        if stopping():
            break
        try:
            _attempt(a, body, key)
            return attempt
        except _Refused as exc:
            raise _Refused(f"refused: {exc}") from None  # the address will not change within the run
        except _Undelivered as exc:
            failure = exc
        if attempt < a.retries:
            sleep(a.backoff_s * 2 ** (attempt - 1))
    raise failure


def _attempt(a: ActivationSettings, body: bytes, key: str) -> None:
    """One POST, bounded as a whole by timeout_s: the exchange runs on a thread of its own, and
    at the deadline its socket is shut, which ends a read however slowly the receiver trickles."""
    url = urllib.parse.urlsplit(a.webhook_url)
    guard = _Guard(a.allow_networks, url.scheme == "https", a.timeout_s)
    outcome: list[int | BaseException] = []
    exchange = threading.Thread(target=_exchange, args=(guard, url, body, key, outcome), name="parcours-webhook",
                                daemon=True)
    exchange.start()
    exchange.join(a.timeout_s)
    if exchange.is_alive():
        guard.abandon()
        raise _Undelivered(f"no complete answer within timeout_s = {a.timeout_s:g} s")
    status = outcome[0] if outcome else _Undelivered("no answer")
    if isinstance(status, _Undelivered):
        raise status
    if isinstance(status, BaseException):
        raise _Undelivered(f"{type(status).__name__}: {status}")
    if not 200 <= status < 300:
        raise _Undelivered(f"answered {status}" + (": a redirect is no delivery, and parcours does not follow it"
                                                   if 300 <= status < 400 else ""))


def _exchange(guard: _Guard, url: urllib.parse.SplitResult, body: bytes, key: str,
              outcome: list[int | BaseException]) -> None:
    """The POST, on its own thread: the answer's status once its body is read to the end (or
    to ANSWER_BYTES), or what went wrong, into `outcome`. http.client follows no redirect."""
    conn = _Connection(url.hostname or "", url.port or (443 if guard.tls else 80), guard)
    try:
        conn.request("POST", (url.path or "/") + (f"?{url.query}" if url.query else ""), body, {
            "Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "parcours",
            "Connection": "close"})  # the answer ends with the connection, even one without a length
        response = conn.getresponse()
        left = ANSWER_BYTES
        while left > 0 and (chunk := response.read(min(left, 8192))):
            left -= len(chunk)
        outcome.append(response.status)
    except Exception as exc:  # noqa: BLE001 (the caller says it; the build goes on)
        outcome.append(exc)
    finally:
        conn.close()


class _Connection(http.client.HTTPConnection):
    """http.client's connection with its socket, TLS included, opened by a _Guard."""

    def __init__(self, host: str, port: int, guard: _Guard):
        super().__init__(host, port, timeout=guard.timeout)
        self.default_port = 443 if guard.tls else 80  # the Host header names the port when it is another
        self.guard = guard

    def connect(self) -> None:
        self.sock = self.guard.connect(self.host, self.port)


class _Guard:
    """Opens a webhook's socket to an address `refusal` lets through, and keeps it, so the
    deadline can shut it from another thread (a TLS socket too, before its handshake)."""

    def __init__(self, allowed: Sequence[str], tls: bool, timeout: float):
        self.allowed, self.tls, self.timeout = allowed, tls, timeout
        self.sock: socket.socket | None = None
        self.abandoned = threading.Event()

    def connect(self, host: str, port: int) -> socket.socket:
        """A socket to the first allowed address of `host`. It connects to the very address
        checked: no second lookup that a rebinding DNS could answer otherwise."""
        if host.lower().rstrip(".") in METADATA_NAMES:
            raise _Refused(f"{host} is a cloud metadata endpoint")
        refused: list[str] = []
        failed: OSError | None = None
        for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            why = refusal(str(address[0]), self.allowed)
            if why is not None:
                refused.append(why if str(address[0]) == host else f"{host}: {why}")
                continue
            try:
                return self._open(socket.socket(family, kind, proto), address, host)
            except OSError as exc:
                failed = exc
        if failed is not None:  # an allowed address did not answer
            raise failed
        raise _Refused(refused[0])

    def _open(self, sock: socket.socket, address: tuple, host: str) -> socket.socket:
        self.sock = sock
        try:
            sock.settimeout(self.timeout)  # each step's; the attempt's deadline is _attempt's
            if self.abandoned.is_set():
                raise _Undelivered("abandoned")
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go in two writes
            if self.tls:
                sock = self.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host,
                                                                            do_handshake_on_connect=False)
                sock.do_handshake()
            if self.abandoned.is_set():  # the deadline passed while connecting: nothing is sent
                raise _Undelivered("abandoned")
            return sock
        except BaseException:
            sock.close()
            raise

    def abandon(self) -> None:
        """Shut the socket: a read or a write under way on the exchange's thread ends now."""
        self.abandoned.set()
        if self.sock is not None:
            with suppress(OSError):  # socket's own shutdown: TLS's would try to talk first
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


def refusal(address: str, allowed: Sequence[str] = ()) -> str | None:
    """Why parcours does not send to `address` (None: it does). Public addresses only, and the
    networks `allowed` lists (`[activation] allow_networks`: a receiver on this machine, the
    office network). A cloud metadata address only when listed alone, as a /32 or /128: it
    hands out the machine's cloud credentials, so a range allowed for another reason must not
    let it through by accident. An IPv4 address written as IPv6 (::ffff:a.b.c.d, 6to4, NAT64)
    is judged as the IPv4 address it reaches."""
    ip = _reached(ipaddress.ip_address(address.split("%")[0]))  # without its interface (fe80::1%eth0)
    networks = [ipaddress.ip_network(n) for n in allowed]
    if ip in METADATA:
        if any(n.num_addresses == 1 and ip in n for n in networks):
            return None
        return (f"{ip} is a cloud metadata address (it hands out this machine's credentials); refused unless "
                f"[activation] allow_networks lists it alone, as {ip}/{ip.max_prefixlen}")
    kind = _kind(ip)
    if kind is None or any(ip in n for n in networks):
        return None
    return f"{ip} is a {kind} address; parcours sends to public addresses and to [activation] allow_networks"


def _reached(ip: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), or itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        return ip.ipv4_mapped or ip.sixtofour or ip
    return ip


def _kind(ip: Address) -> str | None:
    """What makes an address not public (None: it is)."""
    kinds = (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
             ("multicast", ip.is_multicast), ("reserved", ip.is_reserved),
             ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
             ("private", ip.is_private or not ip.is_global))
    return next((kind for kind, is_it in kinds if is_it), None)
