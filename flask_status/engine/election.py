"""One run per ttl across every process that shares a store: who runs, and what the others read.

A process that needs a fresh result of a ``shared=True`` field asks the store's lock for it.
The winner runs the check and publishes the result; the others wait (bounded by the field's
timeout) for that result to appear. A periodic field locks one wall-clock slot of its interval,
so exactly one process runs it per slot, whenever each process's scheduler ticks. While the
store is unreachable every process runs its own checks, as without a store.

Results cross processes with wall-clock times (``FieldResult.time``); a result read from the
store gets an ``observed_at`` moved onto this process's clock by its age.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from ..clock import Clock
from ..definitions import Field
from ..results import FieldResult
from ..stores.base import SharedStore
from .policy import Timing

__all__ = ["Election"]

log = logging.getLogger("flask_status")

#: How often a process waiting for another's run looks for its result.
POLL = 0.02


class Election:
    """Elects the process that runs a shared field, through ``store``'s lock.

    Stateless beyond its store and clock: shared by every thread of a runner.
    """

    def __init__(self, store: SharedStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    @property
    def available(self) -> bool:
        """False while the store is known to be unreachable."""
        return bool(getattr(self.store, "available", True))

    def published(self, field: Field) -> FieldResult | None:
        """The store's result for ``field``, its age moved onto this process's clock."""
        try:
            result = self.store.get(field.stable_key)
        except Exception:  # the store logs its own outages; a probe never fails for it
            return None
        if result is None:
            return None
        age = max(self.clock.wall() - result.time, 0.0)
        return replace(result, observed_at=self.clock.now() - age)

    def run(
        self,
        field: Field,
        timing: Timing,
        execute: Callable[[], FieldResult],
        *,
        fresh: Callable[[FieldResult], bool],
        keep_for: Callable[[FieldResult], float],
        timed_out: Callable[[float], FieldResult],
    ) -> FieldResult | None:
        """Run ``field`` here if this process wins the lock, else the winner's result.

        ``None`` when a periodic field's winner published nothing within the timeout (the
        last known result stays). With the store unreachable, before or during the wait, the
        field runs here.
        """
        lock_key, lock_ttl = field.stable_key, timing.timeout + 1.0
        if timing.interval is not None:
            # One lock per wall-clock slot of the interval: one run per slot across the fleet.
            lock_key = f"{lock_key}@{int(self.clock.wall() // timing.interval)}"
            lock_ttl = timing.interval + timing.timeout
        try:
            token = self.store.acquire(lock_key, lock_ttl)
        except Exception:  # unreachable: the in-process path keeps probes answering
            return execute()
        if token is not None:
            result = execute()
            try:
                self.store.put(field.stable_key, result, keep_for(result))
            finally:
                if timing.interval is None:  # a slot's lock expires with its slot
                    self.store.release(lock_key, token)
            return result
        return self._await(field, timing, execute, fresh=fresh, timed_out=timed_out)

    def _await(
        self,
        field: Field,
        timing: Timing,
        execute: Callable[[], FieldResult],
        *,
        fresh: Callable[[FieldResult], bool],
        timed_out: Callable[[float], FieldResult],
    ) -> FieldResult | None:
        """Wait (bounded by the timeout) for the winner's result."""
        clock = self.clock
        deadline = clock.now() + timing.timeout
        while True:
            published = self.published(field)
            if published is not None:
                if timing.interval is not None:
                    if clock.wall() - published.time < timing.interval:
                        return published  # this slot's result
                elif fresh(published):
                    return published
            if not self.available:
                # The store went away while we waited: the winner's result will never come.
                return execute()
            if clock.now() >= deadline:
                return published if timing.interval is not None else timed_out(timing.timeout)
            clock.sleep(POLL)
