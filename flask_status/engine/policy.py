"""How long a result stays fresh and what a run's outcome reports: pure functions on values.

Nothing here takes a lock or reads a clock: each function maps a field's :class:`Timing`, a
result and a time to an answer, and damping maps the last :class:`Damping` counts and a new
result to the next counts and the result to report. The runner holds the state; this module
decides. Tests call these functions directly, with no threads and no time passing.

>>> t = Timing(ttl=30.0, failure_ttl=5.0, timeout=2.0)
>>> passed = FieldResult("db", "pass", observed_at=100.0)
>>> freshness(t, passed, now=120.0)
'fresh'
>>> failed = FieldResult("db", "fail", observed_at=100.0)
>>> freshness(t, failed, now=120.0)
'expired'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from ..definitions import Field
from ..results import FieldResult, Status

__all__ = [
    "Damping",
    "Freshness",
    "Timing",
    "damp",
    "damp_unconfirmed",
    "fresh_for",
    "fresh_until",
    "freshness",
    "keep_for",
    "resolve_timing",
]

Freshness = Literal["fresh", "stale", "expired"]
"""``fresh``: serve it; ``stale``: serve it and refresh in the background; ``expired``: run."""


@dataclass(frozen=True, slots=True)
class Timing:
    """A field's timing, resolved once against its app's defaults.

    ``ttl`` is 0 for a field run on every evaluation; a periodic field's ``ttl`` is its
    ``interval``. ``failure_ttl`` caps how long a failure stays fresh; ``stale`` is the window
    past freshness in which the last result is served while a refresh runs.

    >>> resolve_timing(Field("db", lambda: 1, interval=10), default_ttl=None, failure_ttl=5, timeout=2).ttl
    10.0
    """

    ttl: float = 0.0
    failure_ttl: float = 0.0
    timeout: float = 5.0
    stale: float | None = None
    interval: float | None = None
    #: A passing result is kept for good (``once=True``); ``ttl`` is then infinite.
    once: bool = False

    @property
    def periodic(self) -> bool:
        """True for a field the scheduler runs: requests only read it."""
        return self.interval is not None

    @property
    def cached(self) -> bool:
        """True when a result is kept at all."""
        return self.ttl > 0


def resolve_timing(field: Field, *, default_ttl: float | None, failure_ttl: float, timeout: float) -> Timing:
    """``field``'s own options, else the app's defaults."""
    wait = field.timeout if field.timeout is not None else timeout
    if field.interval is not None:
        return Timing(ttl=field.interval, failure_ttl=field.interval, timeout=wait, interval=field.interval)
    ttl = field.ttl if field.ttl is not None else default_ttl
    cap = field.failure_ttl if field.failure_ttl is not None else failure_ttl
    if field.once:
        # Kept for good once passed; until then a failure is looked at again as any other.
        return Timing(ttl=math.inf, failure_ttl=min(cap, ttl) if ttl else cap, timeout=wait, once=True)
    return Timing(ttl=ttl or 0.0, failure_ttl=cap, timeout=wait, stale=field.stale)


def _failed(result: FieldResult, damped: bool) -> bool:
    # A failure, or a failed run that damping reports as a warning: both are kept briefly.
    return result.status == "fail" or result.error is not None or damped


def fresh_for(timing: Timing, result: FieldResult, *, damped: bool = False) -> float:
    """Seconds ``result`` stays fresh: shorter for a failure, so a recovery shows quickly.

    ``damped`` says a failed run is being reported as a warning (``fail_after``).

    >>> fresh_for(Timing(ttl=30.0, failure_ttl=5.0), FieldResult("db", "fail"))
    5.0
    """
    if timing.once and result.status != "pass":
        return timing.failure_ttl  # kept for good only once it passed (a warning too is looked at again)
    if timing.periodic or not timing.cached or not _failed(result, damped):
        return timing.ttl
    return min(timing.ttl, timing.failure_ttl)


def fresh_until(timing: Timing, result: FieldResult, *, damped: bool = False) -> float:
    """The clock time until which ``result`` may be served without a run.

    A pending result and a request's timeout are never kept (the next evaluation looks again);
    a periodic field's timeout is, until the scheduler's next run.

    >>> fresh_until(Timing(ttl=10.0), FieldResult("db", "pass", observed_at=100.0))
    110.0
    """
    if result.pending or (result.timed_out and not timing.periodic):
        return float("-inf")
    return result.observed_at + fresh_for(timing, result, damped=damped)


def freshness(timing: Timing, result: FieldResult, now: float, *, damped: bool = False) -> Freshness:
    """Whether ``result`` is served as is, served while refreshing, or run again at ``now``.

    >>> freshness(Timing(ttl=10.0, stale=60.0), FieldResult("db", "pass", observed_at=0.0), now=30.0)
    'stale'
    """
    until = fresh_until(timing, result, damped=damped)
    if now < until:
        return "fresh"
    if timing.stale is not None and now < until + timing.stale:
        return "stale"
    return "expired"


def keep_for(timing: Timing, result: FieldResult, *, damped: bool = False) -> float:
    """Seconds a store keeps ``result``: while fresh, plus the stale window.

    A periodic result is kept across a few missed runs, then dropped, so a dead scheduler
    shows as a pending check rather than an old verdict served forever.

    >>> keep_for(Timing(ttl=10.0, interval=10.0, timeout=2.0), FieldResult("db", "pass"))
    32.0
    """
    if timing.periodic:
        return 3 * timing.ttl + timing.timeout
    return fresh_for(timing, result, damped=damped) + (timing.stale or 0.0)


@dataclass(frozen=True, slots=True)
class Damping:
    """The ``fail_after`` / ``recover_after`` counts of one field: what was reported last,
    and how many failed and passing runs came in a row.

    >>> Damping().reported
    'pass'
    """

    reported: Status = "pass"
    fails: int = 0
    passes: int = 0

    @property
    def failing(self) -> bool:
        """True while failed runs are being counted (reported as warnings or failures)."""
        return self.fails > 0


def damp(state: Damping, result: FieldResult, *, fail_after: int, recover_after: int) -> tuple[Damping, FieldResult]:
    """Count one run: one failed run warns, ``fail_after`` in a row fail; after a failure,
    ``recover_after`` passing runs in a row pass again.

    >>> state, reported = damp(Damping(), FieldResult("db", "fail"), fail_after=3, recover_after=1)
    >>> reported.status, reported.message, state.fails
    ('warn', 'failed 1 of 3 runs needed to fail', 1)
    """
    if fail_after == 1 and recover_after == 1:
        return state, result
    failed = result.status == "fail"
    fails, passes = (state.fails + 1, 0) if failed else (0, state.passes + 1)
    status: Status = result.status
    note = None
    if failed and state.reported != "fail" and fails < fail_after:
        status, note = "warn", f"failed {fails} of {fail_after} runs needed to fail"
    elif not failed and state.reported == "fail" and passes < recover_after:
        status, note = "fail", f"recovering: passed {passes} of {recover_after} runs needed"
    after = Damping(status, fails, passes)
    if note is None:
        return after, result
    message = f"{result.message}; {note}" if result.message else note
    return after, replace(result, status=status, message=message)


def damp_unconfirmed(state: Damping, result: FieldResult, *, fail_after: int) -> FieldResult:
    """A failure not counted as a run (a request timed out before a timeout window passed):
    a warning until ``fail_after`` runs have failed.

    >>> damp_unconfirmed(Damping(), FieldResult("db", "fail"), fail_after=3).status
    'warn'
    """
    if state.reported != "fail" and state.fails < fail_after:
        return replace(result, status="warn")
    return result
