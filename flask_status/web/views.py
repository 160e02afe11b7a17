"""Answering a request: choosing the format, serving the body rendered last while it is fresh,
rendering a new one otherwise, and never a traceback to the client.

The hot path is here: a request whose results are all fresh costs a dictionary lookup and a
deadline comparison, and gets the bytes rendered for an earlier request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any, Literal, Protocol

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..clock import Clock
from ..definitions import Format, StatusRoute
from ..history import Timeline
from ..render.json import MIMETYPES, RouteReport, history_document
from ..serialize import dumps

__all__ = ["NO_STORE", "Rendering", "ReportSource", "RouteViews", "method_not_allowed"]

log = logging.getLogger("flask_status")

NO_STORE = (("Cache-Control", "no-store"),)
"""Every status answer is live: no cache between the probe and the app may keep it."""

Rendering = Literal["json", "health+json", "html"]
"""What a view can answer: the two JSON formats, or the page for people on details routes."""

_MIMETYPES: dict[str, str] = {"json": MIMETYPES["json"], "health+json": MIMETYPES["health+json"], "html": "text/html"}


class ReportSource(Protocol):
    """What the views need from the per-app state: reports, and whether a body is current."""

    def evaluate(self, route: StatusRoute) -> RouteReport:
        """Evaluate ``route`` now (fresh results from the cache)."""

    def peek(self, route: StatusRoute) -> RouteReport:
        """``route``'s report from what is known now, running nothing."""

    def changes(self, route: StatusRoute) -> int:
        """A counter bumped whenever a run lands a result ``route`` shows."""

    def draining(self, route: StatusRoute) -> bool:
        """True for a readiness route while its manager drains."""

    def timelines(self, route: StatusRoute) -> dict[str, Timeline]:
        """The history of each check of ``route``, by name."""


@dataclass(frozen=True, slots=True)
class _Rendered:
    body: bytes
    code: int
    mimetype: str
    fresh_until: float
    version: int
    changes: int


class RouteViews:
    """The views of one manager's routes on one app, and the bodies they rendered last.

    Thread-safety: ``_rendered`` maps a route, format and detail level to an immutable
    rendered body. Entries are replaced whole and read without a lock: a body is served only
    while the route's version, change counter and drain state say it is current.
    """

    def __init__(
        self,
        source: ReportSource,
        *,
        clock: Clock,
        default_format: Format,
        http_codes: Mapping[str, int],
        response_class: type[Response] = Response,
    ) -> None:
        self.source = source
        self.clock = clock
        self.default_format = default_format
        self.http_codes = http_codes
        self.response_class = response_class
        self._rendered: dict[tuple[str, str, bool], _Rendered] = {}

    def respond(self, route: StatusRoute, fmt: Rendering, details: bool) -> Response:
        """The response for ``route``: the last rendered body while every result is fresh."""
        rendered = self._rendered.get((route.name, fmt, details))
        if (
            rendered is None
            or rendered.version != route.version
            or (route.readiness and self.source.draining(route))
            or rendered.changes != self.source.changes(route)
            or self.clock.now() >= rendered.fresh_until
        ):
            rendered = self.render(route, fmt, details)
        return self.response_class(rendered.body, status=rendered.code, mimetype=rendered.mimetype, headers=NO_STORE)

    def render(self, route: StatusRoute, fmt: Rendering, details: bool) -> _Rendered:
        """Evaluate and render ``route`` now, remembering the body while it stays fresh."""
        version = route.version
        # Read before evaluating: a run landing meanwhile voids this body at the next request.
        # (This evaluation's own runs do too: one more render, from the cache.)
        changes = self.source.changes(route)
        draining = self.source.draining(route)
        # Draining: answer at once from what is known, run nothing.
        report = self.source.peek(route) if draining else self.source.evaluate(route)
        code = route.status_codes.get(report.status) or self.http_codes[report.status]
        timelines = self.source.timelines(route) if route.history and details else None
        if fmt == "html":
            from ..render.page import render_page  # the page for people is rarely asked for

            body = render_page(report, now=self.clock.now(), timelines=timelines)
        else:
            document = report.body(fmt, details=details)
            if draining and details:
                document["draining"] = True
            if timelines is not None:
                document["history"] = history_document(timelines)
            body = dumps(document)
        # The page shows ages and when it was rendered: it is never kept, only its results are.
        # A draining route is never kept either: resume() must be seen at the next request.
        fresh_until = float("-inf") if draining or fmt == "html" else report.fresh_until
        rendered = _Rendered(body, code, _MIMETYPES[fmt], fresh_until, version, changes)
        if fresh_until > self.clock.now():
            self._rendered[(route.name, fmt, details)] = rendered
        return rendered

    def forget_rendered(self) -> None:
        """Drop every rendered body, so the next request of each route evaluates it again."""
        self._rendered.clear()

    def view(self, route: StatusRoute, endpoint: str) -> Callable[[], Response]:
        """The Flask view of ``route``, wrapped in its authenticator and an error guard."""
        default_format = route.format or self.default_format
        details = route.details

        def status_view() -> Response:
            request.environ["flask_status.probe"] = (
                not route.authenticator and current_app.config["STATUS_QUIET_PROBES"]
            )
            show = details if isinstance(details, bool) else _decide_details(details, route)
            fmt: Rendering = default_format
            accept = request.headers.get("Accept")
            if accept and "html" in accept and show and _prefers("text/html"):
                fmt = "html"
            elif default_format != "health+json" and accept and "health+json" in accept:
                fmt = "health+json" if _prefers("application/health+json") else default_format
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
        return guard(view, route.name, self.response_class)


def _prefers(mimetype: str) -> bool:
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


def guard(view: Callable[..., Any], name: str, response_class: type[Response]) -> Callable[..., Any]:
    """Answer JSON, never a traceback, when the authenticator or anything below it breaks."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except HTTPException:
            raise  # abort(401) and friends: the app's own error handling applies
        except Exception:
            log.exception("flask-status: route %r failed to answer", name)
            body = dumps({"status": "FAIL", "error": "internal error while answering the status route"})
            return response_class(body, status=500, mimetype="application/json", headers=NO_STORE)

    update_wrapper(guarded, view)
    return guarded


# A status route answers GET (and HEAD, which Flask adds). Every other method gets 405 from a
# rule of its own on the same URL, in compact JSON and never cached like the route's other
# answers, rather than Flask's HTML page; before any authenticator, as Flask's 405 would be.
# A rule of its own, not a test in the view: a GET matches the first rule and pays nothing.
OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
_NOT_ALLOWED = b'{"status":"method_not_allowed"}\n'
_NOT_ALLOWED_HEADERS = (("Allow", "GET, HEAD"), *NO_STORE)


def method_not_allowed(**kwargs: Any) -> Response:
    """The 405 answer of a status route to any method but GET and HEAD."""
    response: Response = current_app.response_class(
        _NOT_ALLOWED, status=405, mimetype="application/json", headers=_NOT_ALLOWED_HEADERS
    )
    return response
