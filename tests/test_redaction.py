"""Credentials never reach a body, the CLI or the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.redact import Redactor

SECRET = "hunter2-Zq9"


@pytest.mark.parametrize(
    "text",
    [
        f"could not connect to postgresql://billing:{SECRET}@db:5432/billing",
        f"redis://:{SECRET}@cache:6379/0 unreachable",
        f"host=db user=billing password={SECRET} dbname=billing",
        f"password='{SECRET}' rejected",
        f'{{"token": "{SECRET}"}}',
        f"Authorization: Bearer {SECRET}",
        f"secret: {SECRET}, retry later",
        f"GET /x?api_key={SECRET}&y=1 failed",
    ],
)
def test_default_patterns(text: str) -> None:
    redacted = Redactor()(text)
    assert SECRET not in redacted
    assert "***" in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = "connection refused: db:5432 (passport office closed, tokenizer ok)"
    assert Redactor()(text) == text


def test_bad_patterns() -> None:
    with pytest.raises(ValueError, match="not a valid regex"):
        Redactor(["("])
    with pytest.raises(TypeError, match="iterable"):
        Redactor("sk_.*")  # type: ignore[arg-type]


def _failing(app: Flask, message: str) -> StatusManager:
    def database() -> bool:
        raise ConnectionError(message)

    status = StatusManager(app)
    status.add_route("details", "/details").add_check("database", database)
    return status


def test_bodies_cli_and_logs_are_redacted(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    _failing(app, f"could not connect to postgresql://billing:{SECRET}@db/billing")
    with caplog.at_level(logging.INFO, logger="flask_status"):
        body = app.test_client().get("/details").get_data(as_text=True)
        health = app.test_client().get("/details", headers={"Accept": "application/health+json"}).get_data(as_text=True)
    cli = app.test_cli_runner().invoke(args=["status"]).output
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for shown in (body, health, cli, logs):
        assert SECRET not in shown
    assert "postgresql://billing:***@db/billing" in body
    assert "postgresql://billing:***@db/billing" in logs


def test_app_patterns_and_disabling_defaults(make_app: Callable[..., Flask]) -> None:
    app = make_app(STATUS_REDACT=[r"acct-\d+"])
    _failing(app, f"account acct-12345 locked; password={SECRET}")
    error = app.test_client().get("/details").get_json()["database"]["error"]
    assert error == "ConnectionError: account *** locked; password=***"
    raw = make_app("raw", STATUS_REDACT_DEFAULTS=False)
    _failing(raw, f"password={SECRET}")
    assert SECRET in raw.test_client().get("/details").get_json()["database"]["error"]


def test_bad_redaction_config(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="STATUS_REDACT"):
        StatusManager(make_app(STATUS_REDACT=["("]))
    with pytest.raises(TypeError, match="STATUS_REDACT_DEFAULTS"):
        StatusManager(make_app(STATUS_REDACT_DEFAULTS="yes"))


def test_check_result_messages_are_redacted(app: Flask) -> None:
    from flask_status import CheckResult

    def replica() -> Any:
        return CheckResult.warn(f"lagging; dsn password={SECRET}")

    StatusManager(app).add_route("details", "/details").add_check("replica", replica)
    assert SECRET not in app.test_client().get("/details").get_data(as_text=True)


@pytest.mark.parametrize("accept", ["application/json", "application/health+json", "text/html"])
def test_check_result_observed_strings_are_redacted(app: Flask, accept: str) -> None:
    from flask_status import CheckResult

    def replica() -> Any:
        observed = {"primary": f"postgresql://app:{SECRET}@db/app", "lag": [3, f"token={SECRET}"]}
        return CheckResult.ok("in sync", observed=observed)

    StatusManager(app).add_route("details", "/details").add_check("replica", replica)
    body = app.test_client().get("/details", headers={"Accept": accept}).get_data(as_text=True)
    assert "postgresql://app:" in body  # the value is shown...
    assert SECRET not in body  # ...without its secrets


def test_real_sqlalchemy_psycopg_error_carrying_a_password(app: Flask) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    psycopg = pytest.importorskip("psycopg")
    from flask_status.checks import sqlalchemy_check

    # psycopg quotes the whole malformed URI, password included, in its error; SQLAlchemy
    # passes it on. The redactor masks it everywhere it would show.
    dsn = f"postgresql://billing:{SECRET}@[::1/billing"
    engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    StatusManager(app).add_route("details", "/details").add_check("database", sqlalchemy_check(engine))
    error = app.test_client().get("/details").get_json()["database"]["error"]
    assert "postgresql://billing:***@[::1/billing" in error
    assert SECRET not in error
    assert SECRET not in app.test_cli_runner().invoke(args=["status"]).output


def test_real_redis_error_through_a_url_with_a_password(app: Flask) -> None:
    pytest.importorskip("redis")
    from flask_status.checks import redis_check

    StatusManager(app).add_route("details", "/details").add_check(
        "cache", redis_check(f"redis://:{SECRET}@127.0.0.1:1/0", timeout=0.5)
    )
    body = app.test_client().get("/details").get_data(as_text=True)
    assert "ConnectionError" in body
    assert SECRET not in body
