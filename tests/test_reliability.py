"""Reliability under faults: hung and flapping checks, hostile clients, recovery without restart.

Everything runs on loopback with real threads; the load tests go through a real threaded
werkzeug server and time every request, as a load balancer would.
"""

from __future__ import annotations

import base64
import http.client
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _servers import Answer, eventually, get
from conftest import advance_when_waited
from flask import Flask

from flask_status import StatusManager
from flask_status.auth import bearer_token
from flask_status.clock import ManualClock

# Generous for a shared 2-core machine, yet far below what a leaked wait or a hang would cost.
MARGIN = 0.75


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


class _ThreadSampler:
    """Samples ``threading.active_count()`` every few milliseconds in a thread of its own."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(threading.active_count())
            time.sleep(0.005)

    def __enter__(self) -> _ThreadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _hammer(base: str, path: str, clients: int, seconds: float) -> list[Answer]:
    """``clients`` threads GET ``path`` back to back for ``seconds``; every answer."""
    results: list[Answer] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    barrier = threading.Barrier(clients)

    def client(_: int) -> None:
        barrier.wait()
        while time.monotonic() < stop_at:
            outcome = get(base, path)
            with lock:
                results.append(outcome)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return results


# -- 1. a check hung forever, under a sustained stream of probes -------------------------------


def test_a_check_hung_forever_under_sustained_load(
    app: Flask, serve: Callable[[Flask], str], release: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_status")
    timeout = 0.1
    runs: list[int] = []

    def database() -> bool:
        runs.append(1)
        release.wait()  # a dead database: no answer until the test says so
        return True

    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", database, timeout=timeout)
    status.add_route("live", "/live")
    base = serve(app)
    baseline = threading.active_count()
    live: list[Answer] = []
    stop_live = threading.Event()

    def probe_liveness() -> None:  # the liveness route must not suffer from the hung readiness check
        while not stop_live.is_set():
            live.append(get(base, "/live"))
            time.sleep(0.02)

    clients = 8
    with _ThreadSampler() as sampler:
        liveness = threading.Thread(target=probe_liveness, daemon=True)
        liveness.start()
        results = _hammer(base, "/ready", clients, 2.0)
        stop_live.set()
        liveness.join(5)

    expected = {
        "status": "FAIL",
        "database": {"status": "fail", "error": f"TimeoutError: no result within {timeout:g} s"},
    }
    latencies = [answer.latency for answer in results]
    assert len(results) >= 60, f"only {len(results)} requests in 2 s: the load did not happen"
    assert {answer.status for answer in results} == {503}
    assert all(answer.json() == expected for answer in results)
    assert max(latencies) < timeout + MARGIN, f"slowest probe took {max(latencies):.3f} s"
    assert runs == [1], "the hung check was started again while its first run was in flight"
    runner = status.state(app).runner
    assert runner.inflight == 1
    assert runner.pool.threads == 1
    # Threads are bounded by the concurrency, not by the number of requests served. Per client
    # (8 hammering, 1 on liveness): itself, its server thread and, for an instant, the previous
    # request's server thread still closing; plus the hung worker and the sampler.
    peak = max(sampler.samples)
    bound = baseline + 3 * (clients + 1) + 2
    print(
        f"hung check: {len(results)} probes, max latency {max(latencies):.3f} s, "
        f"threads baseline {baseline} peak {peak} bound {bound}"
    )
    assert peak <= bound, f"{peak} live threads at peak (baseline {baseline}, bound {bound})"
    assert len(results) > 3 * (peak - baseline)
    assert eventually(lambda: threading.active_count() <= baseline + 1, 3.0), threading.enumerate()
    assert live
    assert {answer.status for answer in live} == {200}
    assert max(answer.latency for answer in live) < MARGIN
    # An outage is logged once (check and route), not once per probe.
    failures = [r for r in caplog.records if r.name == "flask_status" and r.levelno == logging.WARNING]
    assert len(failures) == 2, [r.getMessage() for r in failures]

    release.set()  # the database answers again: the route recovers by itself, no restart
    assert eventually(lambda: get(base, "/ready").status == 200, 3.0)
    answer = get(base, "/ready")
    assert (answer.status, answer.json()) == (200, {"status": "OK", "database": True})
    assert answer.latency < MARGIN
    assert runner.inflight == 0
    recoveries = [r for r in caplog.records if r.name == "flask_status" and r.levelno == logging.INFO]
    assert len(recoveries) == 2, [r.getMessage() for r in recoveries]


# -- 2. an intermittent failure under concurrent load on several routes ------------------------


class Flaky:
    """Fails every ``every``-th call with a numbered ConnectionError; thread-safe."""

    def __init__(self, label: str, every: int = 3) -> None:
        self.label = label
        self.every = every
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            self.calls += 1
            call = self.calls
        time.sleep(0.002)  # long enough for concurrent requests to overlap and join the run
        if call % self.every == 0:
            raise ConnectionError(f"{self.label} down (call {call})")
        return True


def _failing(item: Any) -> bool:
    return item is False or (isinstance(item, dict) and item.get("status") == "fail")


def test_intermittent_failures_give_consistent_responses_per_route(app: Flask, serve: Callable[[Flask], str]) -> None:
    shared, billing_only, inventory_only = Flaky("shared"), Flaky("billing"), Flaky("inventory")
    status = StatusManager(app)
    orders = status.add_route("orders", "/orders", message={"service": "orders", "status": "UP"})
    orders.add_field("region", "eu-west")
    orders.add_field("depth", lambda: 7)
    orders.add_check("dependency", shared)
    billing = status.add_route("billing", "/billing", message="billing")
    billing.add_field("currency", "EUR")
    billing.add_field("lag", lambda: 0.25, ttl=0.05)
    billing.add_check("dependency", shared)  # the same check on two routes: one shared entry
    billing.add_check("ledger", billing_only, ttl=0.02)
    # Every result cached briefly: this route is served from its rendered body between runs.
    inventory = status.add_route("inventory", "/inventory")
    inventory.add_check("stock", inventory_only, ttl=0.02)
    base = serve(app)
    expected: dict[str, tuple[set[str], str, Callable[[dict[str, Any]], bool]]] = {
        "/orders": (
            {"service", "status", "region", "depth", "dependency"},
            "UP",
            lambda b: b["service"] == "orders" and b["region"] == "eu-west" and b["depth"] == 7,
        ),
        "/billing": (
            {"message", "status", "currency", "lag", "dependency", "ledger"},
            "",
            lambda b: b["message"] == "billing" and b["currency"] == "EUR" and b["lag"] in (0.25, None),
        ),
        "/inventory": ({"status", "stock"}, "OK", lambda b: True),
    }
    errors = {
        "dependency": re.compile(r"ConnectionError: shared down \(call \d+\)"),
        "ledger": re.compile(r"ConnectionError: billing down \(call \d+\)"),
        "stock": re.compile(r"ConnectionError: inventory down \(call \d+\)"),
    }
    paths = list(expected)
    results: list[tuple[str, int, Any]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 1.5

    def client(index: int) -> None:
        rng = random.Random(index)
        while time.monotonic() < stop_at:
            path = rng.choice(paths)
            answer = get(base, path)
            code, body = answer.status, answer.json()
            with lock:
                results.append((path, code, body))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))

    print(f"flapping: {len(results)} responses, {[shared.calls, billing_only.calls, inventory_only.calls]} runs")
    assert len(results) >= 100
    seen: dict[str, set[int]] = {path: set() for path in paths}
    for path, code, body in results:
        keys, ok_status, constants = expected[path]
        seen[path].add(code)
        if path == "/billing" and "status" not in body:
            keys = keys - {"status"}  # a message without "status" shows none when passing
        assert set(body) == keys, (path, code, body)
        assert constants(body), (path, body)
        items = {name: value for name, value in body.items() if name in errors}
        for name, value in items.items():
            assert value is True or (
                set(value) == {"status", "error"}
                and value["status"] == "fail"
                and errors[name].fullmatch(value["error"])
            ), (path, name, value)
        failing = any(_failing(value) for value in items.values())
        assert code == (503 if failing else 200), (path, code, body)
        assert body.get("status", "") == ("FAIL" if failing else ok_status), (path, code, body)
    for path in ("/orders", "/billing"):  # the flapping was observed, not just successes
        assert seen[path] == {200, 503}, (path, seen[path])
    assert seen["/inventory"] <= {200, 503}


# -- 3. a flood of unauthenticated and malformed requests at a protected route ----------------

TOKEN = "s3cret"
SECRET_VALUE = "sekrit-field-value-42"
CHECK_NAME = "db_password_check"
PASSWORD = "hunter2-pw"
LEAKS = (SECRET_VALUE, CHECK_NAME, PASSWORD, TOKEN)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
ALLOWED_DENIALS = {400, 401, 403, 405, 414, 431}


def _bad_authorizations(rng: random.Random) -> list[str]:
    garbage = "".join(chr(rng.randrange(0x21, 0x7F)) for _ in range(rng.randrange(1, 64)))
    return [
        "",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "bearer",
        "Basic xxx",
        "Basic " + base64.b64encode(b"admin:" + TOKEN.encode()).decode(),
        "Bearer S3CRET",
        "Bearer s3cre",
        "Bearer s3cret2",
        "Bearer s3cret, s3cret",
        "Bearer s3cret s3cret",
        "Bearer\ts3cret",
        "Bearer s3cret\x00",
        "Token s3cret",
        "s3cret",
        "Digest username=admin, realm=status",
        "Bearer " + "A" * 8192,
        "Bearer " + TOKEN * 1400,
        "Bearer " + garbage.replace(",", "") + "x",
        "Bearer s3cr\u00e9t",
        "Bearer \u2603\u00ff\u00fe",
        "Bearer \ud800",
    ]


def _random_query(rng: random.Random) -> str:
    return rng.choice(
        [
            "",
            "?",
            f"?token={TOKEN}",
            f"?access_token={TOKEN}",
            "?Authorization=Bearer%20" + TOKEN,
            "?details=1&debug=true",
            "?%ff%fe=%00&%zz",
            "?" + "&".join(f"k{i}=v{i}" for i in range(rng.randrange(1, 500))),
            "?q=" + "x" * rng.randrange(1000, 20000),
            "?q=" + "y" * 100_000,
        ]
    )


def _random_headers(rng: random.Random, authorizations: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if rng.random() < 0.9:
        headers["Authorization"] = rng.choice(authorizations)
    extras = {
        "X-Forwarded-For": "127.0.0.1",
        "X-Real-IP": "10.0.0.1",
        "Forwarded": "for=127.0.0.1",
        "Accept": rng.choice(["application/health+json", "*/*", "text/html;q=0.9, \u00e9/x", ""]),
        "Cookie": "session=" + "c" * rng.randrange(0, 4000),
        "Content-Type": rng.choice(["application/json", "multipart/form-data; boundary=", "\u00ff"]),
        "X-Operator-Token": TOKEN,
        "User-Agent": "\u00e9" * rng.randrange(0, 100),
    }
    for name in rng.sample(sorted(extras), rng.randrange(0, len(extras) + 1)):
        headers[name] = extras[name]
    return headers


def _protected_app(app: Flask) -> tuple[StatusManager, list[int]]:
    ran: list[int] = []

    def secret_field() -> str:
        ran.append(1)
        return SECRET_VALUE

    def db_check() -> bool:
        ran.append(1)
        raise ConnectionError(f"postgresql://admin:{PASSWORD}@db:5432/prod refused")

    status = StatusManager(app)
    details = status.add_route("details", "/health/details", authenticator=bearer_token(TOKEN))
    details.add_field("secret_field", secret_field)
    details.add_check(CHECK_NAME, db_check)
    return status, ran


def _assert_denied(code: int, raw: bytes, what: object) -> None:
    assert code != 200, (what, raw[:300])
    assert code < 500, (code, what, raw[:300])
    assert code in ALLOWED_DENIALS, (code, what, raw[:300])
    for secret in LEAKS:
        assert secret.encode() not in raw, (secret, code, what, raw[:300])


def test_flood_of_bad_requests_through_the_test_client(app: Flask) -> None:
    _, ran = _protected_app(app)
    client = app.test_client()
    rng = random.Random(20261125)
    authorizations = _bad_authorizations(rng)
    codes: dict[int, int] = {}
    for _ in range(400):
        method = rng.choice(METHODS)
        url = "/health/details" + _random_query(rng)
        headers = _random_headers(rng, authorizations)
        body = rng.choice([None, b"", b"{", TOKEN.encode(), bytes(rng.randrange(256) for _ in range(64))])
        response = client.open(url, method=method, headers=headers, data=body)
        raw = b"".join(f"{k}: {v}\n".encode("utf-8", "surrogateescape") for k, v in response.headers.items())
        raw += response.get_data()
        _assert_denied(response.status_code, raw, (method, url[:80], headers))
        if response.status_code == 401 and method != "HEAD":
            assert response.get_json() == {"status": "unauthorized"}
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="status"')
        codes[response.status_code] = codes.get(response.status_code, 0) + 1
    assert set(codes) == {401, 405}, codes
    assert ran == [], "a check or field ran for an unauthenticated request"
    # The token itself still works: the flood did not break the route.
    response = client.get("/health/details", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 503
    assert response.get_json()["secret_field"] == SECRET_VALUE


def _raw_exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes, read until the server closes: (status, whole response)."""
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # the server closed with part of an oversized request unread
                if chunks:
                    break
                raise
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    if raw.startswith(b"HTTP/"):
        return int(raw.split(b" ", 2)[1]), raw
    # HTTP/0.9-style error page for a request line the server cannot parse.
    match = re.search(rb"Error code: (\d{3})", raw)
    assert match, raw[:300]
    return int(match.group(1)), raw


def test_flood_of_bad_requests_through_a_real_server(app: Flask, serve: Callable[[Flask], str]) -> None:
    _, ran = _protected_app(app)
    port = _port(serve(app))
    rng = random.Random(7)
    authorizations = _bad_authorizations(rng)

    def with_http_client(seed: int) -> tuple[int, bytes]:
        local = random.Random(seed)
        method = local.choice(METHODS)
        query = _random_query(local)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.putrequest(method, "/health/details" + query)
            for name, value in _random_headers(local, authorizations).items():
                # Raw bytes on the wire: non-ASCII as UTF-8, lone surrogates included.
                conn.putheader(name, value.encode("utf-8", "surrogatepass"))
            conn.endheaders()
            response = conn.getresponse()
            raw = str(response.headers).encode("utf-8", "surrogateescape") + response.read()
            return response.status, raw
        except ConnectionError:
            # Only acceptable for a request line the server refused to read in full (it answers
            # 414 and closes; a reset may reach the client first).
            assert len(query) > 65536, (seed, method, query[:80])
            return 414, b""
        finally:
            conn.close()

    head = b"GET /health/details%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    # (raw request, the answer expected from the server or the app)
    malformed: list[tuple[bytes, int]] = [
        (head % (b"?" + b"a" * 70_000) + b"\r\n", 414),  # request line too long
        (head % b"" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),  # too many headers
        (head % b"" + b"Authorization: Bearer " + b"z" * 70_000 + b"\r\n\r\n", 431),  # header line too long
        (head % b"" + b"Authorization Bearer s3cret\r\n\r\n", 401),  # no colon
        (head % b"" + b"Authorization: Bearer \xff\xfe\xe9\x80\r\n\r\n", 401),  # not UTF-8
        (head % b"" + b"Authorization: Bearer s3cret\x00\r\n\r\n", 401),
        (head % b"?%ff%00=\xff\xfe" + b"\r\n", 401),
        (b"GET http://evil.example/health/details HTTP/1.1\r\nHost: evil\r\nConnection: close\r\n\r\n", 401),
        (b"BREW /health/details HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
        (b"POST /health/details HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 405),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),  # a TLS hello on a plain port
        # The stdlib server answers an unknown protocol version itself, before the app is reached.
        (b"GET /health/details HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    ]
    seeds = [rng.randrange(1 << 30) for _ in range(80)]
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(with_http_client, seeds))
        raw_outcomes = list(pool.map(lambda case: _raw_exchange(port, case[0]), malformed))
    for (code, raw), seed in zip(outcomes, seeds, strict=True):
        _assert_denied(code, raw, seed)
    for (code, raw), (request, expected) in zip(raw_outcomes, malformed, strict=True):
        assert code == expected, (code, request[:80], raw[:300])
        for secret in LEAKS:
            assert secret.encode() not in raw, (secret, request[:80])
    assert {code for code, _ in outcomes} <= {401, 405, 414}  # 414: the 100 KB query strings
    assert ran == []


# -- 4. recovery without a restart, on the manager's clock --------------------------------------


class Dependency:
    """A check against a dependency the test takes down and brings back."""

    def __init__(self) -> None:
        self.up = False
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        if not self.up:
            raise ConnectionError("connection refused")
        return True


def test_failure_is_cached_for_failure_ttl_then_recovery_shows(app: Flask, clock: Any) -> None:
    dependency = Dependency()
    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check(
        "database", dependency, ttl=60, failure_ttl=2
    )
    client = app.test_client()
    down = {"status": "FAIL", "database": {"status": "fail", "error": "ConnectionError: connection refused"}}
    response = client.get("/ready")
    assert (response.status_code, response.get_json(), dependency.calls) == (503, down, 1)
    clock.advance(1.0)
    assert (client.get("/ready").status_code, dependency.calls) == (503, 1)  # served from cache
    dependency.up = True  # back, but the cached failure is still fresh for a moment
    clock.advance(0.9)
    response = client.get("/ready")
    assert (response.status_code, response.get_json(), dependency.calls) == (503, down, 1)
    clock.advance(0.2)  # past failure_ttl (2 s): the check runs again and passes
    response = client.get("/ready")
    assert (response.status_code, response.get_json(), dependency.calls) == (200, {"status": "OK", "database": True}, 2)
    clock.advance(59)  # a success is kept for the full ttl
    assert (client.get("/ready").status_code, dependency.calls) == (200, 2)
    dependency.up = False
    clock.advance(1.1)
    assert (client.get("/ready").status_code, dependency.calls) == (503, 3)


def test_default_failure_ttl_shows_recovery_within_five_seconds(make_app: Callable[..., Flask], clock: Any) -> None:
    app = make_app()
    dependency = Dependency()
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("database", dependency, ttl=60)
    client = app.test_client()
    assert app.config["STATUS_FAILURE_TTL"] == 5.0
    assert client.get("/ready").status_code == 503
    dependency.up = True
    clock.advance(4.9)
    assert (client.get("/ready").status_code, dependency.calls) == (503, 1)
    clock.advance(0.1)  # 5 s after the failure was observed
    assert (client.get("/ready").status_code, dependency.calls) == (200, 2)


# -- 5. more faults a user would want proven ---------------------------------------------------


class _CustomBase(BaseException):
    pass


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (KeyboardInterrupt("interrupted"), "KeyboardInterrupt: interrupted"),
        (SystemExit(3), "SystemExit: 3"),
        (GeneratorExit(), "GeneratorExit"),
        (_CustomBase("gone"), "_CustomBase: gone"),
    ],
    ids=["KeyboardInterrupt", "SystemExit", "GeneratorExit", "custom"],
)
def test_base_exceptions_in_a_check_do_not_kill_the_pool(
    app: Flask, probe: Any, error: BaseException, text: str
) -> None:
    # One worker only: if the BaseException killed it, every later check would hang.
    status = StatusManager(app, max_workers=1, default_timeout=1.0)
    broken = probe(error=error)
    healthy = probe(True)
    status.add_route("broken", "/broken").add_check("broken", broken, ttl=60)
    status.add_route("healthy", "/healthy").add_check("healthy", healthy)
    client = app.test_client()
    for _ in range(3):
        started = time.monotonic()
        response = client.get("/broken")
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.get_json() == {"status": "FAIL", "broken": {"status": "fail", "error": text}}
        assert elapsed < 0.5, f"{elapsed:.2f} s: the request waited for a run that died"
        started = time.monotonic()
        response = client.get("/healthy")
        assert (response.status_code, response.get_json()) == (200, {"status": "OK", "healthy": True})
        assert time.monotonic() - started < 0.5
    runner = status.state(app).runner
    assert runner.inflight == 0
    assert runner.pool.threads == 1
    assert healthy.calls == 3


def test_base_exception_under_concurrent_requests(app: Flask, probe: Any) -> None:
    status = StatusManager(app, max_workers=2, default_timeout=1.0)
    status.add_route("r", "/r").add_check("interrupted", probe(sleep=0.05, error=KeyboardInterrupt()))
    status.add_route("ok", "/ok").add_check("fine", probe(True, sleep=0.01))
    barrier = threading.Barrier(12)

    def one(index: int) -> tuple[int, float]:
        client = app.test_client()
        barrier.wait()
        started = time.monotonic()
        code = client.get("/r" if index % 2 else "/ok").status_code
        return code, time.monotonic() - started

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(one, range(12)))
    assert [code for code, _ in results] == [200, 503] * 6
    assert max(elapsed for _, elapsed in results) < 1.0
    assert status.state(app).runner.pool.threads <= 2
    assert app.test_client().get("/ok").status_code == 200


def test_a_result_that_arrives_after_the_timeout_is_cached(app: Flask, release: threading.Event) -> None:
    runs: list[int] = []

    def slow() -> str:
        runs.append(1)
        release.wait(10)
        return "eventually"

    status = StatusManager(app)
    status.add_route("d", "/d").add_field("slow", slow, ttl=60, timeout=0.1)
    client = app.test_client()
    for _ in range(2):  # the second request joins the run in flight: no second run
        started = time.monotonic()
        response = client.get("/d")
        assert time.monotonic() - started < 0.1 + MARGIN
        assert response.status_code == 503
        assert response.get_json()["slow"] == {"status": "fail", "error": "TimeoutError: no result within 0.1 s"}
    release.set()
    runner = status.state(app).runner
    assert eventually(lambda: runner.inflight == 0, 3.0)
    started = time.monotonic()
    response = client.get("/d")
    assert time.monotonic() - started < MARGIN
    assert (response.status_code, response.get_json()) == (200, {"status": "OK", "slow": "eventually"})
    assert runs == [1]


def test_a_failure_that_arrives_after_the_timeout_is_cached_for_failure_ttl(
    app: Flask, clock: Any, release: threading.Event
) -> None:
    runs: list[int] = []

    def slow_then_broken() -> bool:
        runs.append(1)
        release.wait(10)
        if len(runs) == 1:
            raise ConnectionError("reset by peer")
        return True

    status = StatusManager(app, clock=clock)
    status.add_route("d", "/d").add_check("db", slow_then_broken, ttl=60, failure_ttl=3, timeout=0.1)
    client = app.test_client()
    advance_when_waited(clock, 0.1)
    assert client.get("/d").get_json()["db"]["error"] == "TimeoutError: no result within 0.1 s"
    release.set()
    assert eventually(lambda: status.state(app).runner.inflight == 0, 3.0)
    response = client.get("/d")
    assert (response.status_code, response.get_json()) == (
        503,
        {"status": "FAIL", "db": {"status": "fail", "error": "ConnectionError: reset by peer"}},
    )
    assert runs == [1]
    clock.advance(3)
    assert client.get("/d").status_code == 200
    assert runs == [1, 1]


def test_clients_that_give_up_do_not_leak_threads(
    app: Flask, serve: Callable[[Flask], str], release: threading.Event
) -> None:
    # A load balancer whose probe timeout is shorter than the check's: it hangs up first.
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("db", lambda: release.wait(10), timeout=0.3)
    base = serve(app)
    port = _port(base)
    baseline = threading.active_count()

    def impatient(_: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            time.sleep(0.02)  # and close without reading the answer

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(impatient, range(32)))
    assert eventually(lambda: threading.active_count() <= baseline + 1, 3.0), threading.enumerate()
    answer = get(base, "/ready")
    assert (answer.status, answer.json()["db"]["error"]) == (503, "TimeoutError: no result within 0.3 s")
    assert answer.latency < 0.3 + MARGIN
    assert status.state(app).runner.pool.threads == 1
    release.set()
    assert eventually(lambda: get(base, "/ready").status == 200, 3.0)


def test_hung_runs_do_not_starve_a_healthy_check(
    app: Flask, serve: Callable[[Flask], str], probe: Any, release: threading.Event
) -> None:
    # Two checks hung on a dead service take both workers; a third, healthy check must still
    # run: a run hung past its timeout holds no capacity others need, the pool grows by one.
    status = StatusManager(app, max_workers=2)
    hung = status.add_route("hung", "/hung")
    hung.add_check("a", probe(gate=release), timeout=0.1)
    hung.add_check("b", probe(gate=release), timeout=0.1)
    healthy = probe(True)
    status.add_route("ready", "/ready").add_check("cache", healthy, timeout=0.2)
    base = serve(app)
    assert get(base, "/hung").status == 503
    results = _hammer(base, "/ready", 4, 0.5)
    assert results
    for answer in results:
        assert answer.latency < 0.2 + MARGIN
        assert (answer.status, answer.json()) == (200, {"status": "OK", "cache": True})
    pool = status.state(app).runner.pool
    assert pool.hung == 2
    assert 3 <= pool.threads <= pool.max_workers + pool.hung  # hung runs do not count against max_workers
    release.set()
    assert eventually(lambda: get(base, "/ready").status == 200, 3.0)
    assert eventually(lambda: get(base, "/hung").status == 200, 3.0)


def test_past_the_hard_cap_a_check_fails_at_once_saying_why(app: Flask, release: threading.Event) -> None:
    clock = ManualClock()
    status = StatusManager(app, max_workers=1, clock=clock)
    pool = status.state(app).runner.pool
    assert pool.hard_cap == 4
    client = app.test_client()
    for index in range(pool.hard_cap):
        status.add_route(f"hung{index}", f"/hung{index}").add_check("db", lambda: release.wait(30), timeout=1)
    status.add_route("ready", "/ready").add_check("cache", lambda: True, timeout=5)
    for index in range(pool.hard_cap):
        advance_when_waited(clock, 1)
        assert client.get(f"/hung{index}").status_code == 503  # a timeout: the run hangs on
    assert (pool.threads, pool.hung) == (4, 4)
    response = client.get("/ready")  # no clock advance: it must not wait at all
    release.set()
    assert response.status_code == 503
    error = response.get_json()["cache"]["error"]
    assert error.startswith("PoolExhausted: not started: 4 runs hung past their timeout")
    assert "cap of 4" in error
    assert pool.threads <= pool.hard_cap


def test_timeouts_of_several_hung_fields_do_not_add_up(app: Flask, release: threading.Event) -> None:
    route = StatusManager(app).add_route("d", "/d")
    for i, timeout in enumerate((0.2, 0.3, 0.25)):
        route.add_check(f"hung{i}", lambda: release.wait(10), timeout=timeout)
    started = time.monotonic()
    response = app.test_client().get("/d")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert 0.3 <= elapsed < 0.3 + MARGIN, f"{elapsed:.2f} s: the request waited for the sum of the timeouts"


def test_a_failure_to_start_a_worker_thread_is_not_permanent(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    # Thread creation fails under a pids limit or memory pressure: exactly when health matters.
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", lambda: True, timeout=0.2)
    original = threading.Thread.start
    failures = [RuntimeError("can't start new thread")]

    def start(self: threading.Thread) -> None:
        if failures and self.name.startswith("flask-status"):
            raise failures.pop()
        original(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    client = app.test_client()
    first = client.get("/ready")
    assert first.status_code == 503  # the failed start is that check's failure, not a 500
    assert "can't start new thread" in first.get_json()["database"]["error"]
    assert failures == []  # threads can be started again from now on
    # The dependency is healthy and threads can be started again: the route must recover.
    codes = [client.get("/ready").status_code for _ in range(5)]
    assert codes[-1] == 200, codes


def test_a_field_value_json_cannot_encode_fails_the_field_not_the_route(app: Flask) -> None:
    route = StatusManager(app).add_route("d", "/d")
    route.add_field("version", "2.0.0")
    route.add_field("counter", lambda: 10**5000)
    response = app.test_client().get("/d")
    assert response.status_code in (200, 503), response.get_data()
    assert response.get_json()["version"] == "2.0.0"
    assert "too large" in response.get_json()["counter"]["error"]
