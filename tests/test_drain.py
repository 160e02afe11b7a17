"""Drain on SIGTERM (flask_status.drain): the config, the helpers, and real servers stopping.

The server tests start a real gunicorn (gthread and sync workers) and real single-process
servers (werkzeug's ``app.run()``, waitress) on a free loopback port, poll readiness and
liveness every 50 ms from a thread, send SIGTERM, and check what a load balancer would see.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from _servers import APPS, Answer, Poller, ServerProcess, eventually, free_port, get, gunicorn, launch
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_status import StatusManager, drain
from flask_status.drain import DEFAULT_DRAIN_DELAY, drain_app, drain_delay, find_apps, install_sigterm_drain

DELAY = 1.5  # STATUS_DRAIN_DELAY of the served app
TURN = 0.5  # readiness must answer 503 this soon after SIGTERM
EXIT_MARGIN = 5.0  # the server must have exited this long after the delay


# -- config and helpers, in process ---------------------------------------------------------------


def test_drain_delay_default_and_config(app: Flask) -> None:
    assert drain_delay(app) == DEFAULT_DRAIN_DELAY == 10.0
    app.config["STATUS_DRAIN_DELAY"] = 0
    assert drain_delay(app) == 0.0
    app.config["STATUS_DRAIN_DELAY"] = 2.5
    assert drain_delay(app) == 2.5
    assert drain_delay(app, delay=4) == 4.0  # an explicit delay wins over the config


@pytest.mark.parametrize("value", [-1, -0.5, "10", None, True, float("nan"), float("inf"), [10]])
def test_drain_delay_rejects_bad_config_naming_the_key(app: Flask, value: object) -> None:
    app.config["STATUS_DRAIN_DELAY"] = value
    with pytest.raises(ValueError, match="STATUS_DRAIN_DELAY must be a non-negative number of seconds"):
        drain_delay(app)


def test_drain_app_drains_every_manager_of_the_app(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("live", "/health/live")
    status.add_route("ready", "/health/ready", readiness=True)
    ops = StatusManager(app, name="ops", url_prefix="/ops")
    ops.add_route("ready", "/ready", readiness=True)
    ops.add_route("details", "/details", readiness=True, details=True)
    client = app.test_client()
    assert client.get("/health/ready").status_code == 200
    assert drain_app(app) == [status, ops]
    assert status.draining
    assert ops.draining
    assert client.get("/health/ready").status_code == 503
    assert client.get("/ops/ready").status_code == 503
    details = client.get("/ops/details")
    assert (details.status_code, details.get_json()["draining"]) == (503, True)
    assert client.get("/health/live").status_code == 200


def test_drain_app_without_managers_drains_nothing(app: Flask) -> None:
    assert drain_app(app) == []


def test_find_apps_through_middleware(make_app: Callable[..., Flask]) -> None:
    main, api, bare = make_app("main"), make_app("api"), make_app("bare")
    StatusManager(main)
    StatusManager(api)
    assert find_apps(main) == [main]
    assert find_apps(ProxyFix(main)) == [main]
    main.wsgi_app = ProxyFix(main.wsgi_app)  # type: ignore[method-assign]
    assert find_apps(main) == [main]
    assert find_apps(DispatcherMiddleware(bare, {"/api": api})) == [api]
    assert find_apps(ProxyFix(DispatcherMiddleware(main, {"/api": api}))) == [main, api]


def test_find_apps_contains_middleware_whose_attributes_exit(app: Flask) -> None:
    # Run by gunicorn's post_worker_init: a SystemExit escaping it ends the worker.
    StatusManager(app)

    class Middleware:
        def __init__(self, wrapped: object) -> None:
            self.wsgi_app = wrapped

        @property
        def app(self) -> object:
            raise SystemExit("only inside a request")

        @property
        def mounts(self) -> object:
            raise SystemExit(1)

    assert find_apps(Middleware(app)) == [app]


def test_a_broken_previous_sigterm_handler_still_stops_cleanly(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    def previous(signum: int, frame: object) -> None:
        raise RuntimeError("the app's own handler is broken")

    drainer = drain._SigtermDrain(app, 0.0, 0.0, previous)
    drainer.expired.set()  # the delay is over: this SIGTERM stops the server
    with caplog.at_level(logging.ERROR, logger="flask_status"), pytest.raises(SystemExit) as stopped:
        drainer.handle(signal.SIGTERM, None)
    assert stopped.value.code == 0
    assert any("SIGTERM handler installed before raised" in r.getMessage() for r in caplog.records)


def test_find_apps_falls_back_to_every_app_in_the_process(app: Flask) -> None:
    StatusManager(app)

    def opaque(environ: object, start_response: object) -> object:  # hides the app in a closure
        return app(environ, start_response)  # type: ignore[arg-type]  # pragma: no cover

    assert app in find_apps(opaque)


def test_install_sigterm_drain_refuses_misuse(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(ValueError, match="delay must be"):
        install_sigterm_drain(app, delay=-1)
    app.config["STATUS_DRAIN_DELAY"] = "soon"
    with pytest.raises(ValueError, match="STATUS_DRAIN_DELAY must be"):
        install_sigterm_drain(app)
    with pytest.raises(ValueError, match="graceful_timeout must be"):
        install_sigterm_drain(app, delay=1, graceful_timeout=-1)
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/27.0.1")
    with pytest.raises(RuntimeError, match="under gunicorn use its hooks"):
        install_sigterm_drain(app, delay=1)
    monkeypatch.delenv("SERVER_SOFTWARE")
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            install_sigterm_drain(app, delay=1)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert "main thread" in str(errors[0])
    assert signal.getsignal(signal.SIGTERM) is before  # nothing was installed


def test_post_worker_init_needs_when_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain, "_shared", None)
    with pytest.raises(RuntimeError, match=r"needs flask_status\.drain\.when_ready"):
        drain.post_worker_init(object())


def test_shared_page_is_shared_with_forked_children() -> None:
    page = drain._SharedPage()
    assert (page.delay, page.draining) == (None, False)
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() with threads alive in pytest
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        page.delay = 2.5
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert page.delay == 2.5
    page.start_draining()
    assert page.draining


# -- real servers ---------------------------------------------------------------------------------


class Later(threading.Thread):
    """One request, sent from a thread (at ``at``, a monotonic time, if given)."""

    def __init__(self, port: int, path: str, at: float | None = None) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.at = port, path, at
        self.result: Answer | None = None
        self.start()

    def run(self) -> None:
        if self.at is not None:
            time.sleep(max(0.0, self.at - time.monotonic()))
        self.result = get(self.port, self.path, timeout=10.0)

    def wait(self) -> Answer:
        self.join(15)
        assert self.result is not None, f"{self.path} never finished"
        return self.result


def serving(
    tmp_path: Path, worker_class: str, workers: int = 2, delay: float = DELAY
) -> AbstractContextManager[ServerProcess]:
    """gunicorn serving drain_app, draining for ``delay`` seconds on SIGTERM."""
    return gunicorn(
        "drain_app:app",
        "--config", str(APPS / "drain_gunicorn.py"),
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--threads", "4",
        log=tmp_path / "server.log",
        env={"DRAIN_DELAY": str(delay)},
        ready="/health/live",
    )  # fmt: skip


def serving_plain(tmp_path: Path, kind: str, delay: float = DELAY) -> AbstractContextManager[ServerProcess]:
    """drain_app under a single-process server (``werkzeug``: ``app.run()``, or ``waitress``)."""
    port = free_port()
    return launch(
        [sys.executable, str(APPS / "drain_app.py"), kind, str(port)],
        port=port,
        log=tmp_path / "server.log",
        env={"DRAIN_DELAY": str(delay)},
        ready="/health/live",
    )


def check_drain(server: ServerProcess, delay: float = DELAY) -> dict[str, float]:
    """SIGTERM ``server`` while polling; assert what a load balancer must see; return timings."""
    port = server.port
    poller = Poller(port, "/health/ready", "/health/live", timeout=3.0)
    poller.start()
    time.sleep(0.3)
    early = Later(port, "/slow?seconds=1")  # in flight when SIGTERM comes, done within the delay
    time.sleep(0.2)
    term = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    # Starts just before the delay ends and runs past it: in flight while the server stops.
    late = Later(port, "/slow?seconds=1", at=term + delay - 0.3)
    try:
        code = server.process.wait(delay + EXIT_MARGIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"server still running {delay + EXIT_MARGIN} s after SIGTERM:\n{server.output()}")
    exited = time.monotonic()
    results = poller.stop()
    early_result, late_result = early.wait(), late.wait()
    context = f"\nlog:\n{server.output()}\nresults (s after SIGTERM):\n" + "\n".join(
        f"{r.start - term:+.3f} {r.path} {r.status or r.error}" for r in results if r.start > term - 0.2
    )

    assert code == 0, f"exit status {code}{context}"
    assert delay <= exited - term <= delay + EXIT_MARGIN, context
    assert (early_result.status, late_result.status) == (200, 200), f"{early_result} {late_result}{context}"
    assert late_result.body.startswith(b"done"), context

    ready = [r for r in results if r.path == "/health/ready"]
    live = [r for r in results if r.path == "/health/live"]
    before = [r for r in results if r.end < term]
    assert before, context
    assert all(r.status == 200 for r in before), context
    # Nothing fails while the delay lasts: errors (connection refused) only once it is over.
    assert [r for r in results if r.error and r.start < term + delay] == [], context
    first_503 = min((r.end for r in ready if r.status == 503), default=float("inf"))
    assert first_503 - term <= TURN, f"readiness answered 503 only {first_503 - term:.3f} s after SIGTERM{context}"
    assert all(r.status == 503 for r in ready if r.start > term + TURN and r.status is not None), context
    assert any(r.status == 503 for r in ready if r.start > term + delay - 0.3), f"503 until the end{context}"
    during = [r for r in live if term <= r.start < term + delay]
    assert len(during) >= 10, context
    assert all(r.status == 200 for r in during), context
    return {
        "first_503": first_503 - term,
        "last_answer": max(r.end for r in results if r.status is not None) - term,
        "first_error": min((r.start for r in results if r.error), default=float("nan")) - term,
        "exit": exited - term,
        "polls_during_delay": float(sum(1 for r in results if term <= r.start < term + delay)),
    }


pytestmark = pytest.mark.server


@pytest.mark.parametrize("worker_class", ["gthread", "sync"])
def test_gunicorn_drains_on_sigterm(worker_class: str, tmp_path: Path) -> None:
    with serving(tmp_path, worker_class) as server:
        timings = check_drain(server)
    log = server.output(tail=1_000_000)
    assert "flask-status: draining: readiness fails for 1.5 s" in log
    assert "Shutting down: Master" in log
    print(f"gunicorn {worker_class}: " + ", ".join(f"{k}={v:.3f}" for k, v in timings.items()))


@pytest.mark.parametrize("kind", ["werkzeug", "waitress"])
def test_single_process_server_drains_on_sigterm(kind: str, tmp_path: Path) -> None:
    with serving_plain(tmp_path, kind) as server:
        timings = check_drain(server)
    assert "readiness fails for 1.5 s" in server.output(tail=1_000_000)
    print(f"{kind}: " + ", ".join(f"{k}={v:.3f}" for k, v in timings.items()))


def test_gunicorn_worker_started_while_draining_drains_too(tmp_path: Path) -> None:
    """A worker that replaces a crashed one during the delay drains from its start; a second
    SIGTERM does not cut the delay short."""
    delay = 3.0
    with serving(tmp_path, "gthread", workers=1, delay=delay) as server:
        port = server.port
        first = json.loads(get(port, "/whoami").body)
        assert first["draining"] is False
        term = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)  # ignored: still draining
        os.kill(first["pid"], signal.SIGKILL)  # the master forks a new worker
        seen: dict[int, bool] = {}
        while time.monotonic() < term + delay - 0.3:
            result = get(port, "/whoami", timeout=2)
            if result.status == 200:
                who = json.loads(result.body)
                seen[who["pid"]] = who["draining"]
            else:
                assert time.monotonic() - term < 2.0, f"no worker answered: {result}\n{server.output()}"
            time.sleep(0.05)
        assert server.process.poll() is None, server.output()  # the second SIGTERM did not stop it
        code = server.process.wait(EXIT_MARGIN + delay)
        assert code == 0
        assert time.monotonic() - term >= delay
    assert first["pid"] not in seen, seen
    assert seen, server.output()
    assert all(seen.values()), f"a worker booted during the delay did not drain: {seen}\n{server.output()}"
    assert "already draining; SIGTERM ignored" in server.output(tail=1_000_000)


def test_gunicorn_sigint_while_draining_stops_at_once(tmp_path: Path) -> None:
    delay = 10.0
    with serving(tmp_path, "gthread", delay=delay) as server:
        server.process.send_signal(signal.SIGTERM)
        assert eventually(lambda: get(server.port, "/health/ready").status == 503, TURN, every=0.02), server.output()
        interrupt = time.monotonic()
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(5)
        assert time.monotonic() - interrupt < 3.0
        assert code == 0, server.output()
