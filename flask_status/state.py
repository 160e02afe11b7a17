"""What one manager keeps for one app: its runner, its rendered bodies, its views.

Data flows one way: request -> view -> :meth:`StatusState.respond` -> runner -> (store |
callable) -> results -> report -> response. A request whose results are all fresh skips
everything after the view: it compares a deadline and returns the body rendered last time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import update_wrapper
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .cache import MemoryStore, ResultStore
from .config import Settings
from .field import Field, FieldResult, Status
from .report import MIMETYPES, Format, aggregate, item_status, render
from .route import StatusRoute
from .runner import Runner
from .serialize import dumps

if TYPE_CHECKING:
    from .manager import StatusManager

__all__ = ["RouteReport", "StatusState"]

log = logging.getLogger("flask_status")

_NO_STORE = (("Cache-Control", "no-store"),)


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

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields the results belong to, in the same order."""
        return self.route.fields[: len(self.results)]

    def body(self, fmt: Format, *, details: bool) -> dict[str, Any]:
        """The JSON body of this report in ``fmt``."""
        return render(fmt, self.route.message, self.fields, self.results, self.status, details=details)


@dataclass(frozen=True, slots=True)
class _Rendered:
    body: bytes
    code: int
    mimetype: str
    fresh_until: float
    version: int
    generation: int


class StatusState:
    """Everything one :class:`StatusManager` keeps for one Flask app.

    Found in ``app.extensions["flask-status"][manager.name]``. Holds the app's
    :class:`~flask_status.runner.Runner` (and through it the results store and thread pool),
    the bodies rendered last for each route, and the last status seen of each route and item.

    Thread-safety: shared by every request thread of the app. ``_rendered`` maps a route,
    format and detail level to an immutable rendered body; entries are replaced whole, and a
    reader that races a writer sees the old body or the new one, both correct, so it needs no
    lock. ``_last`` (status transitions, for logging) is guarded by ``_lock``.
    """

    def __init__(self, manager: StatusManager, app: Flask, settings: Settings, clock: Callable[[], float]) -> None:
        self.manager = manager
        self.settings = settings
        self.clock = clock
        self.store: ResultStore = MemoryStore(settings.cache_size, timer=clock)
        self.runner = Runner(
            self.store,
            settings=settings.runner,
            clock=clock,
            context=app.app_context,
            call=_caller(app),
            name=f"flask-status-{manager.name}",
        )
        self._app_name = app.name
        self._response_class: type[Response] = app.response_class
        self._rendered: dict[tuple[str, str, bool], _Rendered] = {}
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], Status] = {}
        #: The URL rule each route is mounted at on this app (prefixes included).
        self.urls: dict[str, str] = {}

    # -- evaluation, with or without a request ------------------------------------------------

    def evaluate(self, route: StatusRoute) -> RouteReport:
        """Evaluate every field and check of ``route`` now (cached results when fresh).

        Needs no request and no app context: the CLI and schedulers call it directly.
        """
        fields = route.fields
        results = tuple(self.runner.evaluate(fields))
        status = aggregate(fields, results)
        pairs = zip(fields, results, strict=True)
        fresh_until = min((self.runner.fresh_until(f, r) for f, r in pairs), default=float("inf"))
        self._observe(route, fields, results, status)
        return RouteReport(route, results, status, fresh_until)

    def _observe(
        self, route: StatusRoute, fields: Sequence[Field], results: Sequence[FieldResult], status: Status
    ) -> None:
        """Log each status change once, not once per request."""
        changes: list[tuple[str, str, Status | None, Status, FieldResult | None]] = []
        with self._lock:
            for field, result in zip(fields, results, strict=True):
                if field.func is None:
                    continue
                new = item_status(field, result)
                key = (route.name, field.name)
                old = self._last.get(key)
                if old != new and not (old is None and new == "pass"):
                    changes.append((field.kind, field.name, old, new, result))
                self._last[key] = new
            key = (route.name, "")
            old = self._last.get(key)
            if old != status and not (old is None and status == "pass"):
                changes.append(("route", "", old, status, None))
            self._last[key] = status
        for kind, name, old, new, changed in changes:
            what = f"{kind} {name!r} of route {route.name!r}" if name else f"route {route.name!r}"
            text = changed and (changed.error or changed.message)
            reason = f": {text}" if text else ""
            level = logging.INFO if new == "pass" else logging.WARNING
            log.log(level, "flask-status: %s is %s (was %s)%s", what, new, old or "unknown", reason)

    # -- serving ------------------------------------------------------------------------------

    def respond(self, route: StatusRoute, fmt: Format, details: bool) -> Response:
        """The response for ``route``: the last rendered body while every result is fresh."""
        key = (route.name, fmt, details)
        rendered = self._rendered.get(key)
        if (
            rendered is None
            or rendered.version != route.version
            or rendered.generation != self.store.generation
            or self.clock() >= rendered.fresh_until
        ):
            rendered = self.render(route, fmt, details)
        return self._response_class(rendered.body, status=rendered.code, mimetype=rendered.mimetype, headers=_NO_STORE)

    def render(self, route: StatusRoute, fmt: Format, details: bool) -> _Rendered:
        """Evaluate and render ``route`` now, remembering the body while it stays fresh."""
        version = route.version
        report = self.evaluate(route)
        # Read after evaluating, so this evaluation's own writes do not void its body at once;
        # a concurrent write it missed can only replace a result that is still fresh.
        generation = self.store.generation
        codes = route.status_codes
        code = codes.get(report.status) or self.settings.http_codes[report.status]
        rendered = _Rendered(
            dumps(report.body(fmt, details=details)),
            code,
            MIMETYPES[fmt],
            report.fresh_until,
            version,
            generation,
        )
        if report.fresh_until > self.clock():
            self._rendered[(route.name, fmt, details)] = rendered
        return rendered

    def view(self, route: StatusRoute, endpoint: str) -> Callable[[], Response]:
        """The Flask view of ``route``, wrapped in its authenticator and an error guard."""
        default_format = route.format or self.settings.default_format
        details = route.details

        def status_view() -> Response:
            fmt: Format = "health+json" if _wants_health(default_format) else default_format
            show = details if isinstance(details, bool) else _decide_details(details, route)
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


def _wants_health(default_format: Format) -> bool:
    """Whether this request's ``Accept`` asks for health+json (cheap when it does not)."""
    if default_format == "health+json":
        return True
    accept = request.headers.get("Accept")
    if not accept or "health+json" not in accept:
        return False
    best = request.accept_mimetypes.best_match(["application/json", "application/health+json"])
    return best == "application/health+json"


def _decide_details(decide: Callable[[], bool], route: StatusRoute) -> bool:
    try:
        return bool(decide())
    except Exception:  # fail closed: a broken decision never shows details
        log.exception("flask-status: the details callable of route %r raised; hiding details", route.name)
        return False


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
