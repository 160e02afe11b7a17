"""One source of time for everything the engine does: freshness, timeouts and schedules.

Every piece that reads the time or waits for it takes a :class:`Clock`, so a test can move time
by hand (:class:`ManualClock`) and prove a timeout, a damping window or a schedule without
sleeping. The process-wide default is :data:`SYSTEM`, the machine's monotonic and wall clocks.

>>> clock = ManualClock()
>>> start = clock.now()
>>> clock.advance(30)
>>> clock.now() - start
30.0
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any, Protocol, runtime_checkable

__all__ = ["SYSTEM", "Clock", "ManualClock", "SystemClock", "as_clock"]


@runtime_checkable
class Clock(Protocol):
    """What the engine needs from time.

    ``now()`` is monotonic seconds (freshness, deadlines, schedules); ``wall()`` is seconds
    since the epoch (the ``time`` a result carries across processes); ``wait(future, seconds)``
    blocks until ``future`` is done or ``seconds`` of this clock have passed and says whether
    it is done; ``sleep(seconds)`` waits that long on this clock.
    """

    def now(self) -> float:
        """Monotonic seconds."""

    def wall(self) -> float:
        """Seconds since the epoch."""

    def wait(self, future: Future[Any], seconds: float) -> bool:
        """Wait for ``future`` at most ``seconds``; ``True`` if it is done."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""


class SystemClock:
    """The machine's clocks: ``time.monotonic``, ``time.time`` and real waits.

    Stateless, so one instance (:data:`SYSTEM`) serves every thread.

    >>> SYSTEM.wait(Future(), 0.0)
    False
    """

    now = staticmethod(time.monotonic)
    wall = staticmethod(time.time)
    sleep = staticmethod(time.sleep)

    @staticmethod
    def wait(future: Future[Any], seconds: float) -> bool:
        """Wait for ``future`` at most ``seconds`` of real time."""
        if future.done():
            return True
        wait_futures((future,), timeout=max(seconds, 0.0))
        return future.done()

    def __repr__(self) -> str:
        return "<SystemClock>"


SYSTEM = SystemClock()
"""The default clock of every manager: real time."""


class ManualClock:
    """A clock that moves only when :meth:`advance` is called: for tests.

    Waits on it end when the awaited future is done or when :meth:`advance` moves time past
    their deadline, whichever comes first; nothing sleeps for real. ``wall()`` moves with
    ``now()`` from ``wall_start``.

    Thread-safety: ``_now`` is guarded by ``_cond``, which every waiter waits on and every
    :meth:`advance` (and every awaited future's completion) notifies.

    >>> clock = ManualClock(start=100.0)
    >>> pending = Future()
    >>> waiter = threading.Thread(target=lambda: clock.wait(pending, 5))
    >>> waiter.start()
    >>> clock.advance(5)
    >>> waiter.join(1)
    >>> waiter.is_alive()
    False
    """

    def __init__(self, start: float = 1000.0, *, wall_start: float = 1_800_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._cond = threading.Condition(threading.Lock())
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """How many threads are waiting on this clock now (a test advances it once one is)."""
        return self._waiting

    def now(self) -> float:
        """The time this clock was moved to."""
        return self._now

    def wall(self) -> float:
        """Epoch seconds, moving with :meth:`now`."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every wait whose deadline passed."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward: advance({seconds!r})")
        with self._cond:
            self._now += seconds
            self._cond.notify_all()

    def _until(self, deadline: float, done: Callable[[], bool]) -> bool:
        with self._cond:
            self._waiting += 1
            try:
                while not done() and self._now < deadline:
                    # The timeout is a guard against a test that forgets to advance: never a hang.
                    if not self._cond.wait(timeout=60.0):
                        raise TimeoutError("ManualClock: nothing advanced the clock for 60 s of real time")
                return done()
            finally:
                self._waiting -= 1

    def wait(self, future: Future[Any], seconds: float) -> bool:
        """Wait until ``future`` is done or the clock passed ``now() + seconds``."""
        if future.done():
            return True

        def wake(_: Future[Any]) -> None:
            with self._cond:
                self._cond.notify_all()

        future.add_done_callback(wake)
        return self._until(self._now + seconds, future.done)

    def sleep(self, seconds: float) -> None:
        """Return once the clock has been advanced by ``seconds``."""
        self._until(self._now + seconds, lambda: False)

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"<ManualClock now={self._now!r}>"


def as_clock(value: object, what: str = "clock") -> Clock:
    """``value`` if it is a :class:`Clock`, else a ``TypeError`` naming ``what``.

    >>> as_clock(SYSTEM) is SYSTEM
    True
    """
    if isinstance(value, Clock):
        return value
    raise TypeError(
        f"{what} must be a flask_status.clock.Clock (SystemClock, ManualClock, or an object with "
        f"now(), wall(), wait(future, seconds) and sleep(seconds)), got {value!r}"
    )
