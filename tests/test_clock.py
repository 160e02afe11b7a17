"""One injectable clock: timeouts, hung runs and schedules proved on a manual clock, without sleeping."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import advance_when_waited, eventually
from flask import Flask

from flask_status import StatusManager
from flask_status.clock import SYSTEM, ManualClock, as_clock
from flask_status.engine.scheduler import Scheduler


def test_a_timeout_passes_when_the_clock_says_so(app: Flask) -> None:
    clock = ManualClock()
    gate = threading.Event()
    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check("db", gate.wait, timeout=30)
    client = app.test_client()
    advance_when_waited(clock, 30)
    response = client.get("/ready")
    gate.set()
    assert response.status_code == 503
    assert response.get_json()["db"]["error"] == "TimeoutError: no result within 30 s"


def test_a_wait_ends_early_when_the_run_finishes(app: Flask) -> None:
    clock = ManualClock()
    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check("db", lambda: True, timeout=30)
    assert app.test_client().get("/ready").status_code == 200  # no advance needed: the run answered
    assert clock.now() == 1000.0


def test_a_hung_run_is_counted_once_per_timeout_window(app: Flask) -> None:
    clock = ManualClock()
    gate = threading.Event()
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("db", gate.wait, timeout=5, fail_after=3)
    client = app.test_client()
    advance_when_waited(clock, 5)
    first = client.get("/ready").get_json()["db"]
    advance_when_waited(clock, 5)
    second = client.get("/ready").get_json()["db"]
    advance_when_waited(clock, 5)
    third = client.get("/ready")
    gate.set()
    assert (first["status"], second["status"]) == ("warn", "warn")
    assert "failed 1 of 3" in first["message"]
    assert "failed 2 of 3" in second["message"]
    assert third.status_code == 503
    assert third.get_json()["db"]["status"] == "fail"


def _every_minute(app: Flask, probe: Any) -> tuple[ManualClock, Any, Any]:
    """A manual clock, a check ``db`` run every 60 s on it, and the app's state (a source)."""
    clock = ManualClock()
    database = probe(True)
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("db", database, interval=60)
    return clock, database, status.state(app)


def test_the_scheduler_runs_periodic_checks_on_the_managers_clock(app: Flask, probe: Any) -> None:
    clock, database, state = _every_minute(app, probe)
    scheduler = Scheduler()  # a private one: the process's own ticks in real time
    try:
        assert scheduler.run_due(state) <= 1.0
        assert eventually(lambda: database.calls == 1)
        scheduler.run_due(state)
        clock.advance(59)
        scheduler.run_due(state)
        assert database.calls == 1  # not due yet, whatever real time passed
        clock.advance(1)
        scheduler.run_due(state)
        assert eventually(lambda: database.calls == 2)
    finally:
        scheduler.stop()


def test_two_threads_asking_the_scheduler_at_once_start_a_due_check_once(app: Flask, probe: Any) -> None:
    # The scheduler's thread and a listener starting (or a test) may both ask what is due: the
    # first to ask starts the run and notes it, the second finds it started.
    _, database, state = _every_minute(app, probe)
    inside, leave = threading.Event(), threading.Event()
    entered: list[str] = []
    let_out: list[bool] = []

    class Slow:
        def periodic(self) -> Any:
            entered.append(threading.current_thread().name)
            inside.set()
            let_out.append(leave.wait(10))
            return state.periodic()

    scheduler, source = Scheduler(), Slow()
    try:
        first = threading.Thread(target=scheduler.run_due, args=(source,), name="first")
        first.start()
        assert inside.wait(10)
        second = threading.Thread(target=scheduler.run_due, args=(source,), name="second")
        second.start()
        assert not eventually(lambda: len(entered) > 1, 0.3)  # the second waits its turn
        leave.set()
        first.join(10)
        second.join(10)
        assert entered == ["first", "second"]
        assert let_out == [True, True]
        assert eventually(lambda: database.calls == 1)
        assert not eventually(lambda: database.calls > 1, 0.3)  # started once
    finally:
        leave.set()
        scheduler.stop()


def test_manual_clock_moves_wall_time_with_it() -> None:
    clock = ManualClock(start=10.0, wall_start=1_000.0)
    clock.advance(5)
    assert (clock.now(), clock.wall(), clock()) == (15.0, 1_005.0, 15.0)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def test_a_plain_callable_is_no_clock() -> None:
    assert as_clock(SYSTEM) is SYSTEM
    with pytest.raises(TypeError, match=r"clock must be a flask_status\.clock\.Clock"):
        StatusManager(clock=lambda: 0.0)  # type: ignore[arg-type]
