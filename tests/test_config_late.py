"""``STATUS_*`` config set after ``StatusManager(app)`` is never ignored in silence.

``init_app`` reads the config once (it builds the store, the pool and the defaults from it).
A key changed afterwards is either read when it is used (tokens, Basic users, the drain delay)
or named in one warning at the first evaluation, saying to set it before the manager.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.auth import bearer_token


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "flask_status" and r.levelno == logging.WARNING]


def test_a_store_url_set_after_the_manager_is_warned_about_once(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    # The README's old shared-store snippet: each worker then ran the "shared" check itself.
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", lambda: True, ttl=30, shared=True)
    app.config["STATUS_STORE_URL"] = "redis://127.0.0.1:1/0"
    app.config["STATUS_DEFAULT_TTL"] = 10
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        for _ in range(3):
            assert client.get("/ready").status_code == 200
        status.evaluate("ready", app)
    assert _warnings(caplog) == [
        "flask-status: app.config STATUS_DEFAULT_TTL, STATUS_STORE_URL changed after status manager 'status' "
        "read it at init_app, and the change is ignored: set STATUS_* config before StatusManager(app) or "
        "init_app(app)"
    ]
    assert status.state(app).shared is None  # ignored, as it says


def test_config_set_before_the_manager_is_used_without_a_word(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(STATUS_DEFAULT_TTL=10, STATUS_HTTP_CODES={"fail": 500})
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", lambda: False)
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        assert app.test_client().get("/ready").status_code == 500
    assert not [m for m in _warnings(caplog) if "changed after" in m]


def test_a_dict_changed_in_place_is_a_change(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", lambda: False)
    app.config["STATUS_HTTP_CODES"]["fail"] = 500
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        assert app.test_client().get("/ready").status_code == 503  # read at init_app
    assert any("app.config STATUS_HTTP_CODES changed after" in m for m in _warnings(caplog))


def test_the_cli_warns_too(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", lambda: True)
    app.config["STATUS_DEFAULT_TIMEOUT"] = 1.0
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        result = app.test_cli_runner().invoke(args=["status", "--route", "ready"])
    assert result.exit_code == 0, result.output
    assert any("STATUS_DEFAULT_TIMEOUT changed after" in m for m in _warnings(caplog))


def test_keys_read_when_used_are_honoured_late(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    status = StatusManager(app)
    status.add_route("details", "/details", authenticator=bearer_token())
    app.config["STATUS_TOKENS"] = "late-token"
    app.config["STATUS_DRAIN_DELAY"] = 2
    app.config["STATUS_QUIET_PROBES"] = False  # read by the view and the log filter on each request
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        response = app.test_client().get("/details", headers={"Authorization": "Bearer late-token"})
    assert response.status_code == 200
    assert not [m for m in _warnings(caplog) if "changed after" in m]


def test_a_key_a_constructor_argument_overrides_is_not_reported(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    # The argument wins over the config, before init_app as after: no late change to tell.
    status = StatusManager(app, default_timeout=2.0)
    status.add_route("ready", "/ready").add_check("database", lambda: True)
    app.config["STATUS_DEFAULT_TIMEOUT"] = 1.0
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        assert app.test_client().get("/ready").status_code == 200
    assert not [m for m in _warnings(caplog) if "changed after" in m]
