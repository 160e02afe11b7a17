"""flask_status.celery with a real Celery worker process and real redis-servers (broker and store).

The worker beats a heartbeat the web side checks through the shared store, and touches a file
its own liveness probe reads: SIGSTOP it and both fail within every + grace; SIGCONT and they
pass again; a wedged task stops the beats; a broker outage does not.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _servers import APPS, RedisServer, eventually
from flask import Flask

from flask_status import StatusManager
from flask_status.probe import main as _probe

celery_module = pytest.importorskip("celery")
from flask_status.celery import celery_check, install  # noqa: E402


def probe(argv: list[str]) -> int:
    """``python -m flask_status.probe ARGS``'s exit code (its line kept out of the test output)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return _probe(argv)


@contextmanager
def worker(tmp_path: Path, broker: str, store: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker`` (solo pool) serving tests/apps/celery_app.py until the block ends."""
    log = (tmp_path / "worker.log").open("wb")
    full = {
        **os.environ,
        "BROKER_URL": broker,
        "STATUS_STORE_URL": store,
        "BEAT_FILE": str(tmp_path / "alive"),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    command = [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=solo", "--without-gossip",
               "--without-mingle", "--without-heartbeat", "-l", "info"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=APPS, env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        log.close()


def web_side(make_app: Callable[..., Flask], store: str) -> Callable[[], Any]:
    """The web app's details route, checking the worker's heartbeat through the shared store."""
    app = make_app(STATUS_STORE_URL=store, STATUS_STORE_PREFIX="celery-test")
    status = StatusManager(app)
    status.add_route("details", "/details").add_heartbeat("celery", every=1, grace=1)
    client = app.test_client()
    return lambda: client.get("/details")


def _output(tmp_path: Path) -> str:
    return (tmp_path / "worker.log").read_text(errors="replace")[-4000:]


def test_a_worker_beats_while_alive_and_stops_when_frozen(
    tmp_path: Path, start_redis: Callable[..., RedisServer], make_app: Callable[..., Flask]
) -> None:
    redis = start_redis()
    details = web_side(make_app, redis.url())
    assert details().status_code == 503  # no worker yet: never beat
    alive = ["--file", str(tmp_path / "alive"), "--max-age", "2"]
    with worker(tmp_path, redis.url(), redis.url()) as process:
        assert eventually(lambda: details().status_code == 200, 20), _output(tmp_path)
        assert probe(alive) == 0
        assert details().get_json()["celery"]["message"].startswith("last beat")
        os.kill(process.pid, signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            assert eventually(lambda: details().status_code == 503, 5)  # every + grace = 2 s
            assert time.monotonic() - stopped >= 1.0  # not before the grace ran out (beats every 0.3 s)
            assert "no beat for" in details().get_json()["celery"]["message"]
            assert eventually(lambda: probe(alive) == 1, 5)  # the worker's own liveness fails too
        finally:
            os.kill(process.pid, signal.SIGCONT)
        assert eventually(lambda: details().status_code == 200, 5)
        assert probe(alive) == 0


def test_a_wedged_task_stops_the_beats(
    tmp_path: Path, start_redis: Callable[..., RedisServer], make_app: Callable[..., Flask]
) -> None:
    redis = start_redis()
    details = web_side(make_app, redis.url())
    with worker(tmp_path, redis.url(), redis.url(), STUCK_AFTER="1"):
        assert eventually(lambda: details().status_code == 200, 20), _output(tmp_path)
        sender = celery_module.Celery("web", broker=redis.url())
        sender.send_task("celery_app.add", args=(1, 2))  # a task that finishes: progress, beats go on
        sender.send_task("celery_app.block", args=(30,))  # then one that hangs the solo pool
        assert eventually(lambda: details().status_code == 503, 10), _output(tmp_path)
        assert "celery worker stuck" in _output(tmp_path)


def test_a_broker_outage_does_not_fail_worker_liveness_but_shows_on_the_web_side(
    tmp_path: Path, start_redis: Callable[..., RedisServer]
) -> None:
    broker, store = start_redis(), start_redis()
    alive = ["--file", str(tmp_path / "alive"), "--max-age", "2"]
    check = celery_check(celery_module.Celery("web", broker=broker.url()), queue="celery", timeout=1)
    with worker(tmp_path, broker.url(), store.url()):
        assert eventually(lambda: probe(alive) == 0, 20), _output(tmp_path)
        assert check().status == "pass"
        broker.stop()
        with pytest.raises(Exception):  # noqa: B017, PT011 - kombu raises its transport's error
            check()
        time.sleep(2.5)  # longer than --max-age: the file must have been touched meanwhile
        assert probe(alive) == 0


def test_celery_check_reports_the_queue_depth(start_redis: Callable[..., RedisServer]) -> None:
    broker = start_redis()
    app = celery_module.Celery("web", broker=broker.url())
    for _ in range(3):
        app.send_task("nothing.runs.this", queue="jobs")
    assert eventually(lambda: celery_check(app, queue="jobs")().observed == 3)
    assert celery_check(app, queue="jobs", warn=2)().status == "warn"
    result = celery_check(app, queue="jobs", warn=2, fail=3)()
    assert (result.status, result.unit) == ("fail", "messages")
    assert result.message is not None
    assert result.message.startswith("queue 'jobs': 3 message(s) waiting")


def test_install_and_celery_check_refuse_bad_arguments(make_app: Callable[..., Flask]) -> None:
    app = celery_module.Celery("web", broker="memory://")
    status = StatusManager(make_app())
    with pytest.raises(ValueError, match=r"has no heartbeat named 'celery'"):
        install(app, status)
    status.add_route("details", "/details").add_heartbeat("celery", every=10)
    with pytest.raises(ValueError, match="every must be positive"):
        install(app, status, every=0)
    with pytest.raises(TypeError, match=r"celery_app must be a celery\.Celery app"):
        install(object(), status)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"warn \(10\) must not be above fail \(5\)"):
        celery_check(app, warn=10, fail=5)


def test_install_once_per_celery_app(make_app: Callable[..., Flask]) -> None:
    app = celery_module.Celery("web", broker="memory://")
    status = StatusManager(make_app())
    status.add_route("details", "/details").add_heartbeat("celery", every=10)
    install(app, status)
    with pytest.raises(RuntimeError, match="already called"):
        install(app, status)
