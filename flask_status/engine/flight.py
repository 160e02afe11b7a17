"""Runs in flight: at most one run per field at a time (single flight), and when each started.

A request that finds a run of its field in flight waits for that run's :class:`Flight` instead
of starting another; a run that outlives its timeout keeps its place, so a hung check holds one
thread, never more. :meth:`Flights.overdue` counts a hung run's timeout windows, one at a time,
so a run hung for three timeouts counts as three failed runs, each once.

>>> flights = Flights()
>>> flight, started = flights.begin("db", now=0.0)
>>> flights.begin("db", now=1.0) == (flight, False)
True
>>> flights.finish("db", flight)
>>> len(flights)
0
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from .._fork import after_fork
from ..clock import Clock, SystemClock
from ..results import FieldResult
from . import affinity
from .wake import Waker, thread_waker

__all__ = ["Flight", "Flights", "needs_futures", "wait_for"]

_TIMEOUT_MAX = threading.TIMEOUT_MAX


class _WakersLock:
    """Guards every flight's list of wakers: a result lands (and wakes them) or a waiter leaves
    under it, so no byte is ever written to the pipe of a thread that has left (whose pipe may
    be closed, and its descriptor reused, once the thread ends). Renewed in a child after fork."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def renew(self) -> None:
        self.lock = threading.Lock()


_wakers = _WakersLock()
after_fork(_wakers, _WakersLock.renew)


class Flight:
    """One run of a field: its result once it lands, awaited by any number of threads.

    A lighter :class:`~concurrent.futures.Future`. A waiter sleeps on its own thread's pipe
    (:mod:`.wake`), registered with the flight, which :meth:`set_result` writes a byte to
    (about half the cost of a lock's wake-up between two threads on one CPU, where
    :mod:`.affinity` keeps a quick run). Where pipes cannot be used, waiters wait on ``_latch``, a lock held
    until the result lands (a waiter takes it and gives it back at once, so every waiter
    passes). ``future`` is a real ``Future`` resolved with the same result, made only for a
    clock that waits on futures (:class:`~flask_status.clock.ManualClock` or a custom one);
    the system clock's waits are :meth:`wait` (:func:`wait_for`).

    ``window`` is when the run's current timeout window started (see :meth:`Flights.overdue`),
    read and moved only under the :class:`Flights` lock.

    >>> flight = Flight.landed(FieldResult("db", "pass"))
    >>> flight.done(), flight.wait(0.0), flight.result().status
    (True, True, 'pass')
    """

    __slots__ = ("_latch", "_result", "_wakers", "cpu", "future", "window")

    def __init__(self, window: float = 0.0, *, future: bool = False) -> None:
        latch = threading.Lock()
        latch.acquire()
        self._latch = latch
        self._result: FieldResult | None = None
        #: The wakers of the threads waiting now; ``None`` once the result has landed.
        self._wakers: list[Waker] | None = []
        self.future: Future[FieldResult] | None = Future() if future else None
        self.window = window
        #: The CPU the run's worker was pinned to (see :mod:`.affinity`), or ``None``.
        self.cpu: int | None = None

    @classmethod
    def landed(cls, result: FieldResult, *, future: bool = False) -> Flight:
        """A flight whose result is already known."""
        flight = cls(future=future)
        flight.set_result(result)
        return flight

    def done(self) -> bool:
        """True once the result has landed."""
        return self._result is not None

    def result(self) -> FieldResult:
        """The result; ``RuntimeError`` while the run is still in flight."""
        result = self._result
        if result is None:
            raise RuntimeError("the run is still in flight")
        return result

    def set_result(self, result: FieldResult) -> None:
        """Land ``result`` and wake every waiter. Called once per flight."""
        self._result = result
        self._latch.release()
        with _wakers.lock:
            waiting, self._wakers = self._wakers, None
            if waiting:
                for waker in waiting:
                    waker.wake()
        future = self.future
        if future is not None:
            future.set_result(result)

    def wait(self, seconds: float) -> bool:
        """Wait at most ``seconds`` of real time for the result; ``True`` once it landed.

        When the run's worker was pinned to the CPU this thread runs on (``cpu``, see
        :mod:`.affinity`), this thread is pinned there too for the first
        :data:`~.affinity.PIN_FOR` of the wait, so that a quick run is handed back on one CPU.
        """
        if self._result is not None:
            return True
        if seconds <= 0:
            return False
        waker = thread_waker()
        deadline = time.monotonic() + seconds
        if waker is not None:
            with _wakers.lock:
                waiting = self._wakers
                if waiting is None:
                    return True
                waiting.append(waker)
        cpus = None
        try:
            cpus = affinity.hold_here(self.cpu)
            if cpus is not None:
                self._sleep(waker, min(deadline, time.monotonic() + affinity.PIN_FOR))
                affinity.let_go(cpus)
                cpus = None
            self._sleep(waker, deadline)
        finally:
            if cpus is not None:
                affinity.let_go(cpus)
            if waker is not None:
                with _wakers.lock:
                    waiting = self._wakers
                    if waiting is not None and waker in waiting:
                        waiting.remove(waker)
        return self._result is not None

    def _sleep(self, waker: Waker | None, until: float) -> None:
        """Sleep until the result lands or the monotonic clock reaches ``until``."""
        if waker is None:
            latch = self._latch
            left = until - time.monotonic()
            if left > 0 and latch.acquire(timeout=min(left, _TIMEOUT_MAX)):
                latch.release()  # for the next waiter
            return
        while self._result is None:
            left = until - time.monotonic()
            if left <= 0:
                return
            waker.sleep(min(left, 3600.0))  # poll() takes a C int of milliseconds


def wait_for(clock: Clock, flight: Flight, seconds: float) -> bool:
    """Wait for ``flight`` at most ``seconds`` of ``clock``; ``True`` once its result landed.

    The system clock waits in real time: :meth:`Flight.wait`. Any other clock waits on
    the flight's future through :meth:`Clock.wait <flask_status.clock.Clock.wait>`, so a
    manual clock's :meth:`~flask_status.clock.ManualClock.advance` ends the wait.
    """
    future = flight.future
    if future is None:
        return flight.wait(seconds)
    return clock.wait(future, seconds)


def needs_futures(clock: Clock) -> bool:
    """Whether flights waited on with ``clock`` need a real future: every clock but the system's.

    >>> from flask_status.clock import SYSTEM, ManualClock
    >>> needs_futures(SYSTEM), needs_futures(ManualClock())
    (False, True)
    """
    return type(clock) is not SystemClock


class Flights:
    """The runs in flight of one runner, by field key.

    ``futures=True`` gives each flight a real future, for a clock that waits on futures
    (:func:`needs_futures`).

    Thread-safety: ``_runs`` is read and written only under ``_lock``, held for a dictionary
    operation, never while a run executes. After ``fork()`` the child starts with no runs
    (the parent's threads do not exist there) and a new lock.
    """

    def __init__(self, *, futures: bool = False) -> None:
        self.futures = futures
        self._renew()
        after_fork(self, Flights._renew)

    def _renew(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Flight] = {}

    def begin(
        self, key: str, now: float, *, done: Callable[[], FieldResult | None] | None = None
    ) -> tuple[Flight, bool]:
        """The flight of ``key``'s run in flight and ``False``, or a new one and ``True``.

        ``done``, asked under the lock when no run is in flight, may return a result that
        landed since the caller looked: then that result is returned, already landed, and
        no run is registered.
        """
        with self._lock:
            flight = self._runs.get(key)
            if flight is not None:
                return flight, False
            if done is not None:
                landed = done()
                if landed is not None:
                    return Flight.landed(landed, future=self.futures), False
            flight = self._runs[key] = Flight(now, future=self.futures)
            return flight, True

    def finish(self, key: str, flight: Flight) -> None:
        """End ``flight``'s time in flight, if it is still ``key``'s current run."""
        with self._lock:
            if self._runs.get(key) is flight:
                del self._runs[key]

    def started(self, key: str) -> float | None:
        """When ``key``'s current timeout window started, or ``None`` with no run in flight."""
        flight = self._runs.get(key)
        return None if flight is None else flight.window

    def overdue(self, key: str, timeout: float, now: float) -> float | None:
        """If ``key``'s run has been in flight for a whole ``timeout`` window, count that
        window (the next one starts where it ended) and return how long the run has taken.
        Otherwise ``None``.
        """
        with self._lock:
            flight = self._runs.get(key)
            if flight is None or now - flight.window < timeout:
                return None
            waited = now - flight.window
            flight.window += timeout
            return waited

    def __len__(self) -> int:
        return len(self._runs)
