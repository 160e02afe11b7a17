"""Startup gating: startup tasks hold readiness until done, drain composes with them, and
one-shot checks (once=True) stay passed once they passed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.clock import ManualClock


def _app(make_app: Callable[..., Flask], clock: ManualClock) -> tuple[Flask, StatusManager]:
    app = make_app()
    status = StatusManager(app, clock=clock)
    status.add_route("live", "/live")
    status.add_route("ready", "/ready", readiness=True).add_check("db", lambda: True, ttl=30)
    return app, status


def test_a_startup_task_holds_readiness_until_done(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app, status = _app(make_app, clock)
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    task = status.startup_task("warm-cache")
    clock.advance(12)
    answer = client.get("/ready")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "FAIL",
        "db": True,
        "startup": {"status": "fail", "message": "waiting for startup: warm-cache (running 12 s)"},
    }
    assert client.get("/live").status_code == 200  # liveness is never held
    task.done()
    assert client.get("/ready").get_json() == {"status": "OK", "db": True}  # the item is gone


def test_a_failed_task_holds_readiness_saying_why_until_retried(
    make_app: Callable[..., Flask], clock: ManualClock
) -> None:
    app, status = _app(make_app, clock)
    client = app.test_client()
    with pytest.raises(FileNotFoundError), status.startup_task("load-model"):
        raise FileNotFoundError("model.bin")
    item = client.get("/ready").get_json()["startup"]
    assert item["message"] == "waiting for startup: load-model (failed: FileNotFoundError: model.bin)"
    with status.startup_task("load-model"):  # a retry takes the failed task over
        assert client.get("/ready").status_code == 503
    assert client.get("/ready").status_code == 200


def test_startup_tasks_are_checked(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    _, status = _app(make_app, clock)
    task = status.startup_task("warm-cache")
    with pytest.raises(ValueError, match="startup task 'warm-cache' is already running"):
        status.startup_task("warm-cache")
    with pytest.raises(TypeError, match="reason must be a non-empty str"):
        task.fail("")
    with pytest.raises(ValueError, match="startup task name"):
        status.startup_task("bad\nname")


def test_drain_and_startup_compose(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app, status = _app(make_app, clock)
    client = app.test_client()
    task = status.startup_task("warm-cache")
    status.drain()
    assert client.get("/ready").status_code == 503
    status.resume()
    assert client.get("/ready").status_code == 503  # still starting
    task.done()
    assert client.get("/ready").status_code == 200
    status.drain()
    assert client.get("/ready").status_code == 503  # started, then draining


def test_the_route_turning_ready_is_announced_once(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app, status = _app(make_app, clock)
    events: list[tuple[str, str]] = []
    status.on_change(lambda event: events.append((event.check or event.route, event.new)))
    client = app.test_client()
    task = status.startup_task("warm-cache")
    for _ in range(3):
        client.get("/ready")
    task.done()
    for _ in range(3):
        client.get("/ready")
    status.flush_events()
    # The route says it (no "startup" check event: the hold is not a check's news).
    assert [e for e in events if e[0] in ("ready", "startup")] == [
        ("ready", "fail"),
        ("ready", "pass"),
    ]


# -- once=True -----------------------------------------------------------------------------------


def test_a_once_check_runs_until_it_passes_then_never_again(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app = make_app()
    status = StatusManager(app, clock=clock)
    verdicts = [False, False, True, False]
    calls: list[int] = []

    def migrations() -> bool:
        calls.append(1)
        return verdicts[len(calls) - 1]

    status.add_route("startup", "/startup").add_check("migrations", migrations, once=True)
    client = app.test_client()
    assert client.get("/startup").status_code == 503
    assert client.get("/startup").status_code == 503  # the failure is kept failure_ttl (5 s)
    assert len(calls) == 1
    clock.advance(5)
    assert client.get("/startup").status_code == 503
    clock.advance(5)
    assert client.get("/startup").status_code == 200
    clock.advance(365 * 86400)
    assert client.get("/startup").status_code == 200
    assert len(calls) == 3  # never run again once it passed


@pytest.mark.parametrize(
    ("options", "clash"),
    [({"interval": 5}, "interval"), ({"ttl": 5, "stale": 60}, "stale"), ({"ttl": 5, "shared": True}, "shared")],
)
def test_once_refuses_options_that_cannot_apply(options: dict[str, object], clash: str) -> None:
    route = StatusManager().add_route("startup", "/startup")
    with pytest.raises(ValueError, match=rf"runs once until it passes, so {clash} cannot apply"):
        route.add_check("migrations", lambda: True, once=True, **options)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="once of check 'x' must be a bool"):
        route.add_check("x", lambda: True, once=1)  # type: ignore[arg-type]


def test_a_once_check_that_warns_is_run_again(make_app: Callable[..., Flask], clock: ManualClock) -> None:
    from flask_status import CheckResult

    app = make_app()
    status = StatusManager(app, clock=clock)
    verdicts = [CheckResult.warn("2 migrations pending"), CheckResult.ok()]
    calls: list[int] = []

    def migrations() -> CheckResult:
        calls.append(1)
        return verdicts[min(len(calls) - 1, 1)]

    status.add_route("startup", "/startup").add_check("migrations", migrations, once=True)
    client = app.test_client()
    assert client.get("/startup").get_json()["status"] == "WARN"
    clock.advance(5)  # the failure ttl: a warning is not kept for good
    assert client.get("/startup").get_json()["status"] == "OK"
    clock.advance(86400)
    client.get("/startup")
    assert len(calls) == 2
