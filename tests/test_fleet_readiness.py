"""Readiness that does not empty the Service: a fleet_tolerant check failing on every process
is a warning on readiness routes (kept in rotation) and a failure everywhere else; failing on
some processes only, it fails their readiness.

Two gunicorn instances standing for two pods share a real redis-server; each pod sees the
dependency through a file of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
from _servers import RedisServer, eventually, get, gunicorn
from flask import Flask

from flask_status import StatusManager
from flask_status.stores.redis import RedisStore


def test_a_failure_every_process_sees_is_a_warning_on_readiness(
    redis_server: RedisServer, make_app: Callable[..., Flask]
) -> None:
    app = make_app(STATUS_STORE_URL=redis_server.url(), STATUS_STORE_PREFIX="fr")
    status = StatusManager(app)
    up = {"value": False}
    ready = status.add_route("ready", "/ready", readiness=True)
    field = ready.add_check("db", lambda: up["value"], ttl=0.2, fleet_tolerant=True)
    status.add_route("details", "/details").add_check("db", lambda: up["value"], ttl=0.2, fleet_tolerant=True)
    client = app.test_client()
    store = RedisStore(redis_server.url(), prefix="fr")
    # Another process sees it pass: this one's failure is its own.
    store.publish_verdict(field.stable_key, "elsewhere pid 1", "pass", 10)
    assert client.get("/ready").status_code == 503
    # Every process sees it fail: no pod would do better.
    store.publish_verdict(field.stable_key, "elsewhere pid 1", "fail", 10)
    # Read on the pool's thread after this process's next run (ttl 0.2 s), never while answering.
    assert eventually(lambda: client.get("/ready").status_code == 200)
    answer = client.get("/ready")
    assert answer.get_json()["status"] == "WARN"
    assert "failing on every process of the fleet (2 of 2): kept in rotation" in answer.get_json()["db"]["message"]
    assert client.get("/details").status_code == 503  # details still say fail
    up["value"] = True
    assert eventually(lambda: client.get("/ready").get_json() == {"status": "OK", "db": True})


def test_fleet_tolerant_applies_to_checks() -> None:
    route = StatusManager().add_route("ready", "/ready")
    with pytest.raises(ValueError, match="fleet_tolerant applies to checks"):
        route.add_field("x", lambda: 1, fleet_tolerant=True)
    with pytest.raises(TypeError, match="fleet_tolerant of check 'y' must be a bool"):
        route.add_check("y", lambda: True, fleet_tolerant="yes")  # type: ignore[arg-type]


def test_two_pods_down_together_stay_ready_one_pod_down_alone_leaves(redis_server: RedisServer, tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    for file in files:
        file.touch()
    options = ("-k", "gthread", "--workers", "2", "--threads", "2")
    with ExitStack() as stack:
        pods = [
            stack.enter_context(
                gunicorn(
                    "fleet_ready_app:app",
                    *options,
                    log=tmp_path / f"pod{i}.log",
                    env={"STATUS_STORE_URL": redis_server.url(), "DEPENDENCY_FILE": str(files[i])},
                )
            )
            for i in range(2)
        ]
        # Keep every worker of both pods running its check (and publishing its verdict).
        halt = threading.Event()

        def keep_asking() -> None:
            while not halt.is_set():
                for pod in pods:
                    get(pod.port, "/details", timeout=2)

        keepers = [threading.Thread(target=keep_asking, daemon=True) for _ in range(2)]
        for keeper in keepers:
            keeper.start()
        stack.callback(halt.set)

        def codes(pod: int, path: str = "/ready") -> set[int | None]:
            return {get(pods[pod].port, path, timeout=2).status for _ in range(8)}

        assert eventually(lambda: codes(0) == {200} and codes(1) == {200}, 10)
        files[0].unlink()  # down for pod A only
        assert eventually(lambda: codes(0) == {503}, 10), pods[0].output()
        assert codes(1) == {200}
        files[1].unlink()  # down for every pod: both stay in rotation, with a warning

        def warned(pod: int) -> bool:
            answers = [get(pods[pod].port, "/ready", timeout=2) for _ in range(8)]
            return all(a.status == 200 and a.json()["status"] == "WARN" for a in answers)

        # Once the pass verdicts published before the outage have aged out (3 runs + timeout).
        assert eventually(lambda: warned(0) and warned(1), 10)
        assert codes(0, "/details") == {503}  # details say what it is
        files[0].touch()
        files[1].touch()
        ok = {"status": "OK", "dependency": True}
        assert eventually(lambda: all(get(pods[1].port, "/ready").json() == ok for _ in range(8)), 10)
