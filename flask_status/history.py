"""A history of each check: its recent transitions and a bounded sample of its results.

Kept in the process, and with a shared store (``STATUS_STORE_URL``) in Redis too, for the whole
fleet (lists capped at :data:`MAX_TRANSITIONS` and :data:`MAX_SAMPLES` entries per check, kept
:data:`KEEP` seconds after the last entry), so it survives a worker's restart. A details route
with ``history=True`` returns it, the status page draws it as a timeline, ``flask status
--history`` prints it.

Transitions are recorded once per change (elected through the store across the fleet);
samples are taken by every process, so in the fleet's list 120 samples cover 120 minutes
divided by the number of processes running the check.

Memory per check and process: at most 50 transitions and 120 samples of a few small fields
(about 40 KB with messages of 200 characters; messages are cut to :data:`MAX_MESSAGE`).
A sample is taken at most once per :data:`SAMPLE_EVERY` seconds per check and process, and
whenever the status differs from the last sample: 120 samples cover two hours of a steady check.

>>> from flask_status.clock import ManualClock
>>> from flask_status.results import FieldResult
>>> history = History(None, ManualClock())
>>> history.record_transition("db", "pass", "fail", "refused")
>>> history.record_run("db", FieldResult("db", "fail", time=0.0))
>>> [(mark.status, mark.message) for mark in history.of("db").transitions]
[('fail', 'refused')]
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._fork import after_fork
from .clock import Clock
from .results import STATUSES, FieldResult, Status

__all__ = ["KEEP", "MAX_SAMPLES", "MAX_TRANSITIONS", "SAMPLE_EVERY", "History", "Mark", "Timeline"]

MAX_TRANSITIONS = 50
"""Transitions kept per check."""

MAX_SAMPLES = 120
"""Results sampled per check."""

SAMPLE_EVERY = 60.0
"""The least seconds between two samples of a steady check (per process)."""

KEEP = 86400.0
"""Seconds the shared store keeps a check's history after its last entry."""

MAX_MESSAGE = 200
"""Characters of a message kept in the history."""


class HistoryStore(Protocol):
    """What the history needs of a shared store: capped lists."""

    def push_history(self, key: str, entry: str, cap: int, ttl: float) -> None:
        """Prepend ``entry`` to list ``key``, keep its first ``cap`` entries, for ``ttl`` s."""

    def read_history(self, key: str, count: int) -> list[str] | None:
        """The first ``count`` entries of list ``key`` (newest first), or ``None`` if unreachable."""


@dataclass(frozen=True, slots=True)
class Mark:
    """One point of a check's history: a wall-clock time, a status, and for a transition its
    message (the error or message of the result that changed it)."""

    time: float
    status: Status
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "status": self.status, "message": self.message}


@dataclass(frozen=True, slots=True)
class Timeline:
    """A check's history: transitions and samples, oldest first."""

    transitions: tuple[Mark, ...] = ()
    samples: tuple[Mark, ...] = field(default_factory=tuple)


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_MESSAGE:
        return text
    return text[: MAX_MESSAGE - 1] + "…"


def _parse(raw: str) -> Mark | None:
    try:
        data = json.loads(raw)
        status, stamp, message = data["status"], float(data["time"]), data.get("message")
    except (TypeError, ValueError, KeyError):
        return None
    if status not in STATUSES or not isinstance(message, (str, type(None))) or not 0 <= stamp < 1e11:
        return None  # a time no clock reads (NaN, 1e20): not a mark, whatever wrote it
    return Mark(stamp, status, _cut(message))


def _oldest_first(raw: list[str]) -> tuple[Mark, ...]:
    """The marks of a list in the store (newest pushed first), oldest first by their own time.

    Writes reach the store from several threads and processes, so the push order may differ a
    little from the order things happened; each mark's time says which came first (a stable
    sort: marks of the same time stay in push order).

    >>> pushed = ['{"status": "fail", "time": 3}', '{"status": "pass", "time": 1}', '{"status": "warn", "time": 2}']
    >>> [m.status for m in _oldest_first(pushed)]
    ['pass', 'warn', 'fail']
    """
    marks = [m for m in map(_parse, reversed(raw)) if m is not None]
    marks.sort(key=lambda mark: mark.time)
    return tuple(marks)


class History:
    """The history of one manager's checks on one app (see the module's docstring).

    Thread-safety: pool threads (runs), the delivery thread (transitions) and request threads
    (reading) share it; ``_lock`` guards the deques and ``_sampled``. Redis is written outside
    the lock.
    """

    def __init__(self, shared: Any, clock: Clock, *, scope: str = "", defer: Callable[..., None] | None = None) -> None:
        self.clock = clock
        #: How a write to the shared store is run: ``defer(function, *args)``, by default at
        #: once; the manager's state runs it on its pool (a sample may be taken in a request).
        self._defer: Callable[..., None] = defer or (lambda function, *args: function(*args))
        #: What the shared store's keys start with: the manager's name (two managers' checks of
        #: one name are two histories).
        self.scope = scope
        pushes = callable(getattr(shared, "push_history", None)) and callable(getattr(shared, "read_history", None))
        self.shared: HistoryStore | None = shared if pushes else None
        self._lock = threading.Lock()
        self._transitions: dict[str, deque[Mark]] = {}
        self._samples: dict[str, deque[Mark]] = {}
        self._sampled: dict[str, tuple[float, Status]] = {}
        after_fork(self, History._renew_lock)

    def _renew_lock(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it at fork time

    def record_transition(self, name: str, old: Status | None, new: Status, message: str | None) -> None:
        """Note that check ``name`` changed from ``old`` to ``new``."""
        mark = Mark(self.clock.wall(), new, _cut(message))
        with self._lock:
            marks = self._transitions.setdefault(name, deque(maxlen=MAX_TRANSITIONS))
            if marks and marks[-1].status == new:
                return  # the same change seen on another route of this check: one mark
            marks.append(mark)
        if self.shared is not None:
            elect = getattr(self.shared, "elect", None)
            if elect is not None:
                # Every process sees the change: the first to record it writes the fleet's mark.
                reached, old, recorded = elect(f"history:{self.scope}:{name}", new, mark.time, KEEP)
                if reached and (not recorded or old == new):
                    return
            self.shared.push_history(self._key("transitions", name), json.dumps(mark.to_dict()), MAX_TRANSITIONS, KEEP)

    def record_run(self, name: str, result: FieldResult) -> None:
        """Sample a run's result of check ``name`` (see :data:`SAMPLE_EVERY`)."""
        if result.pending:
            return
        now = self.clock.now()
        with self._lock:
            last = self._sampled.get(name)
            if last is not None and now - last[0] < SAMPLE_EVERY and last[1] == result.status:
                return
            self._sampled[name] = (now, result.status)
            mark = Mark(result.time or self.clock.wall(), result.status)
            self._samples.setdefault(name, deque(maxlen=MAX_SAMPLES)).append(mark)
        if self.shared is not None:  # only a sample taken, not every run, reaches the store
            self._defer(
                self.shared.push_history, self._key("samples", name), json.dumps(mark.to_dict()), MAX_SAMPLES, KEEP
            )

    def _key(self, kind: str, name: str) -> str:
        return f"{kind}:{self.scope}:{name}" if self.scope else f"{kind}:{name}"

    def of(self, name: str) -> Timeline:
        """Check ``name``'s history: the fleet's from the shared store when it answers, else
        this process's."""
        if self.shared is not None:
            transitions = self.shared.read_history(self._key("transitions", name), MAX_TRANSITIONS)
            samples = self.shared.read_history(self._key("samples", name), MAX_SAMPLES)
            if transitions is not None and samples is not None:
                return Timeline(_oldest_first(transitions), _oldest_first(samples))
        with self._lock:
            return Timeline(tuple(self._transitions.get(name, ())), tuple(self._samples.get(name, ())))
