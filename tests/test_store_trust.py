"""Values read from the shared store are not trusted: a planted or corrupt value is read as missing.

Each case plants a raw value in a real redis-server, as another program (or an attacker with
access to Redis) could, and checks that neither the store nor a route serving the shared check
is misled: no 500, no verdict frozen by a time from the future.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.stores.redis import MAX_SKEW, RedisStore

redis = pytest.importorskip("redis")

URL = os.environ.get("FLASK_STATUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def client() -> Iterator[Any]:
    connection = redis.Redis.from_url(URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        message = f"no redis-server at {URL} (start one: bash .ci/services.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true: a missing server is a failure", pytrace=False)
        pytest.skip(message)
    yield connection
    connection.close()


def _good(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"name": "db", "status": "pass", "value": True, "time": time.time()}
    value.update(changes)
    return value


PLANTED = {
    "NaN observed": json.dumps(_good(observed=float("nan"))),
    "Infinity in a value": json.dumps(_good(value=[1, float("inf")])),
    "a time 1e20": json.dumps(_good(time=1e20)),
    "a time an hour ahead": json.dumps(_good(time=time.time() + 3600)),
    "a negative time": json.dumps(_good(time=-1)),
    "pending as a string": json.dumps(_good(pending="yes")),
    "timed_out as a number": json.dumps(_good(timed_out=1)),
    "a negative duration": json.dumps(_good(duration=-5)),
    "not JSON": "\x80\x81 definitely not json",
    "a list": "[1, 2, 3]",
}


@pytest.mark.parametrize("raw", PLANTED.values(), ids=PLANTED.keys())
def test_a_planted_value_is_read_as_missing(client: Any, raw: str, caplog: pytest.LogCaptureFixture) -> None:
    prefix = f"trust-{time.monotonic_ns()}"
    store = RedisStore(URL, prefix=prefix)
    client.set(store.result_key("db"), raw, px=60_000)
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        assert store.get("db") is None
        assert store.get("db") is None
    warnings = [r for r in caplog.records if "is not a result" in r.getMessage()]
    assert len(warnings) == 1  # said once, not on every probe
    store.clear()
    store.close()


def test_a_time_within_the_skew_is_accepted(client: Any) -> None:
    store = RedisStore(URL, prefix=f"trust-{time.monotonic_ns()}")
    client.set(store.result_key("db"), json.dumps(_good(time=time.time() + MAX_SKEW / 2)), px=60_000)
    result = store.get("db")
    assert result is not None
    assert result.value is True
    store.clear()
    store.close()


@pytest.mark.parametrize("fmt", ["json", "health+json"])
@pytest.mark.parametrize("raw", PLANTED.values(), ids=PLANTED.keys())
def test_a_route_is_never_misled_by_a_planted_value(client: Any, raw: str, fmt: str) -> None:
    prefix = f"trust-{time.monotonic_ns()}"
    store = RedisStore(URL, prefix=prefix)
    app = Flask(__name__)
    status = StatusManager(app, store=store, default_format=fmt)  # type: ignore[arg-type]
    calls: list[int] = []

    def database() -> bool:
        calls.append(1)
        return False  # the dependency is down: the planted "pass" must not hide it

    check = status.add_route("ready", "/ready").add_check("db", database, ttl=1, shared=True)
    client.set(store.result_key(check.stable_key), raw, px=60_000)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert calls == [1]  # the check ran: the planted value was read as missing
    store.clear()
    store.close()
