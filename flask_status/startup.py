"""Startup gating: readiness that fails until the app says its warm-up is done.

A startup task is a piece of warm-up (filling a cache, loading a model, waiting for a
migration) that holds every readiness route of its manager at ``503`` until it is done, as a
``startup`` check saying what is still running ("waiting for startup: load-model (running
12 s)"). Liveness and the other routes are not held. Once every task is done the item goes
away and readiness answers on its checks alone; a task that failed keeps holding readiness,
saying why, until it is done after all (the app retries) or the process is replaced.

>>> from flask_status.clock import ManualClock
>>> startup = Startup(ManualClock())
>>> task = startup.task("warm-cache")
>>> startup.verdict().message
'waiting for startup: warm-cache (running 0 s)'
>>> task.done()
>>> startup.verdict() is None
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from ._fork import after_fork
from ._validate import validate_name
from .clock import Clock
from .definitions import Field
from .heartbeat import human_duration
from .results import FieldResult, error_text

__all__ = ["STARTUP", "Startup", "StartupTask"]

TaskState = Literal["running", "done", "failed"]


def _held() -> bool:  # pragma: no cover - the startup item is shown, never run
    return False


STARTUP = Field("startup", _held, kind="check")
"""The item a readiness route shows while startup tasks hold it."""


class StartupTask:
    """One piece of warm-up holding readiness until :meth:`done`. Also a context manager:
    done when the block ends, failed (saying why) when it raises.

    Thread-safety: any thread may end it; its state is guarded by its :class:`Startup`'s lock.
    """

    def __init__(self, name: str, startup: Startup, started: float) -> None:
        self.name = name
        self.started = started
        self.state: TaskState = "running"
        self.reason: str | None = None
        self._startup = startup

    def done(self) -> None:
        """The warm-up is over: this task holds readiness no more."""
        self._startup._end(self, "done", None)

    def fail(self, reason: str) -> None:
        """The warm-up failed: readiness stays held, saying ``reason``, until :meth:`done`."""
        if not isinstance(reason, str) or not reason:
            raise TypeError(f"reason must be a non-empty str, got {reason!r}")
        self._startup._end(self, "failed", reason)

    def __enter__(self) -> StartupTask:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is None:
            self.done()
        else:
            self.fail(error_text(error))

    def __repr__(self) -> str:
        return f"<StartupTask {self.name!r} {self.state}>"


class Startup:
    """The startup tasks of one status manager, in this process.

    Thread-safety: ``_lock`` guards ``_tasks`` and every task's state; ``on_change`` callbacks
    (the manager voiding rendered bodies) run after it is released.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._tasks: dict[str, StartupTask] = {}
        self.on_change: list[Callable[[], None]] = []
        after_fork(self, Startup._renew_lock)

    def _renew_lock(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it at fork time

    def task(self, name: str) -> StartupTask:
        """A new task named ``name``, holding readiness from now until it is done. A name whose
        task still runs is a ``ValueError``; one whose task failed is taken over (a retry)."""
        validate_name(name, "startup task name")
        with self._lock:
            held = self._tasks.get(name)
            if held is not None and held.state == "running":
                raise ValueError(f"startup task {name!r} is already running: end it before starting another")
            task = self._tasks[name] = StartupTask(name, self, self.clock.now())
        self._changed()
        return task

    def _end(self, task: StartupTask, state: TaskState, reason: str | None) -> None:
        with self._lock:
            task.state, task.reason = state, reason
        self._changed()

    def _changed(self) -> None:
        for callback in list(self.on_change):
            callback()

    @property
    def waiting(self) -> list[StartupTask]:
        """The tasks not done yet (running or failed), oldest first."""
        with self._lock:
            return [task for task in self._tasks.values() if task.state != "done"]

    def verdict(self) -> FieldResult | None:
        """The ``startup`` item of a readiness route while tasks hold it, else ``None``."""
        waiting = self.waiting
        if not waiting:
            return None
        now = self.clock.now()
        parts = []
        for task in waiting:
            if task.state == "failed":
                parts.append(f"{task.name} (failed: {task.reason})")
            else:
                parts.append(f"{task.name} (running {human_duration(now - task.started)})")
        message = "waiting for startup: " + ", ".join(parts)
        return FieldResult(STARTUP.name, "fail", value=False, message=message, observed_at=now, time=self.clock.wall())
