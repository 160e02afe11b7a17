"""A status route's definition: URL, message, fields and checks, authenticator, options.

A route holds definitions only; results and rendered bodies live per app in
:class:`flask_status.state.StatusState`. Registration is meant for setup time, but a field
added while requests are served is safe: the tuple of fields is replaced, never mutated, so a
request sees the old set or the new one, never half of one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from .field import CheckOptions, Field, FieldOptions, validate_name
from .report import FORMATS, Format
from .serialize import json_safe

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "Authenticator",
    "StatusRoute",
    "normalize_message",
    "normalize_url",
    "validate_status_codes",
]

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
        if status not in ("pass", "warn", "fail"):
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
    readiness route: it fails while the manager drains (:meth:`StatusManager.drain`).

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
    ) -> None:
        validate_name(name, "route name")
        if not _ROUTE_NAME_RE.fullmatch(name):
            raise ValueError(f"route name {name!r} must be a Python-style identifier (letters, digits, _)")
        if authenticator is not None and not callable(authenticator):
            raise TypeError(f"authenticator must be a view decorator (a callable), got {authenticator!r}")
        if not isinstance(details, bool) and not callable(details):
            raise TypeError(f"details must be a bool or a callable returning one, got {details!r}")
        if not isinstance(readiness, bool):
            raise TypeError(f"readiness must be a bool, got {readiness!r}")
        if format is not None and format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        self.name = name
        self.url = normalize_url(url)
        self._message = normalize_message(message)
        self.message: Mapping[str, Any] = MappingProxyType(self._message)
        self.authenticator = authenticator
        self.details = details
        self.readiness = readiness
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
        ``interval``, ``critical``, ``fail_after``, ``recover_after`` (see :class:`Field`).

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

    def __repr__(self) -> str:
        return f"<StatusRoute {self.name!r} {self.url} fields={[f.name for f in self.fields]}>"
