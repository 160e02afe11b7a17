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


def test_cli(example_app: Flask) -> None:
    result = example_app.test_cli_runner().invoke(args=["status", "--route", "ready"])
    assert result.exit_code == 0, result.output
    assert "database" in result.output
