"""FlaskStatus keeps the 1.x contract (the original README, verbatim) with its bugs fixed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, abort, request

from flask_status import FlaskStatus

# -- the original README's examples, verbatim ---------------------------------------------------


def test_readme_default_route(app: Flask) -> None:
    FlaskStatus(app)
    response = app.test_client().get("/api/status")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "OK"}


def test_readme_custom_url_and_message(app: Flask) -> None:
    FlaskStatus(app, url="/api/ping", message={"message": "show my status"})
    assert app.test_client().get("/api/ping").get_json() == {"message": "show my status"}


def test_readme_string_message(app: Flask) -> None:
    FlaskStatus(app, message="Running")
    assert app.test_client().get("/api/status").get_json() == {"message": "Running"}


def test_readme_add_fields(app: Flask) -> None:
    flask_status = FlaskStatus(app)

    flask_status.add_field("error", False)

    # you can also add functions to run on request of the status route
    def check_database():  # type: ignore[no-untyped-def]
        # check if database is running
        return True

    flask_status.add_field("database", check_database)
    assert app.test_client().get("/api/status").get_json() == {"status": "OK", "error": False, "database": True}


AUTH_TOKEN_HEADER = "token"


def verify_token(token: str) -> bool:
    return token == "good"


def login_required(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = request.cookies.get(AUTH_TOKEN_HEADER)
        if not token:
            return abort(401)
        if not verify_token(token):
            return abort(403)
        return func(*args, **kwargs)

    return wrapper


def test_readme_authenticator(app: Flask) -> None:
    FlaskStatus(app, authenticator=login_required)
    client = app.test_client()
    assert client.get("/api/status").status_code == 401
    client.set_cookie(AUTH_TOKEN_HEADER, "bad")
    assert client.get("/api/status").status_code == 403
    client.set_cookie(AUTH_TOKEN_HEADER, "good")
    assert client.get("/api/status").get_json() == {"status": "OK"}


# -- the contract -----------------------------------------------------------------------------


def test_url_gets_a_leading_slash(app: Flask) -> None:
    FlaskStatus(app, url="health")
    assert app.test_client().get("/health").status_code == 200


@pytest.mark.parametrize("url", [42, b"/api", ["/api"], 1.5])
def test_non_string_url_is_a_type_error(app: Flask, url: Any) -> None:
    with pytest.raises(TypeError, match="url must be a str"):
        FlaskStatus(app, url=url)


@pytest.mark.parametrize("message", [42, ["OK"], ("OK",), 1.5])
def test_message_must_be_dict_or_str(app: Flask, message: Any) -> None:
    with pytest.raises(TypeError, match="message must be a dict or a str"):
        FlaskStatus(app, message=message)


def test_key_must_be_a_string(app: Flask) -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        FlaskStatus(app).add_field(1, "x")  # type: ignore[arg-type]


def test_constant_must_be_json_serialisable(app: Flask) -> None:
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        FlaskStatus(app).add_field("thing", object())


def test_init_app_later_with_overrides(make_app: Callable[..., Flask]) -> None:
    flask_status = FlaskStatus(url="/a", message="from constructor")
    flask_status.add_field("added_before_init", 1)
    app = make_app()
    flask_status.init_app(app, url="/b", message={"status": "fine"})
    client = app.test_client()
    assert client.get("/a").status_code == 404
    assert client.get("/b").get_json() == {"status": "fine", "added_before_init": 1}


def test_get_and_head_only(app: Flask) -> None:
    FlaskStatus(app)
    client = app.test_client()
    assert client.head("/api/status").status_code == 200
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        response = client.open("/api/status", method=method)
        # Like every answer of a status route: compact JSON, never cached; not Flask's HTML page.
        assert response.status_code == 405
        assert response.mimetype == "application/json"
        assert response.get_data() == b'{"status":"method_not_allowed"}\n'
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Allow"] == "GET, HEAD"


# -- the 1.0.1 bugs, fixed --------------------------------------------------------------------


def test_callable_runs_on_each_request_not_at_registration(app: Flask, probe: Any) -> None:
    database = probe(True)
    flask_status = FlaskStatus(app)
    flask_status.add_field("database", database)
    assert database.calls == 0
    client = app.test_client()
    assert client.get("/api/status").get_json()["database"] is True
    database.value = False
    assert client.get("/api/status").get_json()["database"] is False
    assert database.calls == 2


def test_default_message_is_not_shared(make_app: Callable[..., Flask]) -> None:
    first, second = make_app("first"), make_app("second")
    FlaskStatus(first).add_field("only_first", 1)
    FlaskStatus(second)
    assert second.test_client().get("/api/status").get_json() == {"status": "OK"}
    assert first.test_client().get("/api/status").get_json() == {"status": "OK", "only_first": 1}


def test_caller_message_dict_is_copied(app: Flask) -> None:
    message = {"status": "OK"}
    FlaskStatus(app, message=message).add_field("extra", 1)
    assert message == {"status": "OK"}


def test_two_instances_on_one_app(app: Flask) -> None:
    FlaskStatus(app, url="/one", message="one")
    FlaskStatus(app, url="/two", message="two")
    client = app.test_client()
    assert client.get("/one").get_json() == {"message": "one"}
    assert client.get("/two").get_json() == {"message": "two"}
    assert {"status_ping", "status_2_ping"} <= set(app.view_functions)


class ClassDecorator:
    """An authenticator built by a class: an instance whose __call__ wraps the view."""

    def __init__(self, allowed: str) -> None:
        self.allowed = allowed

    def __call__(self, view: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.headers.get("X-Key") != self.allowed:
                abort(401)
            return view(*args, **kwargs)

        return wrapper


def header_auth(view: Callable[..., Any], *, header: str) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if header not in request.headers:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    ("authenticator", "header"),
    [(ClassDecorator("k"), ("X-Key", "k")), (functools.partial(header_auth, header="X-Ok"), ("X-Ok", "1"))],
)
def test_any_callable_decorator_authenticates(app: Flask, authenticator: Any, header: tuple[str, str]) -> None:
    FlaskStatus(app, authenticator=authenticator)
    client = app.test_client()
    assert client.get("/api/status").status_code in (401, 403)
    assert client.get("/api/status", headers=[header]).status_code == 200


def test_non_callable_authenticator_is_a_type_error(app: Flask) -> None:
    with pytest.raises(TypeError, match="authenticator must be a view decorator"):
        FlaskStatus(app, authenticator="admin")  # type: ignore[arg-type]


def test_raising_callable_is_reported_not_raised(app: Flask) -> None:
    def database() -> bool:
        raise ConnectionError("connection refused")

    flask_status = FlaskStatus(app)
    flask_status.add_field("database", database)  # does not raise here
    flask_status.add_field("version", "1.0")
    response = app.test_client().get("/api/status")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "FAIL",
        "database": {"status": "fail", "error": "ConnectionError: connection refused"},
        "version": "1.0",
    }


def test_add_field_accepts_ttl_and_timeout(app: Flask, probe: Any) -> None:
    database = probe(True)
    flask_status = FlaskStatus(app)
    flask_status.add_field("database", database, ttl=30, timeout=1.0)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/status").get_json()["database"] is True
    assert database.calls == 1


def test_manager_escape_hatch(app: Flask) -> None:
    flask_status = FlaskStatus(app)
    flask_status.manager.add_route("live", "/live")
    assert app.test_client().get("/live").get_json() == {"status": "OK"}
