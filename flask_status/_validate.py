"""Validation shared by every registration: names and durations, checked where they are given.

Each function returns the value it accepts and raises ``TypeError`` / ``ValueError`` naming the
argument and the value it refuses, so misuse fails at registration, never at request time.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_SECONDS",
    "optional_authenticator",
    "positive_int",
    "require_callable",
    "require_seconds",
    "validate_name",
    "validate_seconds",
]

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


def require_seconds(value: object, what: str, *, allow_zero: bool) -> float:
    """:func:`validate_seconds` for a duration that must be given: ``None`` is refused too.

    >>> require_seconds(2, "socket_timeout", allow_zero=False)
    2.0
    """
    seconds = validate_seconds(value, what, allow_zero=allow_zero)
    if seconds is None:
        raise TypeError(f"{what} must be a number of seconds, not None")
    return seconds


def positive_int(value: Any, what: str) -> int:
    """``value`` if it is an int of at least 1 (``True`` is not a number here).

    >>> positive_int(8, "STATUS_MAX_WORKERS")
    8
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return value


def require_callable(value: object, what: str, expected: str = "a callable") -> Callable[..., Any]:
    """``value`` if it is callable, else a ``TypeError`` saying what ``what`` should be.

    >>> require_callable(len, "on_change") is len
    True
    """
    if not callable(value):
        raise TypeError(f"{what} must be {expected}, got {value!r}")
    return value


def optional_authenticator(value: Any, what: str = "authenticator") -> Any:
    """``value`` if it is ``None`` or a view decorator (a callable), else a ``TypeError``.

    >>> optional_authenticator(None) is None
    True
    """
    if value is not None:
        require_callable(value, what, "a view decorator (a callable)")
    return value
