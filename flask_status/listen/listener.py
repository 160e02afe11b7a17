"""One app's probe listener: which routes it serves, what it answers, and its life.

The listener answers from what is known now and never runs a check for a probe: the checks of
the routes it serves are run in the background by the process's scheduler (every ``ttl`` for
a cached check, every ``STATUS_PROBE_REFRESH`` seconds for one without), and each run's result
is kept here as it lands. On top of the routes' own items:

- a **liveness** route (``liveness=True``) fails while a worker is stuck: requests in flight
  and none finished for ``STATUS_STUCK_AFTER`` seconds (:func:`.load.stuck`);
- a **readiness** route (``readiness=True``) fails while the app is saturated, when
  ``STATUS_SATURATED_AFTER`` is set (:func:`.load.saturated`), and while the manager drains.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from flask.cli import ScriptInfo

from .._fork import after_fork
from ..clock import Clock
from ..config import ProbeSettings
from ..definitions import Field, StatusRoute
from ..engine.flight import Flight
from ..engine.runner import Runner
from ..engine.scheduler import scheduler
from ..render.json import MIMETYPES, RouteReport
from ..results import FieldResult, Status, aggregate
from ..serialize import dumps
from .load import Board, LoadMeter, saturated, stuck
from .server import Answer, ProbeServer

if TYPE_CHECKING:
    from flask import Flask

    from ..state import StatusState

__all__ = ["ProbeListener", "listeners"]

log = logging.getLogger("flask_status")

_NOT_FOUND: Answer = (
    404,
    (("Content-Type", "application/json"), ("Cache-Control", "no-store")),
    b'{"status":"not_found","error":"not a public status route of this app"}\n',
)


def _verdict() -> bool:  # pragma: no cover - a listener verdict is never run, only shown
    return False


_WORKERS = Field("workers", _verdict, kind="check")
_CAPACITY = Field("capacity", _verdict, kind="check")

_listeners: weakref.WeakSet[ProbeListener] = weakref.WeakSet()

MIN_INTERVAL = 1.0
"""The shortest interval between two background runs of one served check (a check whose
failures are never cached would otherwise run on every tick of the scheduler)."""


def listeners() -> list[ProbeListener]:
    """Every probe listener of this process (one per app that has ``STATUS_PROBE_PORT``)."""
    return list(_listeners)


class ProbeListener:
    """The probe listener of one Flask app: a port of its own serving its public status routes.

    Made by ``init_app`` when the app has ``STATUS_PROBE_PORT`` (or the environment variable
    of that name); found at ``app.extensions["flask-status-listener"]``. It wraps
    ``app.wsgi_app`` to count this worker's requests in flight (:class:`.load.LoadMeter`).
    Outside gunicorn it starts at once; under gunicorn, in each worker, from
    :func:`flask_status.gunicorn.post_worker_init` (or at the worker's first request, with a
    warning, when the hooks are missing).

    Thread-safety: the server thread calls :meth:`answer`, the pool's threads call the
    runners' ``on_run`` (:meth:`_landed`), the scheduler calls :meth:`periodic`. ``_latest``
    maps a field to its newest result: each value is replaced whole, and read without a lock
    (a dict read or write is atomic under the GIL); ``_states`` only grows, at ``init_app``.
    """

    def __init__(self, app: Flask, settings: ProbeSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._app = weakref.ref(app)
        self._states: list[StatusState] = []
        self._latest: dict[tuple[int, str], FieldResult] = {}
        self._versions: dict[tuple[int, str], int] = {}
        self.meter = LoadMeter(app.wsgi_app, Board.private(), 0, now=clock.now)
        self.meter.attach(self.meter.board, 0, settings.worker_threads)
        self.meter.on_request = self._on_request
        app.wsgi_app = self.meter  # type: ignore[method-assign]
        self.server: ProbeServer | None = None
        self._sock: socket.socket | None = None
        self._owns_sock = False
        self._pid: int | None = None
        self._warned = False
        self._start_lock = threading.Lock()
        self._finalizer: weakref.finalize[Any, Any] | None = None
        #: Under gunicorn the listener waits for its worker: never serve from the master.
        self.deferred = "gunicorn.arbiter" in sys.modules
        #: The Flask CLI command loading the app, if any: only ``flask run`` serves probes; a
        #: ``flask status``, ``flask shell`` or ``flask db upgrade`` beside the server opens no port.
        self.command = _cli_command()
        _listeners.add(self)
        after_fork(self, ProbeListener._after_fork)

    # -- what it serves -------------------------------------------------------------------------

    def add(self, state: StatusState) -> None:
        """Serve ``state``'s public routes too (one state per manager of the app)."""
        self._states.append(state)
        state.runner.on_run.append(self._landing(state))
        if not self.deferred and self.serves:
            self.start()

    def _landing(self, state: StatusState) -> Callable[[Field, FieldResult], None]:
        latest, key = self._latest, id(state)

        def landed(field: Field, result: FieldResult) -> None:
            # Callbacks of two runs may land out of order (an overdue report, a run finishing
            # late): keep the newest observation, never an older one over it.
            known = latest.get((key, field.key))
            if known is None or result.observed_at >= known.observed_at:
                latest[(key, field.key)] = result

        return landed

    @staticmethod
    def served(route: StatusRoute) -> bool:
        """Whether the listener serves ``route``: only a route without an authenticator."""
        return route.authenticator is None

    def routes(self) -> Iterator[tuple[StatusState, StatusRoute, str]]:
        """Every served route, with its state and the URL it is mounted at on the app."""
        for state in self._states:
            for route in list(state.manager.routes.values()):
                url = state.urls.get(route.name)
                if url is not None and self.served(route):
                    yield state, route, url

    def periodic(self) -> Iterator[tuple[Runner, Field, float]]:
        """The served checks the scheduler runs in the background, with their intervals."""
        if self._pid != os.getpid():
            return  # not serving in this process (a gunicorn master, a fork not started yet)
        seen: set[tuple[int, str]] = set()
        for state, route, _ in self.routes():
            runner = state.runner
            for field in route.fields:
                key = (id(state), field.key)
                if field.func is None or field.interval is not None or key in seen:
                    continue  # constants need no run; periodic fields have their own schedule
                seen.add(key)
                yield runner, field, self.interval(runner, field, self._latest.get(key))

    def interval(self, runner: Runner, field: Field, latest: FieldResult | None) -> float:
        """How often the listener has ``field`` run: as long as its last result stays fresh
        on the app's port (its ttl, a failure's shorter failure ttl), or every
        ``STATUS_PROBE_REFRESH`` seconds for a field without a ttl; never more often than
        every :data:`MIN_INTERVAL` seconds."""
        if not runner.timing(field).cached:
            return self.settings.refresh
        if latest is None or latest.pending:
            return MIN_INTERVAL
        fresh = runner.fresh_until(field, latest) - latest.observed_at
        return max(fresh, min(MIN_INTERVAL, self.settings.refresh))

    # -- answering ------------------------------------------------------------------------------

    def answer(self, path: str, accept: str) -> Answer:
        """The answer to a GET of ``path``, from the results known now: runs nothing."""
        for state, route, url in self.routes():
            if url == path:
                if self._versions.get((id(state), route.name)) != route.version:
                    # Fields added since the scheduler last looked: have it look now, not at
                    # its next tick (a second away), so their first results come sooner.
                    self._versions[(id(state), route.name)] = route.version
                    scheduler.add(self)
                return self._answer(state, route, accept)
        return _NOT_FOUND

    def _answer(self, state: StatusState, route: StatusRoute, accept: str) -> Answer:
        fields = route.fields
        key = id(state)
        results = [
            field.constant_result or self._latest.get((key, field.key)) or state.runner.peek([field])[0]
            for field in fields
        ]
        raw = tuple(results)
        if route.readiness:
            results = list(state.fleet_view(fields, raw))
        shown = list(fields)
        draining = state.draining(route)
        for extra in (state.startup_item(route), self._verdict(route, {f.name for f in fields})):
            if extra is not None:
                shown.append(extra[0])
                results.append(extra[1])
        status: Status = "fail" if draining else aggregate(shown, results)
        # Announced like an answer on the app's own port, each change once; not from pending
        # placeholders (no run has landed yet: nothing to announce).
        # What the checks say, never the fleet's view (the events say "fail", as on the app's port).
        if not any(result.pending for result in raw):
            raw_status: Status = "fail" if draining else aggregate(fields, raw)
            state.transitions.observe(route, list(zip(fields, raw, strict=True)), raw_status, draining=draining)
        fmt = route.format or state.settings.default_format
        if fmt != "health+json" and "application/health+json" in accept:
            fmt = "health+json"
        details = route.details is True  # a callable deciding per request needs a request: closed
        report = RouteReport(route, tuple(results), status, float("-inf"), tuple(shown))
        document = report.body(fmt, details=details)
        if draining and details:
            document["draining"] = True
        code = route.status_codes.get(status) or state.settings.http_codes[status]
        return code, (("Content-Type", MIMETYPES[fmt]), ("Cache-Control", "no-store")), dumps(document)

    def _verdict(self, route: StatusRoute, taken: set[str]) -> tuple[Field, FieldResult] | None:
        """The failing item a liveness route (a stuck worker) or a readiness route (a saturated
        app) gets on the listener, or ``None``."""
        settings, now = self.settings, self.clock.now()
        if route.liveness:
            found = stuck(self.meter.board.slots(), now, settings.stuck_after)
            if found:
                worst, age = max(found, key=lambda pair: pair[1])
                message = (
                    f"{len(found)} worker(s) stuck: worker {worst.pid} has {worst.in_flight} request(s) in flight "
                    f"and none finished for {age:.0f} s (STATUS_STUCK_AFTER is {settings.stuck_after:g} s)"
                )
                return self._item(_WORKERS, taken, message, len(found), "workers")
        elif route.readiness and settings.saturated_after is not None:
            full = saturated(self.meter.board.slots(), now, settings.saturated_after)
            if full is not None:
                threads, seconds = full
                message = (
                    f"every worker thread ({threads}) busy for {seconds:.0f} s "
                    f"(STATUS_SATURATED_AFTER is {settings.saturated_after:g} s)"
                )
                return self._item(_CAPACITY, taken, message, threads, "threads")
        return None

    def _item(self, field: Field, taken: set[str], message: str, observed: int, unit: str) -> tuple[Field, FieldResult]:
        if field.name in taken:
            field = Field(f"probe_{field.name}", _verdict, kind="check")
        now = self.clock.now()
        result = FieldResult(
            field.name, "fail", value=False, message=message, observed=observed, unit=unit, observed_at=now
        )
        return field, result

    # -- life -----------------------------------------------------------------------------------

    @property
    def serves(self) -> bool:
        """Whether this process serves probes: not one running a Flask CLI command but ``run``."""
        return self.command in (None, "run")

    @property
    def running(self) -> bool:
        """True while this process serves probes."""
        return self.server is not None and self.server.running and self._pid == os.getpid()

    @property
    def port(self) -> int | None:
        """The port served now (the one the system chose for ``STATUS_PROBE_PORT = 0``)."""
        return self.server.port if self.running and self.server is not None else None

    def start(
        self,
        *,
        board: Board | None = None,
        index: int = 0,
        capacity: int | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        """Serve probes in this process (again harmless): on ``sock`` (a listening socket made
        by a parent, e.g. the gunicorn master) or on a socket of its own; publishing this
        worker's load into ``board``'s slot ``index`` when given (its threads: ``capacity``,
        unless ``STATUS_WORKER_THREADS`` says)."""
        if self.running:
            return
        # Publish as this process (after a fork the slot still names the parent), into the
        # shared board's slot when the master gave one.
        if board is None:
            board, index = self.meter.board, self.meter.index
        self.meter.attach(board, index, self.settings.worker_threads or capacity)
        if sock is None:
            sock = self._bind()
            owns = True
        else:
            owns = False
        self._sock, self._owns_sock = sock, owns
        self._pid = os.getpid()
        # The first runs start now; the server accepts once they landed (or timed out), so the
        # first probe gets verdicts, not pending placeholders. Meanwhile connections wait in the
        # port's queue (under gunicorn, the other workers take them).
        first: list[tuple[float, Flight]] = []
        scheduler.run_due(self, first)
        server = ProbeServer(sock, _weak_answer(self), name="flask-status-probes", before=partial(_await, first))
        server.start()
        self.server, self._pid = server, os.getpid()
        self._finalizer = weakref.finalize(self, _shut, server, sock if owns else None)
        self._finalizer.atexit = False
        log.info("flask-status: probe listener on %s:%s (pid %d)", self.settings.host, server.port, os.getpid())
        scheduler.add(self)

    def _bind(self) -> socket.socket:
        settings = self.settings
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if "gunicorn.arbiter" in sys.modules and hasattr(socket, "SO_REUSEPORT"):
                # gunicorn workers without the master's socket: each binds the same port.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((settings.host, settings.port))
            sock.listen(128)
        except OSError as error:
            sock.close()
            source = "the environment variable STATUS_PROBE_PORT" if settings.from_environment else "STATUS_PROBE_PORT"
            raise OSError(
                error.errno,
                f"flask-status: the probe listener cannot listen on {settings.host}:{settings.port} "
                f"({source}): {error.strerror}",
            ) from error
        return sock

    def stop(self) -> None:
        """Stop serving probes in this process; the port is closed if this listener opened it."""
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer()
        if self.server is not None:
            self.server.stop()
        self.server, self._pid = None, None

    def _on_request(self) -> None:
        # The safety net of a gunicorn worker that no hook started: probes from its first request.
        # Elsewhere (a forking server, whose children cannot share the port) nothing is done.
        if self._pid == os.getpid() or not self.deferred or not self.serves:
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            if not self._warned:
                self._warned = True
                log.warning(
                    "flask-status: the probe listener started at this worker's first request: under gunicorn, "
                    "add `from flask_status.gunicorn import *` to gunicorn.conf.py so it starts with the worker"
                )
            try:
                self.start()
            except OSError:
                self._pid = os.getpid()  # do not try again at every request
                log.exception("flask-status: the probe listener could not start in this worker")

    def _after_fork(self) -> None:
        # The parent's server thread does not exist here. A socket the parent opened itself is
        # closed in the child (it must not keep the parent's port); one a master made for its
        # workers is theirs to share.
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._owns_sock and self._sock is not None:
            self._sock.close()
            self._sock = None
        self.server, self._pid = None, None
        self._start_lock = threading.Lock()


def _cli_command() -> str | None:
    """The Flask CLI command loading the app now, or ``None`` outside the Flask CLI (another
    click program, such as one that starts waitress, counts as outside). ``flask run``'s
    reloader parent, which only watches files while a child serves, is ``"reloader"``."""
    click = sys.modules.get("click")
    if click is None:
        return None
    context = click.get_current_context(silent=True)
    if context is None or context.find_object(ScriptInfo) is None:
        return None
    name = str(context.info_name)
    if name == "run" and context.params.get("reload") and not os.environ.get("WERKZEUG_RUN_MAIN"):
        return "reloader"
    return name


def _weak_answer(listener: ProbeListener) -> Callable[[str, str], Answer]:
    ref = weakref.ref(listener)

    def answer(path: str, accept: str) -> Answer:
        target = ref()
        return _NOT_FOUND if target is None else target.answer(path, accept)

    return answer


def _await(first: list[tuple[float, Flight]]) -> None:
    """Wait for the first runs, together at most the longest timeout (real time: a server
    starting)."""
    if not first:
        return
    deadline = time.monotonic() + max(timeout for timeout, _ in first)
    for _, flight in first:
        flight.wait(max(deadline - time.monotonic(), 0.0))


def _shut(server: ProbeServer, sock: socket.socket | None) -> None:
    server.stop(wait=0)
    if sock is not None:
        server.ended.wait(1.0)
        sock.close()
