"""``async def`` fields and checks, through Flask's async support (the ``async`` extra)."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from flask_status import CheckResult, StatusManager
from flask_status.clock import ManualClock


def test_async_field_and_check(app: Flask) -> None:
    async def queue_depth() -> int:
        await asyncio.sleep(0.01)
        return 4

    async def database() -> CheckResult:
        await asyncio.sleep(0.01)
        return CheckResult.ok("12 ms", observed=0.012, unit="s")

    route = StatusManager(app).add_route("details", "/details")
    route.add_field("queue", queue_depth)
    route.add_check("database", database)
    body = app.test_client().get("/details").get_json()
    assert body == {
        "status": "OK",
        "queue": 4,
        "database": {"status": "pass", "message": "12 ms", "observed": 0.012, "unit": "s"},
    }


def test_async_partial_is_detected(app: Flask) -> None:
    async def ping(host: str) -> str:
        return host

    StatusManager(app).add_route("d", "/d").add_field("ping", functools.partial(ping, "db"))
    assert app.test_client().get("/d").get_json()["ping"] == "db"


def test_async_caching_and_single_flight(app: Flask, clock: ManualClock) -> None:
    calls = 0
    lock = threading.Lock()

    async def costly() -> bool:
        nonlocal calls
        with lock:
            calls += 1
        await asyncio.sleep(0.2)
        return True

    StatusManager(app, clock=clock).add_route("d", "/d").add_check("costly", costly, ttl=60)

    def one(_: int) -> int:
        return app.test_client().get("/d").status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(8))) == {200}
    assert calls == 1


def test_async_timeout(app: Flask) -> None:
    async def hang() -> bool:
        await asyncio.sleep(3)
        return True

    StatusManager(app).add_route("d", "/d").add_check("hang", hang, timeout=0.1)
    started = time.monotonic()
    response = app.test_client().get("/d")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 503
    body: dict[str, Any] = response.get_json()
    assert body["hang"]["error"] == "TimeoutError: no result within 0.1 s"


def test_async_exception(app: Flask) -> None:
    async def broken() -> bool:
        raise ConnectionError("no route to host")

    StatusManager(app).add_route("d", "/d").add_check("broken", broken)
    assert app.test_client().get("/d").get_json()["broken"]["error"] == "ConnectionError: no route to host"
