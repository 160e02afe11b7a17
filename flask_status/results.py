"""What an evaluation produces: verdicts, results and how a route's items add up to its status.

Immutable values only: a result is built once by the engine and then read by any number of
threads, renderers and stores. Nothing here imports Flask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "STATUSES",
    "CheckResult",
    "FieldResult",
    "Status",
    "aggregate",
    "error_text",
    "item_status",
]

Status = Literal["pass", "warn", "fail"]
"""A verdict: ``"pass"``, ``"warn"`` or ``"fail"``, as in the IETF health+json draft."""

STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")


def error_text(exc: BaseException) -> str:
    """``"ExceptionType: message"`` for an exception, without a traceback.

    >>> error_text(ConnectionError("refused"))
    'ConnectionError: refused'
    """
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's verdict with its details, for checks that need more than true/false.

    ``status`` is ``"pass"``, ``"warn"`` or ``"fail"``; ``observed`` and ``unit`` become
    ``observedValue`` / ``observedUnit`` in health+json. ``time`` (epoch seconds) is when what
    the result reports happened, shown as health+json's ``time``; by default, when the check ran.
    Freshness and caching always count from the run.

    >>> CheckResult.warn("disk 91% full", observed=0.91, unit="ratio").status
    'warn'
    """

    status: Status
    message: str | None = None
    observed: Any = field(default=None, kw_only=True)
    unit: str | None = field(default=None, kw_only=True)
    time: float | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.time is not None and (
            isinstance(self.time, bool) or not isinstance(self.time, (int, float)) or not math.isfinite(self.time)
        ):
            raise TypeError(f"CheckResult time must be epoch seconds (a finite number) or None, not {self.time!r}")
        if self.status not in STATUSES:
            raise ValueError(f"CheckResult status must be one of {STATUSES}, got {self.status!r}")
        if self.message is not None and not isinstance(self.message, str):
            raise TypeError(f"CheckResult message must be a str or None, not {self.message!r}")
        if self.unit is not None and not isinstance(self.unit, str):
            raise TypeError(f"CheckResult unit must be a str or None, not {self.unit!r}")

    @classmethod
    def ok(
        cls, message: str | None = None, *, observed: Any = None, unit: str | None = None, time: float | None = None
    ) -> CheckResult:
        """A passing result: ``CheckResult.ok("12 ms", observed=0.012, unit="s")``."""
        return cls("pass", message, observed=observed, unit=unit, time=time)

    @classmethod
    def warn(
        cls, message: str | None = None, *, observed: Any = None, unit: str | None = None, time: float | None = None
    ) -> CheckResult:
        """A warning: ``CheckResult.warn("disk 91% full", observed=0.91, unit="ratio")``."""
        return cls("warn", message, observed=observed, unit=unit, time=time)

    @classmethod
    def fail(
        cls, message: str | None = None, *, observed: Any = None, unit: str | None = None, time: float | None = None
    ) -> CheckResult:
        """A failure: ``CheckResult.fail("replica lag 40 s", observed=40, unit="s")``."""
        return cls("fail", message, observed=observed, unit=unit, time=time)


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
    #: True for the placeholder of a field with no result yet (it counts as failing).
    pending: bool = False
    #: When what the result reports happened (epoch seconds: a heartbeat's last beat), from
    #: ``CheckResult(time=...)``; ``None``: when it ran (``time``). Shown, never used for freshness.
    reported_at: float | None = None

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
            "pending": self.pending,
            "reported_at": self.reported_at,
        }


class Item(Protocol):
    """What :func:`item_status` needs of a field: whether its failure fails the route."""

    @property
    def critical(self) -> bool: ...


def item_status(field: Item, result: FieldResult) -> Status:
    """What ``result`` counts for in its route: a non-critical failure only warns.

    >>> from flask_status.definitions import Field
    >>> item_status(Field("cache", lambda: 1, critical=False), FieldResult("cache", "fail"))
    'warn'
    """
    if result.status == "fail" and not field.critical:
        return "warn"
    return result.status


def aggregate(fields: Sequence[Item], results: Sequence[FieldResult]) -> Status:
    """A route's status: ``fail`` if a critical item fails, else ``warn`` if any item warns or
    a non-critical one fails, else ``pass``.

    >>> from flask_status.definitions import Field
    >>> aggregate([Field("db", lambda: 1)], [FieldResult("db", "pass")])
    'pass'
    """
    status: Status = "pass"
    for item, result in zip(fields, results, strict=True):
        verdict = item_status(item, result)
        if verdict == "fail":
            return "fail"
        if verdict == "warn":
            status = "warn"
    return status
