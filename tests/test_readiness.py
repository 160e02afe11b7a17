"""Readiness routes fail while the manager drains; every other route keeps answering."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask

from flask_status import StatusEvent, StatusManager


def test_drain_fails_readiness_only(app: Flask, probe: Any) -> None:
    database = probe(True)
    status = StatusManager(app)
    status.add_route("live", "/live")
    status.add_route("ready", "/ready", readiness=True, details=False).add_check("database", database, ttl=30)
    status.add_route("details", "/details", readiness=True).add_check("database", database, ttl=30)
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    assert not status.draining
    status.drain()
    assert status.draining
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "FAIL"}
    details = client.get("/details")
    assert details.status_code == 503
    assert details.get_json() == {"status": "FAIL", "database": True, "draining": True}
    assert client.get("/live").status_code == 200
    health = client.get("/details", headers={"Accept": "application/health+json"})
    assert health.get_json(force=True)["status"] == "fail"
    status.resume()
    assert client.get("/ready").status_code == 200


def test_draining_runs_no_check(app: Flask, probe: Any) -> None:
    database = probe(True)
    status = StatusManager(app)
    status.add_route("ready", "/ready", readiness=True).add_check("database", database)
    status.drain()
    for _ in range(3):
        assert app.test_client().get("/ready").status_code == 503
    assert database.calls == 0


def test_readiness_must_be_bool() -> None:
    with pytest.raises(TypeError, match="readiness"):
        StatusManager().add_route("ready", "/ready", readiness="yes")  # type: ignore[arg-type]


def test_a_drain_is_announced_once_as_a_drain(app: Flask, probe: Any, caplog: pytest.LogCaptureFixture) -> None:
    # The README's pager pages on event.new == "fail": a deploy must not page for each check.
    events: list[StatusEvent] = []
    status = StatusManager(app)
    status.on_change(events.append)
    ready = status.add_route("ready", "/ready", readiness=True)
    ready.add_check("database", probe(True))  # uncached: no result kept between requests
    ready.add_check("queue", probe(True))
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    with caplog.at_level(logging.INFO, logger="flask_status"):
        status.drain()
        for _ in range(3):
            assert client.get("/ready").status_code == 503
    assert status.flush_events()
    assert [(e.route, e.check, e.kind, e.old, e.new, e.draining) for e in events] == [
        ("ready", None, "route", "pass", "fail", True)
    ]
    assert str(events[0]) == "route 'ready' is fail (was pass): draining"
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "flask_status"]
    assert logged == [(logging.INFO, "flask-status: route 'ready' is fail (was pass): draining")]

    events.clear()
    status.resume()
    assert client.get("/ready").status_code == 200
    assert status.flush_events()
    assert [(e.check, e.old, e.new, e.draining) for e in events] == [(None, "fail", "pass", False)]


def test_a_drain_of_a_failing_route_is_still_announced_once(app: Flask, probe: Any) -> None:
    events: list[StatusEvent] = []
    status = StatusManager(app)
    status.on_change(events.append)
    status.add_route("ready", "/ready", readiness=True).add_check("database", probe(False))
    client = app.test_client()
    assert client.get("/ready").status_code == 503
    assert status.flush_events()
    events.clear()
    status.drain()
    assert client.get("/ready").status_code == 503
    assert client.get("/ready").status_code == 503
    assert status.flush_events()
    assert [(e.check, e.old, e.new, e.draining) for e in events] == [(None, "fail", "fail", True)]
    events.clear()
    status.resume()
    assert client.get("/ready").status_code == 503  # still failing on its own: nothing new to say
    assert status.flush_events()
    assert events == []
