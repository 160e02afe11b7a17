"""Evaluating fields: fresh results from the store, else one bounded run per field at a time.

The runner needs no request: the views, the ``flask status`` command and the scheduler all call
:meth:`Runner.evaluate`. It decides nothing itself: :mod:`.policy` says whether a result is
fresh, stale or expired and what damping reports; :mod:`.flight` keeps one run per field;
:mod:`.election` picks one process per ttl for shared fields; :mod:`.execute` runs user code;
:mod:`.pool` lends the threads. Periodic fields (``interval=``) take their own path: requests
read them, only the scheduler runs them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import partial
from typing import Any

from .._fork import after_fork
from ..clock import SYSTEM, Clock
from ..definitions import Field
from ..redact import Redactor
from ..results import FieldResult
from ..stores.base import ResultStore, SharedStore
from . import affinity, policy
from .election import Election
from .execute import Executor
from .flight import Flight, Flights, needs_futures, wait_for
from .policy import Damping, Timing
from .pool import WorkerPool

__all__ = ["Runner", "RunnerSettings"]

log = logging.getLogger("flask_status")


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
    the field's timeout on the runner's clock. A run that outlives its timeout keeps its place
    in flight, so later evaluations wait for it instead of starting another copy.

    Thread-safety: one runner serves every request thread of its app, its pool's workers and
    the scheduler. ``_damping`` (the ``fail_after`` / ``recover_after`` counts by field key)
    is guarded by ``_lock``; the runs in flight are guarded by :class:`.Flights`' own lock;
    ``_timings`` is a cache of immutable values filled idempotently (a lost race computes the
    same value twice). The stores are thread-safe by contract, the pool has its own lock,
    results are immutable. After ``fork()`` the child gets fresh locks and no runs.

    >>> from flask_status.stores.memory import MemoryStore
    >>> runner = Runner(MemoryStore())
    >>> [r.value for r in runner.evaluate([Field("answer", lambda: 42)])]
    [42]
    """

    def __init__(
        self,
        store: ResultStore,
        *,
        settings: RunnerSettings | None = None,
        clock: Clock = SYSTEM,
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
        self.executor = Executor(clock=clock, redact=self.settings.redact, context=context, call=call)
        self.election = Election(shared, clock) if shared is not None else None
        self.pool = WorkerPool(self.settings.max_workers, name=name, now=clock.now)
        self.flights = Flights(futures=needs_futures(clock))
        self._timings: dict[Field, Timing] = {}
        #: Keys of the fields whose last run took less than :data:`.affinity.PIN_FOR`
        #: (single set operations: atomic under the GIL, a lost update costs one pin).
        self._quick: set[str] = set()
        self._renew()
        #: Called with the field and its result after each run completes (periodic runs and
        #: stale refreshes included), from the worker thread; exceptions (``SystemExit`` too, all
        #: but ``KeyboardInterrupt``) are logged, never raised.
        self.on_run: list[Callable[[Field, FieldResult], None]] = []
        after_fork(self, Runner._renew_in_child)

    def _renew(self) -> None:
        self._lock = threading.Lock()
        self._damping: dict[str, Damping] = {}

    def _renew_in_child(self) -> None:
        self._lock = threading.Lock()  # damping counts carry over; a held lock would not
        self._quick = set()  # a child's first runs (clients restart their threads) are not pinned
        for store in (self.store, self.shared):
            reset = getattr(store, "reset_after_fork", None)
            if reset is not None:
                reset()

    # -- the per-field policy, resolved once against the app's defaults -----------------------

    def timing(self, field: Field) -> Timing:
        """``field``'s ttl, failure ttl, stale window, interval and timeout on this app."""
        timing = self._timings.get(field)
        if timing is None:
            settings = self.settings
            timing = policy.resolve_timing(
                field,
                default_ttl=settings.default_ttl,
                failure_ttl=settings.failure_ttl,
                timeout=settings.default_timeout,
            )
            self._timings[field] = timing
        return timing

    def timeout(self, field: Field) -> float:
        """Seconds an evaluation waits for ``field``."""
        return self.timing(field).timeout

    def _damped(self, field: Field) -> bool:
        state = self._damping.get(field.key)
        return state is not None and state.failing

    def fresh_until(self, field: Field, result: FieldResult) -> float:
        """The clock time until which ``result`` may be served for ``field`` without a run."""
        if field.func is None:
            return float("inf")
        return policy.fresh_until(self.timing(field), result, damped=self._damped(field))

    def keep_for(self, field: Field, result: FieldResult) -> float:
        """Seconds the store keeps ``result`` of ``field``."""
        return policy.keep_for(self.timing(field), result, damped=self._damped(field))

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, fields: Sequence[Field], *, run_periodic: bool = False) -> list[FieldResult]:
        """Results for ``fields``, in order, within each field's timeout.

        Never raises for a field's sake: a callable that raises, returns something JSON cannot
        encode, or times out gives a ``"fail"`` result saying so. Periodic fields are read,
        never run; a result past its ttl but within ``stale`` is served at once while one
        background run refreshes it. ``run_periodic=True`` runs periodic fields that have no
        result yet, as a one-shot process (the CLI) must. An ``inline`` field runs in this
        thread, without a timeout, after the other fields' runs have started on the pool.
        """
        now = self.clock.now()
        results: list[FieldResult | None] = [None] * len(fields)
        waits: list[tuple[int, Field, Timing, Flight]] = []
        inline: list[tuple[int, Field, Timing]] | None = None
        for index, field in enumerate(fields):
            constant = field.constant_result
            if constant is not None:
                results[index] = constant
                continue
            timing = self.timing(field)
            if timing.periodic:
                latest = self._lookup(field, timing, now) if field.shared else self.store.get(field.key)
                if latest is not None or not run_periodic:
                    results[index] = latest or self._unknown(field)
                    continue
            elif timing.cached:
                cached = self._lookup(field, timing, now)
                if cached is not None:
                    verdict = policy.freshness(timing, cached, now, damped=self._damped(field))
                    if verdict == "fresh":
                        results[index] = cached
                        continue
                    if verdict == "stale":
                        results[index] = self._serve_stale(field, timing, cached, now)
                        continue
            if field.inline:
                if inline is None:
                    inline = []
                inline.append((index, field, timing))
            else:
                affine = field.key in self._quick  # a quick run: handed over and back on this CPU
                waits.append((index, field, timing, self._flight(field, timing, now, affine=affine)))
        if inline is None and not waits:
            return results  # type: ignore[return-value]  # every slot was filled above
        clock = self.clock
        started = clock.now()  # every wait's timeout counts from here
        if inline is not None:
            # After the pool's runs have started: those run meanwhile, in parallel.
            for index, field, timing in inline:
                flight = self._flight(field, timing, now, inline=True)
                if flight.done():
                    results[index] = flight.result()
                else:  # another request is running it: wait for that run, as for any other
                    waits.append((index, field, timing, flight))
        for index, field, timing, flight in waits:
            if wait_for(clock, flight, started + timing.timeout - clock.now()):
                results[index] = flight.result()
            else:
                results[index] = self._report_timeout(field, timing, clock.now() - started)
        return results  # type: ignore[return-value]  # every slot was filled above

    def _serve_stale(self, field: Field, timing: Timing, cached: FieldResult, now: float) -> FieldResult:
        """Start (or join) a background refresh and answer with ``cached`` at once."""
        self._flight(field, timing, now)
        started = self.flights.started(field.key)
        if started is not None and now - started >= timing.timeout:
            # A refresh hung past its timeout is news: never hide it behind the stale success.
            return self._report_timeout(field, timing, now - started)
        return cached

    def peek(self, fields: Sequence[Field]) -> list[FieldResult]:
        """The results ``fields`` have now, running nothing: a missing one is pending."""
        return [field.constant_result or self.store.get(field.key) or self._unknown(field) for field in fields]

    def _unknown(self, field: Field) -> FieldResult:
        """The pending result a read finds for ``field``, stamped no later than the start of a
        run in flight: that run's result, on its way to the store, is newer news (transitions
        order reports by ``observed_at``)."""
        return self.executor.pending(field, before=self.flights.started(field.key))

    def pending(self, field: Field) -> FieldResult:
        """The result of a field that has none yet: it counts as failing until it has a verdict."""
        return self.executor.pending(field)

    def refresh(self, field: Field) -> Flight:
        """Start a run of ``field`` now unless one is in flight; never waits for it.

        Periodic schedulers call this; a run that overruns its interval is not started twice.
        """
        return self._flight(field, self.timing(field), self.clock.now(), force=True)

    def overdue(self, field: Field) -> bool:
        """Report a run in flight for longer than its timeout as a timed-out failure, once per
        timeout window. Returns ``True`` when it did.

        The scheduler calls this so that a periodic check hung on a dead dependency turns into
        a failure instead of an old verdict.
        """
        timing = self.timing(field)
        waited = self.flights.overdue(field.key, timing.timeout, self.clock.now())
        if waited is None:
            return False
        result = self._damp(field, self.executor.timed_out(field, timing.timeout, waited))
        self.store.put(field.key, result, self.keep_for(field, result))
        self._ran(field, result)
        return True

    @property
    def inflight(self) -> int:
        """How many runs are in flight now (hung ones included)."""
        return len(self.flights)

    # -- runs ---------------------------------------------------------------------------------

    def _flight(
        self,
        field: Field,
        timing: Timing,
        now: float,
        *,
        force: bool = False,
        inline: bool = False,
        affine: bool = False,
    ) -> Flight:
        """The flight of ``field``'s run, starting one if there is none: on the pool, or with
        ``inline``, in this thread (the flight has landed when this returns). ``affine``: this
        thread waits for the run next and it was quick last time, so the pool keeps the
        hand-off on this thread's CPU (see :mod:`.affinity`)."""
        done = None
        if timing.cached and not force:

            def done() -> FieldResult | None:
                # A run may have finished between the caller's lookup and now.
                cached = self._lookup(field, timing, now, shared=False)
                return cached if cached is not None and now < self.fresh_until(field, cached) else None

        flight, new = self.flights.begin(field.key, now, done=done)
        if new:
            if inline:
                self._run(field, timing, flight, inline=True)
                return flight
            try:
                flight.cpu = self.pool.submit(self._run, field, timing, flight, timeout=timing.timeout, affine=affine)
            except BaseException as exc:
                # No thread will ever run it: unregister, or the field would wait forever.
                self.flights.finish(field.key, flight)
                flight.set_result(self.executor.failure(field, exc))
        return flight

    def _run(self, field: Field, timing: Timing, flight: Flight, *, inline: bool = False) -> None:
        """Run ``field`` once and land its result on ``flight``: on a pool thread, or inline
        in the thread that needs it (a ``KeyboardInterrupt`` there is raised once the result
        has landed)."""
        result: FieldResult | None = None
        try:
            if field.shared and self.election is not None:
                result = self.election.run(
                    field,
                    timing,
                    partial(self._execute, field),
                    fresh=lambda r: self.clock.now() < self.fresh_until(field, r),
                    keep_for=partial(self.keep_for, field),
                    timed_out=lambda waited: self.executor.timed_out(field, timing.timeout, waited),
                )
            else:
                result = self._execute(field)
            if result is not None:
                self._note_speed(field, result)
            if result is not None and timing.cached:
                self.store.put(field.key, result, self.keep_for(field, result))
        except BaseException as exc:
            if result is None:
                result = self.executor.failure(field, exc)
            if inline and isinstance(exc, KeyboardInterrupt):
                raise
        finally:
            self.flights.finish(field.key, flight)
            if result is None:  # not elected, and nothing published yet
                flight.set_result(self.executor.pending(field))
            else:
                flight.set_result(result)
                if self.on_run:
                    self._ran(field, result)

    def _note_speed(self, field: Field, result: FieldResult) -> None:
        """Remember whether ``field``'s run was quick: its next waited-for run is then pinned
        to the waiter's CPU. A first run (where clients start their own threads, which would
        inherit a pin) and a slow one are not."""
        if result.duration < affinity.PIN_FOR:
            self._quick.add(field.key)
        else:
            self._quick.discard(field.key)

    def _execute(self, field: Field) -> FieldResult:
        return self._damp(field, self.executor.run(field))

    def _lookup(self, field: Field, timing: Timing, now: float, *, shared: bool = True) -> FieldResult | None:
        """The best result known for ``field``: this process's, or a fresher published one."""
        local = self.store.get(field.key)
        election = self.election
        if not (shared and field.shared and election is not None):
            return local
        if local is not None and now < self.fresh_until(field, local):
            return local
        published = election.published(field)
        if published is None or (local is not None and published.time <= local.time):
            return local
        self.store.put(field.key, published, self.keep_for(field, published))
        return published

    def _ran(self, field: Field, result: FieldResult) -> None:
        for callback in self.on_run:
            try:
                callback(field, result)
            except KeyboardInterrupt:
                raise
            except BaseException:  # SystemExit too: a hook never ends a worker thread or a request
                log.exception("flask-status: a run callback raised")

    # -- damping ------------------------------------------------------------------------------

    def _damp(self, field: Field, result: FieldResult) -> FieldResult:
        """Count one run for ``fail_after`` / ``recover_after`` and say what it reports."""
        if field.fail_after == 1 and field.recover_after == 1:
            return result
        with self._lock:
            state = self._damping.get(field.key, Damping())
            state, reported = policy.damp(state, result, fail_after=field.fail_after, recover_after=field.recover_after)
            self._damping[field.key] = state
        return reported

    def _report_timeout(self, field: Field, timing: Timing, waited: float) -> FieldResult:
        """A request's timeout: each whole timeout window a run lasts counts as one failed run."""
        result = self.executor.timed_out(field, timing.timeout, waited)
        # A whole timeout window of the run in flight: counted once, and told to the run
        # listeners (metrics, transitions) like a run that ended, so a check hung forever is
        # seen as failing there too, not only by the requests that wait for it.
        counted = self.flights.overdue(field.key, timing.timeout, self.clock.now()) is not None
        if field.fail_after != 1 or field.recover_after != 1:
            if counted:
                result = self._damp(field, result)
            else:
                state = self._damping.get(field.key, Damping())
                result = policy.damp_unconfirmed(state, result, fail_after=field.fail_after)
        if counted:
            self._ran(field, result)
        return result
