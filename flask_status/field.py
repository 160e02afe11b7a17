"""What a status route evaluates: fields and checks, and the results they give.

A :class:`Field` is a definition: a name and either a constant or a callable, with its caching
and timeout options. It holds no per-app state and never changes once built, so one field can
be read by any number of threads and served to any number of apps.

A :class:`FieldResult` is one evaluation of a field: value or error, status, duration and when
it was observed. Everything downstream (JSON bodies, health+json, the CLI) reads results only.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from .serialize import json_safe

__all__ = [
    "CheckOptions",
    "CheckResult",
    "Field",
    "FieldOptions",
    "FieldResult",
    "Status",
    "validate_name",
    "validate_seconds",
]

Status = Literal["pass", "warn", "fail"]
"""A verdict: ``"pass"``, ``"warn"`` or ``"fail"``, as in the IETF health+json draft."""

STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")

# Names that the renderers use for themselves in a body; a field of that name would be
# silently shadowed, so registration refuses them.
RESERVED_NAMES = frozenset({"status", "checks"})

# Matched with fullmatch: "$" would also match before a final newline, letting "db\n" through.
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")


def validate_name(name: object, what: str) -> str:
    """Return ``name`` if it is a usable identifier, else raise naming ``what`` was wrong.

    >>> validate_name("database", "field name")
    'database'
    >>> validate_name("db\\n", "field name")  # fullmatch: "$" would let a final newline in
    Traceback (most recent call last):
    ...
    ValueError: field name 'db\\n' is not valid: use letters, digits and _ . : - (starting with a letter, digit or _)
    """
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}: {name!r}")
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} is not valid: use letters, digits and _ . : - (starting with a letter, digit or _)"
        )
    return name


# The longest duration accepted, about 292 years: what this platform can wait for. Beyond it a
# timeout (Lock.acquire, Condition.wait) or a drain delay (time.sleep) raises OverflowError on
# every run; ttls and intervals share the bound, as they also become Redis PX milliseconds and
# lock lifetimes (64-bit), summed with a timeout.
MAX_SECONDS = threading.TIMEOUT_MAX


def validate_seconds(value: object, what: str, *, allow_zero: bool) -> float | None:
    """Return an optional duration in seconds as a float; ``None`` passes through.

    A duration is a finite int or float, positive (or zero with ``allow_zero``), and at most
    ``threading.TIMEOUT_MAX``: the longest the platform can wait for.

    >>> validate_seconds(30, "ttl", allow_zero=True)
    30.0
    >>> validate_seconds(1e10, "timeout", allow_zero=False)
    Traceback (most recent call last):
    ...
    ValueError: timeout must be at most 9223372036 seconds (threading.TIMEOUT_MAX), got 10000000000.0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}: {value!r}")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{what} must be {bound}, got {value!r}")
    if number > MAX_SECONDS:
        raise ValueError(f"{what} must be at most {MAX_SECONDS:.0f} seconds (threading.TIMEOUT_MAX), got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's verdict with its details, for checks that need more than true/false.

    ``status`` is ``"pass"``, ``"warn"`` or ``"fail"``; ``observed`` and ``unit`` become
    ``observedValue`` / ``observedUnit`` in health+json.

    >>> CheckResult.warn("disk 91% full", observed=0.91, unit="ratio").status
    'warn'
    """

    status: Status
    message: str | None = None
    observed: Any = field(default=None, kw_only=True)
    unit: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"CheckResult status must be one of {STATUSES}, got {self.status!r}")
        if self.message is not None and not isinstance(self.message, str):
            raise TypeError(f"CheckResult message must be a str or None, not {self.message!r}")
        if self.unit is not None and not isinstance(self.unit, str):
            raise TypeError(f"CheckResult unit must be a str or None, not {self.unit!r}")

    @classmethod
    def ok(cls, message: str | None = None, *, observed: Any = None, unit: str | None = None) -> CheckResult:
        """A passing result: ``CheckResult.ok("12 ms", observed=0.012, unit="s")``."""
        return cls("pass", message, observed=observed, unit=unit)

    @classmethod
    def warn(cls, message: str | None = None, *, observed: Any = None, unit: str | None = None) -> CheckResult:
        """A warning: ``CheckResult.warn("disk 91% full", observed=0.91, unit="ratio")``."""
        return cls("warn", message, observed=observed, unit=unit)

    @classmethod
    def fail(cls, message: str | None = None, *, observed: Any = None, unit: str | None = None) -> CheckResult:
        """A failure: ``CheckResult.fail("replica lag 40 s", observed=40, unit="s")``."""
        return cls("fail", message, observed=observed, unit=unit)


@dataclass(frozen=True, slots=True)
class FieldResult:
    """One evaluation of a field or check: immutable, safe to share between threads.

    ``value`` is JSON-safe (see :func:`flask_status.serialize.json_safe`): a field's value,
    a check's verdict (``True``/``False``), or ``None`` when the evaluation failed or the check
    returned a :class:`CheckResult` (whose parts are in ``message``/``observed``/``unit``).
    ``error`` is ``"ExceptionType: message"`` for a callable that raised or timed out, never a
    traceback. ``observed_at`` is on the manager's clock (monotonic by default) and decides
    freshness; ``time`` is the wall-clock time (epoch seconds) shown to people.

    >>> FieldResult("db", "pass", value=True).ok
    True
    """

    name: str
    status: Status
    value: Any = None
    error: str | None = None
    message: str | None = None
    observed: Any = None
    unit: str | None = None
    duration: float = 0.0
    observed_at: float = 0.0
    time: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True when the status is ``"pass"``."""
        return self.status == "pass"

    @property
    def failed(self) -> bool:
        """True when the status is ``"fail"``."""
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every attribute, for stores and ``--json`` output."""
        return {
            "name": self.name,
            "status": self.status,
            "value": self.value,
            "error": self.error,
            "message": self.message,
            "observed": self.observed,
            "unit": self.unit,
            "duration": self.duration,
            "observed_at": self.observed_at,
            "time": self.time,
            "timed_out": self.timed_out,
        }


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
        "func",
        "interval",
        "is_async",
        "key",
        "kind",
        "name",
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
        component_type: str | None = None,
        component_id: str | None = None,
    ) -> None:
        validate_name(name, f"{kind} name")
        if name in RESERVED_NAMES:
            raise ValueError(f"{kind} name {name!r} is reserved for the route's own status")
        if kind not in ("field", "check"):
            raise ValueError(f"kind must be 'field' or 'check', got {kind!r}")
        what = f"{kind} {name!r}"
        for label, flag in (("critical", critical), ("shared", shared)):
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
        self.critical = critical
        self.shared = shared
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
            if any(option is not None for option in options) or fail_after != 1 or recover_after != 1 or shared:
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
