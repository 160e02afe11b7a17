"""flask_status.checks.tcp_check and dns_check against real sockets on loopback and the system's
resolver: a listening socket, a refused port, a listener whose backlog is full, localhost and a
name under the reserved ``.invalid`` top-level domain."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _servers import eventually
from flask import Flask

from flask_status import CheckResult, StatusManager
from flask_status.checks import dns_check, tcp_check

MS = r"\d+(\.\d)? ms"


def status_app(name: str, check: Callable[[], Any], **options: Any) -> Flask:
    app = Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check(name, check, **options)
    return app


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on 127.0.0.1 that never accepts: the kernel completes handshakes."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield server


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 bound but not listening: a connection to it is refused. Held bound for
    the test, so no other process can start listening there meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listener's accept queue is full: Linux drops new SYNs, so connects hang.

    ``listen(0)`` queues one connection; nothing accepts it. Filled by connecting until a
    connect times out (the first extra one does on Linux).
    """
    if sys.platform != "linux":
        pytest.skip("a full accept queue drops SYNs on Linux; other systems may refuse or queue more")
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        port = server.getsockname()[1]
        queued: list[socket.socket] = []
        try:
            for _ in range(16):
                client = socket.socket()
                client.settimeout(0.2)
                try:
                    client.connect(("127.0.0.1", port))
                except TimeoutError:
                    client.close()
                    break
                queued.append(client)
            else:
                pytest.fail("16 connections queued on a listen(0) socket and none hung: cannot make a blackhole")
            yield port
        finally:
            for client in queued:
                client.close()


# -- tcp_check -------------------------------------------------------------------------------------


def test_tcp_connects_to_listening_socket(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = tcp_check("127.0.0.1", port, timeout=1.0)()
    assert isinstance(result, CheckResult)
    assert result.status == "pass"
    assert result.unit == "s"
    assert 0 <= result.observed < 1.0
    assert re.fullmatch(rf"connected to 127\.0\.0\.1:{port} in {MS}", result.message or "")


def test_tcp_passes_while_nobody_accepts(listener: socket.socket) -> None:
    # What the check proves and no more: the kernel answers for a listener that never accepts.
    port = listener.getsockname()[1]
    check = tcp_check("127.0.0.1", port)
    assert [check().status for _ in range(3)] == ["pass"] * 3
    listener.setblocking(False)
    accepted = []
    while True:
        try:
            accepted.append(listener.accept()[0])
        except BlockingIOError:
            break
    assert len(accepted) == 3, "each run opened one connection and closed it"
    for connection in accepted:
        assert connection.recv(16) == b"", "the check sends nothing and closes"
        connection.close()


def test_tcp_refused_port_fails(closed_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        tcp_check("127.0.0.1", closed_port, timeout=1.0)()


def test_tcp_full_backlog_times_out(full_backlog: int) -> None:
    check = tcp_check("127.0.0.1", full_backlog, timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        check()
    assert 0.25 <= time.perf_counter() - started < 2.0, "the check's own timeout ended the connect"


def test_tcp_through_a_route(listener: socket.socket, closed_port: int) -> None:
    port = listener.getsockname()[1]
    response = status_app("db", tcp_check("127.0.0.1", port), timeout=2.0).test_client().get("/ready")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "OK"
    assert body["db"]["status"] == "pass"
    assert body["db"]["unit"] == "s"
    assert body["db"]["message"].startswith(f"connected to 127.0.0.1:{port} in ")

    response = status_app("db", tcp_check("127.0.0.1", closed_port)).test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "FAIL"
    assert body["db"]["status"] == "fail"
    assert body["db"]["error"].startswith("ConnectionRefusedError: ")


def test_tcp_timeout_through_a_route(full_backlog: int) -> None:
    app = status_app("db", tcp_check("127.0.0.1", full_backlog, timeout=0.3), timeout=3.0)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["db"]["error"] == "TimeoutError: timed out"


def test_tcp_ipv6_address_in_brackets_in_message() -> None:
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    with server:
        port = server.getsockname()[1]
        result = tcp_check("::1", port)()
    assert result.status == "pass"
    assert (result.message or "").startswith(f"connected to [::1]:{port} in ")


def test_tcp_name_resolved_then_connected(listener: socket.socket) -> None:
    # "localhost" may resolve to ::1 first: the listener is on 127.0.0.1 only, so the check
    # passes whichever address answers, as create_connection tries each in turn.
    port = listener.getsockname()[1]
    result = tcp_check("localhost", port)()
    assert result.status == "pass"
    assert (result.message or "").startswith(f"connected to localhost:{port} in ")


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "text"),
    [
        (("", 80), {}, TypeError, "tcp_check host must be a non-empty str, got ''"),
        ((None, 80), {}, TypeError, "tcp_check host must be a non-empty str, got None"),
        (("[::1]", 80), {}, ValueError, "without brackets, got '[::1]'"),
        (("db internal", 80), {}, ValueError, "got 'db internal'"),
        (("db..internal", 80), {}, ValueError, "not a valid host name"),
        (("db", 0), {}, ValueError, "tcp_check port must be an int from 1 to 65535, got 0"),
        (("db", 65536), {}, ValueError, "got 65536"),
        (("db", "5432"), {}, TypeError, "got '5432'"),
        (("db", True), {}, TypeError, "got True"),
        (("db", 5432), {"timeout": 0}, ValueError, "tcp_check timeout must be positive, got 0"),
        (("db", 5432), {"timeout": float("nan")}, ValueError, "tcp_check timeout must be a finite"),
        (("db", 5432), {"timeout": "2"}, TypeError, "tcp_check timeout must be a number of seconds"),
    ],
)
def test_tcp_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=re.escape(text)):
        tcp_check(*args, **kwargs)


def test_tcp_check_names_itself() -> None:
    assert tcp_check("db.internal", 5432).__qualname__ == "tcp_check(db.internal:5432)"


# -- dns_check -------------------------------------------------------------------------------------


def test_dns_resolves_localhost() -> None:
    result = dns_check("localhost")()
    assert result.status == "pass"
    assert result.unit == "s"
    assert 0 <= result.observed < 2.0
    message = result.message or ""
    assert re.fullmatch(rf"resolved localhost to .+ in {MS}", message), message
    addresses = message.removeprefix("resolved localhost to ").rsplit(" in ", 1)[0].split(", ")
    assert set(addresses) & {"127.0.0.1", "::1"}, addresses


def test_dns_family_inet_gives_ipv4_only() -> None:
    message = dns_check("localhost", family=socket.AF_INET)().message or ""
    addresses = message.removeprefix("resolved localhost to ").rsplit(" in ", 1)[0].split(", ")
    assert addresses
    assert all(socket.inet_pton(socket.AF_INET, address) for address in addresses), addresses


def test_dns_address_resolves_to_itself() -> None:
    assert (dns_check("127.0.0.1")().message or "").startswith("resolved 127.0.0.1 to 127.0.0.1 in ")


def test_dns_invalid_name_fails() -> None:
    # RFC 6761: .invalid never resolves. A resolver answers NXDOMAIN (gaierror); one that cannot
    # be reached at all leaves the lookup to the check's timeout.
    with pytest.raises((socket.gaierror, TimeoutError)):
        dns_check("flask-status.invalid", timeout=5.0)()


def test_dns_through_a_route() -> None:
    response = status_app("dns", dns_check("localhost"), timeout=3.0).test_client().get("/ready")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "OK"
    assert body["dns"]["status"] == "pass"
    assert body["dns"]["unit"] == "s"
    assert body["dns"]["message"].startswith("resolved localhost to ")

    response = (
        status_app("dns", dns_check("flask-status.invalid", timeout=2.0), timeout=3.0).test_client().get("/ready")
    )
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "FAIL"
    assert body["dns"]["status"] == "fail"
    assert re.match(r"(gaierror|TimeoutError): ", body["dns"]["error"]), body["dns"]["error"]


# A resolver that hangs, in a fresh interpreter: an audit hook holds every getaddrinfo call for
# "localhost" (in the thread making it, before the real call) until the script lets it go.
HUNG_RESOLVER = """
import json, sys, threading, time

gate = threading.Event()

def hold(event, args):
    if event == "socket.getaddrinfo" and args[0] == "localhost":
        gate.wait()

sys.addaudithook(hold)

from flask_status.checks import dns_check

def lookups():
    return sum(thread.name == "flask-status dns_check(localhost)" for thread in threading.enumerate())

check = dns_check("localhost", timeout=0.2)
report = {"runs": [], "threads": []}
for _ in range(3):
    started = time.perf_counter()
    try:
        report["runs"].append(check().status)
    except TimeoutError as error:
        report["runs"].append(str(error))
    report["threads"].append(lookups())
    report.setdefault("took", []).append(time.perf_counter() - started)
gate.set()
deadline = time.monotonic() + 5
while lookups() and time.monotonic() < deadline:
    time.sleep(0.01)
report["left"] = lookups()
result = check()
report["after"] = [result.status, result.message]
print(json.dumps(report))
"""


def test_dns_hung_resolver_times_out_with_one_thread() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", HUNG_RESOLVER], capture_output=True, text=True, check=True, timeout=60
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    # Each run gives up after its timeout, and waits for the lookup the first run started: it
    # was asked 0.2, 0.4, 0.6 s before, and no second thread was started.
    ages = []
    for text in report["runs"]:
        match = re.fullmatch(
            r"no answer for 'localhost' from the resolver within 0\.2 s \(asked (\d+\.\d) s ago\)", text
        )
        assert match, text
        ages.append(float(match.group(1)))
    assert ages == sorted(ages)
    assert ages[-1] >= 0.55
    assert report["threads"] == [1, 1, 1]
    assert all(0.19 <= took < 1.0 for took in report["took"]), report["took"]
    # Once the resolver answers, the thread ends and the next run passes.
    assert report["left"] == 0
    status, message = report["after"]
    assert status == "pass"
    assert message.startswith("resolved localhost to ")


def lookup_threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == f"flask-status dns_check({name})"]


def test_dns_overlapping_runs_all_answer() -> None:
    check = dns_check("localhost", timeout=2.0)
    results: list[CheckResult] = []
    threads = [threading.Thread(target=lambda: results.append(check())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert [result.status for result in results] == ["pass"] * 8
    assert eventually(lambda: not lookup_threads("localhost"))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "text"),
    [
        (("",), {}, TypeError, "dns_check host must be a non-empty str, got ''"),
        ((b"localhost",), {}, TypeError, "got b'localhost'"),
        (("a..b",), {}, ValueError, "dns_check host is not a valid host name"),
        (("localhost",), {"timeout": -1}, ValueError, "dns_check timeout must be positive, got -1"),
        (("localhost",), {"timeout": None}, TypeError, "dns_check timeout must be a number of seconds, not None"),
        (("localhost",), {"family": socket.AF_UNIX}, ValueError, "got socket.AF_UNIX"),
        (("localhost",), {"family": 12345}, ValueError, "socket.AF_INET6, got 12345"),
        (("localhost",), {"family": "inet"}, TypeError, "got 'inet'"),
    ],
)
def test_dns_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=re.escape(text)):
        dns_check(*args, **kwargs)
