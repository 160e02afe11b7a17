"""Single flight, parallel evaluation and timeouts, with real threads and a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _servers import Answer, eventually, get
from conftest import threaded_servers
from flask import Flask

from flask_status import StatusManager


def _burst(app: Flask, path: str, clients: int) -> list[Any]:
    barrier = threading.Barrier(clients)

    def one(_: int) -> Any:
        client = app.test_client()
        barrier.wait()
        return client.get(path)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(clients)))


def test_single_flight_on_a_cold_cache(app: Flask, probe: Any) -> None:
    costly = probe("done", sleep=0.3)
    StatusManager(app).add_route("d", "/d").add_field("costly", costly, ttl=60)
    responses = _burst(app, "/d", 16)
    assert {r.status_code for r in responses} == {200}
    assert all(r.get_json()["costly"] == "done" for r in responses)
    assert costly.calls == 1


def test_single_flight_shares_a_failure_with_the_waiters(app: Flask, probe: Any) -> None:
    costly = probe(sleep=0.2, error=TimeoutError("database did not answer"))
    StatusManager(app).add_route("d", "/d").add_field("costly", costly, ttl=60)
    responses = _burst(app, "/d", 8)
    assert {r.status_code for r in responses} == {503}
    assert costly.calls == 1


def test_uncached_callables_run_in_parallel(app: Flask, probe: Any) -> None:
    route = StatusManager(app).add_route("d", "/d")
    fields = [probe(i, sleep=0.3) for i in range(4)]
    for i, field in enumerate(fields):
        route.add_field(f"f{i}", field)
    client = app.test_client()
    started = time.monotonic()
    response = client.get("/d")
    elapsed = time.monotonic() - started
    assert response.get_json() == {"status": "OK", "f0": 0, "f1": 1, "f2": 2, "f3": 3}
    assert elapsed < 0.9, f"four 0.3 s fields took {elapsed:.2f} s: not evaluated in parallel"


def test_cached_values_do_not_touch_the_pool(app: Flask, probe: Any) -> None:
    status = StatusManager(app)
    status.add_route("d", "/d").add_field("f", probe(1), ttl=60)
    client = app.test_client()
    client.get("/d")
    pool = status.state(app).runner.pool
    submitted = []
    original = pool.submit
    pool.submit = lambda task: submitted.append(task) or original(task)  # type: ignore[method-assign]
    status.state(app).forget_rendered()  # force an evaluation: results come from the store
    client.get("/d")
    assert submitted == []


def test_timeout_reports_the_field_and_keeps_the_others(app: Flask, probe: Any, release: threading.Event) -> None:
    route = StatusManager(app).add_route("d", "/d")
    route.add_field("version", "2.0.0")
    route.add_field("queue", probe(7))
    route.add_field("hang", probe(gate=release), timeout=0.2)
    started = time.monotonic()
    response = app.test_client().get("/d")
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "FAIL",
        "version": "2.0.0",
        "queue": 7,
        "hang": {"status": "fail", "error": "TimeoutError: no result within 0.2 s"},
    }


def test_a_hung_field_does_not_pile_up_threads(app: Flask, probe: Any, release: threading.Event) -> None:
    hang = probe(True, gate=release)
    status = StatusManager(app, max_workers=4)
    status.add_route("d", "/d").add_field("hang", hang, timeout=0.05)
    responses = _burst(app, "/d", 12)
    responses += [app.test_client().get("/d") for _ in range(5)]
    assert {r.status_code for r in responses} == {503}
    assert hang.calls == 1  # later requests joined the run still in flight
    runner = status.state(app).runner
    assert runner.inflight == 1
    assert runner.pool.threads == 1
    release.set()  # the dependency answers again: the route recovers by itself
    assert eventually(lambda: runner.inflight == 0, 5)
    assert app.test_client().get("/d").status_code == 200


def test_pool_is_bounded(app: Flask, probe: Any, release: threading.Event) -> None:
    status = StatusManager(app, max_workers=2)
    route = status.add_route("d", "/d")
    for i in range(5):
        route.add_field(f"hang{i}", probe(gate=release), timeout=0.1)
    assert app.test_client().get("/d").status_code == 503
    assert status.state(app).runner.pool.threads == 2


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """The shared ``serve`` fixture, with werkzeug's access log left on."""
    with threaded_servers(access_log=True) as start:
        yield start


def test_real_threaded_server_burst(app: Flask, serve: Callable[[Flask], str], probe: Any) -> None:
    costly = [probe(i, sleep=0.2) for i in range(4)]
    route = StatusManager(app).add_route("d", "/d")
    for i, field in enumerate(costly):
        route.add_field(f"f{i}", field, ttl=60)
    base = serve(app)
    barrier = threading.Barrier(16)

    def one(_: int) -> Answer:
        barrier.wait()
        return get(base, "/d")

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    elapsed = time.monotonic() - started
    assert {answer.status for answer in results} == {200}
    assert all(answer.json() == {"status": "OK", "f0": 0, "f1": 1, "f2": 2, "f3": 3} for answer in results)
    assert [f.calls for f in costly] == [1, 1, 1, 1]
    assert elapsed < 2.0, f"burst took {elapsed:.2f} s"
