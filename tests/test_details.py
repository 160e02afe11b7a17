"""Detail levels: a public route shows the status alone; details can depend on the request."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from flask_status import StatusManager


def test_details_false_shows_status_only(app: Flask) -> None:
    def database() -> bool:
        raise ConnectionError("postgresql://billing:hunter2@db/billing refused")

    route = StatusManager(app).add_route("ready", "/ready", details=False)
    route.add_check("database", database)
    route.add_field("version", "2.0.0")
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json() == {"status": "FAIL"}
    for leak in (b"database", b"hunter2", b"ConnectionError", b"version"):
        assert leak not in response.data


def test_details_false_passing(app: Flask) -> None:
    StatusManager(app).add_route("ready", "/ready", details=False).add_check("database", lambda: True)
    response = app.test_client().get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "OK"}


def test_details_decided_per_request(app: Flask) -> None:
    def is_operator() -> bool:
        return request.headers.get("X-Operator") == "yes"

    route = StatusManager(app).add_route("status", "/status", details=is_operator)
    route.add_check("database", lambda: True, ttl=30)
    client = app.test_client()
    assert client.get("/status").get_json() == {"status": "OK"}
    assert client.get("/status", headers={"X-Operator": "yes"}).get_json() == {"status": "OK", "database": True}
    assert client.get("/status").get_json() == {"status": "OK"}  # each level has its own rendered body


def test_broken_details_callable_hides_details(app: Flask) -> None:
    def broken() -> bool:
        raise RuntimeError("session store down")

    route = StatusManager(app).add_route("status", "/status", details=broken)
    route.add_field("secret", "s3cret")
    response = app.test_client().get("/status")
    assert response.status_code == 200
    assert response.get_json() == {"status": "OK"}


def test_details_must_be_bool_or_callable(app: Flask) -> None:
    import pytest

    with pytest.raises(TypeError, match="details"):
        StatusManager(app).add_route("status", "/status", details="yes")  # type: ignore[arg-type]


def test_health_json_without_details(app: Flask) -> None:
    route = StatusManager(app).add_route(
        "ready", "/ready", details=False, format="health+json", message={"version": "2"}
    )
    route.add_check("database", lambda: False)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.mimetype == "application/health+json"
    assert response.get_json(force=True) == {"status": "fail", "version": "2"}


def test_details_route_shows_errors_but_no_traceback(app: Flask, probe: Any) -> None:
    route = StatusManager(app).add_route("details", "/details")
    route.add_field("database", probe(error=ValueError("bad things")))
    response = app.test_client().get("/details")
    assert response.get_json()["database"] == {"status": "fail", "error": "ValueError: bad things"}
    assert b"Traceback" not in response.data
    assert b"File " not in response.data


def test_other_methods_get_a_json_405_before_the_authenticator(app: Flask, probe: Any) -> None:
    from flask_status.auth import bearer_token

    database = probe(True)
    route = StatusManager(app).add_route("details", "/details", authenticator=bearer_token("s3cret"))
    route.add_check("database", database)
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer s3cret"}):
        response = client.post("/details", headers=headers, data=b"{}")
        assert response.status_code == 405
        assert response.get_json() == {"status": "method_not_allowed"}
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Allow"] == "GET, HEAD"
    assert database.calls == 0
    assert client.get("/details", headers={"Authorization": "Bearer s3cret"}).get_json() == {
        "status": "OK",
        "database": True,
    }
    head = client.head("/details", headers={"Authorization": "Bearer s3cret"})
    assert head.status_code == 200
    assert head.data == b""
