"""The probe listener (STATUS_PROBE_PORT): public status routes on a port of their own, answered
from results kept fresh in the background, with liveness that fails on a stuck worker and
readiness that fails on a saturated app (opt-in).

In-process tests run the listener on a loopback port with a manual clock; the real-server tests
run tests/apps/probe_app.py under gunicorn (gthread and sync, with and without --preload),
waitress and the werkzeug server.
"""

from __future__ import annotations

import gc
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _servers import APPS, HOST, Poller, eventually, free_port, get, gunicorn, launch
from flask import Flask

from flask_status import StatusManager
from flask_status.clock import ManualClock
from flask_status.config import ProbeSettings, probe_settings
from flask_status.engine.scheduler import scheduler
from flask_status.listen import ProbeListener, listener_of
from flask_status.listen.load import Board, Slot, saturated, stuck
from flask_status.listen.server import MAX_CONNECTIONS, MAX_HEAD

# -- in one process ------------------------------------------------------------------------------


@pytest.fixture
def listening(make_app: Callable[..., Flask]) -> Iterator[Callable[..., tuple[Flask, StatusManager, ProbeListener]]]:
    """``listening(clock=None, **config)``: an app whose listener serves on a free loopback port,
    with a liveness, a readiness and an authenticated details route; stopped at teardown."""
    made: list[ProbeListener] = []

    def factory(clock: ManualClock | None = None, **config: Any) -> tuple[Flask, StatusManager, ProbeListener]:
        app = make_app(STATUS_PROBE_PORT=0, STATUS_PROBE_HOST=HOST, **config)
        status = StatusManager(app, clock=clock) if clock is not None else StatusManager(app)
        status.add_route("live", "/health/live", liveness=True)
        status.add_route("ready", "/health/ready", readiness=True)
        status.add_route("details", "/health/details", authenticator=lambda view: view).add_field("secret", "s3")
        listener = listener_of(app)
        assert listener is not None
        assert listener.running
        made.append(listener)
        return app, status, listener

    yield factory
    for listener in made:
        listener.stop()


def raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_listener_serves_public_routes_and_never_a_details_route(listening: Any) -> None:
    app, _, listener = listening()
    port = listener.port
    live = get(port, "/health/live")
    assert (live.status, live.json()) == (200, {"status": "OK"})
    assert live.headers["Cache-Control"] == "no-store"
    assert live.headers["Content-Type"] == "application/json"
    assert app.test_client().get("/health/live").get_json() == live.json()  # the same body as on the app's port
    for path in ("/health/details", "/nope", "/health/live/extra"):
        answer = get(port, path)
        assert answer.status == 404, path
        assert b"s3" not in answer.body
    # The details route still answers on the app's own port.
    assert app.test_client().get("/health/details").get_json()["secret"] == "s3"


def test_a_listener_answers_head_refuses_other_methods_and_bad_requests(listening: Any) -> None:
    _, _, listener = listening()
    port = listener.port
    head = raw(port, b"HEAD /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Content-Length: 16\r\n" in head
    assert head.endswith(b"\r\n\r\n")  # no body
    post = raw(port, b"POST /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert post.startswith(b"HTTP/1.0 405 ")
    assert b"Allow: GET, HEAD\r\n" in post
    assert raw(port, b"\x16\x03\x01garbage\r\n\r\n").startswith(b"HTTP/1.0 400 ")
    huge = b"GET /health/live HTTP/1.1\r\nX-Pad: " + b"a" * (MAX_HEAD + 10) + b"\r\n\r\n"
    assert raw(port, huge).startswith(b"HTTP/1.0 431 ")
    assert get(port, "/health/live?verbose=1").status == 200  # a query string is ignored


def test_a_silent_connection_does_not_hold_up_probes(listening: Any) -> None:
    _, _, listener = listening()
    with socket.create_connection((HOST, listener.port)) as idle:
        idle.sendall(b"GET /health/li")  # never finished
        answers = [get(listener.port, "/health/live", timeout=2) for _ in range(5)]
        assert [a.status for a in answers] == [200] * 5
        assert max(a.latency for a in answers) < 1.0
        idle.settimeout(5)
        assert idle.recv(100) == b""  # closed after READ_TIMEOUT, without an answer


def test_a_flood_of_connections_does_not_stop_the_listener(listening: Any) -> None:
    _, _, listener = listening()
    idle = [socket.create_connection((HOST, listener.port)) for _ in range(MAX_CONNECTIONS)]
    try:
        assert eventually(lambda: len(idle) == MAX_CONNECTIONS)
        time.sleep(0.3)  # let the server take all of them in
        # In one breath: the oldest speaks while new ones arrive and evict it, so its event and
        # the accepts that close it come in the same batch.
        idle[0].sendall(b"GET /health/li")
        idle.extend(socket.create_connection((HOST, listener.port)) for _ in range(2))
        answers = [get(listener.port, "/health/live", timeout=2) for _ in range(5)]
        assert [a.status for a in answers] == [200] * 5
        assert listener.running
    finally:
        for sock in idle:
            sock.close()


def test_a_head_ending_lines_with_lf_alone_is_answered(listening: Any) -> None:
    _, _, listener = listening()
    assert raw(listener.port, b"GET /health/live HTTP/1.0\n\n").startswith(b"HTTP/1.0 200 OK")


def test_a_click_program_that_is_not_the_flask_cli_serves_probes(make_app: Callable[..., Flask]) -> None:
    # A `myapp serve` command starting waitress loads the app inside a click context too.
    import click

    with click.Context(click.Command("serve")):
        app = make_app(STATUS_PROBE_PORT=0, STATUS_PROBE_HOST=HOST)
        StatusManager(app).add_route("live", "/live", liveness=True)
    listener = listener_of(app)
    assert listener is not None
    try:
        assert listener.running
        assert get(listener.port, "/live").status == 200
    finally:
        listener.stop()


def test_health_json_is_negotiated(listening: Any) -> None:
    _, _, listener = listening()
    answer = get(listener.port, "/health/ready", headers={"Accept": "application/health+json"})
    assert answer.headers["Content-Type"] == "application/health+json"
    assert answer.json()["status"] == "pass"


def test_a_probe_never_waits_for_a_check(listening: Any, probe: Any, release: threading.Event) -> None:
    _, status, listener = listening()
    check = probe(gate=release)
    status.routes["ready"].add_check("db", check)  # no ttl: the scheduler runs it every STATUS_PROBE_REFRESH
    scheduler.run_due(listener)
    assert eventually(lambda: check.running == 1)
    answer = get(listener.port, "/health/ready", timeout=3)
    assert answer.latency < 1.0
    assert answer.status == 503  # no verdict yet: pending counts as failing
    assert answer.json()["db"]["status"] == "fail"
    release.set()
    assert eventually(lambda: get(listener.port, "/health/ready").status == 200)
    assert check.calls == 1  # probes ran nothing


def test_served_checks_run_in_the_background_on_the_clock(listening: Any, probe: Any) -> None:
    clock = ManualClock()
    app, status, listener = listening(clock, STATUS_PROBE_REFRESH=5)
    uncached, cached = probe(), probe()
    ready = status.routes["ready"]
    ready.add_check("uncached", uncached)
    ready.add_check("cached", cached, ttl=30)
    ran = lambda: (uncached.calls, cached.calls)  # noqa: E731

    scheduler.run_due(listener)
    assert eventually(lambda: ran() == (1, 1))
    for _ in range(20):
        assert get(listener.port, "/health/ready").status == 200
    assert ran() == (1, 1)  # twenty probes, no run
    clock.advance(4.9)
    scheduler.run_due(listener)
    assert status.state(app).runner.inflight == 0  # nothing started: not merely not run yet
    assert ran() == (1, 1)
    clock.advance(0.1)
    scheduler.run_due(listener)
    assert eventually(lambda: ran() == (2, 1))
    clock.advance(25)
    scheduler.run_due(listener)
    assert eventually(lambda: ran() == (3, 2))  # the cached one every ttl


def test_a_dependency_that_fails_fails_readiness_on_the_listener_at_the_next_run(listening: Any, probe: Any) -> None:
    clock = ManualClock()
    _, status, listener = listening(clock, STATUS_PROBE_REFRESH=5)
    db = probe()
    status.routes["ready"].add_check("db", db, ttl=10)
    scheduler.run_due(listener)
    assert eventually(lambda: get(listener.port, "/health/ready").status == 200)
    db.value = False
    clock.advance(10)
    scheduler.run_due(listener)
    assert eventually(lambda: get(listener.port, "/health/ready").status == 503)
    assert get(listener.port, "/health/ready").json() == {"status": "FAIL", "db": False}
    db.value = True
    clock.advance(5)  # a failure is run again every failure ttl (5 s), not every ttl
    scheduler.run_due(listener)
    assert eventually(lambda: get(listener.port, "/health/ready").status == 200)


def test_draining_fails_readiness_on_the_listener_not_liveness(listening: Any) -> None:
    _, status, listener = listening()
    status.drain()
    ready = get(listener.port, "/health/ready")
    assert (ready.status, ready.json()) == (503, {"status": "FAIL", "draining": True})
    assert get(listener.port, "/health/live").status == 200


def _hold(app: Flask, gate: threading.Event, path: str = "/block") -> threading.Thread:
    """A request of ``app`` (through its WSGI stack) held until ``gate`` is set."""
    # buffered: the body is read and closed, as a server does, and the request counted as finished
    thread = threading.Thread(target=lambda: app.test_client().get(path, buffered=True), daemon=True)
    thread.start()
    return thread


def _blocking(app: Flask, gate: threading.Event) -> None:
    app.add_url_rule("/block", "block", lambda: "done" if gate.wait(30) else "late")
    app.add_url_rule("/quick", "quick", lambda: "quick")


def test_a_stuck_worker_fails_liveness_after_the_limit_and_recovers(listening: Any, release: threading.Event) -> None:
    clock = ManualClock()
    app, _, listener = listening(clock, STATUS_STUCK_AFTER=60)
    _blocking(app, release)
    held = [_hold(app, release) for _ in range(2)]
    assert eventually(lambda: next(listener.meter.board.slots()).in_flight == 2)
    clock.advance(60)
    assert get(listener.port, "/health/live").status == 200  # at the limit: not yet
    clock.advance(1)
    live = get(listener.port, "/health/live")
    assert live.status == 503
    item = live.json()["workers"]
    assert (item["status"], item["observed"]) == ("fail", 1)
    assert f"worker {os.getpid()} has 2 request(s) in flight and none finished for 61 s" in item["message"]
    assert get(listener.port, "/health/ready").status == 200  # stuck is liveness's business
    release.set()
    for thread in held:
        thread.join(10)
    assert get(listener.port, "/health/live").status == 200


def test_busy_is_not_stuck_while_requests_finish(listening: Any, release: threading.Event) -> None:
    clock = ManualClock()
    app, _, listener = listening(clock, STATUS_STUCK_AFTER=60)
    _blocking(app, release)
    held = _hold(app, release)
    assert eventually(lambda: next(listener.meter.board.slots()).in_flight == 1)
    for _ in range(3):
        clock.advance(40)
        assert app.test_client().get("/quick", buffered=True).status_code == 200  # one finished: serving
        assert get(listener.port, "/health/live").status == 200
    release.set()
    held.join(10)


def test_saturation_fails_readiness_while_every_thread_is_busy(listening: Any, release: threading.Event) -> None:
    clock = ManualClock()
    app, _, listener = listening(clock, STATUS_SATURATED_AFTER=5, STATUS_WORKER_THREADS=2)
    _blocking(app, release)
    one = threading.Event()
    app.add_url_rule("/one", "one", lambda: "one" if one.wait(30) else "late")
    held = [_hold(app, release), _hold(app, one, "/one")]
    assert eventually(lambda: next(listener.meter.board.slots()).in_flight == 2)
    clock.advance(4.9)
    assert get(listener.port, "/health/ready").status == 200
    clock.advance(0.1)
    ready = get(listener.port, "/health/ready")
    assert ready.status == 503
    assert ready.json()["capacity"]["message"] == "every worker thread (2) busy for 5 s (STATUS_SATURATED_AFTER is 5 s)"
    assert get(listener.port, "/health/live").status == 200  # busy is no reason to restart
    one.set()  # a thread frees: ready again at once
    held[1].join(10)
    assert get(listener.port, "/health/ready").status == 200
    release.set()
    held[0].join(10)


def test_saturation_is_off_by_default_and_needs_a_known_capacity(listening: Any, release: threading.Event) -> None:
    clock = ManualClock()
    app, _, listener = listening(clock, STATUS_SATURATED_AFTER=1)  # the threads are unknown here
    _blocking(app, release)
    held = [_hold(app, release) for _ in range(3)]
    assert eventually(lambda: next(listener.meter.board.slots()).in_flight == 3)
    clock.advance(100)
    assert get(listener.port, "/health/ready").status == 200
    release.set()
    for thread in held:
        thread.join(10)


def test_verdicts_on_slots() -> None:
    idle = Slot(1, 0, 2, busy_since=0.0, last_finished=0.0, saturated_since=None)
    busy = Slot(2, 2, 2, busy_since=10.0, last_finished=50.0, saturated_since=10.0)
    assert stuck([idle, busy], now=1000.0, after=60.0) == [(busy, 950.0)]
    assert saturated([busy], now=20.0, after=5.0) == (2, 10.0)
    assert saturated([busy, idle], now=20.0, after=5.0) is None  # one worker has room
    assert saturated([], now=20.0, after=5.0) is None


def test_a_shared_board_is_seen_across_fork() -> None:
    board = Board.shared(count=4)
    board.claim(1, pid=os.getpid(), capacity=2)
    written_r, written_w = os.pipe()
    read_r, read_w = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() with threads alive in pytest
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            board.claim(2, pid=os.getpid(), capacity=4)
            board.update(2, 3, 1.5, 2.5, 1.5)
            os.write(written_w, b"w")
            os.read(read_r, 1)  # alive until the parent has read the board
        finally:
            os._exit(0)
    try:
        assert os.read(written_r, 1) == b"w"
        slots = {slot.pid: slot for slot in board.slots()}
        assert slots[pid] == Slot(pid, 3, 4, 1.5, 2.5, 1.5)
        assert slots[os.getpid()].capacity == 2
        assert board.free_index() == 0
    finally:
        os.write(read_w, b"r")
        assert os.waitpid(pid, 0)[1] == 0
        for fd in (written_r, written_w, read_r, read_w):
            os.close(fd)
    # Its worker gone, a slot nobody freed is not read as a worker's (stuck or not).
    assert pid not in {slot.pid for slot in board.slots()}
    board.release(2)
    assert board.free_index() == 0


def test_a_torn_slot_is_skipped() -> None:
    board = Board.private()
    board.claim(0, pid=os.getpid(), capacity=1)
    struct.pack_into("<q", board._buffer, 0, 7)  # odd: a write under way that never ends
    assert list(board.slots()) == []


def test_probe_settings_are_checked_at_init_app(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="STATUS_PROBE_PORT must be a port number from 0 to 65535, got 'http'"):
        StatusManager(make_app(STATUS_PROBE_PORT="http"))
    with pytest.raises(ValueError, match="the environment variable STATUS_PROBE_PORT must be a port number"):
        probe_settings({}, {"STATUS_PROBE_PORT": "70000"})
    with pytest.raises(ValueError, match="STATUS_STUCK_AFTER must be positive, got 0"):
        StatusManager(make_app(STATUS_PROBE_PORT=0, STATUS_STUCK_AFTER=0))
    with pytest.raises(ValueError, match="STATUS_WORKER_THREADS"):
        StatusManager(make_app(STATUS_PROBE_PORT=0, STATUS_WORKER_THREADS=0))
    assert probe_settings({}, {}) is None
    assert probe_settings({}, {"STATUS_PROBE_PORT": "9000", "STATUS_PROBE_HOST": "::1"}) == ProbeSettings(
        port=9000, host="::1", from_environment=True
    )


def test_a_port_in_use_is_a_clear_error(make_app: Callable[..., Flask]) -> None:
    with socket.create_server((HOST, 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on {HOST}:{port} \(STATUS_PROBE_PORT\)"):
            StatusManager(make_app(STATUS_PROBE_PORT=port, STATUS_PROBE_HOST=HOST))


def test_a_route_is_not_both_liveness_and_readiness() -> None:
    with pytest.raises(ValueError, match="cannot be both readiness=True and liveness=True"):
        StatusManager().add_route("both", "/both", readiness=True, liveness=True)
    with pytest.raises(TypeError, match="liveness must be a bool, got 'yes'"):
        StatusManager().add_route("live", "/live", liveness="yes")  # type: ignore[arg-type]


def test_a_discarded_app_closes_its_probe_port(make_app: Callable[..., Flask]) -> None:
    app = make_app(STATUS_PROBE_PORT=0, STATUS_PROBE_HOST=HOST)
    StatusManager(app).add_route("live", "/live", liveness=True)
    listener = listener_of(app)
    assert listener is not None
    port, server = listener.port, listener.server
    assert port is not None
    assert server is not None
    del app, listener
    gc.collect()
    assert server.ended.wait(5)
    assert get(port, "/live", timeout=2).status is None  # refused: nobody listens


# -- real servers --------------------------------------------------------------------------------


def _probe_env(port: int, tmp_path: Path, **extra: str) -> dict[str, str]:
    dependency = tmp_path / "dependency"
    dependency.touch()
    return {"STATUS_PROBE_PORT": str(port), "STATUS_PROBE_HOST": HOST, "DEPENDENCY_FILE": str(dependency), **extra}


def _all_ok(port: int, *paths: str, times: int = 6) -> bool:
    return all(get(port, path).status == 200 for path in paths for _ in range(times))


def _busy(base: int, count: int, seconds: float) -> list[threading.Thread]:
    """``count`` requests of ``/slow`` at once, each holding a thread for ``seconds``."""
    threads = [
        threading.Thread(
            target=get, args=(base, f"/slow?seconds={seconds}"), kwargs={"timeout": seconds + 30}, daemon=True
        )
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


GUNICORN_KINDS = {
    "gthread": ("-k", "gthread", "--workers", "2", "--threads", "2"),
    "gthread-preload": ("-k", "gthread", "--workers", "2", "--threads", "2", "--preload"),
    "sync": ("-k", "sync", "--workers", "2"),
    "sync-preload": ("-k", "sync", "--workers", "2", "--preload"),
}


@pytest.mark.parametrize("kind", list(GUNICORN_KINDS))
def test_gunicorn_workers_answer_probes_while_every_thread_is_busy(kind: str, tmp_path: Path) -> None:
    probes = free_port()
    env = _probe_env(probes, tmp_path)
    options = ("-c", str(APPS / "probe_gunicorn.py"), *GUNICORN_KINDS[kind])
    with gunicorn("probe_app:app", *options, log=tmp_path / "gunicorn.log", env=env) as server:
        assert eventually(lambda: _all_ok(probes, "/health/ready", "/health/live"), 10), server.output()
        answered = {get(probes, "/health/live").json()["pid"] for _ in range(10)}

        def booted() -> set[int]:
            return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", server.output())}

        # Each worker accepts on the one port: whichever is free takes the probe; every pid that
        # answered is one of gunicorn's workers (whose boot lines may reach the log a bit later).
        assert eventually(lambda: answered <= booted(), 5), (answered, server.output())
        threads = 2 if kind.startswith("gthread") else 1
        _busy(server.port, 2 * threads + 2, 2.0)  # every thread busy, more queued (ended with the server)
        time.sleep(0.3)
        answers = [get(probes, path, timeout=1) for _ in range(10) for path in ("/health/live", "/health/ready")]
        assert [a.status for a in answers] == [200] * 20, [a.error for a in answers]
        assert max(a.latency for a in answers) < 0.9  # within the prober's 1 s, on a busy machine
        assert get(probes, "/health/details").status == 404
        assert "the probe listener started at this worker's first request" not in server.output()


def test_a_wedged_worker_fails_liveness_after_the_limit(tmp_path: Path) -> None:
    probes = free_port()
    env = _probe_env(probes, tmp_path, STUCK_AFTER="1.5")
    options = ("-c", str(APPS / "probe_gunicorn.py"), "-k", "gthread", "--workers", "1", "--threads", "2")
    with gunicorn("probe_app:app", *options, log=tmp_path / "gunicorn.log", env=env) as server:
        assert get(probes, "/health/live").status == 200
        wedges = [
            threading.Thread(target=get, args=(server.port, "/wedge"), kwargs={"timeout": 30}, daemon=True)
            for _ in range(2)
        ]
        for thread in wedges:
            thread.start()
        started = time.monotonic()
        assert eventually(lambda: get(probes, "/health/live").status == 503, 10), server.output()
        assert time.monotonic() - started >= 1.5
        live = get(probes, "/health/live").json()
        assert "has 2 request(s) in flight and none finished" in live["workers"]["message"]
        assert get(probes, "/health/ready").status == 200


def test_a_killed_worker_is_replaced_and_no_probe_is_lost(tmp_path: Path) -> None:
    probes = free_port()
    options = ("-c", str(APPS / "probe_gunicorn.py"), "-k", "sync", "--workers", "2", "--preload")
    with gunicorn("probe_app:app", *options, log=tmp_path / "gunicorn.log", env=_probe_env(probes, tmp_path)) as server:
        assert eventually(lambda: _all_ok(probes, "/health/live"), 10), server.output()
        victim = get(server.port, "/whoami").json()["pid"]
        poller = Poller(probes, "/health/live", every=0.02, timeout=2)
        poller.start()
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            return "Booting worker" in server.output().rsplit(f"{victim}", 1)[-1]

        assert eventually(replaced, 15), server.output()
        assert eventually(lambda: len(poller.answers) > 100, 15)  # on through the replacement and after
        answers = poller.stop()
        assert [a.status for a in answers] == [200] * len(answers), [a.error for a in answers if a.status != 200]


def test_drain_fails_readiness_on_the_listener(tmp_path: Path) -> None:
    probes = free_port()
    options = ("-c", str(APPS / "probe_gunicorn.py"), "-k", "gthread", "--workers", "2", "--threads", "2")
    env = _probe_env(probes, tmp_path, DRAIN_DELAY="3")
    with gunicorn("probe_app:app", *options, log=tmp_path / "gunicorn.log", env=env) as server:
        assert get(probes, "/health/ready").status == 200
        server.process.send_signal(signal.SIGTERM)
        assert eventually(lambda: all(get(probes, "/health/ready").status == 503 for _ in range(6)), 5)
        assert get(probes, "/health/live").status == 200


def test_readiness_fails_when_the_dependency_fails_under_load(tmp_path: Path) -> None:
    probes = free_port()
    env = _probe_env(probes, tmp_path, DEPENDENCY_TTL="1")
    options = ("-c", str(APPS / "probe_gunicorn.py"), "-k", "gthread", "--workers", "2", "--threads", "2")
    with gunicorn("probe_app:app", *options, log=tmp_path / "gunicorn.log", env=env) as server:
        assert eventually(lambda: get(probes, "/health/ready").status == 200, 10)
        _busy(server.port, 8, 4.0)
        time.sleep(0.3)
        (tmp_path / "dependency").unlink()
        down = time.monotonic()
        # ttl (1 s) + timeout (1 s) + 1 s, for every worker: the port reaches them at random.
        assert eventually(lambda: all(get(probes, "/health/ready").status == 503 for _ in range(6)), 3.0)
        assert time.monotonic() - down < 4.0  # the last try may have begun just before 3 s


def test_saturation_fails_readiness_under_gunicorn_and_recovers(tmp_path: Path) -> None:
    probes = free_port()
    env = _probe_env(probes, tmp_path, SATURATED_AFTER="1")
    options = ("-c", str(APPS / "probe_gunicorn.py"), "-k", "gthread", "--workers", "1", "--threads", "2")
    with gunicorn("probe_app:app", *options, log=tmp_path / "gunicorn.log", env=env) as server:
        assert get(probes, "/health/ready").status == 200
        held = _busy(server.port, 2, 4.0)
        assert eventually(lambda: get(probes, "/health/ready").status == 503, 3.5), server.output()
        assert "every worker thread (2) busy" in get(probes, "/health/ready").json()["capacity"]["message"]
        assert get(probes, "/health/live").status == 200
        for thread in held:
            thread.join(30)
        assert eventually(lambda: get(probes, "/health/ready").status == 200, 3)


@pytest.mark.parametrize("kind", ["waitress", "werkzeug"])
def test_single_process_servers_answer_probes_while_busy(kind: str, tmp_path: Path) -> None:
    if kind == "waitress":
        pytest.importorskip("waitress")
    port, probes = free_port(), free_port()
    env = _probe_env(probes, tmp_path, SATURATED_AFTER="1", WORKER_THREADS="2")
    command = [sys.executable, str(APPS / "probe_app.py"), kind, str(port)]
    with launch(command, port=port, log=tmp_path / f"{kind}.log", env=env, cwd=APPS) as server:
        assert eventually(lambda: _all_ok(probes, "/health/ready", "/health/live"), 5), server.output()
        held = _busy(port, 2, 3.0)
        time.sleep(0.3)
        answers = [get(probes, "/health/live", timeout=1) for _ in range(10)]
        assert [a.status for a in answers] == [200] * 10, server.output()
        assert max(a.latency for a in answers) < 0.9
        assert eventually(lambda: get(probes, "/health/ready").status == 503, 3), server.output()
        for thread in held:
            thread.join(30)
        assert eventually(lambda: get(probes, "/health/ready").status == 200, 3)


def test_a_flask_cli_command_opens_no_probe_port(tmp_path: Path) -> None:
    # `flask status` (or shell, or db upgrade) in a container where gunicorn holds the port.
    with socket.create_server((HOST, 0)) as taken:
        port = taken.getsockname()[1]
        env = {**os.environ, "STATUS_PROBE_PORT": str(port), "STATUS_PROBE_HOST": HOST}
        command = [sys.executable, "-m", "flask", "--app", "probe_app", "status", "--route", "live"]
        done = subprocess.run(command, cwd=APPS, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cannot listen" not in done.stderr


def test_gunicorn_without_the_hooks_serves_probes_from_the_first_request(tmp_path: Path) -> None:
    probes = free_port()
    env = _probe_env(probes, tmp_path)
    options = ("-k", "gthread", "--workers", "1", "--threads", "2")  # no -c: no hooks
    with gunicorn("probe_app:app", *options, log=tmp_path / "gunicorn.log", env=env) as server:
        # The launcher's first GET of /ping was the worker's first request.
        assert eventually(lambda: get(probes, "/health/live").status == 200, 5), server.output()
        assert "the probe listener started at this worker's first request" in server.output()


def test_startup_tasks_hold_readiness_on_the_listener(listening: Any) -> None:
    _, status, listener = listening()
    task = status.startup_task("warm-cache")
    ready = get(listener.port, "/health/ready")
    assert ready.status == 503
    assert ready.json()["startup"]["message"].startswith("waiting for startup: warm-cache (running")
    assert get(listener.port, "/health/live").status == 200
    task.done()
    assert get(listener.port, "/health/ready").status == 200
