"""Celery: workers that beat while they really work, and a check of the queue for the web side.

A Celery worker has no HTTP server and can be alive but stuck. In the module that makes the
Celery app (the worker imports it), one line::

    from flask_status.celery import install

    install(celery_app, status, app=flask_app, heartbeat="celery", file="/tmp/celery-alive")

Then, in the worker process only (from Celery's ``worker_ready`` signal), a thread beats every
``every`` seconds:

- a beat of the heartbeat ``heartbeat`` (:meth:`StatusManager.beat
  <flask_status.StatusManager.beat>`): with a shared store (``STATUS_STORE_URL``) the web
  side's ``route.add_heartbeat("celery", every=10, grace=20)`` passes while some worker beats;
- and the file ``file`` touched, for the worker's own Kubernetes liveness probe, which needs
  neither an HTTP server nor the app: ``python -m flask_status.probe --file /tmp/celery-alive
  --max-age 60``.

It beats only while the worker makes progress: while tasks are running and none has finished
for ``stuck_after`` seconds, it stops, so a wedged pool fails the heartbeat and the liveness
probe. An idle worker beats (it is ready to work). A broker outage does not stop it: restarting
the worker would not bring the broker back; :func:`celery_check` shows the outage on the web
side's readiness and details.

The web side checks the queue without broadcasting to every worker on each probe::

    from flask_status.celery import celery_check

    details.add_check("queue", celery_check(celery_app, queue="celery", warn=100, fail=1000), ttl=10)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from ._validate import require_seconds, validate_name
from .engine import affinity
from .extension import StatusManager
from .results import CheckResult

try:
    import celery
    from celery import signals
    from celery.worker import state as worker_state
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError("flask_status.celery needs Celery: pip install 'flask-status[celery]'") from error

__all__ = ["WorkerBeat", "celery_check", "install"]

log = logging.getLogger("flask_status")


class WorkerBeat:
    """The beating thread of one Celery worker process (see the module's docstring).

    Thread-safety: the thread alone reads Celery's worker state (``active_requests``, the
    accepted count) and writes ``_progress``; :meth:`stop` only sets an event.
    """

    def __init__(
        self,
        status: StatusManager,
        heartbeat: str,
        *,
        app: Flask | None,
        every: float,
        file: Path | None,
        stuck_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.status = status
        self.heartbeat = heartbeat
        self.app = app
        self.every = every
        self.file = file
        self.stuck_after = stuck_after
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = -1
        self._progress = clock()
        self._busy_since: float | None = None

    def start(self) -> None:
        """Start beating (the worker is ready)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = affinity.thread(self._run, name="flask-status-celery-beat")
            self._thread.start()

    def stop(self) -> None:
        """Stop beating (the worker shuts down)."""
        self._stop.set()

    def stuck(self) -> float | None:
        """Seconds the worker has had tasks running and none finished, once past
        ``stuck_after``; ``None`` while it makes progress or is idle."""
        now = self.clock()
        active = len(worker_state.active_requests)
        finished = worker_state.all_total_count[0] - active  # accepted, and no longer running
        if finished != self._finished:
            self._finished, self._progress = finished, now
        if active == 0:
            self._busy_since = None
            return None
        if self._busy_since is None:
            self._busy_since = now
        quiet = now - max(self._progress, self._busy_since)
        return quiet if quiet > self.stuck_after else None

    def beat(self) -> bool:
        """One beat, unless the worker is stuck; ``True`` when it beat."""
        quiet = self.stuck()
        if quiet is not None:
            log.warning(
                "flask-status: celery worker stuck: tasks running and none finished for %.0f s; not beating", quiet
            )
            return False
        if self.file is not None:
            self.file.touch()
        payload = {"worker": os.getpid(), "active": len(worker_state.active_requests)}
        self.status.beat(self.heartbeat, payload, app=self.app)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # the worker must outlive its heartbeat (a store down, a full disk)
                log.exception("flask-status: the celery heartbeat failed")
            self._stop.wait(self.every)


def install(
    celery_app: celery.Celery,
    status: StatusManager,
    *,
    app: Flask | None = None,
    heartbeat: str = "celery",
    every: float = 10.0,
    file: str | os.PathLike[str] | None = None,
    stuck_after: float = 600.0,
) -> WorkerBeat:
    """Make the workers of ``celery_app`` beat heartbeat ``heartbeat`` of ``status`` every
    ``every`` seconds while they make progress, and touch ``file`` if given (see the module's
    docstring). ``app`` is the Flask app whose status manager records the beats (default: the
    one app ``status`` serves). Set ``stuck_after`` above your longest task. Returns the
    :class:`WorkerBeat` (started by Celery's ``worker_ready`` signal, in worker processes only).

    A heartbeat name that no route of ``status`` has is a ``ValueError`` here, not at the
    first beat.
    """
    if not isinstance(celery_app, celery.Celery):
        raise TypeError(f"celery_app must be a celery.Celery app, got {celery_app!r}")
    if not isinstance(status, StatusManager):
        raise TypeError(f"status must be a StatusManager, got {status!r}")
    if getattr(celery_app, "_flask_status_beat", None) is not None:
        raise RuntimeError(
            f"flask_status.celery.install was already called for {celery_app!r}: call it once per Celery app"
        )
    validate_name(heartbeat, "heartbeat")
    if heartbeat not in status.heartbeats():
        names = ", ".join(sorted(status.heartbeats())) or "none"
        raise ValueError(
            f"status manager {status.name!r} has no heartbeat named {heartbeat!r} (heartbeats: {names}): "
            f'add one to a route first: route.add_heartbeat("{heartbeat}", every=..., grace=...)'
        )
    beat = WorkerBeat(
        status,
        heartbeat,
        app=app,
        every=require_seconds(every, "every", allow_zero=False),
        file=Path(file) if file is not None else None,
        stuck_after=require_seconds(stuck_after, "stuck_after", allow_zero=False),
    )

    def ready(sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "app", celery_app) is celery_app:  # the worker of this Celery app
            beat.start()

    def shutting_down(sender: Any = None, **kwargs: Any) -> None:
        beat.stop()

    # Strong references: Celery holds receivers weakly by default, and these are closures. Only
    # this app's workers: another Celery app of the process does not start this one's beat.
    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutting_down.connect(shutting_down, weak=False)
    celery_app._flask_status_beat = beat
    return beat


def celery_check(
    celery_app: celery.Celery,
    *,
    queue: str = "celery",
    warn: int | None = None,
    fail: int | None = None,
    timeout: float = 2.0,
) -> Callable[[], CheckResult]:
    """A check of the broker and one queue's depth, for the web side's readiness or details:
    passes while the broker answers, with the number of messages waiting in ``queue`` as its
    observed value; warns from ``warn`` messages, fails from ``fail`` (both optional).

    It asks the broker (one passive queue declaration), never the workers: no broadcast to
    every worker on each probe. Whether workers are alive is a heartbeat's job
    (:func:`install` and ``route.add_heartbeat``).
    """
    if not isinstance(celery_app, celery.Celery):
        raise TypeError(f"celery_app must be a celery.Celery app, got {celery_app!r}")
    if not isinstance(queue, str) or not queue:
        raise ValueError(f"queue must be a non-empty str, got {queue!r}")
    for label, limit in (("warn", warn), ("fail", fail)):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"{label} must be a positive number of messages or None, got {limit!r}")
    if warn is not None and fail is not None and warn > fail:
        raise ValueError(f"warn ({warn}) must not be above fail ({fail})")
    seconds = require_seconds(timeout, "celery_check timeout", allow_zero=False)

    def check() -> CheckResult:
        started = time.perf_counter()
        with celery_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=seconds)
            try:
                declared = connection.default_channel.queue_declare(queue=queue, passive=True)
            except Exception as error:
                if str(getattr(error, "reply_code", "")) != "404":
                    raise
                # Not declared: on Redis an empty queue has no key. Nothing waits in it.
                depth = 0
            else:
                depth = int(declared.message_count)
        text = f"queue {queue!r}: {depth} message(s) waiting ({(time.perf_counter() - started) * 1000:.0f} ms)"
        if fail is not None and depth >= fail:
            return CheckResult.fail(text, observed=depth, unit="messages")
        if warn is not None and depth >= warn:
            return CheckResult.warn(text, observed=depth, unit="messages")
        return CheckResult.ok(text, observed=depth, unit="messages")

    check.__name__ = f"celery_check({queue!r})"
    return check
