"""Status transitions: noticing each change of a check's or a route's status once, and telling
the logs and the ``on_change`` hooks about it.

Every evaluation (a request's, the CLI's, a background run's) reports what it saw; only a
change from the last status seen is news. A first ``pass`` is not announced; a result older
than one already announced is old news; a drain is announced once, as a drain.

Hooks never run on a request's thread, nor under a lock a request needs: events go through a
bounded queue to one delivery thread per process (:data:`delivery`), in the order they were
noticed. A hook that takes 3 s delays the hooks after it, never a probe. When the queue is
full the oldest event is dropped and counted (:attr:`Delivery.dropped`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any, Protocol

from .._fork import after_fork
from ..definitions import Field, StatusRoute
from ..engine import affinity
from ..results import FieldResult, Status

__all__ = ["FLEET_MEMORY", "PROCESS", "Delivery", "FleetHooks", "StatusEvent", "Swapper", "Transitions", "delivery"]

log = logging.getLogger("flask_status")


class _Process:
    """This process's name in events, renewed in a child after ``fork()`` (a new pid)."""

    def __init__(self) -> None:
        self.renew()
        after_fork(self, _Process.renew)

    def renew(self) -> None:
        self.name = f"{socket.gethostname()} pid {os.getpid()}"


PROCESS = _Process()


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A status change of a check (or field) of a route, or of the route itself.

    ``check`` is ``None`` and ``kind`` is ``"route"`` for the route's own status; ``old`` is
    ``None`` the first time a status is seen (a first ``pass`` is not announced).
    ``result`` is the check's result, ``None`` for a route. ``new`` is what the body says of
    the item (a failing ``critical=False`` check is ``fail``; its route is ``warn``).
    ``draining`` is true for the one event a drain sends (the readiness route turning ``fail``
    because the process is shutting down, not because a check failed): a pager should skip it
    (``if event.new == "fail" and not event.draining``). ``process`` says which process saw it
    (``"host pid 1234"``); ``fleet`` is true for an event delivered to a fleet-wide hook once
    for the whole fleet (``on_change(..., fleet=True)``).

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
    process: str = dataclass_field(default_factory=lambda: PROCESS.name)
    fleet: bool = False

    def __str__(self) -> str:
        what = f"{self.kind} {self.check!r} of route {self.route!r}" if self.check else f"route {self.route!r}"
        text = "draining" if self.draining else self.result and (self.result.error or self.result.message)
        reason = f": {text}" if text else ""
        return f"{what} is {self.new} (was {self.old or 'unknown'}){reason}"


Hook = Callable[[StatusEvent], Any]


class Swapper(Protocol):
    """What fleet-wide hooks need of a shared store: an atomic election of the newest sighting."""

    def elect(self, key: str, status: str, stamp: float, ttl: float) -> tuple[bool, str | None, bool]:
        """Record ``status`` seen at ``stamp`` unless a later sighting is there: ``(reached,
        old status, recorded)``."""


#: How long the fleet remembers the status it last announced of an item.
FLEET_MEMORY = 7 * 86400.0


class FleetHooks:
    """The fleet-wide hooks of one manager: called once per transition across every process
    sharing ``store``, on the delivery thread (a hook of the delivery queue).

    A process that notices a change swaps the item's new status into the store; only the one
    that gets a different status back (the first to notice) calls the hooks. A shared check's
    result is the same for every process, so each of its transitions is announced once; a
    route's, or an unshared check's, once per change of the status the fleet last announced.
    A first ``pass`` is not news, nor a process's first view of a route (a pod starting); a
    sighting older than the one recorded never turns the fleet's status back (a process whose
    news arrives late). While the store cannot be reached, the hooks are called by
    every process that notices (``event.fleet`` false): a duplicate is better than silence.
    Drain events (one pod shutting down) are never fleet news.

    Thread-safety: called only from the delivery thread; holds nothing mutable.
    """

    def __init__(self, manager: str, store: Swapper | None, callbacks: Callable[[], Sequence[Hook]]) -> None:
        self.manager = manager
        self.store = store
        self.callbacks = callbacks

    def __call__(self, event: StatusEvent) -> None:
        if event.draining:
            return
        if event.kind == "route" and event.old is None:
            return  # a process's first view of a route (it just started) is not the fleet's news
        hooks = self.callbacks()
        if not hooks:
            return
        elected = False
        if self.store is not None:
            key = f"{self.manager}:{event.route}:{event.check or ''}"
            stamp = event.result.time if event.result is not None and event.result.time else time.time()
            reached, old, recorded = self.store.elect(key, event.new, stamp, FLEET_MEMORY)
            if reached:
                if not recorded or old == event.new or (old is None and event.new == "pass"):
                    return  # older news, another process announced it, or a first pass
                elected = True
            else:
                log.warning("flask-status: shared store unreachable: fleet hooks called by this process for %s", event)
        delivered = replace(event, fleet=elected)
        for hook in hooks:
            _call(hook, delivered, nullcontext)


class Delivery:
    """Calls ``on_change`` hooks on a thread of its own, through a bounded queue.

    ``put`` never blocks and never runs a hook: it appends to the queue (dropping the oldest
    event when ``maxsize`` are waiting, and counting it in :attr:`dropped`) and wakes the
    delivery thread, started on first use (and again in a forked child). Events are delivered
    one at a time, in the order they were put, so a check's transitions reach its hooks in order.

    Thread-safety: ``_queue``, ``_busy``, ``_thread`` and ``dropped`` are guarded by ``_cond``,
    which is never held while a hook runs. Renewed in a child after ``fork()``.

    >>> seen = []
    >>> queue = Delivery(maxsize=10)
    >>> queue.put(StatusEvent("status", "ready", None, "route", None, "fail", None), [seen.append])
    >>> queue.flush(5)
    True
    >>> str(seen[0])
    "route 'ready' is fail (was unknown)"
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._renew()
        after_fork(self, Delivery._renew)

    def _renew(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[tuple[StatusEvent, Sequence[Hook], Callable[[], AbstractContextManager[Any]]]] = deque()
        self._busy = False
        self._thread: threading.Thread | None = None
        #: Events dropped because ``maxsize`` were already waiting (hooks slower than the news).
        self.dropped = 0

    def put(
        self,
        event: StatusEvent,
        hooks: Sequence[Hook],
        context: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        """Queue ``event`` for ``hooks``, to be called inside ``context()``; never blocks."""
        with self._cond:
            if len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning(
                        "flask-status: on_change hooks are too slow: %d status events dropped so far", self.dropped
                    )
            self._queue.append((event, tuple(hooks), context))
            if self._thread is None or not self._thread.is_alive():
                self._thread = affinity.thread(self._deliver, name="flask-status-events")
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait (real time, at most ``timeout`` s) until every event put so far was delivered."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def _deliver(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                event, hooks, context = self._queue.popleft()
                self._busy = True
            try:
                _call_all(hooks, event, context)
            finally:
                # Not kept in this frame while it waits for the next event: the hooks and the
                # context hold their app's state, which must be free to go with a discarded app.
                del event, hooks, context
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _call_all(hooks: Sequence[Hook], event: StatusEvent, context: Callable[[], AbstractContextManager[Any]]) -> None:
    for hook in hooks:
        _call(hook, event, context)


def _call(hook: Hook, event: StatusEvent, context: Callable[[], AbstractContextManager[Any]]) -> None:
    try:
        with context():
            hook(event)
    except BaseException:  # SystemExit and KeyboardInterrupt too: Ctrl-C reaches the main thread, not this one
        log.exception("flask-status: on_change callback %r raised", hook)


delivery = Delivery()
"""The process's delivery thread and queue, shared by every manager and app."""


def _news(old: Status | None, new: Status) -> bool:
    return old != new and not (old is None and new == "pass")


class Transitions:
    """The last status seen of each route and item of one manager on one app, and its hooks.

    ``callbacks()`` gives the hooks to call with each event, ``context()`` the context they
    run in (the app context).

    Thread-safety: ``_last`` (the last status of each route and item), ``_seen`` (when each
    item's last announced result was observed) and ``_drained`` (the readiness routes whose
    drain was announced) are guarded by ``_lock``, which also spans logging and queueing an
    event (both quick; hooks run later on the delivery thread), so events are queued in the
    order they were noticed. Renewed in a child after ``fork()``.

    >>> seen = []
    >>> transitions = Transitions("status", lambda: [seen.append])
    >>> route = StatusRoute("ready", "/ready")
    >>> transitions.observe(route, (), "fail", draining=False)
    >>> delivery.flush(5)
    True
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
        #: The manager's fleet-wide hooks, called through the shared store (or None).
        self.fleet: FleetHooks | None = None
        #: Called with every event on the delivery thread, before the hooks (the history).
        self.recorders: list[Hook] = []
        self._renew()
        after_fork(self, Transitions._renew)

    def _renew(self) -> None:
        self._lock = threading.Lock()

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
        with self._lock:
            for event in self._changes(route, items, status, draining):
                self._announce(event)

    def _changes(
        self, route: StatusRoute, items: Sequence[tuple[Field, FieldResult]], status: Status | None, draining: bool
    ) -> list[StatusEvent]:
        """The news in what an evaluation saw, noted as seen. The caller holds ``_lock``."""
        events: list[StatusEvent] = []
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
                events.append(StatusEvent(self.manager, route.name, None, "route", old, status, None, draining=True))
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
        hooks = [*self.recorders, *self._callbacks()]
        if self.fleet is not None and self.fleet.callbacks():
            hooks.append(self.fleet)
        if hooks:
            delivery.put(event, hooks, self._context)
