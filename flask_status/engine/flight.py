"""Runs in flight: at most one run per field at a time (single flight), and when each started.

A request that finds a run of its field in flight waits for that run's future instead of
starting another; a run that outlives its timeout keeps its place, so a hung check holds one
thread, never more. :meth:`Flights.overdue` counts a hung run's timeout windows, one at a time,
so a run hung for three timeouts counts as three failed runs, each once.

>>> from flask_status.clock import ManualClock
>>> flights = Flights()
>>> future, started = flights.begin("db", now=0.0)
>>> flights.begin("db", now=1.0) == (future, False)
True
>>> flights.finish("db", future)
>>> len(flights)
0
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import NamedTuple

from .._fork import after_fork
from ..results import FieldResult

__all__ = ["Flights"]


class _Flight(NamedTuple):
    future: Future[FieldResult]
    #: When the current timeout window started: the run's start, moved on by each window counted.
    window: float


class Flights:
    """The runs in flight of one runner, by field key.

    Thread-safety: ``_runs`` is read and written only under ``_lock``, held for a dictionary
    operation, never while a run executes. After ``fork()`` the child starts with no runs
    (the parent's threads do not exist there) and a new lock.
    """

    def __init__(self) -> None:
        self._renew()
        after_fork(self, Flights._renew)

    def _renew(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, _Flight] = {}

    def begin(
        self, key: str, now: float, *, done: Callable[[], FieldResult | None] | None = None
    ) -> tuple[Future[FieldResult], bool]:
        """The future of ``key``'s run in flight and ``False``, or a new one and ``True``.

        ``done``, asked under the lock when no run is in flight, may return a result that
        landed since the caller looked: then that result is returned, already resolved, and
        no run is registered.
        """
        with self._lock:
            flight = self._runs.get(key)
            if flight is not None:
                return flight.future, False
            if done is not None:
                landed = done()
                if landed is not None:
                    resolved: Future[FieldResult] = Future()
                    resolved.set_result(landed)
                    return resolved, False
            future: Future[FieldResult] = Future()
            self._runs[key] = _Flight(future, now)
            return future, True

    def finish(self, key: str, future: Future[FieldResult]) -> None:
        """End ``future``'s time in flight, if it is still ``key``'s current run."""
        with self._lock:
            flight = self._runs.get(key)
            if flight is not None and flight.future is future:
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
            self._runs[key] = flight._replace(window=flight.window + timeout)
            return now - flight.window

    def __len__(self) -> int:
        return len(self._runs)
