"""One background thread per process that runs every periodic check on time.

Checks registered with ``interval=`` are never run by requests: the scheduler starts their
runs on the runner's pool (so a run is bounded, single-flight and never started twice while it
overruns) and requests read the latest result. The thread is a daemon, so it never holds up
interpreter exit, and it is recreated in a child process after ``fork()`` (gunicorn
``--preload``) the first time that child serves a request.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

from .._fork import after_fork
from ..definitions import Field
from . import affinity
from .flight import Flight
from .runner import Runner

__all__ = ["PeriodicSource", "Scheduler", "scheduler"]

log = logging.getLogger("flask_status")

#: The longest the thread sleeps, so fields added later are picked up without a wake-up call.
_MAX_SLEEP = 1.0


class PeriodicSource(Protocol):
    """Something with periodic fields to run: a manager's state on one app."""

    def periodic(self) -> Iterable[tuple[Runner, Field, float]]:
        """The runner, field and interval (seconds) of every check to run in the background,
        deduplicated by field key."""


class Scheduler:
    """Runs each periodic field every ``interval`` seconds, on its runner's pool (and the fields
    a probe listener serves, every interval its source gives).

    Thread-safety: ``add``, ``ensure_running`` and ``run_due`` may be called from any thread.
    ``_cond`` (a condition on one lock) guards the sources and the thread handle; the
    scheduling thread holds it only between runs. ``_starting`` guards the last start times:
    held for a whole :meth:`run_due`, so that two callers (the thread, a listener starting, a
    test on a manual clock) never both find a field due and start it twice. Neither is held
    while a check executes (runs go to the runner's pool); the callbacks of a run found hung
    (:meth:`Runner.overdue`) are called under ``_starting``, and never call back into the
    scheduler. Sources are held weakly: a discarded app stops being scheduled.

    >>> Scheduler().running
    False
    """

    def __init__(self) -> None:
        self._stopped = False
        self._reset()
        after_fork(self, Scheduler._reset_keep_sources)
        # At interpreter exit, stop starting runs: nothing is left to read their results.
        atexit.register(self.stop)

    def stop(self) -> None:
        """Start no more runs in this process (called at interpreter exit)."""
        self._stopped = True
        with self._cond:
            self._cond.notify_all()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._starting = threading.Lock()
        self._sources: weakref.WeakSet[PeriodicSource] = weakref.WeakSet()
        # Last start times by runner (held weakly: a discarded app's entries go with it) and field key.
        self._due: weakref.WeakKeyDictionary[Runner, dict[str, float]] = weakref.WeakKeyDictionary()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def _reset_keep_sources(self) -> None:
        # The parent's thread does not exist in the child; its sources (copied with the
        # process) still need their checks run, by a thread of the child's own.
        sources = list(self._sources)
        self._reset()
        for source in sources:
            self._sources.add(source)

    @property
    def running(self) -> bool:
        """True when this process's scheduling thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self._pid == os.getpid()

    def add(self, source: PeriodicSource) -> None:
        """Schedule ``source``'s periodic fields (again harmless) and start the thread."""
        with self._cond:
            self._sources.add(source)
            self._cond.notify()
        self.ensure_running()

    def ensure_running(self) -> None:
        """Start the scheduling thread in this process if it is not running."""
        if self.running or self._stopped:
            return
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = affinity.thread(self._loop, name="flask-status-scheduler")
            self._thread.start()

    def _loop(self) -> None:
        while not self._stopped:
            with self._cond:
                sources = list(self._sources)
            wait = _MAX_SLEEP
            while sources:
                # Popped, so no source is held while waiting: a discarded app's state must be
                # free to go, and with it its periodic checks and its pool's threads.
                try:
                    wait = min(wait, self.run_due(sources.pop()))
                except Exception:  # the scheduler must outlive any source
                    log.exception("flask-status: the scheduler failed on a source")
            with self._cond:
                self._cond.wait(max(wait, 0.01))

    def run_due(self, source: PeriodicSource, started: list[tuple[float, Flight]] | None = None) -> float:
        """Start what is due on ``source``; return the seconds until its next due run. Each run
        started is appended to ``started`` when given, with its timeout.

        Times are read from each runner's clock, so a test on a manual clock calls this after
        moving time instead of waiting for the thread.
        """
        with self._starting:
            return self._start_due(source, started)

    def _start_due(self, source: PeriodicSource, started: list[tuple[float, Flight]] | None) -> float:
        wait = _MAX_SLEEP
        for runner, field, interval in source.periodic():
            now = runner.clock.now()
            # The last start is kept, not the next due time: an interval that changes (the
            # listener runs a failing check every failure ttl) applies from the last run.
            starts = self._due.setdefault(runner, {})
            last = starts.get(field.key)
            due = now if last is None else last + interval
            runner.overdue(field)
            if now >= due:
                flight = runner.refresh(field)
                if started is not None:
                    started.append((runner.timeout(field), flight))
                starts[field.key] = now
                due = now + interval
            # Wake often enough to report a hung run as timed out close to its timeout.
            wait = min(wait, due - now, runner.timeout(field) / 2)
        return wait


scheduler = Scheduler()
"""The process's scheduler, shared by every manager and app."""
