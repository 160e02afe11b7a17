"""Prometheus metrics: run counters, durations, statuses and ages, in one process and under gunicorn.

The single-process tests scrape through ``app.test_client()`` and parse the exposition with
prometheus_client's own parser. The multiprocess test starts a real ``gunicorn -w 2`` on
loopback with ``PROMETHEUS_MULTIPROC_DIR`` set, serving ``tests/apps/metrics_app.py``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _servers import APPS, ServerProcess, eventually, get, gunicorn, require
from conftest import Probe, advance_when_waited
from flask import Flask, url_for
from flask.testing import FlaskClient

from flask_status import CheckResult, StatusManager
from flask_status.auth import bearer_token
from flask_status.clock import ManualClock
from flask_status.metrics import (
    CHECK_AGE,
    CHECK_DURATION,
    CHECK_LAST_RESULT,
    CHECK_RUNS,
    CHECK_STATUS,
    METRIC_NAMES,
    ROUTE_STATUS,
    add_metrics_route,
    metrics_endpoint,
    register_metrics,
)

HAVE_PROMETHEUS = importlib.util.find_spec("prometheus_client") is not None

LABELS = {
    CHECK_RUNS: {"manager", "check", "outcome"},
    CHECK_DURATION: {"manager", "check"},
    CHECK_LAST_RESULT: {"manager", "route", "check", "status"},
    CHECK_STATUS: {"manager", "route", "check", "status"},
    CHECK_AGE: {"manager", "route", "check"},
    ROUTE_STATUS: {"manager", "route", "status"},
}


@pytest.fixture(autouse=True)
def _prometheus() -> None:
    require(HAVE_PROMETHEUS, "prometheus_client is not installed: pip install 'flask-status[prometheus]'")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[dict[str, Any], Samples]:
    """Families by name, and every sample's value by (sample name, labels)."""
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Any] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape(client: FlaskClient, url: str = "/metrics", **headers: str) -> Samples:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return parse(response.get_data(as_text=True))[1]


def runs(samples: Samples, check: str, outcome: str, manager: str = "status") -> float:
    return value(samples, CHECK_RUNS, manager=manager, check=check, outcome=outcome) or 0.0


def status_of(samples: Samples, name: str, **labels: str) -> str | None:
    """The status whose 0/1 series is 1, checking the others are 0 (a route has ``unknown`` too)."""
    statuses = ("pass", "warn", "fail", "unknown") if name == ROUTE_STATUS else ("pass", "warn", "fail")
    values = {status: value(samples, name, status=status, **labels) for status in statuses}
    if all(v is None for v in values.values()):
        return None
    assert sorted(values.values()) == [0.0] * (len(statuses) - 1) + [1.0], values  # type: ignore[type-var]
    return next(status for status, v in values.items() if v == 1.0)


# -- one process --------------------------------------------------------------------------------


def test_runs_by_outcome_durations_statuses_and_ages(app: Flask) -> None:
    status = StatusManager(app, default_timeout=5)
    ready = status.add_route("ready", "/ready")
    ready.add_check("database", Probe())
    ready.add_check("disk", lambda: CheckResult.warn("91% full"))
    ready.add_check("queue", Probe(error=ConnectionError("refused")))
    ready.add_check("search", Probe(sleep=0.3), timeout=0.05)  # no ttl: each request gives up on it
    ready.add_check("cache", Probe(sleep=0.3), timeout=0.05, ttl=60)  # its late result is served
    add_metrics_route(status)
    client = app.test_client()

    assert client.get("/ready").status_code == 503
    expected = {("database", "pass"), ("disk", "warn"), ("queue", "fail"), ("search", "timeout"), ("cache", "timeout")}
    assert eventually(lambda: all(runs(scrape(client), c, o) == 1 for c, o in expected))

    def slow_runs_ended() -> bool:  # a timeout is counted when seen; the duration when the run ends
        samples = scrape(client)
        return all((value(samples, CHECK_DURATION, manager="status", check=c) or 0) >= 0.3 for c in ("search", "cache"))

    assert eventually(slow_runs_ended)
    samples = scrape(client)
    assert sum(v for (name, _), v in samples.items() if name == CHECK_RUNS) == 5

    for check in ("search", "cache"):
        duration = value(samples, CHECK_DURATION, manager="status", check=check)
        assert duration is not None
        assert duration >= 0.3
    fast = value(samples, CHECK_DURATION, manager="status", check="database")
    assert fast is not None
    assert 0 <= fast < 0.3

    where = {"manager": "status", "route": "ready"}
    assert status_of(samples, CHECK_STATUS, check="database", **where) == "pass"
    assert status_of(samples, CHECK_STATUS, check="disk", **where) == "warn"
    assert status_of(samples, CHECK_STATUS, check="queue", **where) == "fail"
    assert status_of(samples, CHECK_STATUS, check="search", **where) == "fail"  # as every request saw it
    assert status_of(samples, CHECK_STATUS, check="cache", **where) == "pass"  # as the cache serves it now
    assert status_of(samples, ROUTE_STATUS, **where) == "fail"

    stamp = value(samples, CHECK_LAST_RESULT, check="queue", status="fail", **where)
    assert stamp is not None
    assert abs(stamp - time.time()) < 5
    age = value(samples, CHECK_AGE, check="queue", **where)
    assert age is not None
    assert 0 <= age < 5
    time.sleep(0.2)
    older = value(scrape(client), CHECK_AGE, check="queue", **where)
    assert older is not None
    assert older >= age + 0.2


def test_route_status_follows_the_route_rules(app: Flask) -> None:
    status = StatusManager(app)
    ready = status.add_route("ready", "/ready", readiness=True)
    ready.add_field("version", "1.2.3")
    ready.add_check("database", Probe())
    ready.add_check("cache", Probe(False), critical=False)
    add_metrics_route(status)
    client = app.test_client()
    where = {"manager": "status", "route": "ready"}

    assert status_of(scrape(client), ROUTE_STATUS, **where) == "unknown"  # nothing has run yet
    assert client.get("/ready").status_code == 200
    assert eventually(lambda: status_of(scrape(client), ROUTE_STATUS, **where) == "warn")
    status.drain()
    assert status_of(scrape(client), ROUTE_STATUS, **where) == "fail"
    status.resume()
    assert status_of(scrape(client), ROUTE_STATUS, **where) == "warn"


def test_before_the_first_probe_a_route_is_unknown_not_failing(app: Flask, clock: ManualClock) -> None:
    # After a restart nothing has run: an alert on status="fail" must not fire for that.
    status = StatusManager(app, clock=clock)
    ready = status.add_route("ready", "/ready", readiness=True)
    ready.add_field("version", "1.2.3")
    ready.add_check("database", Probe())
    ready.add_check("queue", Probe(), interval=60)  # periodic: no run before the scheduler's first
    status.add_route("live", "/live").add_field("version", "1.2.3")  # nothing to run: known at once
    add_metrics_route(status)
    client = app.test_client()

    samples = scrape(client)
    where = {"manager": "status", "route": "ready"}
    assert value(samples, ROUTE_STATUS, status="fail", **where) == 0.0
    assert value(samples, ROUTE_STATUS, status="unknown", **where) == 1.0
    assert status_of(samples, ROUTE_STATUS, manager="status", route="live") == "pass"
    assert status_of(samples, CHECK_STATUS, check="database", **where) is None  # no series before a result
    status.drain()  # draining is known: the route fails whatever its checks say
    assert status_of(scrape(client), ROUTE_STATUS, **where) == "fail"


def test_a_failing_check_makes_the_route_fail_even_with_others_unknown(app: Flask, release: threading.Event) -> None:
    status = StatusManager(app)
    broken = status.add_route("broken", "/broken")
    broken.add_check("database", Probe(False))
    broken.add_check("queue", Probe(gate=release), interval=60, timeout=30)  # its first run hangs: no result
    add_metrics_route(status)
    client = app.test_client()
    where = {"manager": "status", "route": "broken"}
    assert status_of(scrape(client), ROUTE_STATUS, **where) == "unknown"
    assert client.get("/broken").status_code == 503
    # database's failure is known, so the route fails, whatever queue will say.
    assert eventually(lambda: status_of(scrape(client), ROUTE_STATUS, **where) == "fail")
    assert status_of(scrape(client), CHECK_STATUS, check="queue", **where) is None


def test_the_metrics_route_answers_other_methods_with_a_json_405(app: Flask) -> None:
    status = StatusManager(app)
    add_metrics_route(status, authenticator=bearer_token("s3cret"))
    response = app.test_client().post("/metrics")
    assert response.status_code == 405
    assert response.get_json() == {"status": "method_not_allowed"}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Allow"] == "GET, HEAD"


def test_scraping_never_runs_a_check(app: Flask, clock: ManualClock) -> None:
    status = StatusManager(app, clock=clock)
    ready = status.add_route("ready", "/ready")
    uncached, cached, slow = Probe(), Probe(), Probe(sleep=0.2)
    ready.add_check("uncached", uncached)
    ready.add_check("cached", cached, ttl=30)
    ready.add_check("slow", slow, timeout=0.05)
    add_metrics_route(status)
    client = app.test_client()

    for _ in range(3):
        samples = scrape(client)
    assert (uncached.calls, cached.calls, slow.calls) == (0, 0, 0)
    assert not any(name in (CHECK_RUNS, CHECK_STATUS, CHECK_AGE) for name, _ in samples)

    client.get("/ready")
    assert eventually(lambda: runs(scrape(client), "slow", "timeout") == 1)
    clock.advance(3600)  # every result is now stale: a scrape still runs nothing
    started = time.monotonic()
    for _ in range(5):
        scrape(client)
    assert time.monotonic() - started < 0.5  # and never waits for a run
    assert (uncached.calls, cached.calls, slow.calls) == (1, 1, 1)


def test_metrics_route_has_its_own_authenticator(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("live", "/live")  # public
    add_metrics_route(status, "/metrics", authenticator=bearer_token("s3cret", config_key=None))
    client = app.test_client()

    assert client.get("/live").status_code == 200
    denied = client.get("/metrics")
    assert denied.status_code == 401
    assert denied.get_json() == {"status": "unauthorized"}
    assert "flask_status" not in denied.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scrape(client, Authorization="Bearer s3cret")


def test_label_sets_are_bounded(app: Flask) -> None:
    status = StatusManager(app)
    counter = iter(range(1000))

    def flaky() -> bool:
        n = next(counter)
        if n % 3 == 0:
            raise RuntimeError(f"error number {n} at {time.time()}")  # never becomes a label
        return n % 3 == 1

    shared = Probe()
    ready = status.add_route("ready", "/ready")
    ready.add_check("flaky", flaky)
    ready.add_check("shared", shared, ttl=60)
    details = status.add_route("details", "/details")
    details.add_check("shared", shared, ttl=60)  # the same check: one cache entry, one run
    details.add_field("queue", lambda: {"depth": time.time()})
    add_metrics_route(status)
    client = app.test_client()

    def series() -> set[tuple[str, frozenset[tuple[str, str]]]]:
        return {key for key in scrape(client) if key[0] != CHECK_RUNS.removesuffix("_total") + "_created"}

    for _ in range(6):
        client.get("/ready")
        client.get("/details", query_string={"noise": time.time()})
    assert eventually(lambda: runs(scrape(client), "flaky", "fail") == 4)
    first = series()
    for _ in range(12):
        client.get("/ready")
        client.get("/details")
    assert eventually(lambda: runs(scrape(client), "flaky", "fail") == 12)
    assert series() == first

    families, samples = parse(client.get("/metrics").get_data(as_text=True))
    for name in METRIC_NAMES:
        family = families[name.removesuffix("_total")]
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            assert set(sample.labels) == LABELS[name], sample
            assert sample.labels["manager"] == "status"
            assert sample.labels.get("route", "ready") in {"ready", "details"}
            assert sample.labels.get("check", "flaky") in {"flaky", "shared", "queue"}
            assert sample.labels.get("outcome", "pass") in {"pass", "warn", "fail", "timeout"}
            allowed = {"pass", "warn", "fail", "unknown"} if name == ROUTE_STATUS else {"pass", "warn", "fail"}
            assert sample.labels.get("status", "pass") in allowed
    assert shared.calls == 1
    assert runs(samples, "shared", "pass") == 1  # counted once, though shown on two routes
    for route in ("ready", "details"):
        assert status_of(samples, CHECK_STATUS, manager="status", route=route, check="shared") == "pass"


def test_register_metrics_on_an_existing_registry(make_app: Callable[..., Flask]) -> None:
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    app = make_app()
    registry = CollectorRegistry()
    orders = Counter("shop_orders_total", "Orders placed.", registry=registry)
    orders.inc(3)
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", Probe())
    ops = StatusManager(app, name="ops")
    ops.add_route("deep", "/deep").add_check("replica", Probe(False))
    register_metrics(status, app, registry)
    register_metrics(ops, app, registry)  # another manager on the same registry
    register_metrics(status, app, registry)  # again: harmless

    client = app.test_client()
    client.get("/ready")
    client.get("/deep")

    def samples() -> Samples:
        return parse(generate_latest(registry).decode())[1]

    assert eventually(lambda: runs(samples(), "database", "pass") == 1)
    assert eventually(lambda: runs(samples(), "replica", "fail", "ops") == 1)
    assert value(samples(), "shop_orders_total") == 3
    assert status_of(samples(), ROUTE_STATUS, manager="ops", route="deep") == "fail"

    other = make_app("other_app")
    twin = StatusManager(other)  # also named "status"
    with pytest.raises(ValueError, match="already has its metrics on this registry"):
        register_metrics(twin, other, registry)


def test_metrics_route_can_serve_a_given_registry(app: Flask) -> None:
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    Gauge("shop_open_carts", "Open carts.", registry=registry).set(7)
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", Probe())
    add_metrics_route(status, "/metrics", registry=registry)
    client = app.test_client()
    client.get("/ready")
    assert eventually(lambda: runs(scrape(client), "database", "pass") == 1)
    assert value(scrape(client), "shop_open_carts") == 7


def test_results_stored_before_metrics_are_shown_but_not_counted(app: Flask) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", Probe(), ttl=60)
    app.test_client().get("/ready")
    time.sleep(0.05)
    registry = CollectorRegistry()
    register_metrics(status, app, registry)
    samples = parse(generate_latest(registry).decode())[1]
    assert status_of(samples, CHECK_STATUS, manager="status", route="ready", check="database") == "pass"
    assert runs(samples, "database", "pass") == 0


def test_a_hung_periodic_run_counts_as_one_timeout(app: Flask, release: threading.Event) -> None:
    status = StatusManager(app)
    calls: list[int] = []

    def replica() -> bool:
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)  # the first run hangs until the test lets it go
        return True

    status.add_route("ready", "/ready").add_check("replica", replica, interval=0.1, timeout=0.05)
    add_metrics_route(status)
    client = app.test_client()
    client.get("/ready")  # schedules it
    where = {"manager": "status", "route": "ready", "check": "replica"}

    assert eventually(lambda: runs(scrape(client), "replica", "timeout") == 1)
    assert status_of(scrape(client), CHECK_STATUS, **where) == "fail"
    time.sleep(0.3)  # several timeout windows: reported again by the scheduler, counted once
    assert runs(scrape(client), "replica", "timeout") == 1
    release.set()
    assert eventually(lambda: runs(scrape(client), "replica", "pass") >= 1)
    samples = scrape(client)
    assert runs(samples, "replica", "timeout") == 1  # the hung run's late return is not counted again
    assert status_of(samples, CHECK_STATUS, **where) == "pass"


def test_url_prefix_and_endpoint(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    status = StatusManager(app, url_prefix="/internal")
    add_metrics_route(status)
    client = app.test_client()
    scrape(client, "/internal/metrics")
    assert client.get("/metrics").status_code == 404
    with app.test_request_context():
        assert url_for(metrics_endpoint(status)) == "/internal/metrics"


TOKEN_HEADER = {"Authorization": "Bearer s3cret"}


def _manager_class() -> type[StatusManager]:
    """StatusManager, or until it calls ``_app_hooks`` from ``_register`` itself, a subclass that does."""
    if hasattr(StatusManager(), "_app_hooks"):
        return StatusManager

    class HookedManager(StatusManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._app_hooks: list[Callable[..., None]] = []
            super().__init__(*args, **kwargs)

        def _register(self, app: Flask, mount: Any) -> None:
            super()._register(app, mount)
            for hook in list(self._app_hooks):
                hook(app, self.state(app), mount)

    return HookedManager


def test_apps_initialised_later_and_blueprints(make_app: Callable[..., Flask]) -> None:
    from flask import Blueprint

    status = _manager_class()()
    status.add_route("ready", "/ready").add_check("database", Probe())
    add_metrics_route(status, "/metrics", authenticator=bearer_token("s3cret", config_key=None))

    first = make_app("first")
    status.init_app(first)
    second = make_app("second")
    blueprint = Blueprint("ops", __name__)
    status.init_app(blueprint)
    second.register_blueprint(blueprint, url_prefix="/ops")

    for app, prefix in ((first, ""), (second, "/ops")):
        client = app.test_client()
        assert client.get(f"{prefix}/metrics").status_code == 401
        assert client.get(f"{prefix}/ready").status_code == 200

        def counted(client: FlaskClient = client, prefix: str = prefix) -> bool:
            return runs(scrape(client, f"{prefix}/metrics", **TOKEN_HEADER), "database", "pass") == 1

        assert eventually(counted)  # each app has its own results and counts


def test_misuse_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    status = StatusManager(app)
    status.add_route("ready", "/ready")
    with pytest.raises(ValueError, match="already used by route 'ready'"):
        add_metrics_route(status, "/ready")
    app.add_url_rule("/taken", "taken", lambda: "mine")
    with pytest.raises(ValueError, match="already routed"):
        add_metrics_route(status, "/taken")
    with pytest.raises(TypeError, match="authenticator"):
        add_metrics_route(status, authenticator="token")  # type: ignore[arg-type]
    add_metrics_route(status, "/metrics")
    with pytest.raises(ValueError, match="already has a metrics route at '/metrics'"):
        add_metrics_route(status, "/other-metrics")


def test_openmetrics_when_asked(app: Flask) -> None:
    status = StatusManager(app)
    add_metrics_route(status)
    response = app.test_client().get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


def test_a_clear_error_without_prometheus_client(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    status = StatusManager(app)
    with pytest.raises(ImportError, match=r"pip install 'flask-status\[prometheus\]'"):
        add_metrics_route(status)
    with pytest.raises(ImportError, match=r"pip install 'flask-status\[prometheus\]'"):
        register_metrics(status, app)


# -- several processes: a real gunicorn -w 2 ------------------------------------------------------

TOKEN = "metrics-test-token"


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """``gunicorn -w 2`` serving tests/apps/metrics_app.py with ``PROMETHEUS_MULTIPROC_DIR`` set."""
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
        "METRICS_APP_TOKEN": TOKEN,
        "PYTHONPATH": os.pathsep.join([str(APPS), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    options = ["-w", "2", "-k", "sync", "-c", "python:metrics_app", "--timeout", "20", "--graceful-timeout", "2"]
    with gunicorn(
        "metrics_app:app", *options, "--log-level", "info", log=tmp_path / "gunicorn.log", env=env, grace=5
    ) as server:
        yield server
    log = server.output(tail=1_000_000)
    assert "Traceback" not in log, log


def _hit(port: int, path: str, times: int) -> list[dict[str, Any]]:
    """GET ``path`` ``times`` times from 4 threads at once (so both workers serve); the bodies."""
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: get(port, path), range(times)))
    assert all(answer.status in (200, 503) for answer in answers), answers
    return [answer.json() for answer in answers]


def _scrape_server(port: int) -> tuple[dict[str, Any], Samples]:
    answer = get(port, "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200, answer
    return parse(answer.body.decode())


@pytest.mark.server
@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn does not run on Windows")
def test_counts_add_up_across_gunicorn_workers(gunicorn_server: ServerProcess) -> None:
    port = gunicorn_server.port
    assert get(port, "/metrics").status == 401

    # Enough requests that both workers run the checks; each body says which worker answered.
    ready, workers = 0, set[int]()
    while len(workers) < 2 and ready < 200:
        workers |= {body["worker"] for body in _hit(port, "/health/ready", 16)}
        ready += 16
    assert len(workers) == 2, "the requests never reached the second worker"
    _hit(port, "/health/broken", 3)

    def totals_are(database: int, queue: int) -> Callable[[], bool]:
        def check() -> bool:
            samples = _scrape_server(port)[1]
            return runs(samples, "database", "pass") == database and runs(samples, "queue", "fail") == queue

        return check

    # Each worker ran only its share; a scrape, whichever worker serves it, shows the sum.
    assert eventually(totals_are(ready, 3)), _scrape_server(port)[1]
    for _ in range(6):
        families, samples = _scrape_server(port)
        assert runs(samples, "database", "pass") == ready
        assert runs(samples, "worker", "pass") == ready
        assert runs(samples, "queue", "fail") == 3
        assert status_of(samples, ROUTE_STATUS, manager="status", route="ready") == "pass"
        assert status_of(samples, ROUTE_STATUS, manager="status", route="broken") == "fail"
        where = {"manager": "status", "route": "ready", "check": "database"}
        assert status_of(samples, CHECK_STATUS, **where) == "pass"
        age = value(samples, CHECK_AGE, **where)
        assert age is not None
        assert 0 <= age < 30
        duration = value(samples, CHECK_DURATION, manager="status", check="database")
        assert duration is not None
        assert 0 <= duration < 5

    # Naming conventions, and nothing but the documented labels.
    ours = {name: family for name, family in families.items() if name.startswith("flask_status_")}
    assert set(ours) == {name.removesuffix("_total") for name in METRIC_NAMES}
    for name, family in ours.items():
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name == name + "_total"
            else:
                assert family.type == "gauge"
                assert sample.name == name
            assert "pid" not in sample.labels  # aggregated over workers, never one series per worker
            full = name + "_total" if family.type == "counter" else name
            assert set(sample.labels) == LABELS[full]
    for name in (CHECK_DURATION, CHECK_AGE, CHECK_LAST_RESULT):
        assert name.endswith("_seconds")

    # A worker dies and gunicorn replaces it: its runs still count.
    victim = next(iter(workers))
    os.kill(victim, signal.SIGTERM)
    assert eventually(lambda: len(workers | {body["pid"] for body in _hit(port, "/ping", 8)}) > 2, 10)
    _hit(port, "/health/ready", 10)
    assert eventually(totals_are(ready + 10, 3)), _scrape_server(port)[1]


def test_a_check_hung_forever_is_seen_in_metrics(app: Flask, release: threading.Event) -> None:
    # No run ever ends: only the requests' timeouts can tell, and they are counted once per
    # timeout window of the run, with the check's status.
    clock = ManualClock()
    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("search", lambda: release.wait(30), timeout=1)
    add_metrics_route(status)
    client = app.test_client()
    where = {"manager": "status", "route": "ready", "check": "search"}
    for _ in range(3):
        advance_when_waited(clock, 1)
        assert client.get("/ready").status_code == 503
    samples = scrape(client)
    release.set()
    assert runs(samples, "search", "timeout") == 1  # one hung run, counted once
    assert status_of(samples, CHECK_STATUS, **where) == "fail"
