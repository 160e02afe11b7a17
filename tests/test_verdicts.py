"""Checks give verdicts; a route's status aggregates them; status changes are logged once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_status import CheckResult, StatusEvent, StatusManager
from flask_status.clock import ManualClock


def _route(app: Flask, **options: Any) -> Any:
    return StatusManager(app).add_route("ready", "/ready", **options)


@pytest.mark.parametrize(
    ("value", "code", "verdict"), [(True, 200, True), (1, 200, True), (0, 503, False), (None, 503, False)]
)
def test_truthy_passes_falsy_fails(app: Flask, value: Any, code: int, verdict: bool) -> None:
    _route(app).add_check("database", lambda: value)
    response = app.test_client().get("/ready")
    assert response.status_code == code
    assert response.get_json()["database"] is verdict


def test_raising_check_fails_with_its_error(app: Flask) -> None:
    def database() -> bool:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    _route(app).add_check("database", database)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "FAIL",
        "database": {"status": "fail", "error": "ConnectionRefusedError: [Errno 111] Connection refused"},
    }
    assert b"Traceback" not in response.data


def test_check_result_details(app: Flask) -> None:
    _route(app).add_check("disk", lambda: CheckResult.warn("disk 91% full", observed=0.91, unit="ratio"))
    response = app.test_client().get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "WARN",
        "disk": {"status": "warn", "message": "disk 91% full", "observed": 0.91, "unit": "ratio"},
    }


def test_check_result_helpers_and_validation() -> None:
    assert CheckResult.ok("fine").status == "pass"
    assert CheckResult.fail("down", observed=0).observed == 0
    with pytest.raises(ValueError, match="status must be one of"):
        CheckResult("ok")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="message"):
        CheckResult("pass", 42)  # type: ignore[arg-type]


def test_non_critical_failure_only_warns(app: Flask) -> None:
    route = _route(app)
    route.add_check("database", lambda: True)
    route.add_check("cache", lambda: False, critical=False)
    response = app.test_client().get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "WARN", "database": True, "cache": False}


def test_critical_failure_wins_over_warnings(app: Flask) -> None:
    route = _route(app)
    route.add_check("disk", lambda: CheckResult.warn("full"))
    route.add_check("database", lambda: False)
    assert app.test_client().get("/ready").get_json()["status"] == "FAIL"


def test_a_failing_route_never_answers_ok(app: Flask) -> None:
    route = StatusManager(app).add_route("ready", "/ready", message={"status": "OK", "service": "billing"})
    route.add_check("database", lambda: False)
    body = app.test_client().get("/ready").get_json()
    assert body["status"] == "FAIL"
    assert list(body) == ["status", "service", "database"]


def test_route_status_codes_override(app: Flask) -> None:
    route = _route(app, status_codes={"warn": 207, "fail": 500})
    route.add_check("disk", lambda: CheckResult.warn())
    assert app.test_client().get("/ready").status_code == 207


def test_config_status_codes(make_app: Callable[..., Flask]) -> None:
    app = make_app(STATUS_HTTP_CODES={"fail": 500})
    _route(app).add_check("database", lambda: False)
    assert app.test_client().get("/ready").status_code == 500


@pytest.mark.parametrize(
    "codes", [{"fail": 99}, {"broken": 503}, {"fail": "503"}, {"fail": 200}, {"pass": 503}, {"warn": 429}]
)
def test_bad_status_codes(codes: Any) -> None:
    with pytest.raises(ValueError, match="status_codes"):
        StatusManager().add_route("ready", "/ready", status_codes=codes)


def test_check_needs_a_callable(app: Flask) -> None:
    with pytest.raises(TypeError, match="needs a callable"):
        _route(app).add_check("database", True)


def test_check_decorator(app: Flask) -> None:
    route = _route(app)

    @route.check("database", ttl=30, critical=False)
    def database() -> bool:
        return False

    assert database() is False
    assert app.test_client().get("/ready").get_json() == {"status": "WARN", "database": False}


def test_transitions_logged_once(app: Flask, clock: ManualClock, caplog: pytest.LogCaptureFixture, probe: Any) -> None:
    database = probe(True)
    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check("database", database, ttl=1)
    client = app.test_client()

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "flask_status"]

    with caplog.at_level(logging.INFO, logger="flask_status"):
        for _ in range(3):
            client.get("/ready")
            clock.advance(2)
        assert messages() == []  # passing from the start: nothing to say
        database.value = False
        for _ in range(3):
            client.get("/ready")
            clock.advance(2)
        assert messages() == [
            "flask-status: check 'database' of route 'ready' is fail (was pass)",
            "flask-status: route 'ready' is fail (was pass)",
        ]
        assert {r.levelno for r in caplog.records} == {logging.WARNING}
        caplog.clear()
        database.value = True
        for _ in range(3):
            client.get("/ready")
            clock.advance(2)
        assert messages() == [
            "flask-status: check 'database' of route 'ready' is pass (was fail)",
            "flask-status: route 'ready' is pass (was fail)",
        ]
        assert {r.levelno for r in caplog.records} == {logging.INFO}


def test_events_say_what_the_body_says_about_a_non_critical_check(
    app: Flask, clock: ManualClock, caplog: pytest.LogCaptureFixture, probe: Any
) -> None:
    cache = probe(True)
    status = StatusManager(app, clock=clock)
    events: list[StatusEvent] = []
    status.on_change(events.append)
    status.add_route("ready", "/ready").add_check("cache", cache, ttl=1, critical=False)
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    cache.value = False
    clock.advance(2)
    with caplog.at_level(logging.INFO, logger="flask_status"):
        response = client.get("/ready", headers={"Accept": "application/health+json"})
    body = response.get_json(force=True)
    assert response.status_code == 200
    assert body["status"] == "warn"  # the route's own status is where non-criticality shows
    assert body["checks"]["cache"] == [
        {"status": "fail", "critical": False, "time": body["checks"]["cache"][0]["time"]}
    ]
    # The check itself: fail, as in the body, in the event and in the log.
    assert status.flush_events()
    assert [(e.check, e.old, e.new) for e in events] == [("cache", "pass", "fail"), (None, "pass", "warn")]
    assert [r.getMessage() for r in caplog.records if r.name == "flask_status"] == [
        "flask-status: check 'cache' of route 'ready' is fail (was pass)",
        "flask-status: route 'ready' is warn (was pass)",
    ]
