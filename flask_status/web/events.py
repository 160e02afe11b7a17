"""Status transitions: noticing each change of a check's or a route's status once, and telling
the logs and the ``on_change`` hooks about it.

Every evaluation (a request's, the CLI's, a background run's) reports what it saw; only a
change from the last status seen is news. A first ``pass`` is not announced; a result older
than one already announced is old news; a drain is announced once, as a drain.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from .._fork import after_fork
from ..definitions import Field, StatusRoute
from ..results import FieldResult, Status

__all__ = ["StatusEvent", "Transitions"]

log = logging.getLogger("flask_status")


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A status change of a check (or field) of a route, or of the route itself.

    ``check`` is ``None`` and ``kind`` is ``"route"`` for the route's own status; ``old`` is
    ``None`` the first time a status is seen (a first ``pass`` is not announced).
    ``result`` is the check's result, ``None`` for a route. ``new`` is what the body says of
    the item (a failing ``critical=False`` check is ``fail``; its route is ``warn``).
    ``draining`` is true for the one event a drain sends (the readiness route turning ``fail``
    because the process is shutting down, not because a check failed): a pager should skip it
    (``if event.new == "fail" and not event.draining``).

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


def _news(old: Status | None, new: Status) -> bool:
    return old != new and not (old is None and new == "pass")


class Transitions:
    """The last status seen of each route and item of one manager on one app, and its hooks.

    ``callbacks()`` gives the hooks to call with each event, ``context()`` the context they
    run in (the app context).

    Thread-safety: ``_last`` (the last status of each route and item), ``_seen`` (when each
    item's last announced result was observed) and ``_drained`` (the readiness routes whose
    drain was announced) are guarded by ``_lock``. ``_announcing`` (re-entrant: a hook may
    evaluate a route itself) spans noticing and announcing, so hooks see a check's transitions
    in order. Both locks are renewed in a child after ``fork()``.

    >>> seen = []
    >>> transitions = Transitions("status", lambda: [seen.append])
    >>> route = StatusRoute("ready", "/ready")
    >>> transitions.observe(route, (), "fail", draining=False)
    >>> [str(event) for event in seen]
    ["route 'ready' is fail (was unknown)"]
    """

    def __init__(
        self,
        manager: str,
        callbacks: Callable[[], Sequence[Callable[[StatusEvent], Any]]],
        context: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self.manager = manager
        self._callbacks = callbacks
        self._context = context
        self._last: dict[tuple[str, str], Status] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._drained: set[str] = set()
        self._renew()
        after_fork(self, Transitions._renew)

    def _renew(self) -> None:
        self._lock = threading.Lock()
        self._announcing = threading.RLock()

    def observe(
        self,
        route: StatusRoute,
        items: Sequence[tuple[Field, FieldResult]],
        status: Status | None,
        *,
        draining: bool,
    ) -> None:
        """Note what an evaluation of ``route`` saw; announce each change once.

        ``status`` is the route's own status, or ``None`` when the evaluation did not see
        every item (a background run): then only the items are noted.
        """
        with self._announcing:
            for event in self._changes(route, items, status, draining):
                self._announce(event)

    def _changes(
        self, route: StatusRoute, items: Sequence[tuple[Field, FieldResult]], status: Status | None, draining: bool
    ) -> list[StatusEvent]:
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
                new, old = result.status, self._last.get(key)
                if _news(old, new):
                    events.append(StatusEvent(self.manager, route.name, field.name, field.kind, old, new, result))
                self._last[key] = new
            if status is None:
                return events
            key = (route.name, "")
            old = self._last.get(key)
            if draining:
                # A drain is news once, as a drain: not again while it lasts, and never as a
                # failure of each check (they are not run, let alone failing).
                if route.name not in self._drained:
                    self._drained.add(route.name)
                    events.append(
                        StatusEvent(self.manager, route.name, None, "route", old, status, None, draining=True)
                    )
            else:
                self._drained.discard(route.name)
                if _news(old, status):
                    events.append(StatusEvent(self.manager, route.name, None, "route", old, status, None))
            self._last[key] = status
        return events

    def _announce(self, event: StatusEvent) -> None:
        # A drain is deliberate, not an incident: logged at INFO, like a recovery.
        level = logging.INFO if event.new == "pass" or event.draining else logging.WARNING
        log.log(level, "flask-status: %s", event)
        callbacks = self._callbacks()
        if not callbacks:
            return
        for callback in callbacks:
            try:
                with self._context():
                    callback(event)
            except KeyboardInterrupt:
                raise
            except BaseException:  # SystemExit too: a hook must never end a request, a worker or the scheduler
                log.exception("flask-status: on_change callback %r raised", callback)
