"""What one manager keeps for one app: its runner, its rendered bodies, its views.

Data flows one way: request -> view -> :meth:`StatusState.respond` -> runner -> (store |
callable) -> results -> report -> response. A request whose results are all fresh skips
everything after the view: it compares a deadline and returns the body rendered last time.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Literal

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .cache import MemoryStore, ResultStore, SharedStore
from .config import DEFAULTS, Settings
from .field import Field, FieldResult, Status
from .report import MIMETYPES, Format, aggregate, render
from .route import StatusRoute
from .runner import Runner
from .scheduler import scheduler
from .serialize import dumps

if TYPE_CHECKING:
    from .manager import StatusManager

__all__ = ["RouteReport", "StatusEvent", "StatusState"]

log = logging.getLogger("flask_status")

_states: weakref.WeakSet[StatusState] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A parent thread may have held a state's lock at fork time; the child starts with new ones.
    for state in list(_states):
        state._lock = threading.Lock()
        state._announcing = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_NO_STORE = (("Cache-Control", "no-store"),)

Rendering = Literal["json", "health+json", "html"]
"""What a view can answer: the two JSON formats, or the page for people on details routes."""

_MIMETYPES: dict[str, str] = {"json": MIMETYPES["json"], "health+json": MIMETYPES["health+json"], "html": "text/html"}


@dataclass(frozen=True, slots=True)
class RouteReport:
    """One evaluation of a route: its results and status, ready to render.

    ``fresh_until`` is the manager clock's time until which every result may be served again
    without a run (``-inf`` when some field runs on every request).

    >>> report = RouteReport(StatusRoute("live", "/live"), (), "pass", float("inf"))
    >>> report.body("json", details=True)
    {'status': 'OK'}
    """

    route: StatusRoute
    results: tuple[FieldResult, ...]
    status: Status
    fresh_until: float
    #: The fields the results belong to, in the same order (default: the route's, as now).
    fields: tuple[Field, ...] = ()

    def __post_init__(self) -> None:
        if not self.fields and self.results:
            object.__setattr__(self, "fields", self.route.fields[: len(self.results)])

    def body(self, fmt: Format, *, details: bool) -> dict[str, Any]:
        """The JSON body of this report in ``fmt``."""
        return render(fmt, self.route.message, self.fields, self.results, self.status, details=details)


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A status change of a check (or field) of a route, or of the route itself.

    ``check`` is ``None`` and ``kind`` is ``"route"`` for the route's own status; ``old`` is
    ``None`` the first time a status is seen (a first ``pass`` is not announced). ``new`` is
    the status the route's body shows for the item: a failing ``critical=False`` check is
    ``fail`` (the route's own status is where it only warns). ``result`` is the check's
    result, ``None`` for a route.

    ``draining`` is ``True`` on the one event that announces a readiness route's drain
    (:meth:`StatusManager.drain`): the route fails on purpose, its checks are not failing, so
    a pager should skip it (``if event.new == "fail" and not event.draining``).

    >>> str(StatusEvent("status", "ready", "db", "check", "pass", "fail", None))
    "check 'db' of route 'ready' is fail (was pass)"
    >>> str(StatusEvent("status", "ready", None, "route", "pass", "fail", None, draining=True))
    "route 'ready' is fail (was pass): draining"
    """

    manager: str
    route: str
    check: str | None
    kind: str
    old: Status | None
    new: Status
    result: FieldResult | None
    draining: bool = False

    def __str__(self) -> str:
        what = f"{self.kind} {self.check!r} of route {self.route!r}" if self.check else f"route {self.route!r}"
        text = "draining" if self.draining else self.result and (self.result.error or self.result.message)
        reason = f": {text}" if text else ""
        return f"{what} is {self.new} (was {self.old or 'unknown'}){reason}"


@dataclass(frozen=True, slots=True)
class _Rendered:
    body: bytes
    code: int
    mimetype: str
    fresh_until: float
    version: int
    changes: int


class StatusState:
    """Everything one :class:`StatusManager` keeps for one Flask app.

    Found in ``app.extensions["flask-status"][manager.name]``. Holds the app's
    :class:`~flask_status.runner.Runner` (and through it the results store and thread pool),
    the bodies rendered last for each route, and the last status seen of each route and item.

    Thread-safety: shared by every request thread of the app, its worker threads and the
    scheduler.

    - ``_rendered`` maps a route, format and detail level to an immutable rendered body.
      Entries are replaced whole and read without a lock: a body is served only while the
      route's version, change counter and drain state say it is current.
    - ``_last`` (the last status of each route and item), ``_seen`` (when each item's last
      announced result was observed), ``_drained`` (the readiness routes whose drain was
      announced), ``_changes`` (a counter per route, bumped when a run lands a result for one
      of its fields, voiding its bodies) and ``_config_at_init`` (the ``STATUS_*`` config read
      at ``init_app``, compared once with the app's config at the first evaluation, then
      dropped) are guarded by ``_lock``.
    - ``_announcing`` (re-entrant) spans noticing and announcing a transition, so hooks see a
      check's transitions in order. All locks are renewed in a child after ``fork()``.
    """

    def __init__(self, manager: StatusManager, app: Flask, settings: Settings, clock: Callable[[], float]) -> None:
        self.manager = manager
        self.settings = settings
        self.clock = clock
        self.store: ResultStore = MemoryStore(settings.cache_size, timer=clock)
        #: The store shared between processes, or None: checks with shared=True run per process.
        self.shared: SharedStore | None = manager.store
        if self.shared is None and settings.store_url is not None:
            from .redis_store import RedisStore  # the redis extra is needed only when configured

            self.shared = RedisStore(settings.store_url, prefix=settings.store_prefix)
        self.runner = Runner(
            self.store,
            shared=self.shared,
            settings=settings.runner,
            clock=clock,
            context=app.app_context,
            call=_caller(app),
            name=f"flask-status-{manager.name}",
        )
        self._app = weakref.ref(app)
        self._response_class: type[Response] = app.response_class
        self._rendered: dict[tuple[str, str, bool], _Rendered] = {}
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], Status] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._drained: set[str] = set()
        self._announcing = threading.RLock()
        self._changes: dict[str, int] = {}
        self._config_at_init: dict[str, Any] | None = _config_read_at_init(app, manager)
        self._scheduled = False
        #: The URL rule each route is mounted at on this app (prefixes included).
        self.urls: dict[str, str] = {}
        self.runner.on_run.append(self._on_run)
        _states.add(self)

    # -- evaluation, with or without a request ------------------------------------------------

    def evaluate(self, route: StatusRoute, *, run_periodic: bool = False) -> RouteReport:
        """Evaluate every field and check of ``route`` now (cached results when fresh).

        Needs no request and no app context: the CLI calls it with ``run_periodic=True`` so
        that periodic checks without a result yet run once instead of reading as pending.
        """
        fields = route.fields
        if not self._scheduled and any(f.interval is not None for f in fields):
            self._scheduled = True
            scheduler.add(self)
        elif self._scheduled and not scheduler.running:
            scheduler.ensure_running()  # a forked child: start this process's own thread
        results = tuple(self.runner.evaluate(fields, run_periodic=run_periodic))
        return self._report(route, fields, results)

    def peek(self, route: StatusRoute) -> RouteReport:
        """The route's report from the results it has now, running nothing.

        Nothing ran, so it is no news about the route's items: only the route's own status
        is announced (a drain: what a draining readiness route answers with).
        """
        fields = route.fields
        return self._report(route, fields, tuple(self.runner.peek(fields)), items=False)

    def _report(
        self, route: StatusRoute, fields: Sequence[Field], results: tuple[FieldResult, ...], *, items: bool = True
    ) -> RouteReport:
        if self._config_at_init is not None:
            self._warn_late_config()
        draining = route.readiness and self.manager.draining
        status = self._route_status(route, fields, results, draining)
        pairs = list(zip(fields, results, strict=True))
        fresh_until = min((self.runner.fresh_until(f, r) for f, r in pairs), default=float("inf"))
        report = RouteReport(route, results, status, fresh_until, tuple(fields))
        # Log and announce each status change once, not once per request.
        self._observe_items(route, pairs if items else (), status, draining)
        return report

    def _warn_late_config(self) -> None:
        """Say once which ``STATUS_*`` keys changed after ``init_app``: they are not used."""
        with self._lock:
            read, self._config_at_init = self._config_at_init, None
        app = self._app()
        if read is None or app is None:
            return
        changed = [key for key, value in read.items() if _differs(app.config.get(key), value)]
        if changed:
            log.warning(
                "flask-status: app.config %s changed after status manager %r read it at init_app, and the "
                "change is ignored: set STATUS_* config before StatusManager(app) or init_app(app)",
                ", ".join(changed),
                self.manager.name,
            )

    def periodic(self) -> list[tuple[Runner, Field]]:
        """Every periodic field of this manager's routes, once per key (for the scheduler)."""
        seen: dict[str, Field] = {}
        for route in self.manager.routes.values():
            for field in route.fields:
                if field.interval is not None:
                    seen.setdefault(field.key, field)
        return [(self.runner, field) for field in seen.values()]

    def _on_run(self, field: Field, result: FieldResult) -> None:
        """A run landed a result: void the bodies of the routes that show it, note changes."""
        routes = [r for r in self.manager.routes.values() if any(f.key == field.key for f in r.fields)]
        with self._lock:
            for route in routes:
                self._changes[route.name] = self._changes.get(route.name, 0) + 1
        if field.interval is None and field.stale is None:
            return  # a request is waiting on this run and will observe it
        # Nobody is waiting on a background run: its news reaches hooks and logs here, from
        # what is known now. A field with no result in the store (one run per request) is left
        # out, and then so is the route's own status: the next request will say it.
        for route in routes:
            known: list[tuple[Field, FieldResult]] = []
            complete = True
            for item in route.fields:
                if item.key == field.key:
                    known.append((item, result))
                    continue
                stored = item.constant_result or self.store.get(item.key)
                if stored is None:
                    complete = False
                else:
                    known.append((item, stored))
            draining = route.readiness and self.manager.draining
            status = self._route_status(route, route.fields, [r for _, r in known], draining) if complete else None
            self._observe_items(route, known, status, draining)

    def _route_status(
        self, route: StatusRoute, fields: Sequence[Field], results: Sequence[FieldResult], draining: bool
    ) -> Status:
        """A route's status: its items' aggregate, or ``fail`` for a readiness route draining."""
        return "fail" if draining else aggregate(fields, results)

    def _observe_items(
        self, route: StatusRoute, items: Sequence[tuple[Field, FieldResult]], status: Status | None, draining: bool
    ) -> None:
        # Held across noticing and announcing, so hooks see a check's transitions in order
        # (re-entrant: a hook may evaluate a route itself).
        with self._announcing:
            self._observe_locked(route, items, status, draining)

    def _observe_locked(
        self, route: StatusRoute, items: Sequence[tuple[Field, FieldResult]], status: Status | None, draining: bool
    ) -> None:
        events: list[StatusEvent] = []
        with self._lock:
            for field, result in items:
                if field.func is None:
                    continue
                key = (route.name, field.name)
                # Reports finish out of order (a request holding a result older than what a
                # background run already announced): an older result is old news, not a change.
                if result.observed_at < self._seen.get(key, float("-inf")):
                    status = None
                    continue
                self._seen[key] = result.observed_at
                # What the body says about the item: a non-critical failure is a "fail" there too.
                new = result.status
                old = self._last.get(key)
                if old != new and not (old is None and new == "pass"):
                    events.append(StatusEvent(self.manager.name, route.name, field.name, field.kind, old, new, result))
                self._last[key] = new
            if status is not None:
                key = (route.name, "")
                old = self._last.get(key)
                if draining:
                    # A drain is news once, as a drain: not again while it lasts, and never as
                    # a failure of each check (they are not run, let alone failing).
                    if route.name not in self._drained:
                        self._drained.add(route.name)
                        events.append(
                            StatusEvent(self.manager.name, route.name, None, "route", old, status, None, draining=True)
                        )
                else:
                    self._drained.discard(route.name)
                    if old != status and not (old is None and status == "pass"):
                        events.append(StatusEvent(self.manager.name, route.name, None, "route", old, status, None))
                self._last[key] = status
        for event in events:
            self._announce(event)

    def _announce(self, event: StatusEvent) -> None:
        # A drain is deliberate, not an incident: logged at INFO, like a recovery.
        level = logging.INFO if event.new == "pass" or event.draining else logging.WARNING
        log.log(level, "flask-status: %s", event)
        callbacks = self.manager.change_callbacks
        if not callbacks:
            return
        app = self._app()
        for callback in callbacks:
            try:
                if app is not None:
                    with app.app_context():
                        callback(event)
                else:
                    callback(event)
            except KeyboardInterrupt:
                raise
            except BaseException:  # SystemExit too: a hook must never end a request, a worker or the scheduler
                log.exception("flask-status: on_change callback %r raised", callback)

    # -- serving ------------------------------------------------------------------------------

    def respond(self, route: StatusRoute, fmt: Rendering, details: bool) -> Response:
        """The response for ``route``: the last rendered body while every result is fresh."""
        rendered = self._rendered.get((route.name, fmt, details))
        if (
            rendered is None
            or (route.readiness and self.manager.draining)
            or rendered.version != route.version
            or rendered.changes != self._changes.get(route.name, 0)
            or self.clock() >= rendered.fresh_until
        ):
            rendered = self.render(route, fmt, details)
        return self._response_class(rendered.body, status=rendered.code, mimetype=rendered.mimetype, headers=_NO_STORE)

    def render(self, route: StatusRoute, fmt: Rendering, details: bool) -> _Rendered:
        """Evaluate and render ``route`` now, remembering the body while it stays fresh."""
        version = route.version
        # Read before evaluating: a run landing meanwhile voids this body at the next request.
        # (This evaluation's own runs do too: one more render, from the cache.)
        changes = self._changes.get(route.name, 0)
        draining = route.readiness and self.manager.draining
        # Draining: answer at once from what is known, run nothing.
        report = self.peek(route) if draining else self.evaluate(route)
        code = route.status_codes.get(report.status) or self.settings.http_codes[report.status]
        if fmt == "html":
            from .page import render_page  # the page for people is rarely asked for

            body = render_page(report, now=self.clock())
        else:
            document = report.body(fmt, details=details)
            if draining and details:
                document["draining"] = True
            body = dumps(document)
        # The page shows ages and when it was rendered: it is never kept, only its results are.
        fresh_until = float("-inf") if draining or fmt == "html" else report.fresh_until
        rendered = _Rendered(body, code, _MIMETYPES[fmt], fresh_until, version, changes)
        if fresh_until > self.clock():
            self._rendered[(route.name, fmt, details)] = rendered
        return rendered

    def forget_rendered(self) -> None:
        """Drop every rendered body, so the next request of each route evaluates it again."""
        self._rendered.clear()

    def view(self, route: StatusRoute, endpoint: str) -> Callable[[], Response]:
        """The Flask view of ``route``, wrapped in its authenticator and an error guard."""
        default_format = route.format or self.settings.default_format
        details = route.details

        def status_view() -> Response:
            show = details if isinstance(details, bool) else _decide_details(details, route)
            fmt: Rendering = default_format
            accept = request.headers.get("Accept")
            if accept and "html" in accept and show and _prefers(accept, "text/html"):
                fmt = "html"
            elif default_format != "health+json" and accept and "health+json" in accept:
                fmt = "health+json" if _prefers(accept, "application/health+json") else default_format
            return self.respond(route, fmt, show)

        status_view.__name__ = endpoint
        status_view.__qualname__ = endpoint
        view = status_view
        if route.authenticator is not None:
            view = route.authenticator(status_view)
            if not callable(view):
                raise TypeError(
                    f"authenticator of route {route.name!r} returned {view!r}, not a view function: "
                    "it must be a decorator that takes the view and returns a new one"
                )
        return _guard(view, route, self._response_class)


def _prefers(accept: str, mimetype: str) -> bool:
    """Whether this request's ``Accept`` prefers ``mimetype`` to plain JSON."""
    best = request.accept_mimetypes.best_match(["application/json", mimetype])
    return best == mimetype


def _decide_details(decide: Callable[[], bool], route: StatusRoute) -> bool:
    try:
        return bool(decide())
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit too; fail closed: a broken decision never shows details
        log.exception("flask-status: the details callable of route %r raised; hiding details", route.name)
        return False


# Read when they are used, not at init_app: changing them later is honoured.
_READ_WHEN_USED = frozenset({"STATUS_DRAIN_DELAY", "STATUS_TOKENS", "STATUS_BASIC_AUTH"})


def _config_read_at_init(app: Flask, manager: StatusManager) -> dict[str, Any]:
    """The ``STATUS_*`` values ``init_app`` resolved from ``app.config`` (a copy, to compare later).

    Keys a constructor argument overrides are left out: the config never applied to them.
    """
    overridden = {key for key, value in manager._overrides.items() if value is not None}
    if manager.store is not None:  # a store object: the URL and prefix in the config are not used
        overridden |= {"STATUS_STORE_URL", "STATUS_STORE_PREFIX"}
    read: dict[str, Any] = {}
    for key in DEFAULTS:
        if key in _READ_WHEN_USED or key in overridden:
            continue
        value = app.config.get(key)
        try:
            read[key] = copy.deepcopy(value)  # a dict changed in place is a change too
        except Exception:  # an object that cannot be copied: compared as it is
            read[key] = value
    return read


def _differs(now: object, then: object) -> bool:
    try:
        return bool(now != then)
    except Exception:  # an object whose comparison breaks: compare identities
        return now is not then


def _guard(view: Callable[..., Any], route: StatusRoute, response_class: type[Response]) -> Callable[..., Any]:
    """Answer JSON, never a traceback, when the authenticator or anything below it breaks."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except HTTPException:
            raise  # abort(401) and friends: the app's own error handling applies
        except Exception:
            log.exception("flask-status: route %r failed to answer", route.name)
            body = dumps({"status": "FAIL", "error": "internal error while answering the status route"})
            return response_class(body, status=500, mimetype="application/json", headers=_NO_STORE)

    update_wrapper(guarded, view)
    return guarded


def _caller(app: Flask) -> Callable[[Field], Any]:
    """How the runner calls a field for ``app``: async callables through ``app.ensure_sync``."""

    def call(field: Field) -> Any:
        func = field.func
        assert func is not None
        if field.is_async:
            return app.ensure_sync(func)()
        return func()

    return call
