"""Shared fixtures and helpers: an app factory, a clock tests move by hand, counting callables,
free ports and waits, private redis-servers, live threaded servers, and skip-or-fail-in-CI."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from flask_status.clock import ManualClock

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str, hint: str = "") -> NoReturn:
    """Skip a test for a missing server, tool or library when run by hand; fail it under ``CI=true``.

    ``hint`` (how to provide what is missing) is added to the reason.
    """
    more = f"; {hint}" if hint else ""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing server is a failure, not a skip{more})", pytrace=False)
    pytest.skip(f"{reason}{more}")


def require(available: bool, reason: str) -> None:
    """Skip a test that needs a missing server when run by hand; fail it under ``CI=true``."""
    if not available:
        unavailable(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {seconds} s")
        time.sleep(0.02)


def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Whether ``condition`` became true within ``seconds`` (for ``assert eventually(...)``)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@dataclass
class RedisServer:
    """A private redis-server: stop, pause and start it again on the same port."""

    binary: str
    port: int
    args: tuple[str, ...] = ()
    password: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, password: str | None = None) -> str:
        secret = password if password is not None else self.password
        auth = f":{secret}@" if secret else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(
            port=self.port, password=self.password, socket_timeout=2, socket_connect_timeout=2, protocol=2
        )

    def start(self) -> None:
        command = [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *self.args,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = self.client()

        def answers() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, f"redis-server exited with {self.process.returncode}"
            try:
                return bool(probe.ping())
            except Exception:
                return False

        try:
            wait_for(answers, 10, "private redis-server did not answer PING")
        finally:
            probe.close()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def redis_binary() -> str:
    try:
        import redis  # noqa: F401
    except ImportError:
        unavailable("redis-py is not installed: pip install 'flask-status[redis]'")
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    return binary


@pytest.fixture
def start_redis() -> Iterator[Callable[..., RedisServer]]:
    """Start private redis-servers for one test (stopped, paused or restarted at will)."""
    binary = redis_binary()
    started: list[RedisServer] = []

    def start(*args: str, password: str | None = None) -> RedisServer:
        if password is not None:
            args = (*args, "--requirepass", password)
        instance = RedisServer(binary, free_port(), args, password)
        started.append(instance)
        instance.start()
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()


class QuietHandler(WSGIRequestHandler):
    """The werkzeug handler without its per-request access log (hundreds of lines per test)."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@contextmanager
def threaded_servers(*, access_log: bool = False) -> Iterator[Callable[[Flask], str]]:
    """Yield ``start(app) -> base URL``: each app on a real threaded werkzeug server on loopback,
    served from a daemon thread; every server is shut down on exit."""
    servers: list[tuple[BaseWSGIServer, threading.Thread]] = []
    handler = WSGIRequestHandler if access_log else QuietHandler

    def start(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    try:
        yield start
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """Start an app on a real threaded WSGI server on loopback, without access log; stopped at teardown.

    A module that wants the access log overrides it with ``threaded_servers(access_log=True)``.
    """
    with threaded_servers() as start:
        yield start


FakeClock = ManualClock
"""The clock tests move by hand: freshness, timeouts and schedules all read it."""


def advance_when_waited(clock: ManualClock, seconds: float) -> threading.Thread:
    """Advance ``clock`` by ``seconds`` as soon as a thread waits on it: a request's timeout
    passes at once, with no real sleep. Returns the (daemon) thread doing it."""

    def advance() -> None:
        wait_for(lambda: clock.waiting > 0, 10.0, "a thread waiting on the clock")
        clock.advance(seconds)

    thread = threading.Thread(target=advance, daemon=True)
    thread.start()
    return thread


class Probe:
    """A callable that counts its calls and can sleep, fail, or return what it is told."""

    def __init__(
        self,
        value: Any = True,
        *,
        sleep: float = 0.0,
        error: BaseException | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.value = value
        self.sleep = sleep
        self.error = error
        self.gate = gate
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                self.gate.wait(30)
            if self.sleep:
                time.sleep(self.sleep)
            if self.error is not None:
                raise self.error
            return self.value
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """An app factory, as users write: ``make_app(STATUS_DEFAULT_TTL=30)``."""

    def factory(name: str = "status_test_app", **config: Any) -> Flask:
        app = Flask(name)
        app.config.update(TESTING=True, **config)
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def probe() -> type[Probe]:
    return Probe


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event that tests use to hold callables; set at teardown so no thread stays hung."""
    event = threading.Event()
    yield event
    event.set()
