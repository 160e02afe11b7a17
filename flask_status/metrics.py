"""Prometheus metrics of status checks and routes (the ``prometheus`` extra).

Install it with ``pip install 'flask-status[prometheus]'``; prometheus_client is imported only
when metrics are used, so importing this module never needs it. Serve the metrics on a route of
their own, with its own authenticator::

    from flask_status.auth import bearer_token
    from flask_status.metrics import add_metrics_route

    status = StatusManager(app)
    add_metrics_route(status, "/metrics", authenticator=bearer_token(env="METRICS_TOKEN"))

or put them on a registry you already expose (single process)::

    from prometheus_client import REGISTRY
    from flask_status.metrics import register_metrics

    register_metrics(status, app, REGISTRY)

Metrics
-------

Labels are ``manager`` (the manager's name), ``route`` and ``check`` (names of routes and of
their checks, and of fields computed by a callable), ``outcome`` and ``status`` (fixed sets).
Every label value comes from your definitions or a fixed set, never from a request, a URL, a
result or an error message, so the number of series is fixed by what you registered.

``flask_status_check_runs_total{manager, check, outcome}`` (counter)
    Runs of a check's callable, by outcome: ``pass``, ``warn`` or ``fail`` (as reported, after
    ``fail_after`` / ``recover_after``), or ``timeout``: the run took longer than the check's
    timeout, whatever it returned in the end, or the scheduler reported it overdue (a hung run
    counts once, not once per timeout window). A check shown on several routes runs once per
    refresh, so runs are counted per check, without a ``route`` label: ``sum`` over checks is
    the number of runs. Checks of the same name on different routes of one manager share series;
    give different callables different names.
``flask_status_check_duration_seconds{manager, check}`` (gauge)
    How long the latest run of the check took (a run reported overdue: how long it had run).
    A gauge of the latest run rather than a histogram: with cached checks there are few runs,
    and their rate is in the counter above.
``flask_status_check_last_result_timestamp_seconds{manager, route, check, status}`` (gauge)
    Unix time of the check's latest result with that ``status`` (a series appears once a result
    of that status has been seen): ``time() - ...{status="pass"}`` is how long since it last
    passed.
``flask_status_check_status{manager, route, check, status}`` (gauge, 0 or 1)
    The status of the check's latest result: 1 on the series of that status, 0 on the other
    two. No series until the check has run once. A run that outlived its timeout counts as
    ``fail`` for a check without ``ttl``, as the route reported it (its late result is never
    served); a cached check's late result is served from the cache, so its own status counts.
``flask_status_check_age_seconds{manager, route, check}`` (gauge)
    Seconds since the check's latest result was observed, at scrape time. For a periodic check,
    an age beyond a few intervals means its scheduler is not running it.
``flask_status_route_status{manager, route, status}`` (gauge, 0 or 1)
    The route's status from the latest results of its checks and fields, by the route's own
    rules: a failing non-critical check only warns, a periodic check whose result expired
    fails, and a readiness route fails while the manager drains. ``status`` is ``pass``,
    ``warn``, ``fail`` or ``unknown``: 1 on one series, 0 on the other three. ``unknown`` says
    the latest results cannot tell yet, because a check has no result since the process
    started (no request and no scheduled run has evaluated it) and the others do not already
    make the route fail. So a restart never looks like an outage: alert on
    ``flask_status_route_status{status="fail"} == 1``, and on ``{status="unknown"} == 1``
    lasting longer than a probe interval or two if a route that is never evaluated matters.

Status and age are computed when Prometheus scrapes, from the results recorded after each
run: **a scrape never runs a check**, and never waits for one.

Several processes
-----------------

Under gunicorn with several workers each worker has its own checks, results and counters, and a
scrape reaches one worker only. Use prometheus_client's multiprocess mode: start gunicorn with
``PROMETHEUS_MULTIPROC_DIR`` set to an empty directory (empty it before each start), so that it
is set before prometheus_client is first imported. Each worker then writes its numbers to files
there, and the metrics route answers from all of them, whichever worker serves the scrape:

- ``runs_total``: summed over every worker, dead ones included (a restarted worker's runs are
  not lost, and the counter never goes down);
- ``duration_seconds``: the latest run in any worker (gauge mode ``mostrecent``);
- ``last_result_timestamp_seconds``: the latest in any worker (mode ``max``);
- ``check_status``, ``check_age_seconds``: from that latest result of any worker;
- ``route_status``: computed by the worker serving the scrape, from those latest results of
  every worker (definitions are the same in every worker), and that worker's draining flag.

Dead workers' results still count as the latest ones (no ``live*`` gauge modes: a recycled
worker's last run is still the latest news). The metrics route builds a fresh registry with
prometheus_client's ``MultiProcessCollector`` on each scrape, so it also exposes every other
metric your processes write there. To expose them on a route of your own in this mode, do the
same and add flask-status's scrape-time metrics with :func:`register_metrics`::

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    register_metrics(status, app, registry)
    body = generate_latest(registry)

and call ``register_metrics(status, app)`` once at startup so each worker records its runs
from its first request on. :func:`child_exit` is the gunicorn hook that removes a dead worker's
``live*`` gauges (your own; flask-status's metrics use none)::

    # gunicorn.conf.py
    from flask_status.metrics import child_exit

The metric names, for queries and tests:

>>> METRIC_NAMES[0]
'flask_status_check_runs_total'
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, request

from ._mount import Mount, check_url_free
from ._validate import optional_authenticator
from .definitions import Authenticator, Field, normalize_url
from .extension import StatusManager
from .results import FieldResult, Status, aggregate
from .state import StatusState
from .web.views import NO_STORE

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge
    from prometheus_client.metrics_core import Metric
    from prometheus_client.samples import Sample


__all__ = [
    "CHECK_AGE",
    "CHECK_DURATION",
    "CHECK_LAST_RESULT",
    "CHECK_RUNS",
    "CHECK_STATUS",
    "METRIC_NAMES",
    "ROUTE_STATUS",
    "add_metrics_route",
    "child_exit",
    "metrics_endpoint",
    "register_metrics",
]

CHECK_RUNS = "flask_status_check_runs_total"
CHECK_DURATION = "flask_status_check_duration_seconds"
CHECK_LAST_RESULT = "flask_status_check_last_result_timestamp_seconds"
CHECK_STATUS = "flask_status_check_status"
CHECK_AGE = "flask_status_check_age_seconds"
ROUTE_STATUS = "flask_status_route_status"
METRIC_NAMES = (CHECK_RUNS, CHECK_DURATION, CHECK_LAST_RESULT, CHECK_STATUS, CHECK_AGE, ROUTE_STATUS)
"""Every metric flask-status exposes (a counter's family name is this without ``_total``)."""

_STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")
_STATUS_OF: dict[str, Status] = {status: status for status in _STATUSES}
# A route's status on the metrics: its statuses, or unknown before its checks have results.
_ROUTE_STATUSES: tuple[str, ...] = (*_STATUSES, "unknown")
_INSTALL_HINT = "pip install 'flask-status[prometheus]'"

_HELP = {
    CHECK_RUNS: "Runs of a status check by outcome (pass, warn, fail, timeout).",
    CHECK_DURATION: "Seconds the latest run of a status check took.",
    CHECK_LAST_RESULT: "Unix time of the latest result of a status check with this status.",
    CHECK_STATUS: "Status of the latest result of a status check: 1 for its status, 0 for the others.",
    CHECK_AGE: "Seconds since the latest result of a status check was observed.",
    ROUTE_STATUS: (
        "Status of a status route from the latest results (unknown: not evaluated yet): "
        "1 for its status, 0 for the others."
    ),
}


def _require() -> None:
    try:
        importlib.import_module("prometheus_client")
    except ImportError as exc:
        raise ImportError(f"flask-status metrics need prometheus_client: {_INSTALL_HINT}") from exc


def _is_multiprocess() -> bool:
    """Whether prometheus_client writes its values to files: its documented switch, the
    ``PROMETHEUS_MULTIPROC_DIR`` environment variable, set before the process starts."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


# -- recording runs -----------------------------------------------------------------------------


class _Instruments:
    """The metrics a process writes after each run."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        self.runs: Counter = Counter(CHECK_RUNS, _HELP[CHECK_RUNS], ("manager", "check", "outcome"), registry=None)
        self.duration: Gauge = Gauge(
            CHECK_DURATION, _HELP[CHECK_DURATION], ("manager", "check"), registry=None, multiprocess_mode="mostrecent"
        )
        self.last_result: Gauge = Gauge(
            CHECK_LAST_RESULT,
            _HELP[CHECK_LAST_RESULT],
            ("manager", "route", "check", "status"),
            registry=None,
            multiprocess_mode="max",
        )

    def collect(self) -> list[Metric]:
        return [*self.runs.collect(), *self.duration.collect(), *self.last_result.collect()]


# In multiprocess mode one process must write each series through one object (each object
# keeps its own copy of the value it writes to the process's file), so they are shared by every
# manager of the process; in a single process each manager and app gets its own.
_shared: _Instruments | None = None
_lock = threading.Lock()
_by_state: weakref.WeakKeyDictionary[StatusState, _AppMetrics] = weakref.WeakKeyDictionary()
_members: weakref.WeakSet[_AppMetrics] = weakref.WeakSet()


class _AppMetrics:
    """Records the runs of one manager on one app: hooked on its runner's ``on_run``."""

    def __init__(self, state: StatusState, instruments: _Instruments) -> None:
        self._state = weakref.ref(state)
        self.name = state.manager.name
        self.instruments = instruments
        self._lock = threading.Lock()
        # Keys of fields whose current run was already counted as a timeout (reported overdue).
        self._overdue: set[str] = set()
        self._seed(state)
        state.runner.on_run.append(self._on_run)

    @property
    def state(self) -> StatusState | None:
        return self._state()

    def _seed(self, state: StatusState) -> None:
        """Record results already stored, so metrics enabled late show them (not counted as runs)."""
        seen: set[str] = set()
        for route in state.manager.routes.values():
            for field in route.fields:
                if field.func is None or field.key in seen:
                    continue
                seen.add(field.key)
                result = state.runner.store.get(field.key)
                if result is not None:
                    self.instruments.duration.labels(self.name, field.name).set(result.duration)
                    self._record(state, field, result, result.status)

    def _on_run(self, field: Field, result: FieldResult) -> None:
        state = self._state()
        if state is None or field.func is None:
            return
        runner = state.runner
        slow = result.timed_out or result.duration > runner.timeout(field)
        outcome = self._outcome(field, result, slow)
        if outcome is not None:
            self.instruments.runs.labels(self.name, field.name, outcome).inc()
        self.instruments.duration.labels(self.name, field.name).set(result.duration)
        # The route gave up waiting for a slow run; an uncached check's result is never served
        # after that, so what the route showed was a failure. A cached one's result is served.
        self._record(state, field, result, "fail" if slow and not runner.timing(field).cached else result.status)

    def _outcome(self, field: Field, result: FieldResult, slow: bool) -> str | None:
        """The outcome to count for ``result``, or ``None`` when its run was counted already."""
        with self._lock:
            if result.timed_out:  # the scheduler reports a hung run, once per timeout window
                if field.key in self._overdue:
                    return None
                self._overdue.add(field.key)
                return "timeout"
            if field.key in self._overdue:  # the hung run came back: counted as a timeout already
                self._overdue.discard(field.key)
                return None
        return "timeout" if slow else result.status

    def _record(self, state: StatusState, field: Field, result: FieldResult, status: Status) -> None:
        stamp = result.time or time.time()
        for route in state.manager.routes.values():
            if any(item.key == field.key for item in route.fields):
                self.instruments.last_result.labels(self.name, route.name, field.name, status).set(stamp)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()

    def derive(self, latest: Mapping[tuple[str, str, str], Mapping[Status, float]], now: float, out: _Derived) -> None:
        """Add this manager's check statuses, ages and route statuses from ``latest`` results."""
        state = self._state()
        if state is None:
            return
        manager = state.manager
        for route in manager.routes.values():
            fields: list[Field] = []
            results: list[FieldResult] = []
            unknown = False
            for field in route.fields:
                if field.constant_result is not None:
                    fields.append(field)
                    results.append(field.constant_result)
                    continue
                stamps = latest.get((self.name, route.name, field.name))
                if not stamps:
                    unknown = True  # no result since the process started: nothing to tell yet
                    continue
                # The latest result; of two at the same instant, the worse.
                status, stamp = max(stamps.items(), key=lambda item: (item[1], _STATUSES.index(item[0])))
                age = max(now - stamp, 0.0)
                labels = (self.name, route.name, field.name)
                for each in _STATUSES:
                    out.check_status.add_metric([*labels, each], 1.0 if each == status else 0.0)
                out.check_age.add_metric(list(labels), age)
                if field.interval is not None and age > state.runner.keep_for(field, FieldResult(field.name, status)):
                    status = "fail"  # the store has dropped it: the route reads it as pending
                fields.append(field)
                results.append(FieldResult(field.name, status))
            route_status: str = "fail" if route.readiness and manager.draining else aggregate(fields, results)
            if unknown and route_status != "fail":  # the checks without a result may still make it fail
                route_status = "unknown"
            for shown in _ROUTE_STATUSES:
                out.route_status.add_metric([self.name, route.name, shown], 1.0 if shown == route_status else 0.0)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for member in list(_members):
        member._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _member(state: StatusState) -> _AppMetrics:
    """The recorder of ``state``'s runs, hooked on first use."""
    global _shared
    with _lock:
        member = _by_state.get(state)
        if member is None:
            if _is_multiprocess():
                if _shared is None:
                    _shared = _Instruments()
                instruments = _shared
            else:
                instruments = _Instruments()
            member = _AppMetrics(state, instruments)
            _by_state[state] = member
            _members.add(member)
        return member


# -- scrape-time metrics ------------------------------------------------------------------------


class _Derived:
    """The families computed at scrape time."""

    def __init__(self) -> None:
        from prometheus_client.core import GaugeMetricFamily

        self.check_status = GaugeMetricFamily(CHECK_STATUS, _HELP[CHECK_STATUS], labels=_LABELS[CHECK_STATUS])
        self.check_age = GaugeMetricFamily(CHECK_AGE, _HELP[CHECK_AGE], labels=_LABELS[CHECK_AGE])
        self.route_status = GaugeMetricFamily(ROUTE_STATUS, _HELP[ROUTE_STATUS], labels=_LABELS[ROUTE_STATUS])

    def families(self) -> list[Metric]:
        return [self.check_status, self.check_age, self.route_status]


_LABELS = {
    CHECK_STATUS: ("manager", "route", "check", "status"),
    CHECK_AGE: ("manager", "route", "check"),
    ROUTE_STATUS: ("manager", "route", "status"),
}


def _derive(members: Iterable[_AppMetrics], samples: Iterable[Sample]) -> list[Metric]:
    """Check statuses and ages and route statuses, from ``last_result`` samples; runs nothing."""
    latest: dict[tuple[str, str, str], dict[Status, float]] = {}
    for sample in samples:
        labels = sample.labels
        status = _STATUS_OF.get(labels.get("status", ""))
        if sample.name == CHECK_LAST_RESULT and status is not None:
            key = (labels.get("manager", ""), labels.get("route", ""), labels.get("check", ""))
            latest.setdefault(key, {})[status] = sample.value
    out = _Derived()
    now = time.time()
    seen: set[str] = set()
    for member in members:
        if member.name not in seen:  # one manager name, one set of series
            seen.add(member.name)
            member.derive(latest, now, out)
    return out.families()


def _last_result_samples(families: Iterable[Metric]) -> list[Sample]:
    return [sample for family in families if family.name == CHECK_LAST_RESULT for sample in family.samples]


def _merge(families: Iterable[Metric]) -> list[Metric]:
    """One family per name: the samples of every manager's metrics of that name together."""
    from prometheus_client.metrics_core import Metric

    merged: dict[str, Metric] = {}
    for family in families:
        into = merged.get(family.name)
        if into is None:
            into = merged[family.name] = Metric(family.name, family.documentation, family.type)
        into.samples.extend(family.samples)
    return list(merged.values())


def _read_multiprocess_files() -> list[Metric]:
    from prometheus_client.multiprocess import MultiProcessCollector

    return list(MultiProcessCollector(None).collect())  # type: ignore[no-untyped-call]


class _RegistryCollector:
    """flask-status's metrics on one registry: those of every manager registered on it.

    In multiprocess mode only the scrape-time families: the others come from the files, through
    the ``MultiProcessCollector`` the registry must also hold.
    """

    def __init__(self, multiprocess: bool) -> None:
        self.multiprocess = multiprocess
        self._members: list[weakref.ref[_AppMetrics]] = []
        self._lock = threading.Lock()

    def members(self) -> list[_AppMetrics]:
        return [member for ref in self._members if (member := ref()) is not None]

    def add(self, member: _AppMetrics) -> None:
        with self._lock:
            members = self.members()
            if member in members:
                return
            if any(other.name == member.name for other in members):
                raise ValueError(
                    f"a status manager named {member.name!r} already has its metrics on this registry; "
                    "give the managers different names"
                )
            self._members.append(weakref.ref(member))

    def describe(self) -> list[Metric]:
        from prometheus_client.metrics_core import Metric

        names = [CHECK_STATUS, CHECK_AGE, ROUTE_STATUS]
        families = [Metric(name, _HELP[name], "gauge") for name in names]
        if not self.multiprocess:
            families.append(Metric(CHECK_RUNS.removesuffix("_total"), _HELP[CHECK_RUNS], "counter"))
            families.extend(Metric(name, _HELP[name], "gauge") for name in (CHECK_DURATION, CHECK_LAST_RESULT))
        return families

    def collect(self) -> list[Metric]:
        members = self.members()
        if self.multiprocess:
            return _derive(members, _last_result_samples(_read_multiprocess_files()))
        families = _merge(family for member in members for family in member.instruments.collect())
        return [*families, *_derive(members, _last_result_samples(families))]


class _MultiProcessExposition:
    """Every process's metrics from the files, and flask-status's scrape-time ones: one read."""

    def collect(self) -> list[Metric]:
        families = _read_multiprocess_files()
        with _lock:
            members = list(_members)
        return [*families, *_derive(members, _last_result_samples(families))]


_collectors: weakref.WeakKeyDictionary[CollectorRegistry, _RegistryCollector] = weakref.WeakKeyDictionary()


def _collector_for(registry: CollectorRegistry) -> _RegistryCollector:
    with _lock:
        collector = _collectors.get(registry)
        if collector is None:
            collector = _RegistryCollector(_is_multiprocess())
            registry.register(collector)
            _collectors[registry] = collector
        return collector


# -- public API ---------------------------------------------------------------------------------


def register_metrics(manager: StatusManager, app: Flask, registry: CollectorRegistry | None = None) -> None:
    """Record the runs of ``manager``'s checks on ``app``, and add its metrics to ``registry``.

    Recording starts at the first call (more calls are harmless) and is what a worker needs
    from its first request on. With a ``registry`` (``prometheus_client.REGISTRY``, or one of
    your own), every metric of the manager on this app is collected with it; managers of
    different names can share a registry, two of the same name cannot (``ValueError``).

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) the registry gets only the metrics
    computed at scrape time (check statuses and ages, route statuses): pair it with a
    ``MultiProcessCollector`` on the same registry, built per scrape, which reads the rest from
    the files. See the module documentation. Raises ``ImportError`` without prometheus_client.

    ::

        from prometheus_client import REGISTRY, generate_latest

        register_metrics(status, app, REGISTRY)

        @app.get("/internal/metrics")
        def metrics():
            return generate_latest(REGISTRY), {"Content-Type": "text/plain; version=0.0.4"}
    """
    _require()
    member = _member(manager.state(app))
    if registry is not None:
        _collector_for(registry).add(member)


_metrics_urls: weakref.WeakKeyDictionary[StatusManager, str] = weakref.WeakKeyDictionary()


def metrics_endpoint(manager: StatusManager) -> str:
    """The Flask endpoint of a manager's metrics route, for ``url_for``: ``f"{name}-metrics"``.

    No status route's endpoint can take it: route names have no ``-``.

    >>> from flask_status import StatusManager
    >>> metrics_endpoint(StatusManager(name="ops"))
    'ops-metrics'
    """
    return f"{manager.name}-metrics"


def add_metrics_route(
    manager: StatusManager,
    url: str = "/metrics",
    *,
    authenticator: Authenticator | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Serve ``manager``'s metrics at ``url`` on every app it is on, now and initialised later.

    The route is mounted like a status route (under the manager's ``url_prefix``, and a
    blueprint's), GET only, with endpoint :func:`metrics_endpoint`, and answers in the
    Prometheus text format, or OpenMetrics when the scraper asks for it. ``authenticator`` is
    any view decorator, as for status routes (:mod:`flask_status.auth`). One metrics route per
    manager (``ValueError`` for a second one, or a URL already routed). Serving it runs no
    check.

    ``registry`` (single process): serve this registry, after adding the manager's metrics to
    it (``prometheus_client.REGISTRY`` puts them beside your app's own); by default the route
    serves a registry of its own, holding flask-status's metrics only. In multiprocess mode
    (``PROMETHEUS_MULTIPROC_DIR``) the route always answers from every process's files
    (prometheus_client's ``MultiProcessCollector``, your metrics included) and ``registry`` is
    not used. Raises ``ImportError`` without prometheus_client.

    ::

        status = StatusManager(app)
        add_metrics_route(status, "/metrics", authenticator=bearer_token(env="METRICS_TOKEN"))
    """
    _require()
    url = normalize_url(url)
    optional_authenticator(authenticator)
    if manager in _metrics_urls:
        raise ValueError(f"status manager {manager.name!r} already has a metrics route at {_metrics_urls[manager]!r}")
    for route in manager.routes.values():
        if route.url == url:
            raise ValueError(f"url {url!r} is already used by route {route.name!r}")
    for app, mount in manager.mounted():
        check_url_free(app, mount.rule(url))

    def mount_on(app: Flask, state: StatusState, mount: Mount) -> None:
        check_url_free(app, mount.rule(url))
        member = _member(state)
        served = registry
        if not _is_multiprocess():
            if served is None:
                from prometheus_client import CollectorRegistry

                served = CollectorRegistry()
            _collector_for(served).add(member)
        mount.add(url, metrics_endpoint(manager), _metrics_view(manager, served, authenticator))

    manager.on_init_app(mount_on)
    _metrics_urls[manager] = url


def _metrics_view(
    manager: StatusManager, registry: CollectorRegistry | None, authenticator: Authenticator | None
) -> Callable[..., Any]:
    """The view: ``registry`` in the format the scraper asks for (``None``: the multiprocess files)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    def metrics_view() -> Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        source = registry
        if source is None:  # multiprocess: what every process wrote, read afresh
            source = CollectorRegistry()
            source.register(_MultiProcessExposition())
        body = encoder(source)
        response: Response = current_app.response_class(body, status=200, content_type=content_type, headers=NO_STORE)
        return response

    endpoint = metrics_endpoint(manager)
    metrics_view.__name__ = metrics_view.__qualname__ = endpoint
    if authenticator is None:
        return metrics_view
    view = authenticator(metrics_view)
    if not callable(view):
        raise TypeError(
            f"authenticator of the metrics route of {manager.name!r} returned {view!r}, not a view function: "
            "it must be a decorator that takes the view and returns a new one"
        )
    return view


def child_exit(server: object, worker: Any) -> None:
    """gunicorn hook: forget a dead worker's ``live*`` gauges in multiprocess mode.

    Put it in ``gunicorn.conf.py`` (``from flask_status.metrics import child_exit``). It does
    nothing without ``PROMETHEUS_MULTIPROC_DIR``. flask-status's own metrics use no ``live*``
    mode (a dead worker's counts and latest results stay valid); it is for yours.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
