"""The IETF "Health Check Response Format for HTTP APIs" body, by route option or Accept."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from flask import Flask

from flask_status import CheckResult, StatusManager


def _parse_time(text: str) -> dt.datetime:
    assert text.endswith("Z")
    return dt.datetime.fromisoformat(text[:-1] + "+00:00")


def test_health_json_route(app: Flask) -> None:
    route = StatusManager(app).add_route(
        "health",
        "/health",
        format="health+json",
        message={"status": "OK", "version": "2", "releaseId": "2.0.0", "serviceId": "billing", "description": "x"},
    )
    route.add_field("build", "abc123")
    route.add_check("postgres", lambda: True, component_type="datastore", component_id="db-1")
    route.add_check(
        "disk", lambda: CheckResult.warn("disk 91% full", observed=0.91, unit="ratio"), component_type="system"
    )
    route.add_check("cache", lambda: False, critical=False)
    route.add_field("queue_depth", lambda: 12)
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.mimetype == "application/health+json"
    assert response.headers["Cache-Control"] == "no-store"
    body = json.loads(response.data)
    checks = body.pop("checks")
    assert body == {
        "status": "warn",
        "version": "2",
        "releaseId": "2.0.0",
        "serviceId": "billing",
        "description": "x",
        "build": "abc123",
    }
    assert set(checks) == {"postgres", "disk", "cache", "queue_depth"}
    postgres = checks["postgres"][0]
    assert postgres["status"] == "pass"
    assert postgres["componentType"] == "datastore"
    assert postgres["componentId"] == "db-1"
    assert abs((_parse_time(postgres["time"]) - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60
    disk = checks["disk"][0]
    assert (disk["status"], disk["observedValue"], disk["observedUnit"], disk["output"]) == (
        "warn",
        0.91,
        "ratio",
        "disk 91% full",
    )
    assert checks["cache"][0]["status"] == "fail"
    assert checks["queue_depth"][0]["observedValue"] == 12


def test_health_json_failure_output(app: Flask) -> None:
    def postgres() -> bool:
        raise ConnectionError("refused")

    route = StatusManager(app).add_route("health", "/health", format="health+json")
    route.add_check("postgres", postgres)
    response = app.test_client().get("/health")
    assert response.status_code == 503
    body = json.loads(response.data)
    assert body["status"] == "fail"
    assert body["checks"]["postgres"][0]["output"] == "ConnectionError: refused"


@pytest.mark.parametrize(
    ("accept", "mimetype"),
    [
        ("application/health+json", "application/health+json"),
        ("application/health+json, application/json;q=0.5", "application/health+json"),
        ("application/json, application/health+json;q=0.1", "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
    ],
)
def test_accept_negotiation(app: Flask, accept: str | None, mimetype: str) -> None:
    StatusManager(app).add_route("ready", "/ready").add_check("database", lambda: True)
    headers = {"Accept": accept} if accept else {}
    response = app.test_client().get("/ready", headers=headers)
    assert response.mimetype == mimetype
    body = json.loads(response.data)
    assert body["status"] == ("pass" if mimetype == "application/health+json" else "OK")


def test_default_format_from_config(make_app: Callable[..., Flask]) -> None:
    app = make_app(STATUS_DEFAULT_FORMAT="health+json")
    StatusManager(app).add_route("ready", "/ready")
    response = app.test_client().get("/ready")
    assert response.mimetype == "application/health+json"
    assert json.loads(response.data) == {"status": "pass"}


def test_bad_format() -> None:
    with pytest.raises(ValueError, match="format must be one of"):
        StatusManager().add_route("ready", "/ready", format="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="STATUS_DEFAULT_FORMAT"):
        StatusManager(default_format="xml")  # type: ignore[arg-type]
