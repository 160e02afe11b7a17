"""What a status route is made of: routes, fields and checks, as immutable definitions.

A :class:`StatusRoute` is a URL, a message, an authenticator and options, with the fields and
checks added to it. A :class:`Field` is a name and either a constant or a callable, with its
caching and timeout options. Definitions hold no per-app state: results and rendered bodies
live per app in :class:`flask_status.state.StatusState`, so one definition serves any number
of threads and apps.

Registration is meant for setup time, but a field added while requests are served is safe: a
route's tuple of fields is replaced, never mutated, so a request sees the old set or the new
one, never half of one.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from ._validate import optional_authenticator, validate_name, validate_seconds
from .heartbeat import Heartbeat
from .results import STATUSES, FieldResult
from .serialize import json_safe

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "FORMATS",
    "RESERVED_NAMES",
    "Authenticator",
    "CheckOptions",
    "Field",
    "FieldOptions",
    "Format",
    "StatusRoute",
    "normalize_message",
    "normalize_url",
    "validate_status_codes",
]

Format = Literal["json", "health+json"]
"""A route's body format: the seed-style ``"json"`` or IETF ``"health+json"``."""

FORMATS: tuple[Format, ...] = ("json", "health+json")

# Names that the renderers use for themselves in a body; a field of that name would be
# silently shadowed, so registration refuses them.
RESERVED_NAMES = frozenset({"status", "checks"})

FieldKind = Literal["field", "check"]


class FieldOptions(TypedDict, total=False):
    """The options of :meth:`StatusRoute.add_field` and :meth:`StatusRoute.field`."""

    ttl: float | None
    timeout: float | None
    failure_ttl: float | None
    stale: float | None
    interval: float | None
    critical: bool
    fail_after: int
    recover_after: int
    shared: bool
    inline: bool
    once: bool
    fleet_tolerant: bool


class CheckOptions(FieldOptions, total=False):
    """The options of :meth:`StatusRoute.add_check` and :meth:`StatusRoute.check`."""

    component_type: str | None
    component_id: str | None


class Field:
    """One named item of a status route: a constant, or a callable evaluated on request.

    A *field* reports a value (``"version": "2.0.0"``, ``"queue": 12``); it fails only when
    its callable raises or times out. A *check* reports a verdict: truthy passes, falsy or an
    exception fails, a :class:`CheckResult` says exactly what. Fields are immutable
    definitions, shared freely between threads and apps; results live in the runner's store.

    Options (all keyword-only, validated here, so misuse fails at registration):

    - ``ttl``: seconds a result stays fresh. ``None`` takes the app's ``STATUS_DEFAULT_TTL``
      (itself ``None``: run on every request); ``0`` never caches.
    - ``timeout``: seconds a request waits for a run; ``None`` takes ``STATUS_DEFAULT_TIMEOUT``.
    - ``failure_ttl``: how long a failed result stays fresh (default: the smaller of ``ttl``
      and ``STATUS_FAILURE_TTL``), so a dependency that comes back is seen again quickly.
    - ``stale``: seconds past freshness during which the last result is served at once while
      one background run refreshes it (needs ``ttl``).
    - ``interval``: run on a schedule in the background every ``interval`` seconds; requests
      only read the latest result (excludes ``ttl`` and ``stale``).
    - ``critical``: ``False`` makes a failure a warning for the route.
    - ``fail_after``: report ``fail`` only after this many consecutive failed runs (``warn``
      before that); ``recover_after``: report ``pass`` again only after this many consecutive
      passing runs. Both default to 1.
    - ``shared``: with a shared store (``STATUS_STORE_URL``), run once per ttl (or interval)
      across every process and replica using the store, instead of once per process.
    - ``inline``: ``True`` runs the callable in the thread of the request that needs it (in
      that request's app context) instead of on the manager's thread pool, **without a
      timeout**: a call that hangs hangs that request, and nothing can stop it. It saves the
      thread hand-off, the larger part of what an uncached field costs per request; meant
      for callables that cannot block (a counter, a flag, ``psutil.cpu_percent()``), not for
      anything that does I/O. Single flight still holds: another request that finds the call
      running waits for it up to ``timeout``. Not with ``interval``, ``stale`` or ``shared``
      (those run in the background or wait on other processes). Default ``False``.
    - ``once``: ``True`` runs the callable until it passes once, then never again in this
      process: the passing result stays (a migration check on a startup route). Until it
      passes, a failure is run again after ``failure_ttl`` (or ``ttl``, if smaller). Not with
      ``interval``, ``stale`` or ``shared``.
    - ``fleet_tolerant`` (checks): with a shared store, each process publishes its verdicts;
      when **every** process of the fleet sees this check fail (a dependency down for all),
      readiness routes report it as ``warn`` and stay in rotation (no pod would do better),
      while other routes, metrics and fleet hooks still say ``fail``; a failure that only
      some processes see still fails their readiness. Default ``False``.
    - ``component_type`` / ``component_id`` (checks): shown in health+json.

    >>> Field("version", "2.0.0").constant
    True
    >>> Field("db", lambda: True, kind="check", ttl=30, stale=300).stale
    300.0
    """

    __slots__ = (
        "component_id",
        "component_type",
        "constant_result",
        "critical",
        "fail_after",
        "failure_ttl",
        "fleet_tolerant",
        "func",
        "inline",
        "interval",
        "is_async",
        "key",
        "kind",
        "name",
        "once",
        "recover_after",
        "shared",
        "stale",
        "timeout",
        "ttl",
        "value",
    )

    def __init__(
        self,
        name: str,
        value: Any,
        *,
        kind: FieldKind = "field",
        ttl: float | None = None,
        timeout: float | None = None,
        failure_ttl: float | None = None,
        stale: float | None = None,
        interval: float | None = None,
        critical: bool = True,
        fail_after: int = 1,
        recover_after: int = 1,
        shared: bool = False,
        inline: bool = False,
        once: bool = False,
        fleet_tolerant: bool = False,
        component_type: str | None = None,
        component_id: str | None = None,
    ) -> None:
        validate_name(name, f"{kind} name")
        if name in RESERVED_NAMES:
            raise ValueError(f"{kind} name {name!r} is reserved for the route's own status")
        if kind not in ("field", "check"):
            raise ValueError(f"kind must be 'field' or 'check', got {kind!r}")
        what = f"{kind} {name!r}"
        for label, flag in (
            ("critical", critical),
            ("shared", shared),
            ("inline", inline),
            ("once", once),
            ("fleet_tolerant", fleet_tolerant),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{label} of {what} must be a bool, got {flag!r}")
        for label, count in (("fail_after", fail_after), ("recover_after", recover_after)):
            if isinstance(count, bool) or not isinstance(count, int):
                raise TypeError(f"{label} of {what} must be an int, got {count!r}")
            if count < 1:
                raise ValueError(f"{label} of {what} must be at least 1, got {count!r}")
        for label, text in (("component_type", component_type), ("component_id", component_id)):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"{label} of {what} must be a str or None, got {text!r}")
        self.name = name
        self.kind: FieldKind = kind
        self.ttl = validate_seconds(ttl, f"ttl of {what}", allow_zero=True)
        self.timeout = validate_seconds(timeout, f"timeout of {what}", allow_zero=False)
        self.failure_ttl = validate_seconds(failure_ttl, f"failure_ttl of {what}", allow_zero=True)
        self.stale = validate_seconds(stale, f"stale of {what}", allow_zero=True)
        self.interval = validate_seconds(interval, f"interval of {what}", allow_zero=False)
        if self.stale is not None and not self.ttl:
            raise ValueError(f"stale of {what} needs a positive ttl: stale results are those past their ttl")
        if self.interval is not None and (ttl is not None or stale is not None or failure_ttl is not None):
            raise ValueError(
                f"{what} has an interval: the scheduler refreshes it, so ttl, stale and failure_ttl do not apply"
            )
        if shared and self.interval is None and not self.ttl:
            raise ValueError(f"shared {what} needs a ttl or an interval: it runs once per ttl across processes")
        # inline and once both rule out the options that run in the background or across processes.
        clashes = " and ".join(
            option
            for option, given in (("interval", interval), ("stale", stale), ("shared", shared))
            if given is not None and given is not False
        )
        if inline and clashes:
            raise ValueError(
                f"inline {what} runs in the request that needs it, so {clashes} cannot apply: "
                "those run in the background or wait on other processes"
            )
        if once and clashes:
            raise ValueError(
                f"{what} runs once until it passes, so {clashes} cannot apply: "
                "its passing result is kept in this process for good"
            )
        self.critical = critical
        self.shared = shared
        self.inline = inline
        self.once = once
        if fleet_tolerant and kind != "check":
            raise ValueError(f"fleet_tolerant applies to checks, not to {what}")
        self.fleet_tolerant = fleet_tolerant
        self.fail_after = fail_after
        self.recover_after = recover_after
        self.component_type = component_type
        self.component_id = component_id
        self.constant_result: FieldResult | None
        if callable(value):
            _check_no_required_arguments(value, what)
            self.func: Callable[[], Any] | None = value
            self.value: Any = None
            self.is_async = _is_async(value)
            if self.is_async and importlib.util.find_spec("asgiref") is None:
                raise RuntimeError(
                    f"{what} is an async function: install the async extra, "
                    "pip install 'flask-status[async]' (Flask runs coroutines with asgiref)"
                )
            # Keyed by name, kind *and* callable identity: the same check registered under the
            # same name on two routes shares one cache entry; two different callables never do,
            # nor a field and a check of one callable (one caches a value, the other a verdict).
            self.key = f"{name}#{kind}:{id(value):x}"
            self.constant_result = None
        else:
            if kind == "check":
                raise TypeError(f"check {name!r} needs a callable, got {type(value).__name__}: {value!r}")
            options = (ttl, timeout, failure_ttl, stale, interval)
            if (
                any(option is not None for option in options)
                or fail_after != 1
                or recover_after != 1
                or shared
                or inline
                or once
                or fleet_tolerant
            ):
                raise ValueError(f"field {name!r} is a constant: caching and timing options apply to callables")
            try:
                safe = json_safe(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"value of field {name!r} is not JSON-serialisable: {exc}") from None
            self.func = None
            self.value = safe
            self.is_async = False
            self.key = f"{name}#const"
            self.constant_result = FieldResult(name, "pass", value=safe)

    @property
    def constant(self) -> bool:
        """True when the field is a constant value rather than a callable."""
        return self.func is None

    @property
    def stable_key(self) -> str:
        """A key naming this field the same way in every process, for stores shared between them.

        The name, a field's kind (a field and a check of one callable never share a result: one
        holds a value, the other a verdict), the callable's module and qualified name, the line
        it starts on (two lambdas of one module differ), and the arguments a
        ``functools.partial`` binds and the values a closure holds, when they are plain values
        (``partial(ping, "replica")`` and ``partial(ping, "primary")`` differ). A check's key
        carries no kind, so the keys of shared checks, the common case, stay as they were.

        >>> import time
        >>> Field("clock", time.monotonic, kind="check").stable_key
        'clock:time.monotonic'
        >>> Field("clock", time.monotonic).stable_key
        'clock:field:time.monotonic'
        """
        parts = [self.name] if self.kind == "check" else [self.name, self.kind]
        bound: list[str] = []
        target: Any = self.func
        while isinstance(target, functools.partial):
            bound.append(_plain_repr((target.args, sorted(target.keywords.items()))))
            target = target.func
        qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
        module = getattr(target, "__module__", None) or type(target).__module__
        parts += [f"{module}.{qualname}", *bound]
        code = getattr(target, "__code__", None)
        if code is not None:
            parts.append(str(code.co_firstlineno))
        cells = getattr(target, "__closure__", None) or ()
        values = []
        for cell in cells:
            try:
                values.append(cell.cell_contents)
            except ValueError:  # an empty cell
                values.append(None)
        if values:
            parts.append(_plain_repr(tuple(values)))
        return ":".join(part for part in parts if part)

    def __repr__(self) -> str:
        what = "constant" if self.func is None else getattr(self.func, "__qualname__", repr(self.func))
        return f"<{self.kind.capitalize()} {self.name!r} {what} ttl={self.ttl} timeout={self.timeout}>"


def _plain_repr(value: Any) -> str:
    """``repr(value)`` when it holds only plain values (the same in every process), else ``""``."""
    plain = (str, int, float, bool, type(None), bytes)

    def ok(item: Any) -> bool:
        if isinstance(item, (tuple, list)):
            return all(ok(x) for x in item)
        return isinstance(item, plain)

    return repr(value) if ok(value) else ""


def _check_no_required_arguments(func: Callable[..., Any], what: str) -> None:
    """Refuse a callable that cannot be called with no arguments, at registration."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have no signature: let them be
        return
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if required:
        raise TypeError(f"{what} is called with no arguments, but its callable requires {', '.join(required)}")


def _is_async(func: Callable[..., Any]) -> bool:
    """True for ``async def`` functions, including when wrapped in a partial or an object."""
    target: Any = func
    while hasattr(target, "func"):  # functools.partial, possibly nested
        target = target.func
    if inspect.iscoroutinefunction(target):
        return True
    call = getattr(target, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return call is not None and inspect.iscoroutinefunction(call)


F = TypeVar("F", bound=Callable[..., Any])

Authenticator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""A view decorator, as for any Flask view: it may ``abort(401)`` / ``abort(403)``."""

_ROUTE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch: "$" lets a final newline in
_BAD_URL_CHARS = re.compile(r"[\s?#<>]")


def normalize_url(url: object) -> str:
    """Return ``url`` with a leading slash; refuse non-strings and URLs Flask would misread.

    >>> normalize_url("health/live")
    '/health/live'
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}: {url!r}")
    if not url.strip("/"):
        if url == "/":
            return url
        raise ValueError(f"url must not be empty, got {url!r}")
    if _BAD_URL_CHARS.search(url):
        raise ValueError(f"url {url!r} must be a plain path: no spaces, '?', '#' or '<converters>'")
    return url if url.startswith("/") else "/" + url


def normalize_message(message: object) -> dict[str, Any]:
    """A fresh dict body from a message: a dict is copied, a str becomes ``{"message": str}``.

    >>> normalize_message("Running")
    {'message': 'Running'}
    """
    if message is None:
        return {"status": "OK"}
    if isinstance(message, str):
        return {"message": message}
    if isinstance(message, Mapping):
        for key in message:
            if not isinstance(key, str):
                raise TypeError(f"message keys must be str, got {key!r}")
        try:
            return dict(json_safe(dict(message)))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"message is not JSON-serialisable: {exc}") from None
    raise TypeError(f"message must be a dict or a str, not {type(message).__name__}: {message!r}")


def validate_status_codes(codes: object, what: str = "status_codes") -> dict[str, int]:
    """Check a ``{"pass": 200, "warn": 200, "fail": 503}``-style mapping (any subset).

    >>> validate_status_codes({"warn": 207})
    {'warn': 207}
    """
    if not isinstance(codes, Mapping):
        raise TypeError(f"{what} must be a mapping of status to HTTP code, got {codes!r}")
    checked: dict[str, int] = {}
    for status, code in codes.items():
        if status not in STATUSES:
            raise ValueError(f"{what} keys must be 'pass', 'warn' or 'fail', got {status!r}")
        # The health+json draft: pass and warn are 2xx-3xx, fail is 4xx-5xx.
        low, high = (400, 599) if status == "fail" else (200, 399)
        if isinstance(code, bool) or not isinstance(code, int) or not low <= code <= high:
            raise ValueError(f"{what}[{status!r}] must be an HTTP status from {low} to {high}, got {code!r}")
        checked[status] = code
    return checked


class StatusRoute:
    """One named status route: its URL, message, fields, checks and authenticator.

    Create routes with :meth:`StatusManager.add_route`. ``details`` is ``True`` (show every
    field and check), ``False`` (answer with the status alone: the public readiness route), or
    a callable deciding per request. ``format`` is ``"json"`` (the seed-style body) or
    ``"health+json"``; ``None`` takes the app's ``STATUS_DEFAULT_FORMAT``. ``status_codes``
    overrides the HTTP code of ``pass`` / ``warn`` / ``fail``. ``readiness=True`` marks a
    readiness route: it fails while the manager drains (:meth:`StatusManager.drain`), and on
    the probe listener while the app is saturated (``STATUS_SATURATED_AFTER``).
    ``liveness=True`` marks a liveness route: on the probe listener it fails while a worker is
    stuck (``STATUS_STUCK_AFTER``, see :doc:`/probes`). A route is one or the other, or neither.
    ``history=True`` adds each check's recent transitions and sampled results to the route's
    details (JSON ``history``, a timeline on the status page; see :doc:`/fleet`).

    >>> route = StatusRoute("details", "/health/details", message={"service": "billing"})
    >>> route.add_field("version", "2.0.0").constant
    True
    """

    def __init__(
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
    ) -> None:
        validate_name(name, "route name")
        if not _ROUTE_NAME_RE.fullmatch(name):
            raise ValueError(f"route name {name!r} must be a Python-style identifier (letters, digits, _)")
        optional_authenticator(authenticator)
        if not isinstance(details, bool) and not callable(details):
            raise TypeError(f"details must be a bool or a callable returning one, got {details!r}")
        if not isinstance(readiness, bool):
            raise TypeError(f"readiness must be a bool, got {readiness!r}")
        if not isinstance(liveness, bool):
            raise TypeError(f"liveness must be a bool, got {liveness!r}")
        if not isinstance(history, bool):
            raise TypeError(f"history must be a bool, got {history!r}")
        if readiness and liveness:
            raise ValueError(
                f"route {name!r} cannot be both readiness=True and liveness=True: a drain or a saturated "
                "app fails readiness, and must never fail liveness (Kubernetes would restart the pod)"
            )
        if format is not None and format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        self.name = name
        self.url = normalize_url(url)
        self._message = normalize_message(message)
        self.message: Mapping[str, Any] = MappingProxyType(self._message)
        self.authenticator = authenticator
        self.details = details
        self.readiness = readiness
        self.liveness = liveness
        self.history = history
        self.format: Format | None = format
        self.status_codes: Mapping[str, int] = MappingProxyType(
            validate_status_codes(status_codes) if status_codes is not None else {}
        )
        self.fields: tuple[Field, ...] = ()
        #: Bumped whenever a field is added; rendered bodies of an older version are stale.
        self.version = 0

    def _add(self, field: Field) -> Field:
        if field.name in self._message:
            raise ValueError(f"{field.kind} name {field.name!r} is already a key of route {self.name!r}'s message")
        if any(existing.name == field.name for existing in self.fields):
            raise ValueError(f"route {self.name!r} already has a field or check named {field.name!r}")
        self.fields = (*self.fields, field)
        self.version += 1
        return field

    def add_field(self, name: str, value: Any, **options: Unpack[FieldOptions]) -> Field:
        """Add a field: a JSON-serialisable constant, or a callable evaluated on request.

        A callable's return value is the field's value; if it raises or times out, the
        field's entry says why and the route answers 503 (unless ``critical=False``, which
        only makes it warn). Options: ``ttl``, ``timeout``, ``failure_ttl``, ``stale``,
        ``interval``, ``critical``, ``fail_after``, ``recover_after``, ``shared``, ``inline``
        (see :class:`Field`).

        >>> route = StatusRoute("details", "/details")
        >>> route.add_field("queue", lambda: 3, timeout=2.0).timeout
        2.0
        """
        return self._add(Field(name, value, **options))

    def field(self, name: str, **options: Unpack[FieldOptions]) -> Callable[[F], F]:
        """Decorator form of :meth:`add_field`; returns the function unchanged.

        >>> route = StatusRoute("details", "/details")
        >>> @route.field("cache", ttl=10)
        ... def cache_ok():
        ...     return True
        """

        def register(func: F) -> F:
            self.add_field(name, func, **options)
            return func

        return register

    def add_check(self, name: str, func: Callable[[], Any], **options: Unpack[CheckOptions]) -> Field:
        """Add a check: ``func`` returns truthy (pass), falsy (fail) or a ``CheckResult``.

        A check that raises or times out fails. Options are those of :meth:`add_field`, plus
        ``component_type`` / ``component_id`` for health+json.

        >>> route = StatusRoute("ready", "/ready")
        >>> route.add_check("database", lambda: True, ttl=30).kind
        'check'
        """
        return self._add(Field(name, func, kind="check", **options))

    def check(self, name: str, **options: Unpack[CheckOptions]) -> Callable[[F], F]:
        """Decorator form of :meth:`add_check`; returns the function unchanged.

        >>> route = StatusRoute("ready", "/ready")
        >>> @route.check("database", ttl=30)
        ... def database():
        ...     return True
        """

        def register(func: F) -> F:
            self.add_check(name, func, **options)
            return func

        return register

    def add_heartbeat(self, name: str, *, every: float, grace: float = 0.0, **options: Unpack[CheckOptions]) -> Field:
        """Add a heartbeat: a check that passes while beats of ``name`` arrive, and fails when
        none came for ``every + grace`` seconds ("no beat for 2 h 3 min, expected every 1 h"),
        or when none ever came. A beat is ``status.beat(name)`` (Python) or ``flask status beat
        NAME`` (a shell, a cron line). Its observed value is the last beat's age in seconds,
        and its time the last beat's. Beats cross processes and hosts through the shared store
        (``STATUS_STORE_URL``); without one they stay in the process. Options are those of
        :meth:`add_check`.

        >>> route = StatusRoute("details", "/health/details")
        >>> route.add_heartbeat("nightly-import", every=86400, grace=3600).kind
        'check'
        """
        return self._add(Field(name, Heartbeat(name, every, grace), kind="check", **options))

    def heartbeats(self) -> dict[str, Heartbeat]:
        """This route's heartbeats, by name."""
        return {f.func.name: f.func for f in self.fields if isinstance(f.func, Heartbeat)}

    def __repr__(self) -> str:
        return f"<StatusRoute {self.name!r} {self.url} fields={[f.name for f in self.fields]}>"
