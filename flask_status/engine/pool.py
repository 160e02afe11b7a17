"""A bounded pool of daemon threads for running checks.

``concurrent.futures.ThreadPoolExecutor`` joins its workers at interpreter exit, so one check
hung on a dead database would keep a gunicorn worker from exiting. This pool's threads are
daemons: a hung check costs one thread until it returns, never a clean shutdown.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from .._fork import after_fork
from .._validate import positive_int

__all__ = ["WorkerPool"]

log = logging.getLogger("flask_status")


class WorkerPool:
    """Runs submitted callables on at most ``max_workers`` daemon threads, started on demand.

    Thread-safety: ``submit`` may be called from any thread. ``_lock`` guards the thread
    count and the idle count; the queue has its own lock. After ``fork()`` the child gets an
    empty pool (the parent's threads do not exist there) with fresh locks.

    >>> pool = WorkerPool(2, name="demo")
    >>> done = threading.Event()
    >>> pool.submit(done.set)
    >>> done.wait(1)
    True
    """

    def __init__(self, max_workers: int, *, name: str = "flask-status") -> None:
        self.max_workers = positive_int(max_workers, "max_workers")
        self.name = name
        self._reset()
        after_fork(self, WorkerPool._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._threads = 0
        self._idle = 0

    @property
    def threads(self) -> int:
        """How many worker threads exist now (never more than ``max_workers``)."""
        return self._threads

    def submit(self, task: Callable[[], None]) -> None:
        """Queue ``task``; start a thread for it if none is idle and the bound allows.

        Raises (``RuntimeError``) when a needed thread cannot be started; the task is then
        not queued.
        """
        with self._lock:
            start = self._idle == 0 and self._threads < self.max_workers
            if start:
                self._threads += 1
            else:
                self._idle -= 1 if self._idle else 0
        if start:
            thread = threading.Thread(target=self._work, name=f"{self.name}-{self._threads}", daemon=True)
            try:
                thread.start()
            except BaseException:
                # e.g. "can't start new thread" under a process limit: count only real threads,
                # and let the caller fail this task instead of queueing it for nobody.
                with self._lock:
                    self._threads -= 1
                raise
        self._queue.put(task)

    def _work(self) -> None:
        tasks = self._queue
        while True:
            task = tasks.get()
            try:
                task()
            except BaseException:  # a worker must outlive any task
                log.exception("flask-status: a task raised in the worker pool")
            with self._lock:
                self._idle += 1
