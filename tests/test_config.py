"""Configuration through app.config: defaults written with setdefault, validated at init_app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.config import DEFAULTS


def test_defaults_are_written_with_setdefault(make_app: Callable[..., Flask]) -> None:
    app = make_app(STATUS_DEFAULT_TIMEOUT=1.5)
    StatusManager(app)
    assert app.config["STATUS_DEFAULT_TIMEOUT"] == 1.5  # the app's own value stays
    for key, value in DEFAULTS.items():
        if key != "STATUS_DEFAULT_TIMEOUT":
            assert app.config[key] == value
    assert app.config["STATUS_HTTP_CODES"] is not DEFAULTS["STATUS_HTTP_CODES"]  # a copy per app


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("STATUS_DEFAULT_TTL", -1, ValueError),
        ("STATUS_DEFAULT_TTL", "30", TypeError),
        ("STATUS_DEFAULT_TIMEOUT", 0, ValueError),
        ("STATUS_FAILURE_TTL", None, ValueError),
        ("STATUS_MAX_WORKERS", 0, ValueError),
        ("STATUS_MAX_WORKERS", 2.5, ValueError),
        ("STATUS_DEFAULT_FORMAT", "yaml", ValueError),
        ("STATUS_HTTP_CODES", {"fail": 700}, ValueError),
        ("STATUS_CACHE_SIZE", 0, ValueError),
        ("STATUS_DRAIN_DELAY", "ten", TypeError),
        ("STATUS_DEFAULT_TIMEOUT", 1e10, ValueError),
        ("STATUS_DEFAULT_TTL", 1e10, ValueError),
        ("STATUS_FAILURE_TTL", 1e10, ValueError),
        ("STATUS_DRAIN_DELAY", 1e10, ValueError),
        ("STATUS_TOKENS", 5, TypeError),
        ("STATUS_TOKENS", ["ok", ""], ValueError),
        ("STATUS_TOKENS", "correct horse battery staple", ValueError),
        ("STATUS_BASIC_AUTH", {"monitor": ""}, ValueError),
        ("STATUS_BASIC_AUTH", ["monitor", "pw"], TypeError),
    ],
)
def test_bad_config_fails_at_init_app(make_app: Callable[..., Flask], key: str, value: Any, error: type) -> None:
    app = make_app(**{key: value})
    with pytest.raises(error, match=key):
        StatusManager(app)


def test_timeout_beyond_what_the_platform_can_wait_for_names_key_and_value(make_app: Callable[..., Flask]) -> None:
    app = make_app(STATUS_DEFAULT_TIMEOUT=1e10)
    most = f"STATUS_DEFAULT_TIMEOUT must be at most {threading.TIMEOUT_MAX:.0f} seconds"
    with pytest.raises(ValueError, match=rf"{most} \(threading.TIMEOUT_MAX\), got 10000000000.0"):
        StatusManager(app)
    with pytest.raises(ValueError, match=r"STATUS_DEFAULT_TIMEOUT must be at most"):
        StatusManager(default_timeout=1e10)


def test_default_timeout_from_config(make_app: Callable[..., Flask], release: threading.Event) -> None:
    app = make_app(STATUS_DEFAULT_TIMEOUT=0.1)
    StatusManager(app).add_route("d", "/d").add_field("hang", lambda: release.wait(10))
    started = time.monotonic()
    response = app.test_client().get("/d")
    assert time.monotonic() - started < 1.0
    assert response.get_json()["hang"]["error"] == "TimeoutError: no result within 0.1 s"


def test_max_workers_from_config(make_app: Callable[..., Flask], release: threading.Event) -> None:
    app = make_app(STATUS_MAX_WORKERS=3, STATUS_DEFAULT_TIMEOUT=0.05)
    status = StatusManager(app)
    route = status.add_route("d", "/d")
    for i in range(6):
        route.add_field(f"hang{i}", lambda: release.wait(10))
    app.test_client().get("/d")
    assert status.state(app).runner.pool.threads == 3


def test_each_app_reads_its_own_config(make_app: Callable[..., Flask]) -> None:
    status = StatusManager()
    status.add_route("ready", "/ready").add_check("db", lambda: False)
    strict, lenient = make_app("strict"), make_app("lenient", STATUS_HTTP_CODES={"fail": 500})
    status.init_app(strict)
    status.init_app(lenient)
    assert strict.test_client().get("/ready").status_code == 503
    assert lenient.test_client().get("/ready").status_code == 500
