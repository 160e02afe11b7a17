"""StatusManager: named routes, validation at registration, mounting on apps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, abort, url_for

from flask_status import StatusManager


def test_quick_start(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("live", "/health/live")
    details = status.add_route("details", "/health/details", message={"service": "billing"})
    details.add_field("version", "2.0.0")
    details.add_field("database", lambda: True, ttl=30)
    client = app.test_client()
    live = client.get("/health/live")
    assert live.status_code == 200
    assert live.get_json() == {"status": "OK"}
    assert live.headers["Cache-Control"] == "no-store"
    assert live.mimetype == "application/json"
    assert client.get("/health/details").get_json() == {"service": "billing", "version": "2.0.0", "database": True}


def test_app_factory_init_app(make_app: Callable[..., Flask]) -> None:
    status = StatusManager()
    status.add_route("live", "/live")
    app = make_app()
    status.init_app(app)
    assert app.test_client().get("/live").status_code == 200
    assert app.extensions["flask-status"]["status"].manager is status


def test_routes_mapping_is_read_only(app: Flask) -> None:
    status = StatusManager(app)
    live = status.add_route("live", "/live")
    assert status.routes["live"] is live
    assert list(status.routes) == ["live"]
    with pytest.raises(TypeError):
        status.routes["other"] = live  # type: ignore[index]


def test_string_message_and_default_message(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("a", "/a", message="Running")
    status.add_route("b", "/b")
    client = app.test_client()
    assert client.get("/a").get_json() == {"message": "Running"}
    assert client.get("/b").get_json() == {"status": "OK"}


def test_field_decorator(app: Flask) -> None:
    status = StatusManager(app)
    details = status.add_route("details", "/details")

    @details.field("cache", ttl=10)
    def cache_ok() -> bool:
        return True

    assert cache_ok() is True  # the decorator returns the function unchanged
    assert app.test_client().get("/details").get_json() == {"status": "OK", "cache": True}


def test_duplicate_route_name_and_url(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("live", "/live")
    with pytest.raises(ValueError, match="already has a route named 'live'"):
        status.add_route("live", "/other")
    with pytest.raises(ValueError, match="url '/live' is already used by route 'live'"):
        status.add_route("other", "/live")


def test_url_taken_by_the_app_is_refused(app: Flask) -> None:
    @app.get("/health")
    def health() -> str:
        return "mine"

    with pytest.raises(ValueError, match="already routed"):
        StatusManager(app).add_route("live", "/health")


@pytest.mark.parametrize(
    ("url", "error"),
    [(42, TypeError), ("", ValueError), ("/a b", ValueError), ("/a?x=1", ValueError), ("/<id>", ValueError)],
)
def test_bad_urls(url: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="url"):
        StatusManager().add_route("live", url)


@pytest.mark.parametrize(
    ("name", "error"), [(3, TypeError), ("", ValueError), ("a b", ValueError), ("a.b", ValueError)]
)
def test_bad_route_names(name: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="route name"):
        StatusManager().add_route(name, "/x")


@pytest.mark.parametrize("name", ["db\n", "db\r\n", "\ndb"])
def test_field_and_check_names_with_a_newline_are_refused(name: str) -> None:
    route = StatusManager().add_route("details", "/details")
    with pytest.raises(ValueError, match=r"field name .* is not valid"):
        route.add_field(name, lambda: 1)
    with pytest.raises(ValueError, match=r"check name .* is not valid"):
        route.add_check(name, lambda: True)


def test_route_and_manager_names_with_a_newline_are_refused() -> None:
    with pytest.raises(ValueError, match=r"route name 'live\\n'"):
        StatusManager().add_route("live\n", "/live")
    with pytest.raises(ValueError, match=r"name 'status\\n' is not valid"):
        StatusManager(name="status\n")


def test_duplicate_field_name_and_message_key(app: Flask) -> None:
    route = StatusManager(app).add_route("details", "/details", message={"service": "billing"})
    route.add_field("version", "1")
    with pytest.raises(ValueError, match="already has a field or check named 'version'"):
        route.add_field("version", "2")
    with pytest.raises(ValueError, match="already a key of route 'details'"):
        route.add_field("service", "x")
    with pytest.raises(ValueError, match="reserved"):
        route.add_field("status", "x")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"ttl": -1}, ValueError, "ttl of field 'f' must be non-negative"),
        ({"ttl": "30"}, TypeError, "ttl of field 'f' must be a number"),
        ({"ttl": True}, TypeError, "ttl"),
        ({"ttl": float("nan")}, ValueError, "finite"),
        ({"timeout": 0}, ValueError, "timeout of field 'f' must be positive"),
        ({"timeout": -2}, ValueError, "timeout"),
        ({"failure_ttl": -1}, ValueError, "failure_ttl"),
        ({"critical": "yes"}, TypeError, "critical"),
        (
            {"timeout": 1e10},
            ValueError,
            r"timeout of field 'f' must be at most \d+ seconds \(threading.TIMEOUT_MAX\), got 10000000000.0",
        ),
        ({"ttl": 1e10}, ValueError, r"ttl of field 'f' must be at most"),
        ({"ttl": 30, "stale": 1e10}, ValueError, r"stale of field 'f' must be at most"),
        ({"ttl": 30, "failure_ttl": 1e10}, ValueError, r"failure_ttl of field 'f' must be at most"),
        ({"interval": 1e10}, ValueError, r"interval of field 'f' must be at most"),
    ],
)
def test_bad_field_options(options: dict[str, Any], error: type[Exception], match: str) -> None:
    route = StatusManager().add_route("details", "/details")
    with pytest.raises(error, match=match):
        route.add_field("f", lambda: 1, **options)


def test_the_longest_timeout_the_platform_can_wait_for_is_accepted_and_answers(app: Flask) -> None:
    route = StatusManager(app).add_route("ready", "/ready")
    route.add_check("database", lambda: True, timeout=threading.TIMEOUT_MAX)
    route.add_field("queue", lambda: 3, ttl=threading.TIMEOUT_MAX)
    assert app.test_client().get("/ready").get_json() == {"status": "OK", "database": True, "queue": 3}


def test_constant_with_ttl_is_refused() -> None:
    route = StatusManager().add_route("details", "/details")
    with pytest.raises(ValueError, match="constant"):
        route.add_field("version", "1", ttl=30)


def test_methods(app: Flask) -> None:
    StatusManager(app).add_route("live", "/live")
    client = app.test_client()
    head = client.head("/live")
    assert head.status_code == 200
    assert head.data == b""
    for method in ("post", "put", "patch", "delete", "options"):
        assert getattr(client, method)("/live").status_code == 405


def test_several_managers_on_one_app(app: Flask) -> None:
    public = StatusManager(app)
    ops = StatusManager(app, name="ops", url_prefix="/ops")
    public.add_route("live", "/live")
    ops.add_route("live", "/live", message="ops")
    client = app.test_client()
    assert client.get("/live").get_json() == {"status": "OK"}
    assert client.get("/ops/live").get_json() == {"message": "ops"}
    with app.test_request_context():
        assert url_for("status_live") == "/live"
        assert url_for("ops_live") == "/ops/live"


def test_same_name_twice_on_one_app_is_refused(app: Flask) -> None:
    StatusManager(app)
    with pytest.raises(RuntimeError, match="already registered"):
        StatusManager(app)


def test_one_manager_many_apps_and_late_routes(make_app: Callable[..., Flask], probe: Any) -> None:
    status = StatusManager()
    first, second = make_app("first"), make_app("second")
    status.init_app(first)
    status.init_app(second)
    counter = probe(1)
    details = status.add_route("details", "/details")  # added after init_app: mounted on both
    details.add_field("runs", counter, ttl=60)
    assert first.test_client().get("/details").get_json() == {"status": "OK", "runs": 1}
    assert second.test_client().get("/details").get_json() == {"status": "OK", "runs": 1}
    # each app keeps its own cache: the field ran once per app
    assert counter.calls == 2
    assert status.state(first).store is not status.state(second).store


def test_field_added_after_first_request_shows(app: Flask) -> None:
    details = StatusManager(app).add_route("details", "/details")
    client = app.test_client()
    assert client.get("/details").get_json() == {"status": "OK"}
    details.add_field("version", "2")
    assert client.get("/details").get_json() == {"status": "OK", "version": "2"}


def test_authenticator_and_broken_authenticator(app: Flask) -> None:
    def deny(view: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper() -> Any:
            abort(401)

        return wrapper

    def broken(view: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper() -> Any:
            raise KeyError("secret-session-key")

        return wrapper

    status = StatusManager(app)
    status.add_route("private", "/private", authenticator=deny).add_field("secret", "s3cret")
    status.add_route("broken", "/broken", authenticator=broken).add_field("secret", "s3cret")
    client = app.test_client()
    assert client.get("/private").status_code == 401
    response = client.get("/broken")
    assert response.status_code == 500
    assert response.is_json
    assert b"s3cret" not in response.data
    assert b"secret-session-key" not in response.data


def test_authenticator_returning_non_callable_fails_at_mount(app: Flask) -> None:
    status = StatusManager(app)
    with pytest.raises(TypeError, match="not a view function"):
        status.add_route("x", "/x", authenticator=lambda view: None)


def test_bad_manager_options() -> None:
    with pytest.raises(ValueError, match="STATUS_DEFAULT_TIMEOUT"):
        StatusManager(default_timeout=-1)
    with pytest.raises(ValueError, match="STATUS_MAX_WORKERS"):
        StatusManager(max_workers=0)
    with pytest.raises(TypeError, match="url_prefix"):
        StatusManager(url_prefix=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="init_app needs a Flask app"):
        StatusManager().init_app(object())  # type: ignore[arg-type]


def test_evaluate_without_request(app: Flask) -> None:
    status = StatusManager(app)
    ready = status.add_route("ready", "/ready")
    ready.add_check("database", lambda: False)
    report = status.evaluate("ready", app)
    assert report.status == "fail"
    assert [r.name for r in report.results] == ["database"]
    with pytest.raises(KeyError, match="no route named 'nope'"):
        status.evaluate("nope", app)
    with app.app_context():
        assert status.evaluate("ready").status == "fail"


def test_callable_needing_arguments_is_refused() -> None:
    route = StatusManager().add_route("d", "/d")

    def database(url: str) -> bool:
        return True

    with pytest.raises(TypeError, match="requires url"):
        route.add_check("database", database)


def test_interval_refuses_failure_ttl() -> None:
    with pytest.raises(ValueError, match="failure_ttl do not apply"):
        StatusManager().add_route("d", "/d").add_check("db", lambda: True, interval=5, failure_ttl=1)
