"""on_change hooks, and damping with fail_after / recover_after."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from _servers import eventually
from flask import Flask, current_app

from flask_status import StatusEvent, StatusManager
from flask_status.clock import ManualClock
from flask_status.web.events import Delivery


def test_on_change_called_once_per_transition(app: Flask, clock: ManualClock, probe: Any) -> None:
    events: list[StatusEvent] = []
    database = probe(True)
    status = StatusManager(app, clock=clock)

    @status.on_change
    def record(event: StatusEvent) -> None:
        assert current_app.name == app.name  # called inside the app context
        events.append(event)

    status.add_route("ready", "/ready").add_check("database", database, ttl=1)
    client = app.test_client()
    for value in (True, True, False, False, False, True, True):
        database.value = value
        client.get("/ready")
        clock.advance(2)
    assert status.flush_events()
    summary = [(e.route, e.check, e.kind, e.old, e.new) for e in events]
    assert summary == [
        ("ready", "database", "check", "pass", "fail"),
        ("ready", None, "route", "pass", "fail"),
        ("ready", "database", "check", "fail", "pass"),
        ("ready", None, "route", "fail", "pass"),
    ]
    assert events[0].result is not None
    assert events[0].result.value is False
    assert str(events[1]) == "route 'ready' is fail (was pass)"


def test_a_raising_hook_is_logged_and_never_breaks_a_request(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    status = StatusManager(app)

    @status.on_change
    def broken(event: StatusEvent) -> None:
        raise RuntimeError("pager down")

    status.add_route("ready", "/ready").add_check("database", lambda: False)
    with caplog.at_level(logging.ERROR, logger="flask_status"):
        assert app.test_client().get("/ready").status_code == 503
        assert status.flush_events()
    assert any("on_change callback" in r.getMessage() for r in caplog.records)


def test_on_change_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="on_change needs a callable"):
        StatusManager().on_change("page me")  # type: ignore[arg-type]


def test_hooks_fire_for_background_checks_without_requests(app: Flask, probe: Any) -> None:
    events: list[StatusEvent] = []
    database = probe(True)
    status = StatusManager(app)
    status.on_change(events.append)
    status.add_route("ready", "/ready").add_check("database", database, interval=0.05)
    app.test_client().get("/ready")  # starts the scheduler; no request after this one
    assert eventually(lambda: any(e.new == "pass" and e.kind == "route" for e in events))
    database.value = False
    assert eventually(lambda: any(e.new == "fail" and e.old == "pass" for e in events))
    assert ("database", "pass", "fail") in [(e.check, e.old, e.new) for e in events]


def test_fail_after_warns_before_failing(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(error=TimeoutError("slow query"))
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("database", database, ttl=1, fail_after=3)
    client = app.test_client()
    codes, states = [], []
    for _ in range(4):
        response = client.get("/ready")
        codes.append(response.status_code)
        states.append(response.get_json()["database"]["status"])
        clock.advance(2)
    assert codes == [200, 200, 503, 503]
    assert states == ["warn", "warn", "fail", "fail"]
    body = client.get("/ready").get_json()
    assert body["database"]["error"] == "TimeoutError: slow query"


def test_one_success_resets_the_failure_count(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(True)
    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check("database", database, ttl=1, fail_after=2)
    client = app.test_client()
    codes = []
    for value in (False, True, False, True, False, False):
        database.value = value
        codes.append(client.get("/ready").status_code)
        clock.advance(2)
    assert codes == [200, 200, 200, 200, 200, 503]


def test_recover_after(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(False)
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("database", database, ttl=1, failure_ttl=1, recover_after=3)
    client = app.test_client()
    assert client.get("/ready").status_code == 503
    database.value = True
    codes = []
    for _ in range(4):
        clock.advance(2)
        codes.append(client.get("/ready").status_code)
    assert codes == [503, 503, 200, 200]


@pytest.mark.parametrize(("option", "value"), [("fail_after", 0), ("recover_after", -1), ("fail_after", 1.5)])
def test_bad_damping_options(option: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=option):
        StatusManager().add_route("ready", "/ready").add_check("db", lambda: True, **{option: value})


def test_fail_after_counts_a_hung_run_once_per_timeout(app: Flask, probe: Any, release: Any) -> None:
    hang = probe(True, gate=release)
    StatusManager(app).add_route("ready", "/ready").add_check("database", hang, timeout=0.1, fail_after=3)
    client = app.test_client()
    codes = [client.get("/ready").status_code for _ in range(3)]
    assert codes == [200, 200, 503]  # three timeouts of one hung run: warn, warn, fail
    assert hang.calls == 1
    release.set()


def test_fail_after_respects_failure_ttl(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(False)
    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check(
        "database", database, ttl=60, failure_ttl=5, fail_after=3
    )
    client = app.test_client()
    codes = []
    for _ in range(3):
        codes.append(client.get("/ready").status_code)
        clock.advance(6)  # past failure_ttl, far below ttl: each request is a new run
    assert codes == [200, 200, 503]
    assert database.calls == 3


# -- a hook that raises SystemExit (or any BaseException but KeyboardInterrupt) is contained ----


@pytest.mark.parametrize("exc", [SystemExit(3), GeneratorExit(), RuntimeError("pager down")])
def test_an_on_change_callback_raising_system_exit_is_contained(
    app: Flask, caplog: pytest.LogCaptureFixture, exc: BaseException
) -> None:
    # Under gunicorn a SystemExit escaping a request ends the worker.
    status = StatusManager(app)
    seen: list[StatusEvent] = []

    @status.on_change
    def broken(event: StatusEvent) -> None:
        raise exc

    status.on_change(seen.append)  # the callbacks after a broken one still hear the news
    status.add_route("ready", "/ready").add_check("database", lambda: False)
    with caplog.at_level(logging.ERROR, logger="flask_status"):
        assert app.test_client().get("/ready").status_code == 503
        assert status.flush_events()
    assert [(e.check, e.new) for e in seen] == [("database", "fail"), (None, "fail")]
    assert sum("on_change callback" in r.getMessage() for r in caplog.records) == 2


def test_a_keyboard_interrupt_from_a_hook_never_reaches_a_request(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    # Hooks run on the event thread: Ctrl-C goes to the main thread, so a KeyboardInterrupt
    # raised by a hook is the hook's own failure, logged like any other.
    status = StatusManager(app)
    seen: list[StatusEvent] = []

    @status.on_change
    def interrupted(event: StatusEvent) -> None:
        raise KeyboardInterrupt

    status.on_change(seen.append)
    status.add_route("ready", "/ready").add_check("database", lambda: False)
    with caplog.at_level(logging.ERROR, logger="flask_status"):
        assert status.evaluate("ready", app).status == "fail"
        assert status.flush_events()
    assert len(seen) == 2
    assert sum("on_change callback" in r.getMessage() for r in caplog.records) == 2


def test_a_run_callback_raising_system_exit_is_contained(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", lambda: True)
    runner = status.state(app).runner
    later: list[str] = []

    def broken(field: Any, result: Any) -> None:
        raise SystemExit(1)

    runner.on_run.insert(0, broken)
    runner.on_run.append(lambda field, result: later.append(field.name))
    with caplog.at_level(logging.ERROR, logger="flask_status"):
        assert app.test_client().get("/ready").status_code == 200
        assert app.test_client().get("/ready").status_code == 200
        # Run callbacks are called from the pool's thread, after the request has its result.
        assert eventually(lambda: later == ["database", "database"])
    assert any("run callback raised" in r.getMessage() for r in caplog.records)


def test_a_details_callable_raising_system_exit_hides_details(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bool:
        raise SystemExit(0)

    route = StatusManager(app).add_route("status", "/status", details=broken)
    route.add_field("secret", "s3cret")
    with caplog.at_level(logging.ERROR, logger="flask_status"):
        response = app.test_client().get("/status")
    assert response.status_code == 200
    assert response.get_json() == {"status": "OK"}
    assert any("details callable" in r.getMessage() for r in caplog.records)


def test_a_check_raising_system_exit_fails_like_any_other(app: Flask, clock: ManualClock) -> None:
    calls: list[int] = []

    def exits() -> bool:
        calls.append(1)
        raise SystemExit(2)

    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check("database", exits, ttl=30)
    client = app.test_client()
    first = client.get("/ready")
    assert first.status_code == 503
    assert first.get_json()["database"] == {"status": "fail", "error": "SystemExit: 2"}
    assert client.get("/ready").status_code == 503
    assert len(calls) == 1  # its failure is cached (failure_ttl), as any failure is


def test_a_hook_that_hangs_never_delays_a_request(app: Flask, probe: Any) -> None:
    status = StatusManager(app)
    gate = threading.Event()
    heard: list[StatusEvent] = []

    @status.on_change
    def slow_pager(event: StatusEvent) -> None:
        heard.append(event)
        gate.wait(30)  # a pager's HTTP call that hangs

    database = probe(False)
    status.add_route("live", "/live")
    status.add_route("ready", "/ready").add_check("database", database)
    client = app.test_client()
    answers: list[int] = []

    def probes() -> None:
        answers.append(client.get("/ready").status_code)  # a transition: the hook hangs on it
        database.value = True
        answers.append(client.get("/ready").status_code)  # another one, queued behind it
        answers.append(client.get("/live").status_code)

    prober = threading.Thread(target=probes)
    prober.start()
    prober.join(5)
    alive = prober.is_alive()
    assert eventually(lambda: len(heard) == 1)  # the hook is stuck on the first event
    gate.set()
    assert not alive
    assert answers == [503, 200, 200]
    assert status.flush_events()
    assert [(e.check, e.new) for e in heard] == [
        ("database", "fail"),
        (None, "fail"),
        ("database", "pass"),
        (None, "pass"),
    ]


def test_a_full_queue_drops_the_oldest_event_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    queue = Delivery(maxsize=2)
    gate = threading.Event()
    heard: list[str] = []

    def hook(event: StatusEvent) -> None:
        gate.wait(10)
        heard.append(event.route)

    def event(route: str) -> StatusEvent:
        return StatusEvent("status", route, None, "route", "pass", "fail", None)

    with caplog.at_level(logging.WARNING, logger="flask_status"):
        queue.put(event("first"), [hook])
        assert eventually(lambda: queue._busy)  # the first is being delivered: the hook waits
        for name in ("second", "third", "fourth"):
            queue.put(event(name), [hook])
        gate.set()
        assert queue.flush(5)
    assert heard == ["first", "third", "fourth"]  # "second" was the oldest waiting when full
    assert queue.dropped == 1
    assert any("1 status events dropped" in r.getMessage() for r in caplog.records)
