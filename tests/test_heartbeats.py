"""Heartbeats: checks that pass while beats arrive (status.beat, flask status beat) and fail when
none came for every + grace, across processes through a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from _servers import APPS, RedisServer
from flask import Flask

from flask_status import CheckResult, StatusManager
from flask_status.clock import ManualClock
from flask_status.heartbeat import Heartbeat, human_duration
from flask_status.render.json import rfc3339
from flask_status.results import FieldResult


def _app(make_app: Callable[..., Flask], clock: ManualClock, **config: Any) -> tuple[Flask, StatusManager]:
    app = make_app(**config)
    status = StatusManager(app, clock=clock)
    status.add_route("details", "/details").add_heartbeat("nightly", every=3600, grace=300)
    return app, status


def test_a_heartbeat_that_never_beat_fails_at_once(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app, _ = _app(make_app, clock)
    answer = app.test_client().get("/details")
    assert answer.status_code == 503
    assert answer.get_json()["nightly"] == {"status": "fail", "message": "no beat yet, expected every 1 h"}


def test_a_heartbeat_passes_until_every_plus_grace_then_fails(
    make_app: Callable[..., Flask], clock: ManualClock
) -> None:
    app, status = _app(make_app, clock)
    client = app.test_client()
    when = status.beat("nightly", {"rows": 1200})
    assert when == clock.wall()
    clock.advance(3900)  # every + grace: still on time
    item = client.get("/details").get_json()["nightly"]
    assert item == {
        "status": "pass",
        "message": 'last beat 1 h 5 min ago: {"rows":1200}',
        "observed": 3900.0,
        "unit": "s",
    }
    clock.advance(3480)
    answer = client.get("/details", headers={"Accept": "application/health+json"})
    assert answer.status_code == 503
    (check,) = answer.get_json()["checks"]["nightly"]
    assert check["output"] == "no beat for 2 h 3 min, expected every 1 h"
    assert check["observedValue"] == 7380.0
    assert check["time"] == rfc3339(when)  # the last beat's time, not the run's
    status.beat("nightly")
    assert client.get("/details").status_code == 200


def test_a_beat_replaces_a_cached_verdict(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app = make_app()
    status = StatusManager(app, clock=clock)
    status.add_route("details", "/details").add_heartbeat("nightly", every=60, ttl=300)
    client = app.test_client()
    assert client.get("/details").status_code == 503  # "no beat yet", cached for 5 min
    status.beat("nightly")
    assert client.get("/details").status_code == 200


def test_bad_beats_and_heartbeats_are_refused(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    _, status = _app(make_app, clock)
    with pytest.raises(ValueError, match=r"has no heartbeat named 'nightlyy'; heartbeats: nightly"):
        status.beat("nightlyy")
    with pytest.raises(ValueError, match="payload must be at most 1024 characters as JSON"):
        status.beat("nightly", "x" * 2000)
    with pytest.raises(ValueError, match="heartbeat 'nightly'"):
        status.beat("nightly", object())
    route = status.routes["details"]
    with pytest.raises(ValueError, match="every must be positive, got 0"):
        route.add_heartbeat("other", every=0)
    with pytest.raises(TypeError, match="grace must be a number of seconds"):
        route.add_heartbeat("other", every=10, grace="1m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already has a field or check named 'nightly'"):
        route.add_heartbeat("nightly", every=10)


def test_a_beat_without_an_app_context_uses_the_managers_only_app(
    make_app: Callable[..., Flask], clock: ManualClock
) -> None:
    app, status = _app(make_app, clock)
    status.beat("nightly")  # no app context: the one app this manager serves
    assert app.test_client().get("/details").status_code == 200


def test_the_verdict_is_a_pure_function() -> None:
    beat = Heartbeat("job", every=60, grace=0)
    last = FieldResult("job", "pass", time=100.0)
    assert beat.verdict(last, now=160.0) == CheckResult.ok("last beat 1 min ago", observed=60.0, unit="s", time=100.0)
    assert beat.verdict(last, now=160.5).status == "fail"
    assert beat.verdict(last, now=50.0).observed == 0.0  # a beat from a clock ahead: age 0, never negative
    assert human_duration(3 * 86400 + 7200 + 59) == "3 d 2 h"


# -- across processes ------------------------------------------------------------------------------


def _flask(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flask", "--app", "beat_app", "status", *args]
    return subprocess.run(command, cwd=APPS, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_a_cron_beat_reaches_the_web_process_through_redis(
    redis_server: RedisServer, make_app: Callable[..., Flask]
) -> None:
    env = {"STATUS_STORE_URL": redis_server.url(), "STATUS_STORE_PREFIX": "beats"}
    app = make_app(STATUS_STORE_URL=redis_server.url(), STATUS_STORE_PREFIX="beats")
    status = StatusManager(app)
    status.add_route("details", "/details").add_heartbeat("nightly", every=3600, grace=60)
    client = app.test_client()
    assert client.get("/details").status_code == 503

    done = _flask("beat", "nightly", "--payload", '{"rows": 7}', env=env)
    assert done.returncode == 0, done.stderr
    assert "beat 'nightly' recorded" in done.stdout
    item = client.get("/details").get_json()["nightly"]
    assert item["status"] == "pass"
    assert item["message"].endswith('ago: {"rows":7}')

    # `flask status` in a third process sees it too: the web side's verdict, from the shared store.
    shown = _flask("--route", "details", "--json", env=env)
    body = json.loads(shown.stdout)
    assert body["nightly"]["status"] == "pass"
    assert body["worker"]["status"] == "fail"  # never beat


def test_a_beat_from_the_cli_without_a_store_says_it_stays_in_its_process() -> None:
    done = _flask("beat", "nightly", env={"STATUS_STORE_URL": ""})
    assert done.returncode == 0, done.stderr
    assert "recorded in this process only" in done.stderr


def test_the_cli_refuses_an_unknown_heartbeat_and_bad_json() -> None:
    unknown = _flask("beat", "nope", env={})
    assert unknown.returncode == 2
    assert "no heartbeat named 'nope'; heartbeats: nightly, worker" in unknown.stderr
    bad = _flask("beat", "nightly", "--payload", "{rows", env={})
    assert bad.returncode == 2
    assert "not JSON" in bad.stderr
    mixed = _flask("--route", "details", "beat", "nightly", env={})
    assert mixed.returncode == 2
    assert "do not apply to 'beat'" in mixed.stderr


def test_a_beat_the_store_did_not_take_fails_the_cli() -> None:
    done = _flask("beat", "nightly", env={"STATUS_STORE_URL": "redis://127.0.0.1:1/0"})
    assert done.returncode == 1
    assert "was not recorded in the shared store, which could not be reached" in done.stderr


def test_a_shared_heartbeat_is_fresh_across_processes(
    redis_server: RedisServer, make_app: Callable[..., Flask]
) -> None:
    # The result reports the beat's time, but freshness counts from the run: a second process
    # reads the first one's result instead of timing out on an "expired" one.
    apps = []
    for _ in range(2):
        app = make_app(STATUS_STORE_URL=redis_server.url(), STATUS_STORE_PREFIX="shared-beats")
        status = StatusManager(app)
        status.add_route("details", "/details").add_heartbeat("nightly", every=3600, shared=True, ttl=30, timeout=2)
        apps.append((app, status))
    apps[0][1].beat("nightly", app=apps[0][0])
    for app, _ in apps:
        assert app.test_client().get("/details").status_code == 200
