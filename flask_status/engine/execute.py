"""Calling a user's callable once and turning what it gave into a :class:`FieldResult`.

The only place user code runs. Whatever the callable does (returns a value JSON cannot encode,
raises, returns a :class:`CheckResult`), the caller gets a result, never an exception, and
every text in it has been through the redactor.

>>> from flask_status.definitions import Field
>>> executor = Executor()
>>> executor.run(Field("answer", lambda: 42)).value
42
>>> executor.run(Field("db", lambda: 1 / 0, kind="check")).error
'ZeroDivisionError: division by zero'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from ..clock import SYSTEM, Clock
from ..definitions import Field
from ..redact import Redactor
from ..results import CheckResult, FieldResult, Status, error_text
from ..serialize import json_safe

__all__ = ["Executor"]


def _has_text(value: Any) -> bool:
    """Whether a JSON-safe ``value`` holds a string anywhere (an observed value to redact)."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    return False


def _redact_texts(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (JSON-safe: its depth is bounded) with every string in it redacted; keys too.

    >>> _redact_texts({"dsn": "postgresql://app:hunter2@db/app", "lag": [1, "ok"]}, Redactor())
    {'dsn': 'postgresql://app:***@db/app', 'lag': [1, 'ok']}
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_texts(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_texts(v, redact) for v in value]
    return value


def _call_plain(field: Field) -> Any:
    assert field.func is not None
    return field.func()


class Executor:
    """Runs fields' callables for one app and builds every kind of result a run can end in.

    ``call(field)`` invokes the callable (the app's ``ensure_sync`` for ``async def``);
    ``context()`` is entered around it (the app context); ``redact`` cleans error and message
    text; ``clock`` stamps results. Immutable after construction: shared by every thread.
    """

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM,
        redact: Callable[[str], str] | None = None,
        context: Callable[[], AbstractContextManager[Any]] | None = None,
        call: Callable[[Field], Any] | None = None,
    ) -> None:
        self.clock = clock
        self.redact: Callable[[str], str] = redact if redact is not None else Redactor()
        self._context = context
        self._call = call or _call_plain

    def run(self, field: Field) -> FieldResult:
        """Run ``field``'s callable once, now, in this thread."""
        started = time.perf_counter()
        try:
            if self._context is not None:
                with self._context():
                    raw = self._call(field)
            else:
                raw = self._call(field)
            result = self._interpret(field, raw, time.perf_counter() - started)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a failed check like any other, cached and damped
            return self.failure(field, exc, time.perf_counter() - started)
        if result.error is None and result.message is None and not _has_text(result.observed):
            return result
        redact = self.redact
        return replace(
            result,
            error=redact(result.error) if result.error is not None else None,
            message=redact(result.message) if result.message is not None else None,
            observed=_redact_texts(result.observed, redact),
        )

    def failure(self, field: Field, exc: BaseException | None, duration: float = 0.0) -> FieldResult:
        """A failed result for ``exc`` (``None``: the run ended without a result)."""
        text = self.redact(error_text(exc)) if exc is not None else "RuntimeError: the run ended without a result"
        return FieldResult(
            field.name, "fail", error=text, duration=duration, observed_at=self.clock.now(), time=self.clock.wall()
        )

    def timed_out(self, field: Field, timeout: float, waited: float) -> FieldResult:
        """The result of a wait for ``field`` that ended after ``timeout`` seconds."""
        return FieldResult(
            field.name,
            "fail",
            error=f"TimeoutError: no result within {timeout:g} s",
            duration=waited,
            observed_at=self.clock.now(),
            time=self.clock.wall(),
            timed_out=True,
        )

    def pending(self, field: Field, *, before: float | None = None) -> FieldResult:
        """The result of a field with none yet: failing until it has a verdict. ``before``:
        stamped no later than this clock time (when a run in flight started)."""
        now = self.clock.now()
        return FieldResult(
            field.name,
            "fail",
            error="Pending: no result yet",
            observed_at=now if before is None else min(before, now),
            time=self.clock.wall(),
            pending=True,
        )

    def _interpret(self, field: Field, raw: Any, duration: float) -> FieldResult:
        """What a callable returned, as a result: verdicts for checks, values for fields."""
        observed_at, stamp = self.clock.now(), self.clock.wall()
        if isinstance(raw, CheckResult):
            try:
                observed = json_safe(raw.observed)
            except (TypeError, ValueError) as exc:
                return FieldResult(
                    field.name, "fail", error=error_text(exc), duration=duration, observed_at=observed_at, time=stamp
                )
            return FieldResult(
                field.name,
                raw.status,
                message=raw.message,
                observed=observed,
                unit=raw.unit,
                duration=duration,
                observed_at=observed_at,
                time=stamp,
                reported_at=raw.time,
            )
        if field.kind == "check":
            status: Status = "pass" if raw else "fail"
            return FieldResult(
                field.name, status, value=bool(raw), duration=duration, observed_at=observed_at, time=stamp
            )
        try:
            value = json_safe(raw)
        except (TypeError, ValueError) as exc:
            return FieldResult(
                field.name, "fail", error=error_text(exc), duration=duration, observed_at=observed_at, time=stamp
            )
        return FieldResult(field.name, "pass", value=value, duration=duration, observed_at=observed_at, time=stamp)
