"""Drain on SIGTERM: fail readiness for ``STATUS_DRAIN_DELAY`` seconds, keep serving, then stop.

Behind a load balancer (or a Kubernetes Service), a server told to stop should first make its
readiness routes fail, so the balancer stops sending it new requests, while it keeps serving
every request that still arrives; only then should it stop, letting requests in flight finish.
:meth:`StatusManager.drain <flask_status.StatusManager.drain>` does the first part; this
module wires it to SIGTERM and delays the server's own shutdown by ``STATUS_DRAIN_DELAY``
seconds (default :data:`DEFAULT_DRAIN_DELAY`, read from the app's config).

**gunicorn.** Name two hooks in your gunicorn config file::

    # gunicorn.conf.py
    from flask_status.gunicorn import *  # noqa: F403

    graceful_timeout = 20  # for requests still running when the delay ends

On SIGTERM the master tells every worker to drain (readiness answers 503, everything else,
liveness included, answers as before, and workers keep accepting connections), waits
``STATUS_DRAIN_DELAY`` seconds, then stops as gunicorn always does: workers finish their
requests within ``graceful_timeout`` and the master exits with status 0. A worker that starts
during the delay (one replacing a crashed worker) drains from its start. SIGINT and SIGQUIT
still stop at once; a second SIGTERM during the delay is ignored. Other SIGTERMs a worker gets
(``HUP`` reloads, ``TTOU``) do not drain: the server as a whole stays ready.

If you have hooks of your own, call these from them::

    from flask_status import drain

    def when_ready(server):
        drain.when_ready(server)
        ...

**A single-process server** (``app.run()``, waitress, any WSGI server running in the main
thread)::

    from flask_status.drain import install_sigterm_drain

    install_sigterm_drain(app)
    app.run(host="0.0.0.0", port=8000)  # or: waitress.serve(app, port=8000)

Both need POSIX signals; the master (or the single process) must be the process that gets
SIGTERM: in a container, start gunicorn with ``exec`` or the exec form of ``CMD``.
"""

from __future__ import annotations

import gc
import logging
import math
import mmap
import os
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from flask import Flask
from werkzeug.wsgi import ClosingIterator

from ._validate import validate_seconds
from .engine import affinity
from .extension import EXTENSION_KEY, StatusManager

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_DRAIN_DELAY",
    "drain_app",
    "drain_delay",
    "find_apps",
    "install_sigterm_drain",
    "post_worker_init",
    "when_ready",
]

log = logging.getLogger("flask_status")

CONFIG_KEY = "STATUS_DRAIN_DELAY"
"""The app config key holding the drain delay, in seconds."""

DEFAULT_DRAIN_DELAY = 10.0
"""Seconds readiness fails before the server stops, when ``STATUS_DRAIN_DELAY`` is not set.

Long enough for a load balancer that probes every 2-5 s to see two failures, and for
Kubernetes to take a terminating pod out of its Services' endpoints everywhere.
"""

_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


# -- the app side -----------------------------------------------------------------------------


def drain_delay(app: Flask, delay: float | None = None) -> float:
    """The drain delay for ``app``: ``delay`` if given, else ``app.config["STATUS_DRAIN_DELAY"]``.

    A value that is not a finite, non-negative number of seconds is a ``ValueError`` naming
    where it came from. ``0`` drains without waiting.

    >>> app = Flask(__name__)
    >>> drain_delay(app)
    10.0
    >>> app.config["STATUS_DRAIN_DELAY"] = 2
    >>> drain_delay(app)
    2.0
    >>> drain_delay(app, delay=-1)
    Traceback (most recent call last):
    ...
    ValueError: delay must be a non-negative number of seconds, got -1
    """
    if delay is not None:
        return _seconds(delay, "delay")
    return _seconds(app.config.get(CONFIG_KEY, DEFAULT_DRAIN_DELAY), CONFIG_KEY)


def _seconds(value: object, what: str) -> float:
    # One ValueError for every bad value (a str, None, -1, 1e10...): where it came from says it all.
    try:
        seconds = validate_seconds(value, what, allow_zero=True)
    except (TypeError, ValueError):
        seconds = None
    if seconds is None:
        raise ValueError(f"{what} must be a non-negative number of seconds, got {value!r}") from None
    return seconds


def drain_app(app: Flask) -> list[StatusManager]:
    """Call :meth:`~flask_status.StatusManager.drain` on every status manager of ``app``.

    Returns the managers drained. Safe to call from a signal handler: it only sets flags.

    >>> from flask_status import StatusManager
    >>> app = Flask(__name__)
    >>> status = StatusManager(app)
    >>> _ = status.add_route("live", "/health/live")
    >>> _ = status.add_route("ready", "/health/ready", readiness=True)
    >>> drain_app(app) == [status]
    True
    >>> client = app.test_client()
    >>> client.get("/health/ready").status_code, client.get("/health/live").status_code
    (503, 200)
    """
    managers = [state.manager for state in app.extensions.get(EXTENSION_KEY, {}).values()]
    for manager in managers:
        manager.drain()
    return managers


_WRAPPER_ATTRIBUTES = ("app", "application", "wsgi_app", "wrapped", "_app", "__wrapped__")


def find_apps(wsgi: object) -> list[Flask]:
    """The Flask apps with status managers that a WSGI callable serves.

    Looks through common middleware attributes (``app``, ``wsgi_app``, ``__wrapped__``...,
    and the ``mounts`` of werkzeug's ``DispatcherMiddleware``); when that finds none, every
    Flask app with a status manager in this process.

    >>> from flask_status import StatusManager
    >>> from werkzeug.middleware.proxy_fix import ProxyFix
    >>> app = Flask(__name__)
    >>> status = StatusManager(app)
    >>> find_apps(ProxyFix(app)) == [app]
    True
    """
    found: list[Flask] = []
    seen: set[int] = set()
    level: list[object] = [wsgi]
    for _ in range(6):  # levels of wrapping
        below: list[object] = []
        for obj in level:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, Flask) and obj.extensions.get(EXTENSION_KEY):
                found.append(obj)
            below.extend(_wrapped(obj))
        level = below
    if not found:
        found = [obj for obj in gc.get_objects() if isinstance(obj, Flask) and obj.extensions.get(EXTENSION_KEY)]
    return found


def _wrapped(obj: object) -> list[object]:
    inner: list[object] = []
    for name in _WRAPPER_ATTRIBUTES:
        try:
            value = getattr(obj, name, None)
        except KeyboardInterrupt:
            raise
        except BaseException:  # a proxy outside its context, a property that fails (SystemExit too)
            continue
        if value is not None and not isinstance(value, (str, bytes, int, float)):
            inner.append(value)
    try:
        mounts = getattr(obj, "mounts", None)
    except KeyboardInterrupt:
        raise
    except BaseException:
        mounts = None
    if isinstance(mounts, dict):
        inner.extend(mounts.values())
    return inner


# -- gunicorn -----------------------------------------------------------------------------------


class _SharedPage:
    """A few bytes gunicorn's master and all its workers share: an anonymous shared mapping
    created in the master before the first fork, inherited by every worker.

    Holds the drain delay the last booted worker read from its app's config (NaN: none yet),
    and whether the master is draining (so a worker booting during the delay drains too).
    """

    _FORMAT = "dB"

    def __init__(self) -> None:
        self._page = mmap.mmap(-1, struct.calcsize(self._FORMAT))
        struct.pack_into(self._FORMAT, self._page, 0, math.nan, 0)

    @property
    def delay(self) -> float | None:
        value: float = struct.unpack_from("d", self._page, 0)[0]
        return None if math.isnan(value) else value

    @delay.setter
    def delay(self, value: float) -> None:
        struct.pack_into("d", self._page, 0, value)

    @property
    def draining(self) -> bool:
        return bool(self._page[struct.calcsize("d")])

    def start_draining(self) -> None:
        self._page[struct.calcsize("d")] = 1


_shared: _SharedPage | None = None


def _drain_signal() -> int:
    # SIGURG: not used by gunicorn (HUP QUIT INT TERM TTIN TTOU USR1 USR2 WINCH ABRT CHLD), not
    # sent by terminals, and ignored by default: a worker still booting, before it installs
    # the handler, is not killed by it (it reads the shared "draining" flag instead).
    return int(signal.SIGURG)


def when_ready(server: Any) -> None:
    """gunicorn ``when_ready`` hook (master): make SIGTERM drain the workers before stopping.

    On the first SIGTERM the master signals every worker to drain, logs it, and waits the drain
    delay (``STATUS_DRAIN_DELAY`` of the workers' app) before gunicorn's usual graceful stop.
    Needs :func:`post_worker_init` in the same config. ``server`` is gunicorn's ``Arbiter``::

        # gunicorn.conf.py
        from flask_status.drain import post_worker_init, when_ready  # noqa: F401
    """
    global _shared
    if _shared is None:
        _shared = _SharedPage()
    server.handle_term = _MasterDrain(server, _shared).handle_term


def post_worker_init(worker: Any) -> None:
    """gunicorn ``post_worker_init`` hook (each worker): drain when the master says so.

    Finds the Flask apps behind the worker's WSGI callable (:func:`find_apps`), validates their
    ``STATUS_DRAIN_DELAY`` (a bad value stops the worker from booting, so gunicorn exits with
    the error) and tells the master the delay. Needs :func:`when_ready` in the same config.
    """
    shared = _shared
    if shared is None:
        raise RuntimeError(
            "flask_status.drain.post_worker_init needs flask_status.drain.when_ready in the same "
            "gunicorn config: from flask_status.drain import post_worker_init, when_ready"
        )
    apps = find_apps(worker.wsgi)
    if not apps:
        worker.log.warning("flask-status: no Flask app with a status manager found in %r: nothing drains", worker.wsgi)
        return
    delay = max(drain_delay(app) for app in apps)

    def drain(signum: int, frame: FrameType | None) -> None:
        for app in apps:
            drain_app(app)

    drain_signal = _drain_signal()
    signal.signal(drain_signal, drain)
    signal.siginterrupt(drain_signal, False)  # never interrupt a request's system calls
    shared.delay = delay
    if shared.draining:  # the master started draining before this worker installed the handler
        drain(drain_signal, None)


class _MasterDrain:
    """Replaces the arbiter's ``handle_term``: drain first, stop after the delay."""

    def __init__(self, server: Any, shared: _SharedPage) -> None:
        self.server = server
        self.shared = shared
        self.stop: Callable[[], None] = server.handle_term  # gunicorn's: raises StopIteration
        self.started = False
        self.expired = threading.Event()

    def handle_term(self) -> None:
        # Called from the arbiter's main loop (not from the signal handler): may log, fork...
        if self.expired.is_set():
            self.stop()
            return
        if self.started:
            self.server.log.info("flask-status: already draining; SIGTERM ignored (SIGINT or SIGQUIT stop now)")
            return
        delay = self.shared.delay
        if delay is None:
            self.server.log.warning(
                "flask-status: no worker has reported its STATUS_DRAIN_DELAY (none booted yet, or the "
                "post_worker_init hook is missing): stopping without draining"
            )
            self.stop()
            return
        self.started = True
        self.shared.start_draining()
        self.server.kill_workers(_drain_signal())
        self.server.log.info(
            "flask-status: draining: readiness fails for %.1f s while requests are still served, then gunicorn stops",
            delay,
        )
        timer = threading.Timer(delay, self._expire)
        timer.daemon = True
        timer.start()

    def _expire(self) -> None:
        self.expired.set()
        os.kill(os.getpid(), signal.SIGTERM)  # back through the arbiter's signal queue


# -- a single-process server -------------------------------------------------------------------


class _InFlight:
    """WSGI middleware counting requests between their call and the close of their response."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app
        self.count = 0
        self._idle = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._idle:
            self.count += 1
        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            self._done()
            raise
        return ClosingIterator(body, self._done)

    def _done(self) -> None:
        with self._idle:
            self.count -= 1
            if self.count <= 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight, at most ``timeout`` seconds; True if none is."""
        with self._idle:
            return self._idle.wait_for(lambda: self.count <= 0, timeout)


_installed: _SigtermDrain | None = None


class _SigtermDrain:
    def __init__(self, app: Flask, delay: float, graceful_timeout: float, previous: _SignalHandler) -> None:
        self.app = app
        self.delay = delay
        self.graceful_timeout = graceful_timeout
        self.previous = previous
        self.in_flight = _InFlight(app.wsgi_app)
        self.started = False
        self.expired = threading.Event()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.expired.is_set():
            if callable(self.previous):
                try:
                    self.previous(signum, frame)
                except (SystemExit, KeyboardInterrupt):
                    raise  # it stops the process itself, as this handler is about to
                except BaseException:  # a broken handler must not turn a clean stop into a crash
                    log.exception("flask-status: the SIGTERM handler installed before raised; stopping anyway")
            raise SystemExit(0)
        if self.started:
            return  # a second SIGTERM while draining: keep draining
        self.started = True
        drain_app(self.app)
        # Log and wait in a thread: a signal handler should not do I/O (it may interrupt some).
        affinity.thread(self._wait, name="flask-status-drain").start()

    def _wait(self) -> None:
        log.warning(
            "flask-status: SIGTERM: readiness fails for %.1f s while requests are still served, then the server stops",
            self.delay,
        )
        time.sleep(self.delay)
        if not self.in_flight.wait_idle(self.graceful_timeout):
            log.warning(
                "flask-status: %d request(s) still running after %.1f s; stopping anyway",
                self.in_flight.count,
                self.graceful_timeout,
            )
        self.expired.set()
        os.kill(os.getpid(), signal.SIGTERM)  # the main thread's handler now exits


def install_sigterm_drain(app: Flask, *, delay: float | None = None, graceful_timeout: float = 30.0) -> None:
    """Drain ``app`` on SIGTERM, then stop a single-process server running in the main thread.

    On SIGTERM every readiness route of ``app`` fails (:func:`drain_app`) while the server
    keeps serving; ``delay`` seconds later (default: ``STATUS_DRAIN_DELAY``), once no request
    of ``app`` is in flight (waiting at most ``graceful_timeout`` seconds more), the main thread
    raises ``SystemExit(0)``: ``app.run()`` and ``waitress.serve()`` close their socket and the
    process exits with status 0. A SIGTERM handler installed before is called at that moment.
    A second SIGTERM while draining is ignored; SIGINT (Ctrl-C) still stops at once. ::

        install_sigterm_drain(app)
        app.run(port=8000)

    Call it from the main thread, once per process, before serving. Wraps ``app.wsgi_app`` to
    count requests in flight. Not for gunicorn, which has workers of its own: use its hooks
    (:func:`when_ready`, :func:`post_worker_init`). Not with the reloader (``debug=True``).
    """
    global _installed
    seconds = drain_delay(app, delay)
    grace = _seconds(graceful_timeout, "graceful_timeout")
    if os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
        raise RuntimeError(
            "install_sigterm_drain is for single-process servers; under gunicorn use its hooks instead: "
            "from flask_status.drain import post_worker_init, when_ready (in gunicorn.conf.py)"
        )
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("install_sigterm_drain must be called from the main thread (signal handlers live there)")
    if _installed is not None:
        raise RuntimeError(f"install_sigterm_drain was already called in this process, for app {_installed.app.name!r}")
    drainer = _SigtermDrain(app, seconds, grace, signal.getsignal(signal.SIGTERM))
    app.wsgi_app = drainer.in_flight  # type: ignore[method-assign]
    signal.signal(signal.SIGTERM, drainer.handle)
    _installed = drainer
