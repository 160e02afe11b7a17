"""Stale-while-refreshing: past its ttl, a result is served at once while one run refreshes it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from _servers import eventually
from flask import Flask

from flask_status import StatusManager
from flask_status.clock import ManualClock


def test_stale_result_served_at_once_while_one_refresh_runs(app: Flask, clock: ManualClock, probe: Any) -> None:
    gate = threading.Event()
    database = probe("v1")
    status = StatusManager(app, clock=clock)
    status.add_route("d", "/d").add_field("database", database, ttl=1, stale=60, timeout=5)
    client = app.test_client()
    assert client.get("/d").get_json()["database"] == "v1"
    database.value, database.gate = "v2", gate  # the refresh will block until released
    clock.advance(2)
    started = time.monotonic()
    bodies = [client.get("/d").get_json()["database"] for _ in range(5)]
    assert time.monotonic() - started < 1.0  # nobody waited for the slow refresh
    assert bodies == ["v1"] * 5
    assert eventually(lambda: database.calls == 2)
    assert database.max_running == 1  # one refresh, not one per request
    gate.set()
    assert eventually(lambda: status.state(app).runner.inflight == 0)
    assert client.get("/d").get_json()["database"] == "v2"
    assert database.calls == 2


def test_past_the_stale_window_requests_wait(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe("v1")
    StatusManager(app, clock=clock).add_route("d", "/d").add_field("database", database, ttl=1, stale=10)
    client = app.test_client()
    client.get("/d")
    database.value = "v2"
    clock.advance(12)  # older than ttl + stale: like a cold cache
    assert client.get("/d").get_json()["database"] == "v2"


def test_a_failed_refresh_replaces_the_stale_success(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(True)
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("database", database, ttl=1, stale=60, failure_ttl=5)
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    database.error = ConnectionError("down")
    clock.advance(2)
    assert client.get("/ready").status_code == 200  # served stale while the refresh runs
    assert eventually(lambda: status.state(app).runner.inflight == 0 and database.calls == 2)
    response = client.get("/ready")
    assert response.status_code == 503  # the failure is news: never hidden behind the success
    assert response.get_json()["database"]["error"] == "ConnectionError: down"
    assert database.calls == 2  # and it is cached for its failure_ttl


def test_stale_needs_a_ttl() -> None:
    route = StatusManager().add_route("d", "/d")
    with pytest.raises(ValueError, match="stale of field 'f' needs a positive ttl"):
        route.add_field("f", lambda: 1, stale=10)
    with pytest.raises(ValueError, match="stale"):
        route.add_field("g", lambda: 1, ttl=1, stale=-1)


def test_health_json_shows_when_the_served_result_was_observed(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(True)
    status = StatusManager(app, clock=clock)
    route = status.add_route("h", "/h", format="health+json")
    route.add_check("database", database, ttl=1, stale=60)
    client = app.test_client()
    first = client.get("/h").get_json(force=True)["checks"]["database"][0]["time"]
    database.gate = threading.Event()
    clock.advance(2)
    time.sleep(0.01)
    stale = client.get("/h").get_json(force=True)["checks"]["database"][0]["time"]
    assert stale == first  # the stale result still says when it was observed
    database.gate.set()


def test_a_refresh_hung_past_its_timeout_is_not_hidden(app: Flask, clock: ManualClock, probe: Any) -> None:
    gate = threading.Event()
    database = probe(True)
    StatusManager(app, clock=clock).add_route("ready", "/ready").add_check(
        "database", database, ttl=1, stale=300, timeout=0.2
    )
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    database.gate = gate  # the dependency hangs from now on
    clock.advance(2)
    assert client.get("/ready").status_code == 200  # stale while the refresh has time left
    clock.advance(0.3)
    response = client.get("/ready")
    assert response.status_code == 503  # the refresh overran its timeout: that is news
    assert "TimeoutError" in response.get_json()["database"]["error"]
    gate.set()
