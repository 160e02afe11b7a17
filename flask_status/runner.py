"""Evaluating fields: cache fast path, single flight, a bounded pool and timeouts.

The runner is the only place where user callables run. It needs no request: the views, the
``flask status`` command and background schedulers all call :meth:`Runner.evaluate`.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .cache import ResultStore
from .field import CheckResult, Field, FieldResult, Status
from .pool import WorkerPool
from .serialize import json_safe

__all__ = ["Runner", "RunnerSettings", "error_text"]

_runners: weakref.WeakSet[Runner] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for runner in list(_runners):
        runner._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def error_text(exc: BaseException) -> str:
    """``"ExceptionType: message"`` for an exception, without a traceback.

    >>> error_text(ConnectionError("refused"))
    'ConnectionError: refused'
    """
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """Defaults a runner applies to fields registered without their own value.

    ``default_ttl=None`` runs uncached callables on every evaluation; ``failure_ttl`` caps how
    long a failure is kept (a field's own ``failure_ttl`` overrides it); ``default_timeout`` is
    how long an evaluation waits for a field without ``timeout``.

    >>> RunnerSettings(default_timeout=2.0).default_timeout
    2.0
    """

    default_ttl: float | None = None
    default_timeout: float = 5.0
    failure_ttl: float = 5.0
    max_workers: int = 8


class Runner:
    """Evaluates fields for one app, each callable at most once at a time.

    ``evaluate(fields)`` answers from the store when a result is fresh; otherwise it joins the
    run already in flight for that field, or starts one on the pool, and waits for each until
    the field's timeout. A run that outlives its timeout keeps its place in flight, so later
    evaluations wait for it instead of starting another copy: a hung check holds one thread,
    never more. Runs execute inside ``context()`` (the app context, for the views).

    Thread-safety: one runner serves every request thread of its app. Shared between them:
    ``_inflight`` (field key to the ``Future`` of its current run), guarded by ``_lock``, held
    only to look up or register a run, never while one executes; the store, which is
    thread-safe by contract; the pool, which has its own lock. Results are immutable.

    >>> from flask_status.cache import MemoryStore
    >>> runner = Runner(MemoryStore())
    >>> [r.value for r in runner.evaluate([Field("answer", lambda: 42)])]
    [42]
    """

    def __init__(
        self,
        store: ResultStore,
        *,
        settings: RunnerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        context: Callable[[], AbstractContextManager[Any]] | None = None,
        call: Callable[[Field], Any] | None = None,
        name: str = "flask-status",
    ) -> None:
        self.store = store
        self.settings = settings or RunnerSettings()
        self.clock = clock
        self._context = context
        self._call = call or _call_plain
        self.pool = WorkerPool(self.settings.max_workers, name=name)
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[FieldResult]] = {}
        _runners.add(self)

    def _reset_after_fork(self) -> None:
        # The parent's runs do not exist in the child: waiting on their futures would report
        # a timeout forever and block every later run of those fields.
        self._lock = threading.Lock()
        self._inflight = {}
        reset = getattr(self.store, "reset_after_fork", None)
        if reset is not None:
            reset()

    # -- the per-field policy, resolved against the app's defaults ---------------------------

    def ttl(self, field: Field) -> float:
        """Seconds a passing result of ``field`` stays fresh (0: never cached)."""
        ttl = field.ttl if field.ttl is not None else self.settings.default_ttl
        return ttl or 0.0

    def ttl_for(self, field: Field, result: FieldResult) -> float:
        """Seconds ``result`` stays fresh: shorter for a failure, so recovery shows quickly."""
        ttl = self.ttl(field)
        if result.status != "fail" or ttl == 0:
            return ttl
        cap = field.failure_ttl if field.failure_ttl is not None else self.settings.failure_ttl
        return min(ttl, cap)

    def timeout(self, field: Field) -> float:
        """Seconds an evaluation waits for ``field``."""
        return field.timeout if field.timeout is not None else self.settings.default_timeout

    def fresh_until(self, field: Field, result: FieldResult) -> float:
        """The clock time until which ``result`` may be served for ``field`` without a run."""
        if field.func is None:
            return float("inf")
        if result.timed_out:
            return float("-inf")
        return result.observed_at + self.ttl_for(field, result)

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, fields: Sequence[Field]) -> list[FieldResult]:
        """Results for ``fields``, in order, within each field's timeout.

        Never raises for a field's sake: a callable that raises, returns something JSON cannot
        encode, or times out gives a ``"fail"`` result saying so.
        """
        now = self.clock()
        results: list[FieldResult | None] = [None] * len(fields)
        waits: list[tuple[int, Field, Future[FieldResult]]] = []
        store = self.store
        for index, field in enumerate(fields):
            constant = field.constant_result
            if constant is not None:
                results[index] = constant
                continue
            if self.ttl(field):
                cached = store.get(field.key)
                if cached is not None and now < self.fresh_until(field, cached):
                    results[index] = cached
                    continue
            waits.append((index, field, self._flight(field, now)))
        started = time.monotonic()
        for index, field, future in waits:
            timeout = self.timeout(field)
            remaining = started + timeout - time.monotonic()
            try:
                results[index] = future.result(timeout=max(remaining, 0.0))
            except FutureTimeout:
                results[index] = FieldResult(
                    field.name,
                    "fail",
                    error=f"TimeoutError: no result within {timeout:g} s",
                    duration=time.monotonic() - started,
                    observed_at=self.clock(),
                    time=time.time(),
                    timed_out=True,
                )
            except BaseException as exc:  # the run itself broke down; report, never raise
                results[index] = self._failure(field, exc, 0.0)
        return [r for r in results if r is not None]

    def _flight(self, field: Field, now: float) -> Future[FieldResult]:
        """The future of ``field``'s run in flight, starting one if there is none."""
        with self._lock:
            future = self._inflight.get(field.key)
            if future is not None:
                return future
            if self.ttl(field):
                # A run may have finished between our store lookup and taking the lock.
                cached = self.store.get(field.key)
                if cached is not None and now < self.fresh_until(field, cached):
                    done: Future[FieldResult] = Future()
                    done.set_result(cached)
                    return done
            future = Future()
            self._inflight[field.key] = future
        self.pool.submit(lambda: self._run(field, future))
        return future

    def _run(self, field: Field, future: Future[FieldResult]) -> None:
        result: FieldResult | None = None
        try:
            result = self.execute(field)
            ttl = self.ttl(field)
            if ttl:
                # The store keeps a failure only as long as it is fresh; a success for its ttl.
                self.store.put(field.key, result, self.ttl_for(field, result))
        except BaseException as exc:
            if result is None:
                result = self._failure(field, exc, 0.0)
        finally:
            with self._lock:
                if self._inflight.get(field.key) is future:
                    del self._inflight[field.key]
            future.set_result(result if result is not None else self._failure(field, None, 0.0))

    def execute(self, field: Field) -> FieldResult:
        """Run ``field``'s callable once, now, in this thread, and interpret what it gives."""
        started = time.perf_counter()
        try:
            if self._context is not None:
                with self._context():
                    raw = self._call(field)
            else:
                raw = self._call(field)
            return _interpret(field, raw, time.perf_counter() - started, self.clock())
        except Exception as exc:
            return self._failure(field, exc, time.perf_counter() - started)

    def _failure(self, field: Field, exc: BaseException | None, duration: float) -> FieldResult:
        text = error_text(exc) if exc is not None else "RuntimeError: the run ended without a result"
        return FieldResult(
            field.name, "fail", error=text, duration=duration, observed_at=self.clock(), time=time.time()
        )

    @property
    def inflight(self) -> int:
        """How many runs are in flight now (hung ones included)."""
        return len(self._inflight)


def _call_plain(field: Field) -> Any:
    assert field.func is not None
    return field.func()


def _interpret(field: Field, raw: Any, duration: float, observed_at: float) -> FieldResult:
    """Turn what a callable returned into a result: verdicts for checks, values for fields."""
    stamp = time.time()
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
        )
    if field.kind == "check":
        verdict = bool(raw)
        status: Status = "pass" if verdict else "fail"
        return FieldResult(field.name, status, value=verdict, duration=duration, observed_at=observed_at, time=stamp)
    try:
        value = json_safe(raw)
    except (TypeError, ValueError) as exc:
        return FieldResult(
            field.name, "fail", error=error_text(exc), duration=duration, observed_at=observed_at, time=stamp
        )
    return FieldResult(field.name, "pass", value=value, duration=duration, observed_at=observed_at, time=stamp)
