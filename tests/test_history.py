"""Each check's history: transitions and sampled results, bounded, in the process and fleet-wide
in a real redis-server; returned by details routes with history=True, drawn on the status page
(checked in headless Chromium) and printed by ``flask status --history``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _servers import APPS, RedisServer
from flask import Flask
from test_page import Page, _dump_dom

from flask_status import StatusManager
from flask_status.clock import ManualClock
from flask_status.history import MAX_MESSAGE, MAX_SAMPLES, MAX_TRANSITIONS, SAMPLE_EVERY, History
from flask_status.results import CheckResult, FieldResult


def _flipping(
    make_app: Callable[..., Flask], clock: ManualClock | None = None, **config: object
) -> tuple[Flask, StatusManager, dict[str, object]]:
    app = make_app(**config)
    status = StatusManager(app, clock=clock) if clock is not None else StatusManager(app)
    state: dict[str, object] = {"up": True, "message": "connection refused"}

    def db() -> CheckResult:
        return CheckResult.ok() if state["up"] else CheckResult.fail(str(state["message"]))

    status.add_route("details", "/details", history=True).add_check("db", db)
    status.add_route("plain", "/plain").add_check("db", db)
    return app, status, state


def test_a_details_route_returns_each_checks_transitions_and_samples(make_app: Callable[..., Flask]) -> None:
    app, status, state = _flipping(make_app)
    client = app.test_client()
    client.get("/details")
    state["up"] = False
    client.get("/details")
    state["up"] = True
    client.get("/details")
    status.flush_events()
    history = client.get("/details").get_json()["history"]["db"]
    assert [(m["status"], m["message"]) for m in history["transitions"]] == [
        ("fail", "connection refused"),
        ("pass", None),
    ]
    assert [m["status"] for m in history["samples"]] == ["pass", "fail", "pass"]
    assert history["samples"][0]["time"].endswith("Z")
    assert "history" not in client.get("/plain").get_json()  # opt-in per route


def test_history_is_bounded_and_sampled(make_app: Callable[..., Flask]) -> None:
    clock = ManualClock()
    history = History(None, clock)
    for index in range(MAX_TRANSITIONS + 10):
        history.record_transition("db", "pass", "fail" if index % 2 else "pass", "x" * 1000)
    kept = history.of("db").transitions
    assert len(kept) == MAX_TRANSITIONS
    assert len(kept[0].message or "") == MAX_MESSAGE
    for _ in range(10):  # a steady check: one sample per SAMPLE_EVERY
        history.record_run("db", FieldResult("db", "pass", time=clock.wall()))
        clock.advance(SAMPLE_EVERY / 4)
    assert len(history.of("db").samples) == 3
    for index in range(MAX_SAMPLES * 2):  # a flapping one: every change, capped
        history.record_run("db", FieldResult("db", "fail" if index % 2 else "pass", time=clock.wall()))
    assert len(history.of("db").samples) == MAX_SAMPLES


def test_the_fleets_history_survives_a_restart_and_is_capped(
    redis_server: RedisServer, make_app: Callable[..., Flask]
) -> None:
    config = {"STATUS_STORE_URL": redis_server.url(), "STATUS_STORE_PREFIX": "history-test"}
    app, status, state = _flipping(make_app, **config)
    client = app.test_client()
    client.get("/details")
    for _ in range(MAX_TRANSITIONS + 10):
        state["up"] = not state["up"]
        client.get("/details")
    status.flush_events()
    with redis_server.client() as redis_client:
        assert redis_client.llen("history-test:history:transitions:status:db") == MAX_TRANSITIONS
        assert redis_client.ttl("history-test:history:transitions:status:db") > 0
    # Another process (a restarted worker) reads the fleet's history from the store.
    env = {**os.environ, "STATUS_STORE_URL": redis_server.url(), "HISTORY_PREFIX": "history-test"}
    command = [sys.executable, "-m", "flask", "--app", "history_app", "status", "--route", "details", "--history"]
    done = subprocess.run(command, cwd=APPS, env=env, capture_output=True, text=True, timeout=60)
    assert "history of db:" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count("FAIL  connection refused") >= 10
    assert "samples, oldest first: PASS FAIL" in done.stdout


@pytest.mark.server
def test_the_status_page_draws_the_history_in_words(
    make_app: Callable[..., Flask], serve: Callable[[Flask], str], tmp_path: Path
) -> None:
    app, status, state = _flipping(make_app)
    client = app.test_client()
    client.get("/details")
    state["up"] = False
    state["message"] = "<script>document.title='pwned'</script>"
    client.get("/details")
    status.flush_events()
    dom, log = _dump_dom(serve(app) + "/details", tmp_path / "profile")
    page = Page(dom)
    assert page.title == "details: FAIL"  # no script ran
    assert "History" in page.text
    assert "PASS" in page.text
    assert "FAIL" in page.text
    assert "<script>document.title='pwned'</script>" in page.text  # shown as text
    assert "script" not in page.tags
    assert "Content Security Policy" not in log


def test_a_malformed_entry_in_the_store_is_skipped(redis_server: RedisServer, make_app: Callable[..., Flask]) -> None:
    app, status, state = _flipping(make_app, STATUS_STORE_URL=redis_server.url(), STATUS_STORE_PREFIX="bad-history")
    client = app.test_client()
    client.get("/details")
    state["up"] = False
    client.get("/details")
    status.flush_events()
    key = "bad-history:history:transitions:status:db"
    with redis_server.client() as redis_client:
        redis_client.lpush(key, '{"status":"fail","time":1e20}', "not json", '{"status":"odd","time":1}')
    answer = client.get("/details")
    assert answer.status_code == 503  # the check's verdict, not a 500
    assert [m["status"] for m in answer.get_json()["history"]["db"]["transitions"]] == ["fail"]
