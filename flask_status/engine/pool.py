"""A bounded pool of daemon threads for running checks.

``concurrent.futures.ThreadPoolExecutor`` joins its workers at interpreter exit, so one check
hung on a dead database would keep a gunicorn worker from exiting. This pool's threads are
daemons: a hung check costs one thread until it returns, never a clean shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .._fork import after_fork
from .._validate import positive_int
from ..clock import SYSTEM
from .wake import pipes_usable

__all__ = ["HARD_CAP_FACTOR", "PoolExhausted", "WorkerPool"]

log = logging.getLogger("flask_status")

_Task = tuple[Callable[..., object], tuple[Any, ...], float]

HARD_CAP_FACTOR = 4
"""A pool grows past ``max_workers`` by one thread per hung run, up to this many times
``max_workers`` threads in all."""


class PoolExhausted(RuntimeError):
    """A task could not start: every thread is busy with a run hung past its timeout, and the
    pool is at its hard cap. The check fails at once, saying so, rather than timing out."""


class _Tasks:
    """What a pool's workers share: the queue, the counts, the pipe that wakes them.

    The workers hold this, never the pool, so a pool nobody uses any more is collected, and
    its finalizer (:meth:`shut`) lets the workers end: the pipe's write end closed (they read
    the end of the file), or one ``None`` per worker queued. The last worker out closes the
    read end. ``lock`` guards ``threads``, ``idle``, ``closed`` and ``running`` (when each busy
    worker's task started, and its timeout: a task past it is hung).
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.running: dict[int, tuple[float, float]] = {}
        self.lock = threading.Lock()
        self.queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self.threads = 0
        self.idle = 0
        self.closed = False
        #: The pipe a submit writes a byte to, waking one worker blocked reading it; ``None``:
        #: the workers block on the queue instead (no pipes here, or not decided yet).
        self.pipe: tuple[int, int] | None = None
        self.decided = False

    def decide(self) -> None:
        """Before the first thread starts (under ``lock``): wake workers through a pipe if we can."""
        self.decided = True
        if not pipes_usable():
            return
        try:
            read_fd, write_fd = os.pipe()
        except OSError:  # out of file descriptors: the queue wakes the workers
            return
        os.set_blocking(write_fd, False)  # a full pipe already holds wake-ups: never block a submit
        self.pipe = (read_fd, write_fd)

    def post(self, task: _Task) -> None:
        self.queue.put(task)
        pipe = self.pipe
        if pipe is not None:
            try:  # noqa: SIM105 - once per task: no context manager on this path
                os.write(pipe[1], b"\0")
            except BlockingIOError:  # pragma: no cover - 64 KiB of wake-ups already pending
                pass

    def shut(self) -> None:
        """The pool is gone: let every worker end once its task (if any) returns."""
        with self.lock:
            self.closed = True
            pipe, threads = self.pipe, self.threads
            if pipe is not None:
                os.close(pipe[1])
                if threads == 0:
                    os.close(pipe[0])
            else:
                for _ in range(threads):
                    self.queue.put(None)

    def forget(self) -> None:
        """In a child after ``fork()``: close this process's copies of the parent's pipe."""
        if self.pipe is not None:
            for fd in self.pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.pipe = None


def _work(tasks: _Tasks) -> None:
    """A worker: run tasks until the pool is gone."""
    pipe = tasks.pipe
    try:
        if pipe is None:
            get = tasks.queue.get
            while True:
                item = get()
                if item is None:
                    return
                _run(tasks, item)
                del item
        else:
            get_nowait, read_fd = tasks.queue.get_nowait, pipe[0]
            while True:
                try:
                    item = get_nowait()
                except queue.Empty:
                    # One byte: the other bytes wake the other idle workers, so tasks queued
                    # together run in parallel. A byte whose task another worker took first
                    # only makes this loop look at the queue once more.
                    if not os.read(read_fd, 1):
                        return  # the end of the file: the pool is gone
                    continue
                if item is not None:
                    _run(tasks, item)
                    del item
    finally:
        with tasks.lock:
            tasks.threads -= 1
            last = tasks.threads == 0 and tasks.closed
        if last and pipe is not None:
            os.close(pipe[0])


def _run(tasks: _Tasks, item: _Task) -> None:
    task, args, timeout = item
    me = threading.get_ident()
    with tasks.lock:
        tasks.running[me] = (tasks.now(), timeout)
    try:
        task(*args)
    except BaseException:  # a worker must outlive any task
        log.exception("flask-status: a task raised in the worker pool")
    del task, args  # drop the task's references while idle
    with tasks.lock:
        del tasks.running[me]
        tasks.idle += 1


class WorkerPool:
    """Runs submitted callables on at most ``max_workers`` daemon threads, started on demand.

    A task is a callable and its arguments, queued as a tuple (no closure or partial per
    task). Idle workers block reading a pipe, and a submit writes one byte to it (see
    :mod:`.wake`: a wake-up through a pipe keeps the worker on the submitting thread's CPU,
    several times cheaper than one through a lock); where pipes cannot be used, they block
    on the queue itself. When the pool is collected, its workers end (after their task).

    Thread-safety: ``submit`` may be called from any thread. The shared ``_tasks`` guards its
    counts with its own lock; the queue has its own lock. After ``fork()`` the child gets an
    empty pool (the parent's threads do not exist there) with fresh locks and a fresh pipe.

    >>> pool = WorkerPool(2, name="demo")
    >>> done = threading.Event()
    >>> pool.submit(done.set)
    >>> done.wait(1)
    True
    """

    def __init__(self, max_workers: int, *, name: str = "flask-status", now: Callable[[], float] = SYSTEM.now) -> None:
        self.max_workers = positive_int(max_workers, "max_workers")
        #: The most threads the pool ever has: ``max_workers`` plus one per hung run, up to this.
        self.hard_cap = HARD_CAP_FACTOR * self.max_workers
        self.name = name
        self._now = now
        self._tasks = _Tasks(now)
        self._finalizer = weakref.finalize(self, _Tasks.shut, self._tasks)
        self._finalizer.atexit = False
        after_fork(self, WorkerPool._reset)

    def _reset(self) -> None:
        """In a child after ``fork()``: no threads, no tasks, a pipe of its own when needed."""
        self._finalizer.detach()
        self._tasks.forget()
        self._tasks = _Tasks(self._now)
        self._finalizer = weakref.finalize(self, _Tasks.shut, self._tasks)
        self._finalizer.atexit = False

    @property
    def threads(self) -> int:
        """How many worker threads exist now: at most ``max_workers``, plus one per hung run
        up to ``hard_cap``."""
        return self._tasks.threads

    @property
    def hung(self) -> int:
        """How many threads are running a task past its timeout now."""
        tasks = self._tasks
        with tasks.lock:
            return self._hung(tasks)

    @staticmethod
    def _hung(tasks: _Tasks) -> int:
        now = tasks.now()
        return sum(1 for started, timeout in tasks.running.values() if now - started >= timeout)

    def submit(self, task: Callable[..., object], *args: Any, timeout: float = float("inf")) -> None:
        """Queue ``task(*args)``; start a thread for it if none is idle and the bound allows.

        ``timeout`` is how long the task may run before it counts as hung. A hung task does
        not hold capacity others need: the pool grows past ``max_workers`` by one thread per
        hung task, up to ``hard_cap``. With every thread hung at the cap, the task is not
        queued behind them: :class:`PoolExhausted` is raised at once. Raises ``RuntimeError``
        too when a needed thread cannot be started; the task is then not queued.
        """
        tasks = self._tasks
        with tasks.lock:
            start = False
            if tasks.idle == 0:
                limit = self.max_workers
                if tasks.threads >= limit:
                    hung = self._hung(tasks)
                    limit = min(self.max_workers + hung, self.hard_cap)
                    if tasks.threads >= limit and hung >= tasks.threads:
                        raise PoolExhausted(
                            f"not started: {hung} runs hung past their timeout hold every thread "
                            f"of the pool, at its cap of {self.hard_cap}"
                        )
                start = tasks.threads < limit
            if start:
                if not tasks.decided:
                    tasks.decide()
                tasks.threads += 1
                number = tasks.threads
            elif tasks.idle:
                tasks.idle -= 1
        if start:
            thread = threading.Thread(target=_work, args=(tasks,), name=f"{self.name}-{number}", daemon=True)
            try:
                thread.start()
            except BaseException:
                # e.g. "can't start new thread" under a process limit: count only real threads,
                # and let the caller fail this task instead of queueing it for nobody.
                with tasks.lock:
                    tasks.threads -= 1
                raise
        tasks.post((task, args, timeout))
