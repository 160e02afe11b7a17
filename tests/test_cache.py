"""TTL caching of callables: freshness on an injected clock, failures kept briefly, sharing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_status import FieldResult, StatusManager
from flask_status.clock import ManualClock
from flask_status.definitions import Field
from flask_status.stores.memory import MemoryStore


def test_without_ttl_runs_every_request(app: Flask, probe: Any) -> None:
    queue = probe(3)
    StatusManager(app).add_route("d", "/d").add_field("queue", queue)
    client = app.test_client()
    for _ in range(3):
        client.get("/d")
    assert queue.calls == 3


def test_ttl_caches_until_expiry(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe("up")
    StatusManager(app, clock=clock).add_route("d", "/d").add_field("database", database, ttl=30)
    client = app.test_client()
    assert client.get("/d").get_json()["database"] == "up"
    database.value = "changed"
    clock.advance(29.9)
    assert client.get("/d").get_json()["database"] == "up"
    assert database.calls == 1
    clock.advance(0.2)
    assert client.get("/d").get_json()["database"] == "changed"
    assert database.calls == 2


def test_ttl_zero_never_caches(app: Flask, clock: ManualClock, probe: Any) -> None:
    field = probe(1)
    StatusManager(app, clock=clock).add_route("d", "/d").add_field("f", field, ttl=0)
    client = app.test_client()
    client.get("/d")
    client.get("/d")
    assert field.calls == 2


def test_failure_is_cached_for_failure_ttl_only(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(error=ConnectionError("refused"))
    route = StatusManager(app, clock=clock).add_route("d", "/d")
    route.add_field("database", database, ttl=60, failure_ttl=2)
    client = app.test_client()
    assert client.get("/d").status_code == 503
    assert client.get("/d").status_code == 503
    assert database.calls == 1  # the failure is cached: a down database is not hammered
    database.error = None
    clock.advance(2.1)
    response = client.get("/d")
    assert response.status_code == 200
    assert response.get_json()["database"] is True
    clock.advance(30)
    client.get("/d")
    assert database.calls == 2  # the success is kept for the full ttl


def test_default_failure_ttl_comes_from_config(make_app: Callable[..., Flask], clock: ManualClock, probe: Any) -> None:
    app = make_app(STATUS_FAILURE_TTL=1.0)
    database = probe(error=ConnectionError("refused"))
    StatusManager(app, clock=clock).add_route("d", "/d").add_field("database", database, ttl=60)
    client = app.test_client()
    client.get("/d")
    clock.advance(0.9)
    client.get("/d")
    assert database.calls == 1
    clock.advance(0.2)
    client.get("/d")
    assert database.calls == 2


def test_default_ttl_from_config(make_app: Callable[..., Flask], clock: ManualClock, probe: Any) -> None:
    app = make_app(STATUS_DEFAULT_TTL=10)
    field = probe(1)
    StatusManager(app, clock=clock).add_route("d", "/d").add_field("f", field)
    client = app.test_client()
    client.get("/d")
    client.get("/d")
    assert field.calls == 1


def test_constructor_overrides_config(make_app: Callable[..., Flask], clock: ManualClock, probe: Any) -> None:
    app = make_app(STATUS_DEFAULT_TTL=10)
    field = probe(1)
    StatusManager(app, clock=clock, default_ttl=0).add_route("d", "/d").add_field("f", field)
    client = app.test_client()
    client.get("/d")
    client.get("/d")
    assert field.calls == 2


def test_same_callable_on_two_routes_shares_one_entry(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(True)
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready", details=False).add_check("database", database, ttl=30)
    status.add_route("details", "/details").add_check("database", database, ttl=30)
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    assert client.get("/details").get_json()["database"] is True
    assert database.calls == 1
    clock.advance(31)
    client.get("/details")
    client.get("/ready")
    assert database.calls == 2


def test_different_callables_under_one_name_do_not_share(app: Flask, clock: ManualClock, probe: Any) -> None:
    primary, replica = probe("primary"), probe("replica")
    status = StatusManager(app, clock=clock)
    status.add_route("a", "/a").add_field("database", primary, ttl=30)
    status.add_route("b", "/b").add_field("database", replica, ttl=30)
    client = app.test_client()
    assert client.get("/a").get_json()["database"] == "primary"
    assert client.get("/b").get_json()["database"] == "replica"


def test_a_field_and_a_check_of_one_callable_and_name_never_share(app: Flask, clock: ManualClock, probe: Any) -> None:
    queue = probe(2)
    status = StatusManager(app, clock=clock)
    status.add_route("details", "/details").add_field("queue", queue, ttl=30)
    status.add_route("ready", "/ready").add_check("queue", queue, ttl=30)
    client = app.test_client()
    assert client.get("/details").get_json()["queue"] == 2  # a field shows the value
    assert client.get("/ready").get_json()["queue"] is True  # a check shows the verdict
    assert client.get("/details").get_json()["queue"] == 2
    assert queue.calls == 2  # one cache entry each, each still cached


def test_a_field_and_a_check_have_different_stable_keys() -> None:
    def queue() -> int:
        return 2

    assert Field("queue", queue).stable_key != Field("queue", queue, kind="check").stable_key
    assert Field("queue", queue).key != Field("queue", queue, kind="check").key


def test_fresh_route_serves_the_rendered_body_without_evaluating(app: Flask, clock: ManualClock, probe: Any) -> None:
    database = probe(True)
    status = StatusManager(app, clock=clock)
    status.add_route("d", "/d").add_field("database", database, ttl=30)
    client = app.test_client()
    client.get("/d")  # runs the field
    client.get("/d")  # renders once more, from the cache: the run landed after the body's counter
    state = status.state(app)
    evaluations = []
    original = state.evaluate
    state.evaluate = lambda route: evaluations.append(route) or original(route)  # type: ignore[method-assign]
    for _ in range(5):
        assert client.get("/d").get_json() == {"status": "OK", "database": True}
    assert evaluations == []  # a deadline comparison, not an evaluation, per request
    clock.advance(31)
    client.get("/d")
    assert len(evaluations) == 1


def test_memory_store_expiry_and_bounds(clock: ManualClock) -> None:
    store = MemoryStore(2, timer=clock)
    one, two, three = (FieldResult(n, "pass") for n in ("one", "two", "three"))
    store.put("one", one, 5)
    store.put("two", two, 50)
    clock.advance(6)
    assert store.get("one") is None
    assert store.get("two") is two
    store.put("three", three, 50)
    store.put("one", one, 50)  # over maxsize: the least recently used goes
    assert len(store) == 2
    store.put("two", two, 0)  # ttl 0 keeps nothing
    assert store.get("two") is None
    store.clear()
    assert len(store) == 0
    with pytest.raises(ValueError, match="maxsize"):
        MemoryStore(0)
