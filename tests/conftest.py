"""Shared fixtures: an app factory, a clock tests move by hand, counting callables."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(available: bool, reason: str) -> None:
    """Skip a test that needs a missing server when run by hand; fail it under ``CI=true``."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing server is a failure, not a skip)")
    pytest.skip(reason)


class FakeClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


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
