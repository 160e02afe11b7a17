"""Background checks: a scheduler runs them on an interval; requests only read the latest result."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from _servers import eventually
from flask import Flask

from flask_status import StatusManager
from flask_status.clock import ManualClock
from flask_status.definitions import Field
from flask_status.engine.flight import wait_for
from flask_status.engine.runner import Runner
from flask_status.engine.scheduler import scheduler
from flask_status.stores.memory import MemoryStore


def test_requests_never_run_a_periodic_check(app: Flask, probe: Any) -> None:
    database = probe(True, sleep=0.3)
    StatusManager(app).add_route("ready", "/ready").add_check("database", database, interval=0.2)
    client = app.test_client()
    started = time.monotonic()
    first = client.get("/ready")
    assert time.monotonic() - started < 0.2  # the request did not wait for the 0.3 s check
    assert first.status_code == 503  # before its first result the check counts as failing
    assert first.get_json()["database"] == {"status": "fail", "error": "Pending: no result yet"}
    assert eventually(lambda: client.get("/ready").status_code == 200)
    calls = database.calls
    for _ in range(20):
        client.get("/ready")
    assert database.calls <= calls + 1  # requests read; only the schedule runs it
    assert scheduler.running


def test_runs_on_its_interval(app: Flask, probe: Any) -> None:
    ticks = probe(True)
    StatusManager(app).add_route("ready", "/ready").add_check("ticks", ticks, interval=0.1)
    app.test_client().get("/ready")
    time.sleep(0.65)
    assert 4 <= ticks.calls <= 9


def test_one_scheduler_thread_for_many_checks(app: Flask, probe: Any) -> None:
    route = StatusManager(app).add_route("ready", "/ready")
    for i in range(10):
        route.add_check(f"c{i}", probe(True), interval=0.1)
    app.test_client().get("/ready")
    assert eventually(lambda: app.test_client().get("/ready").status_code == 200)
    names = [t.name for t in threading.enumerate()]
    assert names.count("flask-status-scheduler") == 1


def test_an_overrunning_run_is_not_started_twice_and_times_out(
    app: Flask, probe: Any, release: threading.Event
) -> None:
    hang = probe(True, gate=release)
    StatusManager(app).add_route("ready", "/ready").add_check("hang", hang, interval=0.05, timeout=0.2)
    client = app.test_client()
    client.get("/ready")
    assert eventually(lambda: "TimeoutError" in str(client.get("/ready").get_json()["hang"]))
    time.sleep(0.3)
    assert hang.calls == 1
    body = client.get("/ready").get_json()
    assert body["hang"] == {"status": "fail", "error": "TimeoutError: no result within 0.2 s"}
    release.set()
    assert eventually(lambda: client.get("/ready").status_code == 200)


def test_periodic_result_shared_by_routes_and_shown_with_its_time(app: Flask, probe: Any) -> None:
    database = probe(True)
    status = StatusManager(app)
    status.add_route("ready", "/ready", details=False).add_check("database", database, interval=0.1)
    status.add_route("health", "/health", format="health+json").add_check("database", database, interval=0.1)
    client = app.test_client()
    client.get("/ready")
    assert eventually(lambda: client.get("/health").status_code == 200)
    check = client.get("/health").get_json(force=True)["checks"]["database"][0]
    assert check["status"] == "pass"
    assert check["time"].endswith("Z")


def test_cli_runs_a_periodic_check_once(app: Flask, probe: Any) -> None:
    database = probe(True)
    StatusManager(app).add_route("ready", "/ready").add_check("database", database, interval=300)
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 0, result.output
    assert database.calls == 1


def test_interval_excludes_ttl() -> None:
    route = StatusManager().add_route("ready", "/ready")
    with pytest.raises(ValueError, match="has an interval"):
        route.add_check("database", lambda: True, interval=10, ttl=5)
    with pytest.raises(ValueError, match="interval of check 'database' must be positive"):
        route.add_check("database", lambda: True, interval=0)


def test_pending_body_is_not_kept_once_the_first_result_lands(app: Flask, probe: Any) -> None:
    StatusManager(app).add_route("ready", "/ready").add_check("database", probe(True), interval=60)
    client = app.test_client()
    assert client.get("/ready").status_code == 503  # pending
    assert eventually(lambda: client.get("/ready").status_code == 200, 2)


def test_background_runs_announce_no_false_transitions(app: Flask, probe: Any) -> None:
    from flask_status import StatusEvent

    events: list[StatusEvent] = []
    status = StatusManager(app)
    status.on_change(events.append)
    route = status.add_route("details", "/details")
    route.add_check("database", probe(True), interval=0.05)
    route.add_field("queue", lambda: 3)  # no ttl: never in the store
    client = app.test_client()
    assert eventually(lambda: client.get("/details").status_code == 200)
    time.sleep(0.4)  # several background runs
    client.get("/details")
    assert status.flush_events()
    assert not [(e.check, e.result and e.result.error) for e in events if e.old == "pass"]  # nothing flapped


def test_a_read_between_a_run_and_its_store_is_older_news_than_the_run() -> None:
    # A request that finds no result while a run is landing one reports "pending": stamped no
    # later than that run's start, so the run's pass is never announced as turning to pending.
    clock = ManualClock()
    stored, go = threading.Event(), threading.Event()

    class SlowToStore(MemoryStore):
        def put(self, key: str, result: Any, ttl: float) -> None:
            stored.set()  # the run's result exists, stamped; the store does not have it yet
            assert go.wait(10)
            super().put(key, result, ttl)

    runner = Runner(SlowToStore(timer=clock.now), clock=clock)
    field = Field("db", lambda: clock.advance(1) or True, kind="check", interval=60)
    flight = runner.refresh(field)  # the check ends 1 s after the run started
    try:
        assert stored.wait(10)
        [read] = runner.evaluate([field])
    finally:
        go.set()
    assert wait_for(clock, flight, 10)
    ran = flight.result()
    assert read.pending
    assert read.observed_at < ran.observed_at
