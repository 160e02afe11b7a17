"""``flask status``: evaluate routes without a server, for container health checks."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask

from flask_status import CheckResult, StatusManager


def _app(app: Flask, *, database: bool = True) -> StatusManager:
    def deny(view: Any) -> Any:
        def refuse() -> Any:
            raise AssertionError("the CLI must not run authenticators")

        return refuse

    status = StatusManager(app)
    status.add_route("live", "/live")
    details = status.add_route("details", "/details", authenticator=deny, message={"service": "billing"})
    details.add_field("version", "2.0.0")
    details.add_check("database", lambda: database, ttl=30)
    details.add_check("disk", lambda: CheckResult.warn("disk 91% full", observed=0.91, unit="ratio"))
    return status


def test_table_and_exit_code_on_pass(app: Flask) -> None:
    _app(app)
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["status:live", "/live", "PASS"]
    assert "status:details  /details  WARN" in result.output
    assert any(line.split()[:3] == ["database", "check", "pass"] for line in lines)
    assert "disk 91% full" in result.output
    assert any(line.split()[:3] == ["version", "field", "pass"] and '"2.0.0"' in line for line in lines)


def test_exit_code_on_fail(app: Flask) -> None:
    _app(app, database=False)
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 1
    assert "status:details  /details  FAIL" in result.output


def test_one_route_as_json(app: Flask) -> None:
    _app(app, database=False)
    result = app.test_cli_runner().invoke(args=["status", "--route", "details", "--json"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["status"] == "FAIL"
    assert body["database"] is False
    result = app.test_cli_runner().invoke(args=["status", "--route", "live"])
    assert result.exit_code == 0


def test_health_json_format(app: Flask) -> None:
    _app(app)
    result = app.test_cli_runner().invoke(args=["status", "--route", "status:details", "--format", "health+json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["status"] == "warn"
    assert body["checks"]["disk"][0]["observedValue"] == 0.91


def test_all_routes_as_json(app: Flask) -> None:
    _app(app)
    result = app.test_cli_runner().invoke(args=["status", "--json"])
    assert set(json.loads(result.output)) == {"status:live", "status:details"}


def test_unknown_and_ambiguous_route(app: Flask) -> None:
    _app(app)
    StatusManager(app, name="ops", url_prefix="/ops").add_route("live", "/live")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["status", "--route", "nope"])
    assert result.exit_code == 2
    assert "no route named 'nope'" in result.output
    result = runner.invoke(args=["status", "--route", "live"])
    assert result.exit_code == 2
    assert "ambiguous" in result.output
    assert runner.invoke(args=["status", "--route", "ops:live"]).exit_code == 0


def test_errors_show_type_and_message(app: Flask) -> None:
    def database() -> bool:
        raise ConnectionError("refused")

    StatusManager(app).add_route("ready", "/ready").add_check("database", database)
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 1
    assert "ConnectionError: refused" in result.output


FORGED = "refused\r\nstatus:live  /live  PASS\n  database  check  pass"


def test_control_characters_are_escaped_and_cannot_forge_a_line(app: Flask, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "400")

    def database() -> bool:
        raise ConnectionError(FORGED)

    route = StatusManager(app).add_route("ready", "/ready")
    route.add_check("database", database)
    route.add_check("disk", lambda: CheckResult.warn("\x1b[32mall green\x1b[0m\x07"))
    route.add_field("motd", lambda: "one\u2028two\x85three")
    result = app.test_cli_runner().invoke(args=["status"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 5  # the route, the column names, one line per item: nothing forged
    assert lines[0].split() == ["status:ready", "/ready", "FAIL"]
    assert not any(char in result.output for char in "\r\x1b\x07\x85\u2028")
    assert "ConnectionError: refused\\r\\nstatus:live  /live  PASS\\n  database  check  pass" in lines[2]
    assert "\\x1b[32mall green\\x1b[0m\\x07" in lines[3]
    assert '"one\\u2028two\\x85three"' in lines[4]


def test_text_cut_for_the_table_ends_with_a_marker(app: Flask, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "80")

    def database() -> bool:
        raise ConnectionError("refused " * 40 + "\x1b" * 40)

    StatusManager(app).add_route("ready", "/ready").add_check("database", database)
    row = app.test_cli_runner().invoke(args=["status"]).output.splitlines()[2]
    assert row.startswith("  database  check  fail")
    assert len(row) == 80
    assert row.endswith("…")
    assert "\x1b" not in row
    escaped = app.test_cli_runner().invoke(args=["status"], env={"COLUMNS": "400"}).output.splitlines()[2]
    assert re.search(r"refused (\\x1b)*…$", escaped)  # cut between escapes, never inside one
