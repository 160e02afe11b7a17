"""StatusManager: the extension object that mounts named status routes on Flask apps."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from flask import Blueprint, Flask, current_app, has_app_context
from flask.blueprints import BlueprintSetupState

from ._mount import AppMount, BlueprintMount, Mount, check_url_free
from .cli import status_command
from .clock import SYSTEM, Clock, as_clock
from .config import DEFAULTS, resolve_settings
from .definitions import Authenticator, Format, StatusRoute, normalize_url
from .heartbeat import Heartbeat
from .listen import attach as attach_listener
from .quiet import install as quiet_probes
from .render.json import RouteReport
from .startup import Startup, StartupTask
from .state import EXTENSION_KEY, StatusState, heartbeats_of
from .stores.base import SharedStore
from .web.events import StatusEvent, delivery

__all__ = ["EXTENSION_KEY", "StatusManager"]


class StatusManager:
    """Mounts named status routes on a Flask app: a cheap public one, a detailed private one...

    Create it with the app, or without one and call :meth:`init_app` later (app factories).
    One manager may serve several apps; each app gets its own results cache, thread pool and
    rendered bodies in ``app.extensions["flask-status"][name]``. Routes and fields are
    definitions shared by those apps; routes added after ``init_app`` are mounted on every app
    already initialised. Several managers can live on one app under different ``name``\\ s.

    ``init_app`` reads the app's ``STATUS_*`` config once: set it before ``StatusManager(app)``
    or ``init_app(app)``. A key changed later is not used, and the first evaluation logs a
    warning naming it (``STATUS_TOKENS``, ``STATUS_BASIC_AUTH``, ``STATUS_DRAIN_DELAY`` and ``STATUS_QUIET_PROBES``
    are read when used, so changing them later works).

    Options given here override the app's config (``STATUS_DEFAULT_TTL``,
    ``STATUS_DEFAULT_TIMEOUT``, ``STATUS_FAILURE_TTL``, ``STATUS_MAX_WORKERS``,
    ``STATUS_DEFAULT_FORMAT``, ``STATUS_HTTP_CODES``). ``store`` is a store shared by every
    process and replica (a :class:`~flask_status.stores.redis.RedisStore`, or a ``redis://`` URL,
    like ``STATUS_STORE_URL``), used by checks registered with ``shared=True``. ``clock`` is the
    one time source of freshness, timeouts and schedules (a :class:`~flask_status.clock.Clock`,
    real time by default); tests pass a :class:`~flask_status.clock.ManualClock` to move time
    without sleeping.
    Endpoints are named ``f"{name}_{route_name}"``, e.g. ``url_for("status_live")``.

    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> status = StatusManager(app)
    >>> live = status.add_route("live", "/health/live")
    >>> app.test_client().get("/health/live").get_json()
    {'status': 'OK'}
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        name: str = "status",
        url_prefix: str = "",
        default_ttl: float | None = None,
        default_timeout: float | None = None,
        failure_ttl: float | None = None,
        max_workers: int | None = None,
        default_format: Format | None = None,
        status_codes: Mapping[str, int] | None = None,
        store: SharedStore | str | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        StatusRoute(name, "/")  # validates the name with the same rules as a route's
        if not isinstance(url_prefix, str):
            raise TypeError(f"url_prefix must be a str, not {type(url_prefix).__name__}: {url_prefix!r}")
        if store is not None and not isinstance(store, (str, SharedStore)):
            raise TypeError(f"store must be a shared store (RedisStore) or a redis:// URL, got {store!r}")
        self.name = name
        self.url_prefix = normalize_url(url_prefix).rstrip("/") if url_prefix else ""
        #: The one source of time of this manager's freshness, timeouts and schedules.
        self.clock: Clock = as_clock(clock)
        #: Constructor options by config key (``None``: not given); they win over ``app.config``.
        self.overrides: dict[str, Any] = {
            "STATUS_DEFAULT_TTL": default_ttl,
            "STATUS_DEFAULT_TIMEOUT": default_timeout,
            "STATUS_FAILURE_TTL": failure_ttl,
            "STATUS_MAX_WORKERS": max_workers,
            "STATUS_DEFAULT_FORMAT": default_format,
            "STATUS_HTTP_CODES": status_codes,
            "STATUS_STORE_URL": store if isinstance(store, str) else None,
        }
        #: A shared store given as an object; one given as a URL is built per app in init_app.
        self.store = store if not isinstance(store, str) else None
        # Validate the overrides now, against the defaults, so a bad one fails at construction.
        resolve_settings(DEFAULTS, self.overrides)
        self._routes: dict[str, StatusRoute] = {}
        #: Called with (app, state, mount) each time the manager is registered on an app, after
        #: its routes are mounted: the metrics route uses it to reach apps initialised later.
        self._app_hooks: list[Callable[[Flask, StatusState, Mount], None]] = []
        self._draining = threading.Event()
        #: Callbacks registered with :meth:`on_change`, called once per status transition.
        self.change_callbacks: list[Callable[[StatusEvent], None]] = []
        #: Callbacks registered with ``on_change(..., fleet=True)``: once across the fleet.
        self.fleet_callbacks: list[Callable[[StatusEvent], None]] = []
        # The apps this manager is on, and how to add a route to each (directly or through a
        # blueprint); weak, so a manager never keeps a discarded app alive.
        self._mounts: weakref.WeakKeyDictionary[Flask, Mount] = weakref.WeakKeyDictionary()
        #: Startup tasks holding the readiness routes (:meth:`startup_task`), in this process.
        self.startup = Startup(self.clock)
        self.startup.on_change.append(self._forget_rendered)
        if app is not None:
            self.init_app(app)

    def _forget_rendered(self) -> None:
        for app in list(self._mounts):
            state = app.extensions.get(EXTENSION_KEY, {}).get(self.name)
            if state is not None:
                state.forget_rendered()

    @property
    def routes(self) -> Mapping[str, StatusRoute]:
        """A read-only mapping of route name to :class:`StatusRoute`, in registration order."""
        return MappingProxyType(self._routes)

    def init_app(self, app: Flask | Blueprint) -> None:
        """Register on ``app``: set config defaults, create its state, mount every route.

        ``app`` may also be a :class:`~flask.Blueprint`: the routes are then mounted on every
        app the blueprint is registered on, under its ``url_prefix``, with endpoints
        ``f"{blueprint.name}.{manager.name}_{route}"``. Raises ``RuntimeError`` when a manager
        of the same name is already on the app.
        """
        if isinstance(app, Blueprint):
            app.record(self._register_blueprint)
            return
        if not isinstance(app, Flask):
            raise TypeError(f"init_app needs a Flask app or Blueprint, got {app!r}")
        self._register(app, AppMount(app, self.url_prefix))

    def _register_blueprint(self, setup: BlueprintSetupState) -> None:
        self._register(cast(Flask, setup.app), BlueprintMount(setup, self.url_prefix))

    def _register(self, app: Flask, mount: Mount) -> None:
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, dict(value) if isinstance(value, Mapping) else value)
        registry: dict[str, StatusState] = app.extensions.setdefault(EXTENSION_KEY, {})
        if self.name in registry:
            raise RuntimeError(
                f"a status manager named {self.name!r} is already registered on app {app.name!r}; "
                f"use that one, or give this one another name: StatusManager(app, name='ops')"
            )
        settings = resolve_settings(app.config, self.overrides)
        state = StatusState(self, app, settings, self.clock)
        for route in self._routes.values():
            self._mount(app, state, mount, route)
        registry[self.name] = state
        self._mounts[app] = mount
        for hook in list(self._app_hooks):
            hook(app, state, mount)
        attach_listener(app, state, self.clock)  # STATUS_PROBE_PORT: the public routes on a port of their own
        if "status" not in app.cli.commands:
            app.cli.add_command(status_command)
        quiet_probes(app)  # successful probes out of the dev server's access log (STATUS_QUIET_PROBES)

    def state(self, app: Flask | None = None) -> StatusState:
        """This manager's :class:`StatusState` on ``app`` (default: the current app)."""
        target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
        state: StatusState | None = target.extensions.get(EXTENSION_KEY, {}).get(self.name)
        if state is None or state.manager is not self:
            raise RuntimeError(f"status manager {self.name!r} is not registered on app {target.name!r}; call init_app")
        return state

    def add_route(
        self,
        name: str,
        url: str,
        *,
        message: Mapping[str, Any] | str | None = None,
        authenticator: Authenticator | None = None,
        details: bool | Callable[[], bool] = True,
        format: Format | None = None,
        status_codes: Mapping[str, int] | None = None,
        readiness: bool = False,
        liveness: bool = False,
        history: bool = False,
    ) -> StatusRoute:
        """Add a named status route and mount it on every app this manager serves.

        ``message`` is the body's base: a dict, or a str that becomes ``{"message": str}``
        (default ``{"status": "OK"}``). ``authenticator`` is any view decorator. Names and
        URLs are unique per manager: a duplicate is a ``ValueError`` naming it. The route
        answers GET and HEAD; any other method gets 405 ``{"status":"method_not_allowed"}``
        with ``Allow: GET, HEAD`` and ``Cache-Control: no-store``, before the authenticator.

        >>> status = StatusManager()
        >>> status.add_route("details", "/health/details", message={"service": "billing"}).url
        '/health/details'
        """
        route = StatusRoute(
            name,
            url,
            message=message,
            authenticator=authenticator,
            details=details,
            format=format,
            status_codes=status_codes,
            readiness=readiness,
            liveness=liveness,
            history=history,
        )
        if name in self._routes:
            raise ValueError(f"status manager {self.name!r} already has a route named {name!r}")
        for other in self._routes.values():
            if other.url == route.url:
                raise ValueError(f"url {route.url!r} is already used by route {other.name!r}")
        targets = [(app, self.state(app), mount) for app, mount in list(self._mounts.items())]
        for app, _, mount in targets:
            check_url_free(app, mount.rule(route.url))
        for app, state, mount in targets:
            self._mount(app, state, mount, route)
        self._routes[name] = route
        return route

    def endpoint(self, route_name: str) -> str:
        """The Flask endpoint of a route, for ``url_for``: ``f"{manager.name}_{route_name}"``."""
        return f"{self.name}_{route_name}"

    def _mount(self, app: Flask, state: StatusState, mount: Mount, route: StatusRoute) -> None:
        rule = mount.rule(route.url)
        check_url_free(app, rule)
        endpoint = self.endpoint(route.name)
        mount.add(route.url, endpoint, state.views.view(route, endpoint))
        state.urls[route.name] = rule

    def mounted(self) -> list[tuple[Flask, Mount]]:
        """Every app this manager is registered on now, with how its routes reach that app."""
        return list(self._mounts.items())

    def on_init_app(self, callback: Callable[[Flask, StatusState, Mount], None]) -> None:
        """Call ``callback(app, state, mount)`` for every app this manager is registered on,
        now and later: how an integration (the metrics route) reaches apps initialised after it.

        >>> status = StatusManager()
        >>> status.on_init_app(lambda app, state, mount: print(app.name))
        >>> from flask import Flask
        >>> status.init_app(Flask("shop"))
        shop
        """
        self._app_hooks.append(callback)
        for app, mount in self.mounted():
            callback(app, self.state(app), mount)

    @property
    def draining(self) -> bool:
        """True after :meth:`drain`: readiness routes answer 503 ``fail``."""
        return self._draining.is_set()

    def heartbeats(self) -> dict[str, Heartbeat]:
        """Every heartbeat of this manager's routes, by name."""
        return heartbeats_of(self._routes.values())

    def beat(self, name: str, payload: Any = None, *, app: Flask | None = None) -> float:
        """Record a beat of heartbeat ``name`` (:meth:`StatusRoute.add_heartbeat`); returns its
        wall-clock time.

        ``payload`` (optional, JSON-safe, at most 1024 characters as JSON: ``{"rows": 1200}``)
        shows on routes with details. The beat goes to the shared store when the app has one
        (``STATUS_STORE_URL``), so every process and host sees it; else it stays in this
        process. ``app`` defaults to the current app, or to the one app this manager serves.
        A name no route has is a ``ValueError`` naming the heartbeats there are.

        >>> app = Flask(__name__)
        >>> status = StatusManager(app)
        >>> _ = status.add_route("details", "/details").add_heartbeat("nightly", every=86400)
        >>> app.test_client().get("/details").get_json()["nightly"]["message"]
        'no beat yet, expected every 1 d'
        >>> _ = status.beat("nightly", {"rows": 1200}, app=app)
        >>> app.test_client().get("/details").get_json()["nightly"]["message"]
        'last beat 0 s ago: {"rows":1200}'
        """
        if app is None and not has_app_context() and len(self._mounts) == 1:
            app = next(iter(self._mounts))
        return self.state(app).beat(name, payload)

    def startup_task(self, name: str) -> StartupTask:
        """Hold every readiness route at ``503`` until the returned task is done: a piece of
        warm-up (a cache filled, a model loaded). Also a context manager: done when the block
        ends, failed (still holding, saying why) when it raises. The routes show a
        ``startup`` check meanwhile; liveness is never held. In this process only: each
        gunicorn worker warms up on its own (start the task in the app factory, or in a
        ``post_worker_init`` hook with ``--preload``).

        >>> app = Flask(__name__)
        >>> status = StatusManager(app)
        >>> _ = status.add_route("ready", "/ready", readiness=True)
        >>> with status.startup_task("warm-cache"):
        ...     app.test_client().get("/ready").status_code
        503
        >>> app.test_client().get("/ready").status_code
        200
        """
        return self.startup.task(name)

    def drain(self) -> None:
        """Make every readiness route fail (503, ``"draining": true`` on details) from now on.

        Every other route, liveness included, keeps answering as before, and requests keep
        being served: the load balancer stops sending new traffic before the server stops.
        Called by the SIGTERM handlers of :mod:`flask_status.drain`. The drain is announced
        once per readiness route, when it next answers: one :class:`StatusEvent` with
        ``draining=True`` (logged at INFO), and no event for its checks, which are not run.

        >>> status = StatusManager()
        >>> status.drain()
        >>> status.draining
        True
        """
        self._draining.set()
        for app in list(self._mounts):
            self.state(app).forget_rendered()

    def resume(self) -> None:
        """Undo :meth:`drain`: readiness routes evaluate their checks again."""
        self._draining.clear()
        for app in list(self._mounts):
            self.state(app).forget_rendered()

    def on_change(self, callback: Callable[[StatusEvent], None] | None = None, *, fleet: bool = False) -> Any:
        """Register ``callback`` (a decorator, with or without arguments) to be called once per
        status transition.

        It receives a :class:`StatusEvent` for each change of a check's status on a route,
        and of a route's own status, inside the app context, on flask-status's event thread:
        never on a request's thread, so a slow hook (a pager's HTTP call) delays only the hooks
        after it, never a probe. Events reach hooks in the order they were noticed, through a
        bounded queue (1000 events; when full, the oldest is dropped and counted, see
        :class:`~flask_status.web.events.Delivery`). A callback that raises (``SystemExit``
        included; all but ``KeyboardInterrupt``) is logged and never breaks anything. A drain
        is one event with ``draining=True``: a pager skips it with
        ``if event.new == "fail" and not event.draining``. ``event.process`` says which
        process saw it.

        ``fleet=True``: called once per transition **across every process and host** sharing
        the store (``STATUS_STORE_URL``), not once per process: 50 pods of 8 workers page once
        for one database outage (:class:`~flask_status.web.events.FleetHooks` says how it is
        elected). Drains are not fleet news. Without a shared store it is called per process.

        >>> status = StatusManager()
        >>> @status.on_change
        ... def log_it(event):
        ...     print(event)
        >>> @status.on_change(fleet=True)
        ... def page_someone(event):
        ...     print(event)
        """
        if not isinstance(fleet, bool):
            raise TypeError(f"fleet must be a bool, got {fleet!r}")
        if callback is None:
            return lambda function: self.on_change(function, fleet=fleet)
        if not callable(callback):
            raise TypeError(f"on_change needs a callable, got {callback!r}")
        (self.fleet_callbacks if fleet else self.change_callbacks).append(callback)
        return callback

    def flush_events(self, timeout: float = 5.0) -> bool:
        """Wait until every status event noticed so far has been delivered to the
        :meth:`on_change` callbacks (at most ``timeout`` seconds); ``True`` if it was.

        For tests and for a process about to exit.

        >>> StatusManager().flush_events(timeout=1.0)
        True
        """
        return delivery.flush(timeout)

    def evaluate(self, route_name: str, app: Flask | None = None) -> RouteReport:
        """Evaluate a route's fields and checks now, without a request or its authenticator.

        >>> from flask import Flask
        >>> app = Flask(__name__)
        >>> status = StatusManager(app)
        >>> _ = status.add_route("ready", "/ready").add_check("db", lambda: True)
        >>> status.evaluate("ready", app).status
        'pass'
        """
        try:
            route = self._routes[route_name]
        except KeyError:
            raise KeyError(f"status manager {self.name!r} has no route named {route_name!r}") from None
        return self.state(app).evaluate(route)

    def __repr__(self) -> str:
        return f"<StatusManager {self.name!r} routes={list(self._routes)}>"
