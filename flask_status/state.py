"""What one manager keeps for one app: its runner, its views and its transitions, tied together.

Data flows one way: request -> view (:mod:`.web.views`) -> :meth:`StatusState.evaluate` ->
runner (:mod:`.engine`) -> (store | callable) -> results -> report (:mod:`.render`) ->
response. Transitions seen on the way go to :mod:`.web.events`.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any, Protocol, cast

from flask import Flask, current_app, has_app_context

from .clock import Clock
from .config import DEFAULTS, Settings
from .definitions import Field, StatusRoute
from .engine.runner import Runner
from .engine.scheduler import scheduler
from .heartbeat import Heartbeat, check_payload
from .history import History, Timeline
from .render.json import RouteReport
from .results import FieldResult, Status, aggregate
from .startup import STARTUP, Startup
from .stores.base import ResultStore, SharedStore
from .stores.beats import Beats
from .stores.memory import MemoryStore
from .web.events import PROCESS, FleetHooks, StatusEvent, Swapper, Transitions
from .web.views import RouteViews

__all__ = ["EXTENSION_KEY", "ManagerLike", "StatusState", "heartbeats_of"]

log = logging.getLogger("flask_status")

EXTENSION_KEY = "flask-status"
"""``app.extensions[EXTENSION_KEY]`` maps each manager's name to its :class:`StatusState`."""


class ManagerLike(Protocol):
    """What the per-app state reads of its manager (the extension object, a layer above)."""

    name: str
    store: SharedStore | None
    change_callbacks: list[Callable[[StatusEvent], None]]
    fleet_callbacks: list[Callable[[StatusEvent], None]]

    @property
    def routes(self) -> Mapping[str, StatusRoute]: ...

    @property
    def draining(self) -> bool: ...

    @property
    def startup(self) -> Startup: ...


class StatusState:
    """Everything one :class:`~flask_status.StatusManager` keeps for one Flask app.

    Found in ``app.extensions["flask-status"][manager.name]``. Holds the app's
    :class:`~flask_status.engine.runner.Runner` (and through it the results store and thread
    pool), its :class:`~flask_status.web.views.RouteViews` (the bodies rendered last) and its
    :class:`~flask_status.web.events.Transitions` (the last status seen of each item).

    Thread-safety: shared by every request thread of the app, its worker threads and the
    scheduler. ``_changes`` (a counter per route, bumped when a run lands a result for one of
    its fields, voiding its bodies) and ``_config_at_init`` (the ``STATUS_*`` config read at
    ``init_app``, compared once with the app's config at the first evaluation, then dropped)
    are guarded by ``_lock``; the pieces it holds guard their own state.
    """

    def __init__(self, manager: ManagerLike, app: Flask, settings: Settings, clock: Clock) -> None:
        self.manager = manager
        self.settings = settings
        self.clock = clock
        self.store: ResultStore = MemoryStore(settings.cache_size, timer=clock.now)
        #: The store shared between processes, or None: checks with shared=True run per process.
        self.shared: SharedStore | None = manager.store
        if self.shared is None and settings.store_url is not None:
            from .stores.redis import RedisStore  # the redis extra is needed only when configured

            self.shared = RedisStore(settings.store_url, prefix=settings.store_prefix)
        #: The last beat of each heartbeat of this manager's routes (shared store too, if any).
        self.beats = Beats(self.shared, clock)
        self.runner = Runner(
            self.store,
            shared=self.shared,
            settings=settings.runner,
            clock=clock,
            context=_context(app),
            call=_caller(app, self.beats),
            name=f"flask-status-{manager.name}",
        )
        self._app = weakref.ref(app)
        self.views = RouteViews(
            self,
            clock=clock,
            default_format=settings.default_format,
            http_codes=settings.http_codes,
            response_class=app.response_class,
        )
        #: Each check's recent transitions and sampled results (fleet-wide with a shared store).
        self.history = History(self.shared, clock, scope=manager.name, defer=self._off_request)
        self.transitions = Transitions(manager.name, lambda: manager.change_callbacks, self._app_context)
        self.transitions.recorders.append(self._record_transition)
        swapper = self.shared if callable(getattr(self.shared, "elect", None)) else None
        self.transitions.fleet = FleetHooks(
            manager.name, cast(Swapper | None, swapper), lambda: manager.fleet_callbacks
        )
        self._lock = threading.Lock()
        self._changes: dict[str, int] = {}
        self._config_at_init: dict[str, Any] | None = _config_read_at_init(app, manager)
        self._scheduled = False
        #: The fields tuple of each route last looked at for periodic fields (by identity).
        self._looked: dict[str, tuple[Field, ...]] = {}
        #: The URL rule each route is mounted at on this app (prefixes included).
        self.urls: dict[str, str] = {}
        self.runner.on_run.append(self._on_run)
        self.runner.on_run.append(self._publish_verdict)
        #: The fleet's verdicts of each fleet_tolerant check, as last read (when, and what;
        #: None: the store could not be read). Replaced whole by the pool's threads.
        self._fleet_seen: dict[str, tuple[float, dict[str, tuple[str, float]] | None]] = {}
        self.runner.on_run.append(self._record_run)

    def _app_context(self) -> AbstractContextManager[Any]:
        app = self._app()
        return app.app_context() if app is not None else nullcontext()

    # -- evaluation, with or without a request ------------------------------------------------

    def evaluate(self, route: StatusRoute, *, run_periodic: bool = False) -> RouteReport:
        """Evaluate every field and check of ``route`` now (cached results when fresh).

        Needs no request and no app context: the CLI calls it with ``run_periodic=True`` so
        that periodic checks without a result yet run once instead of reading as pending.
        """
        fields = route.fields
        if self._scheduled:
            if not scheduler.running:
                scheduler.ensure_running()  # a forked child: start this process's own thread
        elif self._looked.get(route.name) is not fields:  # once per set of fields, not per request
            if any(f.interval is not None for f in fields):
                self._scheduled = True
                scheduler.add(self)
            self._looked[route.name] = fields
        results = tuple(self.runner.evaluate(fields, run_periodic=run_periodic))
        return self._report(route, fields, results)

    def peek(self, route: StatusRoute) -> RouteReport:
        """The route's report from the results it has now, running nothing.

        Nothing ran, so it is no news about the route's items: only the route's own status
        is announced (a drain: what a draining readiness route answers with).
        """
        fields = route.fields
        return self._report(route, fields, tuple(self.runner.peek(fields)), items=False)

    def changes(self, route: StatusRoute) -> int:
        """How many runs have landed a result ``route`` shows (bodies rendered before are void)."""
        return self._changes.get(route.name, 0)

    def draining(self, route: StatusRoute) -> bool:
        """True for a readiness route while the manager drains."""
        return route.readiness and self.manager.draining

    def _record_run(self, field: Field, result: FieldResult) -> None:
        if field.kind == "check":
            self.history.record_run(field.name, result)

    def _off_request(self, work: Callable[..., object], *args: Any) -> None:
        """Run ``work`` (a write to the shared store) on the pool, never in the thread that
        landed the result: an ``inline`` check, or a request's timeout, lands it in a request."""
        if self.shared is None:
            work(*args)
            return
        try:
            self.runner.pool.submit(work, *args, timeout=self.settings.runner.default_timeout)
        except Exception:  # the pool exhausted or gone: the history and verdicts can wait
            log.debug("flask-status: a shared-store write was skipped", exc_info=True)

    def _record_transition(self, event: StatusEvent) -> None:
        # On the delivery thread: the history's Redis writes never delay a request.
        if event.check is not None and event.kind == "check" and not event.draining:
            result = event.result
            message = (result.error or result.message) if result is not None else None
            self.history.record_transition(event.check, event.old, event.new, message)

    def _publish_verdict(self, field: Field, result: FieldResult) -> None:
        """After a run of a ``fleet_tolerant`` check: tell the fleet what this process saw."""
        if field.fleet_tolerant and not result.pending and getattr(self.shared, "publish_verdict", None):
            self._off_request(self._exchange_verdicts, field, result)

    def _exchange_verdicts(self, field: Field, result: FieldResult) -> None:
        publish = getattr(self.shared, "publish_verdict", None)
        if publish is None:
            return
        timing = self.runner.timing(field)
        window = self._verdict_window(timing.ttl, timing.timeout)
        publish(field.stable_key, PROCESS.name, result.status, window)
        # Read back here, on the pool's thread, so that answering (a request, the probe
        # listener) never waits on Redis: fleet_view reads what this kept.
        seen = self.shared.verdicts(field.stable_key, older_than=self.clock.wall() - window)  # type: ignore[union-attr]
        self._fleet_seen[field.stable_key] = (self.clock.wall(), seen)

    @staticmethod
    def _verdict_window(ttl: float, timeout: float) -> float:
        """How long a process's verdict counts: a few of its runs (a process gone stops counting)."""
        every = ttl if 0 < ttl < float("inf") else 5.0
        return 3 * every + timeout

    def fleet_view(self, fields: Sequence[Field], results: tuple[FieldResult, ...]) -> tuple[FieldResult, ...]:
        """``results`` as a readiness route reports them: a ``fleet_tolerant`` check failing on
        every process of the fleet (their recent verdicts in the shared store) is a ``warn``,
        so that no pod leaves rotation for what every pod sees. Anything else is unchanged."""
        if not self._fleet_seen:
            return results
        changed: list[FieldResult] | None = None
        for index, (field, result) in enumerate(zip(fields, results, strict=False)):
            if not field.fleet_tolerant or result.status != "fail" or result.pending:
                continue
            known = self._fleet_seen.get(field.stable_key)
            if known is None or known[1] is None:
                continue  # unknown (the store unreachable, nothing read yet): fail as seen here
            timing = self.runner.timing(field)
            since = self.clock.wall() - self._verdict_window(timing.ttl, timing.timeout)
            recent = [status for status, stamp in known[1].values() if stamp >= since]
            if recent and all(status == "fail" for status in recent):
                note = f"failing on every process of the fleet ({len(recent)} of {len(recent)}): kept in rotation"
                message = f"{result.message}; {note}" if result.message else note
                if changed is None:
                    changed = list(results)
                changed[index] = replace(result, status="warn", message=message)
        return results if changed is None else tuple(changed)

    def timelines(self, route: StatusRoute) -> dict[str, Timeline]:
        """The history of each check of ``route``, by name (see :mod:`flask_status.history`)."""
        return {field.name: self.history.of(field.name) for field in route.fields if field.kind == "check"}

    def startup_item(self, route: StatusRoute) -> tuple[Field, FieldResult] | None:
        """The failing ``startup`` item of a readiness route while startup tasks hold it."""
        if not route.readiness:
            return None
        verdict = self.manager.startup.verdict()
        return None if verdict is None else (STARTUP, verdict)

    def forget_rendered(self) -> None:
        """Drop every rendered body, so the next request of each route evaluates it again."""
        self.views.forget_rendered()

    def beat(self, name: str, payload: Any = None) -> float:
        """Record a beat of heartbeat ``name`` of this manager's routes; its wall-clock time.

        A name no route has is a ``ValueError`` naming the heartbeats there are; so is a
        payload that is not JSON-safe or longer than 1024 characters as JSON.
        """
        known = heartbeats_of(self.manager.routes.values())
        if name not in known:
            names = ", ".join(sorted(known)) or "none"
            raise ValueError(
                f"status manager {self.manager.name!r} has no heartbeat named {name!r}; heartbeats: {names}"
            )
        try:
            safe = check_payload(payload)
        except (TypeError, ValueError) as error:
            raise ValueError(f"heartbeat {name!r}: {error}") from None
        beat = self.beats.record(name, safe, by=f"{socket.gethostname()} pid {os.getpid()}")
        # A result or a body from before the beat would hide it until its ttl.
        for route in self.manager.routes.values():
            for field in route.fields:
                if isinstance(field.func, Heartbeat) and field.func.name == name:
                    self.store.put(field.key, self.runner.pending(field), 0)
                    if field.shared and self.shared is not None:
                        self.shared.put(field.stable_key, self.runner.pending(field), 0)
        self.forget_rendered()
        return beat.time

    def _report(
        self, route: StatusRoute, fields: Sequence[Field], results: tuple[FieldResult, ...], *, items: bool = True
    ) -> RouteReport:
        if self._config_at_init is not None:
            self._warn_late_config()
        draining = self.draining(route)
        held = self.startup_item(route)
        if held is not None:
            fields, results = (*fields, held[0]), (*results, held[1])
        pairs = list(zip(fields, results, strict=True))
        fresh_until = float("inf")
        for field, result in pairs:
            until = self.runner.fresh_until(field, result)
            if until < fresh_until:
                fresh_until = until
        # Log and announce each status change once, not once per request: what the checks
        # say, never the fleet's view below (events, history and hooks say "fail"). The
        # startup hold is no check's news: the route's status says it.
        raw_status = self._route_status(fields, results, draining)
        seen = [(f, r) for f, r in pairs if f is not STARTUP]
        self.transitions.observe(route, seen if items else (), raw_status, draining=draining)
        status = raw_status
        if route.readiness:
            shown = self.fleet_view(fields, results)
            if shown is not results:
                results = shown
                status = self._route_status(fields, results, draining)
        return RouteReport(route, results, status, fresh_until, tuple(fields))

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

    def periodic(self) -> list[tuple[Runner, Field, float]]:
        """Every periodic field of this manager's routes, once per key, with its interval (for
        the scheduler)."""
        seen: dict[str, tuple[Runner, Field, float]] = {}
        for route in self.manager.routes.values():
            for field in route.fields:
                if field.interval is not None and field.key not in seen:
                    seen[field.key] = (self.runner, field, field.interval)
        return list(seen.values())

    def _on_run(self, field: Field, result: FieldResult) -> None:
        """A run landed a result: void the bodies of the routes that show it, note changes."""
        if not self.runner.timing(field).cached:
            # Kept nowhere, so no body shows it (a route with an uncached field renders every
            # time), and the request waiting on the run observes it: nothing to do.
            return
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
            draining = self.draining(route)
            shown = [f for f, _ in known]
            held = self.startup_item(route)
            if held is not None:
                shown.append(held[0])
            values = [r for _, r in known] + ([held[1]] if held is not None else [])
            status = self._route_status(shown, values, draining) if complete else None
            self.transitions.observe(route, known, status, draining=draining)

    @staticmethod
    def _route_status(fields: Sequence[Field], results: Sequence[FieldResult], draining: bool) -> Status:
        """A route's status: its items' aggregate, or ``fail`` for a readiness route draining."""
        return "fail" if draining else aggregate(fields, results)


def heartbeats_of(routes: Iterable[StatusRoute]) -> dict[str, Heartbeat]:
    """Every heartbeat of ``routes``, by name."""
    found: dict[str, Heartbeat] = {}
    for route in routes:
        found.update(route.heartbeats())
    return found


# Read when they are used, not at init_app: changing them later is honoured.
_READ_WHEN_USED = frozenset({"STATUS_DRAIN_DELAY", "STATUS_TOKENS", "STATUS_BASIC_AUTH", "STATUS_QUIET_PROBES"})


def _config_read_at_init(app: Flask, manager: ManagerLike) -> dict[str, Any]:
    """The ``STATUS_*`` values ``init_app`` resolved from ``app.config`` (a copy, to compare later).

    Keys a constructor argument overrides are left out: the config never applied to them.
    """
    overrides: Mapping[str, Any] = getattr(manager, "overrides", {})
    overridden = {key for key, value in overrides.items() if value is not None}
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


# The runner, its pool and the scheduler outlive requests: they hold the app weakly, so a
# discarded app (an app per test, an app factory called again) is collected and its pool's
# threads end. A run that starts after the app is gone runs without an app context.


def _context(app: Flask) -> Callable[[], AbstractContextManager[Any]]:
    """The context a field runs in: ``app``'s app context, pushed for the run, or the one
    already current when the run is inline in a request (or a CLI command) of ``app``."""
    app_ref = weakref.ref(app)

    def context() -> AbstractContextManager[Any]:
        target = app_ref()
        if target is None:
            return nullcontext()
        if has_app_context() and current_app._get_current_object() is target:  # type: ignore[attr-defined]
            return nullcontext()
        return target.app_context()

    return context


def _caller(app: Flask, beats: Beats) -> Callable[[Field], Any]:
    """How the runner calls a field for ``app``: async callables through ``app.ensure_sync``, a
    heartbeat with its last beat."""
    app_ref = weakref.ref(app)

    def call(field: Field) -> Any:
        func = field.func
        assert func is not None
        if isinstance(func, Heartbeat):
            return func.verdict(beats.last(func.name), beats.clock.wall())
        if field.is_async:
            target = app_ref()
            if target is None:
                raise RuntimeError("the app of this check is gone")
            return target.ensure_sync(func)()
        return func()

    return call
