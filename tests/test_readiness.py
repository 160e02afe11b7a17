"""Readiness routes fail while the manager drains; every other route keeps answering."""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_status import StatusManager


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
    import pytest

    with pytest.raises(TypeError, match="readiness"):
        StatusManager().add_route("ready", "/ready", readiness="yes")  # type: ignore[arg-type]
