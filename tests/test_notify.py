"""Fleet-wide hooks (on_change(fleet=True)) and the webhook notifier with flood control.

In one process with a manual clock for the notifier's windows; then two ``gunicorn -w 4``
sharing a real redis-server (eight workers standing for two pods): one hook call and one POST
per transition of a shared check, none inside the flood-control window.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _servers import RedisServer, eventually, get, gunicorn
from flask import Flask

from flask_status import StatusEvent, StatusManager
from flask_status.clock import ManualClock
from flask_status.notify import webhook


class Receiver:
    """A local HTTP server keeping every JSON body POSTed to it."""

    def __init__(self) -> None:
        bodies: list[dict[str, Any]] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/s3cret-path"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _event(new: str, old: str | None = None, check: str = "db") -> StatusEvent:
    return StatusEvent("status", "ready", check, "check", old, new, None)  # type: ignore[arg-type]


def test_the_webhook_posts_json_once_until_the_status_changes(receiver: Receiver) -> None:
    clock = ManualClock()
    hook = webhook(receiver.url, min_interval=60, clock=clock)
    hook(_event("fail", "pass"))
    hook(_event("fail", "pass"))  # no change: dropped
    assert [b["new"] for b in receiver.bodies] == ["fail"]
    body = receiver.bodies[0]
    assert (body["route"], body["check"], body["old"], body["fleet"]) == ("ready", "db", "pass", False)
    assert "pid" in body["process"]


def test_changes_inside_the_window_are_held_and_the_newest_sent_when_it_ends(receiver: Receiver) -> None:
    clock = ManualClock()
    hook = webhook(receiver.url, min_interval=60, clock=clock)
    hook(_event("fail", "pass"))
    clock.advance(10)
    hook(_event("pass", "fail"))  # inside the window: held
    hook(_event("warn", "pass"))  # the newest held replaces it
    assert len(receiver.bodies) == 1
    clock.advance(50)
    assert eventually(lambda: len(receiver.bodies) == 2)
    assert receiver.bodies[1]["new"] == "warn"
    assert hook.dropped == 1


def test_a_change_back_inside_the_window_is_no_news(receiver: Receiver) -> None:
    clock = ManualClock()
    hook = webhook(receiver.url, min_interval=60, clock=clock)
    hook(_event("fail", "pass"))
    hook(_event("pass", "fail"))  # held
    hook(_event("fail", "pass"))  # back to what was sent: the held pass is dropped too
    clock.advance(61)
    hook(_event("fail", "pass"))
    assert [b["new"] for b in receiver.bodies] == ["fail"]


def test_slack_payload_and_a_failing_webhook(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    webhook(receiver.url, slack=True, min_interval=0)(_event("fail", "pass"))
    assert receiver.bodies[0]["text"].startswith(":red_circle: flask-status: check 'db' of route 'ready' is fail")
    down = webhook("http://127.0.0.1:9/hooks/s3cret-path", timeout=1)
    down(_event("fail", "pass"))  # logged, never raised
    assert "webhook http://127.0.0.1:9 failed" in caplog.text
    assert "s3cret" not in caplog.text
    with pytest.raises(ValueError, match="url must be an http:// or https:// URL, got 'ftp://x'"):
        webhook("ftp://x")


def test_fleet_hooks_are_called_once_per_transition_across_managers(
    redis_server: RedisServer, make_app: Callable[..., Flask]
) -> None:
    calls: list[StatusEvent] = []
    up = {"value": True}
    clients = []
    for _ in range(3):  # three apps, as three processes would be
        app = make_app(STATUS_STORE_URL=redis_server.url(), STATUS_STORE_PREFIX="fleet-hooks")
        status = StatusManager(app)
        status.add_route("ready", "/ready").add_check("db", lambda: up["value"], ttl=0.2, shared=True)
        status.on_change(calls.append, fleet=True)
        clients.append((status, app.test_client()))
    for _, client in clients:
        assert client.get("/ready").status_code == 200
    up["value"] = False
    assert eventually(lambda: all(client.get("/ready").status_code == 503 for _, client in clients), 5)
    for status, _ in clients:
        status.flush_events()
    checks = [event for event in calls if event.check == "db"]
    assert [(e.new, e.fleet) for e in checks] == [("fail", True)]
    assert [e.new for e in calls if e.kind == "route"] == ["fail"]
    up["value"] = True
    assert eventually(lambda: all(client.get("/ready").status_code == 200 for _, client in clients), 5)
    for status, _ in clients:
        status.flush_events()
    assert [e.new for e in calls if e.check == "db"] == ["fail", "pass"]


def test_drains_are_not_fleet_news(make_app: Callable[..., Flask], redis_server: RedisServer) -> None:
    calls: list[StatusEvent] = []
    app = make_app(STATUS_STORE_URL=redis_server.url())
    status = StatusManager(app)
    status.add_route("ready", "/ready", readiness=True)
    status.on_change(calls.append, fleet=True)
    app.test_client().get("/ready")
    status.drain()
    app.test_client().get("/ready")
    status.flush_events()
    assert calls == []


def test_two_pods_of_four_workers_page_once_per_transition(
    redis_server: RedisServer, receiver: Receiver, tmp_path: Path
) -> None:
    dependency = tmp_path / "dependency"
    dependency.touch()
    calls = tmp_path / "calls"
    env = {
        "STATUS_STORE_URL": redis_server.url(),
        "DEPENDENCY_FILE": str(dependency),
        "FLEET_CALLS": str(calls),
        "WEBHOOK_URL": receiver.url,
        "MIN_INTERVAL": "3",
    }
    options = ("-k", "gthread", "--workers", "4", "--threads", "2")
    with ExitStack() as stack:
        pods = [
            stack.enter_context(gunicorn("notify_app:app", *options, log=tmp_path / f"pod{i}.log", env=env))
            for i in range(2)
        ]

        def every_worker_says(code: int) -> bool:
            return all(get(pod.port, "/ready", timeout=2).status == code for pod in pods for _ in range(16))

        def lines() -> list[dict[str, Any]]:
            return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

        assert eventually(lambda: every_worker_says(200), 10)
        dependency.unlink()
        assert eventually(lambda: every_worker_says(503), 10)
        assert eventually(lambda: len([c for c in lines() if c["check"] == "dependency"]) >= 1, 5)
        assert eventually(lambda: len([b for b in receiver.bodies if b["check"] == "dependency"]) >= 1, 5)
        dependency.touch()
        assert eventually(lambda: every_worker_says(200), 10)
        # Recovered within 3 s of the page: the notifier holds it until its window ends.
        assert eventually(lambda: len([b for b in receiver.bodies if b["check"] == "dependency"]) == 2, 8)
        assert [c["new"] for c in lines() if c["check"] == "dependency"] == ["fail", "pass"]
        assert all(c["fleet"] for c in lines())
        posted = [b for b in receiver.bodies if b["check"] == "dependency"]
        assert [b["new"] for b in posted] == ["fail", "pass"]
        assert posted[1]["time"] - posted[0]["time"] >= 2.9, pods[0].output() + pods[1].output()


def test_a_late_sighting_never_turns_the_fleets_status_back(redis_server: RedisServer) -> None:
    from flask_status.stores.redis import RedisStore

    store = RedisStore(redis_server.url(), prefix="elect-test")
    assert store.elect("m:r:c", "fail", 100.0, 60) == (True, None, True)
    assert store.elect("m:r:c", "pass", 200.0, 60) == (True, "fail", True)
    # A process whose delivery thread was late reports the old failure: refused.
    assert store.elect("m:r:c", "fail", 150.0, 60) == (True, "pass", False)
    assert store.elect("m:r:c", "fail", 250.0, 60) == (True, "pass", True)


def test_slack_text_cannot_ping_a_channel_nor_forge_a_link(receiver: Receiver) -> None:
    from flask_status.results import FieldResult

    result = FieldResult("db", "fail", message="<!channel> see <https://evil.example|docs> & more")
    event = StatusEvent("status", "ready", "db", "check", "pass", "fail", result)
    webhook(receiver.url, slack=True, min_interval=0)(event)
    text = receiver.bodies[0]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; see &lt;https://evil.example|docs&gt; &amp; more" in text
