"""Evaluating fields: cache fast path, single flight, a bounded pool and timeouts.

The runner is the only place where user callables run. It needs no request: the views, the
``flask status`` command and background schedulers all call :meth:`Runner.evaluate`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any

from .cache import ResultStore, SharedStore
from .field import CheckResult, Field, FieldResult, Status
from .pool import WorkerPool
from .redact import Redactor
from .serialize import json_safe

__all__ = ["Runner", "RunnerSettings", "error_text"]

log = logging.getLogger("flask_status")

PENDING = "Pending: no result yet"
"""The error of a periodic field before its first run: it counts as failing."""

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
    how long an evaluation waits for a field without ``timeout``; ``redact`` cleans every
    error and message text a run produces (see :class:`~flask_status.redact.Redactor`).

    >>> RunnerSettings(default_timeout=2.0).default_timeout
    2.0
    """

    default_ttl: float | None = None
    default_timeout: float = 5.0
    failure_ttl: float = 5.0
    max_workers: int = 8
    redact: Callable[[str], str] = dataclass_field(default_factory=Redactor)


class Runner:
    """Evaluates fields for one app, each callable at most once at a time.

    ``evaluate(fields)`` answers from the store when a result is fresh; otherwise it joins the
    run already in flight for that field, or starts one on the pool, and waits for each until
    the field's timeout. A run that outlives its timeout keeps its place in flight, so later
    evaluations wait for it instead of starting another copy: a hung check holds one thread,
    never more. Runs execute inside ``context()`` (the app context, for the views).

    Thread-safety: one runner serves every request thread of its app, its pool's workers and
    the scheduler. ``_inflight`` (field key to the ``Future`` of its current run), ``_started``
    (when that run started, for timeouts) and ``_damping`` (the ``fail_after`` /
    ``recover_after`` counts) are guarded by ``_lock``, held only to look up or register a
    run, never while one executes. The stores are thread-safe by contract; the pool has its
    own lock; results are immutable. After ``fork()`` the child gets a fresh lock and no runs.

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
        shared: SharedStore | None = None,
    ) -> None:
        self.store = store
        #: The store shared between processes, for fields registered with ``shared=True``.
        self.shared = shared
        self.settings = settings or RunnerSettings()
        self.clock = clock
        self._context = context
        self._call = call or _call_plain
        self.pool = WorkerPool(self.settings.max_workers, name=name)
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[FieldResult]] = {}
        self._started: dict[str, float] = {}
        self._damping: dict[str, tuple[Status, int, int]] = {}
        #: Called with the field and its result after each run completes (periodic runs and
        #: stale refreshes included), from the worker thread; exceptions (``SystemExit`` too, all
        #: but ``KeyboardInterrupt``) are logged, never raised.
        self.on_run: list[Callable[[Field, FieldResult], None]] = []
        _runners.add(self)

    def _reset_after_fork(self) -> None:
        # The parent's runs do not exist in the child: waiting on their futures would report
        # a timeout forever and block every later run of those fields.
        self._lock = threading.Lock()
        self._inflight = {}
        self._started = {}
        for store in (self.store, self.shared):
            reset = getattr(store, "reset_after_fork", None)
            if reset is not None:
                reset()

    # -- the per-field policy, resolved against the app's defaults ---------------------------

    def ttl(self, field: Field) -> float:
        """Seconds a passing result of ``field`` stays fresh (0: never cached)."""
        if field.interval is not None:
            return field.interval
        ttl = field.ttl if field.ttl is not None else self.settings.default_ttl
        return ttl or 0.0

    def ttl_for(self, field: Field, result: FieldResult) -> float:
        """Seconds ``result`` stays fresh: shorter for a failure, so recovery shows quickly."""
        ttl = self.ttl(field)
        # A failure, or a failed run that damping reports as a warning: kept briefly either way.
        damping = self._damping.get(field.key)
        failed = result.status == "fail" or result.error is not None or (damping is not None and damping[1] > 0)
        if not failed or ttl == 0 or field.interval is not None:
            return ttl
        cap = field.failure_ttl if field.failure_ttl is not None else self.settings.failure_ttl
        return min(ttl, cap)

    def keep_for(self, field: Field, result: FieldResult) -> float:
        """Seconds the store keeps ``result``: while fresh, plus the stale window.

        A periodic result is kept across a few missed runs, then dropped, so a dead scheduler
        shows as a failing check rather than an old verdict served forever.
        """
        if field.interval is not None:
            return 3 * field.interval + self.timeout(field)
        return self.ttl_for(field, result) + (field.stale or 0.0)

    def timeout(self, field: Field) -> float:
        """Seconds an evaluation waits for ``field``."""
        return field.timeout if field.timeout is not None else self.settings.default_timeout

    def fresh_until(self, field: Field, result: FieldResult) -> float:
        """The clock time until which ``result`` may be served for ``field`` without a run."""
        if field.func is None:
            return float("inf")
        if (result.timed_out and field.interval is None) or result.error == PENDING:
            return float("-inf")  # never kept: the next evaluation looks again
        return result.observed_at + self.ttl_for(field, result)

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, fields: Sequence[Field], *, run_periodic: bool = False) -> list[FieldResult]:
        """Results for ``fields``, in order, within each field's timeout.

        Never raises for a field's sake: a callable that raises, returns something JSON cannot
        encode, or times out gives a ``"fail"`` result saying so. Periodic fields are read,
        never run; a result past its ttl but within ``stale`` is served at once while one
        background run refreshes it. ``run_periodic=True`` runs periodic fields that have no
        result yet, as a one-shot process (the CLI) must.
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
            if field.interval is not None:
                # A new process (a recycled worker) takes the fleet's result before its own run.
                latest = self._lookup(field, now) if field.shared else store.get(field.key)
                if latest is not None or not run_periodic:
                    results[index] = latest or self.pending(field)
                    continue
            if self.ttl(field):
                cached = self._lookup(field, now)
                if cached is not None:
                    fresh_until = self.fresh_until(field, cached)
                    if now < fresh_until:
                        results[index] = cached
                        continue
                    if field.stale is not None and now < fresh_until + field.stale:
                        self._flight(field, now)  # refresh in the background; do not wait
                        started = self._started.get(field.key)
                        if started is not None and time.monotonic() - started >= self.timeout(field):
                            # A refresh hung past its timeout is news: never hide it behind the
                            # stale success.
                            timed_out = self._timed_out(field, time.monotonic() - started)
                            results[index] = self._damp_timeout(field, timed_out)
                        else:
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
                results[index] = self._damp_timeout(field, self._timed_out(field, time.monotonic() - started))
            except BaseException as exc:  # the run itself broke down; report, never raise
                results[index] = self._failure(field, exc, 0.0)
        return [r for r in results if r is not None]

    def peek(self, fields: Sequence[Field]) -> list[FieldResult]:
        """The results ``fields`` have now, running nothing: a missing one is pending."""
        return [field.constant_result or self.store.get(field.key) or self.pending(field) for field in fields]

    def pending(self, field: Field) -> FieldResult:
        """The result of a field that has none yet: it counts as failing until it has a verdict."""
        return FieldResult(field.name, "fail", error=PENDING, observed_at=self.clock(), time=time.time())

    def refresh(self, field: Field) -> Future[FieldResult]:
        """Start a run of ``field`` now unless one is in flight; never waits for it.

        Periodic schedulers call this; a run that overruns its interval is not started twice.
        """
        return self._flight(field, self.clock(), force=True)

    def overdue(self, field: Field) -> bool:
        """Report a run in flight for longer than its timeout as a timed-out failure, once.

        Returns ``True`` when it did. The scheduler calls this so that a periodic check hung on
        a dead dependency turns into a failure instead of an old verdict.
        """
        with self._lock:
            started = self._started.get(field.key)
            if started is None or field.key not in self._inflight:
                return False
            elapsed = time.monotonic() - started
            if elapsed < self.timeout(field):
                return False
            # Counted once per timeout window: a run hung for 3 timeouts counts as 3 failures.
            self._started[field.key] = started + self.timeout(field)
        result = self._damp(field, self._timed_out(field, elapsed))
        self.store.put(field.key, result, self.keep_for(field, result))
        self._ran(field, result)
        return True

    def _timed_out(self, field: Field, waited: float) -> FieldResult:
        timeout = self.timeout(field)
        return FieldResult(
            field.name,
            "fail",
            error=f"TimeoutError: no result within {timeout:g} s",
            duration=waited,
            observed_at=self.clock(),
            time=time.time(),
            timed_out=True,
        )

    def _flight(self, field: Field, now: float, *, force: bool = False) -> Future[FieldResult]:
        """The future of ``field``'s run in flight, starting one if there is none."""
        with self._lock:
            future = self._inflight.get(field.key)
            if future is not None:
                return future
            if self.ttl(field) and not force:
                # A run may have finished between our store lookup and taking the lock.
                cached = self._lookup(field, now, shared=False)
                if cached is not None and now < self.fresh_until(field, cached):
                    done: Future[FieldResult] = Future()
                    done.set_result(cached)
                    return done
            future = Future()
            self._inflight[field.key] = future
            self._started[field.key] = time.monotonic()
        try:
            self.pool.submit(lambda: self._run(field, future))
        except BaseException as exc:
            # No thread will ever run it: unregister, or the field would wait forever.
            self._unregister(field, future)
            future.set_result(self._failure(field, exc, 0.0))
        return future

    def _unregister(self, field: Field, future: Future[FieldResult]) -> None:
        """End ``future``'s time in flight (if it is still the field's current run)."""
        with self._lock:
            if self._inflight.get(field.key) is future:
                del self._inflight[field.key]
                self._started.pop(field.key, None)

    def _run(self, field: Field, future: Future[FieldResult]) -> None:
        result: FieldResult | None = None
        try:
            if field.shared and self.shared is not None:
                result = self._run_shared(field, self.shared)
            else:
                result = self._damp(field, self.execute(field))
            if result is not None and self.ttl(field):
                self.store.put(field.key, result, self.keep_for(field, result))
        except BaseException as exc:
            if result is None:
                result = self._failure(field, exc, 0.0)
        finally:
            self._unregister(field, future)
            if result is None:  # not elected, and nothing published yet
                future.set_result(self.pending(field))
            else:
                future.set_result(result)
                self._ran(field, result)

    # -- one run per ttl across processes ----------------------------------------------------

    def _lookup(self, field: Field, now: float, *, shared: bool = True) -> FieldResult | None:
        """The best result known for ``field``: this process's, or a fresher published one."""
        local = self.store.get(field.key)
        if not (shared and field.shared and self.shared is not None):
            return local
        if local is not None and now < self.fresh_until(field, local):
            return local
        published = self._published(field, self.shared)
        if published is None or (local is not None and published.time <= local.time):
            return local
        self.store.put(field.key, published, self.keep_for(field, published))
        return published

    def _published(self, field: Field, shared: SharedStore) -> FieldResult | None:
        """The shared store's result for ``field``, its age moved onto this process's clock."""
        try:
            result = shared.get(field.stable_key)
        except Exception:  # the store logs its own outages; a probe never fails for it
            return None
        if result is None:
            return None
        age = max(time.time() - result.time, 0.0)
        return replace(result, observed_at=self.clock() - age)

    def _run_shared(self, field: Field, shared: SharedStore) -> FieldResult | None:
        """Run ``field`` if this process wins the store's lock, else take the winner's result.

        A periodic field's lock is held most of an interval, so one process runs it per
        interval; a ttl field's lock is released after the run, and the others wait for the
        published result (bounded by the timeout). With the store unreachable, run here.
        """
        periodic = field.interval is not None
        timeout = self.timeout(field)
        lock_key, lock_ttl = field.stable_key, timeout + 1.0
        if field.interval is not None:
            # One lock per wall-clock slot of the interval: exactly one run per slot across the
            # fleet, whenever each process's scheduler happens to tick.
            lock_key = f"{lock_key}@{int(time.time() // field.interval)}"
            lock_ttl = field.interval + timeout
        try:
            token = shared.acquire(lock_key, lock_ttl)
        except Exception:  # unreachable: the in-process path keeps probes answering
            return self._damp(field, self.execute(field))
        if token is not None:
            result = self._damp(field, self.execute(field))
            try:
                shared.put(field.stable_key, result, self.keep_for(field, result))
            finally:
                if not periodic:
                    shared.release(lock_key, token)
            return result
        deadline = time.monotonic() + timeout
        if periodic:
            # The winner may still be running: wait (bounded) for this interval's result.
            interval = field.interval or 0.0
            published = self._published(field, shared)
            while time.monotonic() < deadline:
                if published is not None and time.time() - published.time < interval:
                    break
                time.sleep(0.05)
                published = self._published(field, shared)
            return published
        while time.monotonic() < deadline:
            published = self._published(field, shared)
            if published is not None and self.clock() < self.fresh_until(field, published):
                return published
            if not getattr(shared, "available", True):
                # The store went away while we waited: the winner's result will never come.
                return self._damp(field, self.execute(field))
            time.sleep(0.02)
        return self._timed_out(field, timeout)

    def _ran(self, field: Field, result: FieldResult) -> None:
        for callback in self.on_run:
            try:
                callback(field, result)
            except KeyboardInterrupt:
                raise
            except BaseException:  # SystemExit too: a hook never ends a worker thread or a request
                log.exception("flask-status: a run callback raised")

    def _damp_timeout(self, field: Field, result: FieldResult) -> FieldResult:
        """Damp a request's timeout: each timeout a run lasts counts as one failed run, once."""
        if field.fail_after == 1 and field.recover_after == 1:
            return result
        with self._lock:
            started = self._started.get(field.key)
            timeout = self.timeout(field)
            count = started is not None and time.monotonic() - started >= timeout
            if count and started is not None:
                self._started[field.key] = started + timeout
            reported, fails, _ = self._damping.get(field.key, ("pass", 0, 0))
        if count:
            return self._damp(field, result)
        if reported != "fail" and fails < field.fail_after:
            return replace(result, status="warn")
        return result

    def _damp(self, field: Field, result: FieldResult) -> FieldResult:
        """Apply ``fail_after`` / ``recover_after``: one failed run warns, N of them fail."""
        if field.fail_after == 1 and field.recover_after == 1:
            return result
        with self._lock:
            reported, fails, passes = self._damping.get(field.key, ("pass", 0, 0))
            failed = result.status == "fail"
            fails, passes = (fails + 1, 0) if failed else (0, passes + 1)
            status = result.status
            note = None
            if failed and reported != "fail" and fails < field.fail_after:
                status, note = "warn", f"failed {fails} of {field.fail_after} runs needed to fail"
            elif not failed and reported == "fail" and passes < field.recover_after:
                status, note = "fail", f"recovering: passed {passes} of {field.recover_after} runs needed"
            self._damping[field.key] = (status, fails, passes)
        if note is None:
            return result
        message = f"{result.message}; {note}" if result.message else note
        return replace(result, status=status, message=message)

    def execute(self, field: Field) -> FieldResult:
        """Run ``field``'s callable once, now, in this thread, and interpret what it gives."""
        started = time.perf_counter()
        try:
            if self._context is not None:
                with self._context():
                    raw = self._call(field)
            else:
                raw = self._call(field)
            result = _interpret(field, raw, time.perf_counter() - started, self.clock())
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a failed check like any other, cached and damped
            return self._failure(field, exc, time.perf_counter() - started)
        if result.error is None and result.message is None:
            return result
        redact = self.settings.redact
        return replace(
            result,
            error=redact(result.error) if result.error is not None else None,
            message=redact(result.message) if result.message is not None else None,
        )

    def _failure(self, field: Field, exc: BaseException | None, duration: float) -> FieldResult:
        text = (
            self.settings.redact(error_text(exc)) if exc is not None else "RuntimeError: the run ended without a result"
        )
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
