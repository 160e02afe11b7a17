"""Shared fixtures and helpers: an app factory, a clock tests move by hand, counting callables,
private redis-servers, live threaded servers. The helpers to run and reach servers (free ports,
the wait helper, the HTTP GET, redis-server, gunicorn, skip-or-fail-in-CI) live in ``_servers.py``;
they are re-exported here for the modules that import them from ``conftest``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from _servers import IN_CI as IN_CI
from _servers import Answer as Answer
from _servers import RedisServer as RedisServer
from _servers import eventually as eventually
from _servers import free_port as free_port
from _servers import get as get
from _servers import private_redis as private_redis
from _servers import redis_binary as redis_binary
from _servers import require as require
from _servers import unavailable as unavailable
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from flask_status.clock import ManualClock

# The Alembic environment of tests/test_checks_migrations.py: env.py runs only inside Alembic
# and the revisions are loaded by Alembic from their paths; --doctest-modules must not import them.
collect_ignore_glob = ["apps/migrations/*.py", "apps/migrations/versions/*.py"]


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """``assert eventually(condition, seconds), what``: the older spelling, kept for the modules
    that still use it; new tests use :func:`_servers.eventually`."""
    assert eventually(condition, seconds, every=0.02), f"{what} within {seconds} s"


@pytest.fixture
def start_redis() -> Iterator[Callable[..., RedisServer]]:
    """Start private redis-servers for one test (``args`` go to redis-server; stopped, paused or
    restarted at will); every one is stopped at teardown."""
    redis_binary()  # skip (or fail in CI) before the test starts
    with ExitStack() as stack:

        def start(*args: str, password: str | None = None) -> RedisServer:
            return stack.enter_context(private_redis(*args, password=password))

        yield start


@pytest.fixture
def redis_server(start_redis: Callable[..., RedisServer]) -> RedisServer:
    """One private redis-server of this test."""
    return start_redis()


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
"""The older name of :class:`flask_status.clock.ManualClock`, kept for the modules that still use it."""


def advance_when_waited(clock: ManualClock, seconds: float) -> threading.Thread:
    """Advance ``clock`` by ``seconds`` as soon as a thread waits on it: a request's timeout
    passes at once, with no real sleep. Returns the (daemon) thread doing it."""

    def advance() -> None:
        assert eventually(lambda: clock.waiting > 0, 10.0), "no thread waited on the clock within 10 s"
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
def clock() -> ManualClock:
    """The clock tests move by hand: freshness, timeouts and schedules all read it."""
    return ManualClock()


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
