"""The example app behaves as the README says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_status_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_app(example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setattr(example, "database", lambda: True)  # the real one sleeps 0.5 s
    app: Flask = example.create_app()
    return app


def test_routes(example_app: Flask) -> None:
    client = example_app.test_client()
    assert client.get("/health/live").get_json() == {"status": "OK"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "OK"}
    assert client.get("/health/details").status_code == 401
    details = client.get("/health/details", headers={"Authorization": "Bearer let-me-in"})
    assert details.status_code == 200
    body = details.get_json()
    assert body["service"] == "example"
    assert body["database"] is True
    assert {"queue", "disk", "uptime_s"} <= set(body)


def test_a_person_logs_in_from_a_browser(example_app: Flask) -> None:
    client = example_app.test_client()
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    denied = client.get("/health/details", headers=browser)
    assert denied.status_code == 401
    # A Basic challenge: the browser asks for a user name and password (it cannot send a token).
    assert denied.headers["WWW-Authenticate"] == 'Basic realm="status"'
    page = client.get("/health/details", headers=browser, auth=("ops", "let-me-in"))
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert b"database" in page.data
    assert client.get("/health/details", headers=browser, auth=("ops", "wrong")).status_code == 401
    # Scripts keep their token, and the JSON body.
    token = client.get("/health/details", headers={"Authorization": "Bearer let-me-in"})
    assert token.status_code == 200
    assert token.get_json()["database"] is True


def test_the_login_comes_from_the_environment(example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(example, "database", lambda: True)
    monkeypatch.setenv("STATUS_USER", "alice")
    monkeypatch.setenv("STATUS_PASSWORD", "correct horse")
    client = example.create_app().test_client()
    assert client.get("/health/details", auth=("alice", "correct horse")).status_code == 200
    assert client.get("/health/details", auth=("ops", "let-me-in")).status_code == 401


def test_the_docstring_says_how_to_log_in(example: ModuleType) -> None:
    doc = example.__doc__
    assert "in a browser" in doc
    assert f"``{example.DEFAULT_USER}`` with password ``{example.DEFAULT_PASSWORD}``" in doc
    assert "STATUS_USER" in doc
    assert "STATUS_PASSWORD" in doc


def test_cli(example_app: Flask) -> None:
    result = example_app.test_cli_runner().invoke(args=["status", "--route", "ready"])
    assert result.exit_code == 0, result.output
    assert "database" in result.output
