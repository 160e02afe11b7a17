"""One run per ttl across processes: two apps (standing in for two processes) share a Redis store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _servers import RedisServer
from conftest import Probe
from flask import Flask

from flask_status import StatusManager
from flask_status.stores.redis import RedisStore

pytestmark = pytest.mark.server


def _fleet(
    make_app: Callable[..., Flask], url: str, check: Any, n: int = 2, **options: Any
) -> tuple[list[Flask], list[StatusManager]]:
    apps, managers = [], []
    for i in range(n):
        app = make_app(f"process{i}", STATUS_STORE_URL=url, STATUS_STORE_PREFIX="test-shared")
        status = StatusManager(app)
        status.add_route("ready", "/ready").add_check("api", check, shared=True, **options)
        apps.append(app)
        managers.append(status)
    return apps, managers


def test_a_shared_check_runs_once_across_processes(
    make_app: Callable[..., Flask], start_redis: Callable[..., RedisServer], probe: type[Probe]
) -> None:
    server = start_redis()
    api = probe(True, sleep=0.3)
    apps, _ = _fleet(make_app, server.url(), api, n=3, ttl=30, timeout=3)
    barrier = threading.Barrier(12)

    def one(i: int) -> int:
        client = apps[i % 3].test_client()
        barrier.wait()
        return client.get("/ready").status_code

    with ThreadPoolExecutor(12) as pool:
        assert set(pool.map(one, range(12))) == {200}
    assert api.calls == 1
    raw = server.client()
    keys = [k.decode() for k in raw.keys("test-shared:result:*")]
    raw.close()
    assert keys == ["test-shared:result:api:conftest.Probe"]  # name and callable, the same in every process


def test_published_result_is_fresh_for_its_ttl_everywhere(
    make_app: Callable[..., Flask], start_redis: Callable[..., RedisServer], probe: type[Probe]
) -> None:
    server = start_redis()
    api = probe(True)
    apps, _ = _fleet(make_app, server.url(), api, ttl=30)
    assert apps[0].test_client().get("/ready").status_code == 200
    assert apps[1].test_client().get("/ready").status_code == 200
    assert api.calls == 1


def test_without_a_store_shared_checks_run_per_process(make_app: Callable[..., Flask], probe: type[Probe]) -> None:
    api = probe(True)
    for i in range(2):
        app = make_app(f"alone{i}")
        StatusManager(app).add_route("ready", "/ready").add_check("api", api, shared=True, ttl=30)
        assert app.test_client().get("/ready").status_code == 200
    assert api.calls == 2


def test_redis_outage_falls_back_to_the_process(
    make_app: Callable[..., Flask],
    start_redis: Callable[..., RedisServer],
    probe: type[Probe],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = start_redis()
    api = probe(True)
    apps, _ = _fleet(make_app, server.url(), api, ttl=0.5, timeout=2)
    client = apps[0].test_client()
    assert client.get("/ready").status_code == 200
    server.stop()
    with caplog.at_level(logging.INFO, logger="flask_status"):
        latencies = []
        for _ in range(6):
            time.sleep(0.3)
            started = time.monotonic()
            assert client.get("/ready").status_code == 200
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.5, latencies
        warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 1
    assert api.calls >= 3  # the process ran the check itself while the store was away


def test_shared_needs_a_ttl_or_interval() -> None:
    with pytest.raises(ValueError, match="shared check 'api' needs a ttl or an interval"):
        StatusManager().add_route("ready", "/ready").add_check("api", lambda: True, shared=True)


def test_store_argument(make_app: Callable[..., Flask], start_redis: Callable[..., RedisServer]) -> None:
    server = start_redis()
    store = RedisStore(server.url(), prefix="given")
    app = make_app()
    status = StatusManager(app, store=store)
    assert status.state(app).shared is store
    with pytest.raises(TypeError, match="store must be"):
        StatusManager(store=42)  # type: ignore[arg-type]
    store.close()


def test_stable_keys_tell_callables_apart() -> None:
    import functools

    from flask_status.definitions import Field

    def ping(host: str) -> bool:
        return True

    def factory(host: str) -> Callable[[], bool]:
        return lambda: host == "db"

    first = lambda: True  # noqa: E731
    second = lambda: True  # noqa: E731
    keys = {
        Field("api", functools.partial(ping, "primary")).stable_key,
        Field("api", functools.partial(ping, "replica")).stable_key,
        Field("api", first).stable_key,
        Field("api", second).stable_key,
        Field("api", factory("db")).stable_key,
        Field("api", factory("cache")).stable_key,
    }
    assert len(keys) == 6
    # the same definition gives the same key: that is what lets processes meet
    assert (
        Field("api", functools.partial(ping, "primary")).stable_key
        == Field("api", functools.partial(ping, "primary")).stable_key
    )
