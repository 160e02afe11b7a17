"""A bounded pool of daemon threads for running checks.

``concurrent.futures.ThreadPoolExecutor`` joins its workers at interpreter exit, so one check
hung on a dead database would keep a gunicorn worker from exiting. This pool's threads are
daemons: a hung check costs one thread until it returns, never a clean shutdown.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from .._fork import after_fork
from .._validate import positive_int
from ..clock import SYSTEM
from . import affinity
from .wake import Waker, thread_waker

__all__ = ["HARD_CAP_FACTOR", "PoolExhausted", "WorkerPool"]

log = logging.getLogger("flask_status")

#: A task: the callable, its arguments, its timeout, and whether the worker running it was
#: pinned to its submitter's CPU for it (see :meth:`WorkerPool.submit`).
_Task = tuple[Callable[..., object], tuple[Any, ...], float, bool]

HARD_CAP_FACTOR = 4
"""A pool grows past ``max_workers`` by one thread per hung run, up to this many times
``max_workers`` threads in all."""


class PoolExhausted(RuntimeError):
    """A task could not start: every thread is busy with a run hung past its timeout, and the
    pool is at its hard cap. The check fails at once, saying so, rather than timing out."""


class _Worker:
    """One worker thread as the pool sees it: the slot a task is handed through, and how to
    wake the thread (its thread's pipe, see :mod:`.wake`, or a latch where pipes cannot be
    used). ``task`` is written by the submitter under the pool's lock, while the worker is idle
    and waits, and taken back by the worker when it wakes, outside the lock; ``stop`` is set,
    under that lock too, when the pool is gone."""

    __slots__ = ("home", "latch", "stop", "task", "waker")

    def __init__(self) -> None:
        self.task: _Task | None = None
        self.stop = False
        self.waker: Waker | None = thread_waker()
        self.latch: threading.Lock | None = None
        if self.waker is None:
            self.latch = threading.Lock()
            self.latch.acquire()
        self.home = affinity.Home()

    def wake(self) -> None:
        if self.waker is not None:
            self.waker.wake()
        else:
            assert self.latch is not None
            self.latch.release()  # once per hand-off: the worker takes it back in wait()

    def wait(self) -> _Task | None:
        """In the worker: sleep until handed a task (returned, and the slot emptied) or told
        to stop (``None``)."""
        waker = self.waker
        if waker is None:
            assert self.latch is not None
            self.latch.acquire()
        else:
            while self.task is None and not self.stop:
                waker.sleep(3600.0)  # poll() takes a C int of milliseconds
        task, self.task = self.task, None
        return task


class _Tasks:
    """What a pool's workers share: the idle workers, the backlog, the counts.

    The workers hold this, never the pool, so a pool nobody uses any more is collected, and
    its finalizer (:meth:`shut`) lets the workers end: each idle one is told to stop, each busy
    one stops when its task returns. ``lock`` guards ``workers`` (every living one), ``idle``
    (those waiting for a task, the one that went idle last at the end), ``backlog`` (tasks no
    worker was free for), ``threads``, ``closed`` and ``running`` (when each busy worker's
    task started, and its timeout: a task past it is hung).

    No task is ever dropped under ``lock``: the last reference to a pool may be in one, and the
    pool's finalizer takes ``lock``. The finalizer never waits for ``lock`` either: the cyclic
    garbage collector may run it in a worker of that very pool, in the middle of a locked block.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.running: dict[int, tuple[float, float]] = {}
        self.lock = threading.Lock()
        self.workers: set[_Worker] = set()
        self.idle: list[_Worker] = []
        self.backlog: deque[_Task] = deque()
        self.threads = 0
        self.closed = False

    def shut(self) -> None:
        """The pool is gone: let every worker end once its task (if any) returns.

        Called by the pool's finalizer. When ``lock`` is taken (perhaps by the very thread the
        garbage collector interrupted to run this), a thread of its own finishes the work.
        """
        if self.lock.acquire(blocking=False):
            self._shut_locked()
        else:
            affinity.thread(self._shut, name="flask-status-pool-shut").start()

    def _shut(self) -> None:
        self.lock.acquire()
        self._shut_locked()

    def _shut_locked(self) -> None:
        """With ``lock`` held: mark the pool closed, tell the idle workers to stop, release."""
        try:
            self.closed = True
            idle, self.idle = self.idle, []
            backlog, self.backlog = self.backlog, deque()
            for worker in idle:
                worker.stop = True
                worker.wake()
        finally:
            self.lock.release()
        backlog.clear()  # outside the lock: a task's references may finalize another pool

    def forget(self) -> None:
        """In a child after ``fork()``: close this process's copies of the workers' pipes (their
        threads are the parent's, and do not exist here)."""
        for worker in self.workers:
            if worker.waker is not None:
                worker.waker.close()


def _work(tasks: _Tasks, first: list[_Task]) -> None:
    """A worker: run the task in ``first``, then whatever it is handed, until the pool is gone.

    ``first`` is a list emptied here: the thread object keeps its arguments until it ends, and
    a task there would keep the runner, hence the pool, alive for good.
    """
    item: _Task | None = first.pop()
    me: _Worker | None = None
    try:
        me = _Worker()
        with tasks.lock:
            tasks.workers.add(me)
        while True:
            if item is not None:
                _run(tasks, me, item)
                item = None
            with tasks.lock:
                if tasks.backlog:
                    item = tasks.backlog.popleft()
                    continue
                if tasks.closed:
                    return
                tasks.idle.append(me)
            item = me.wait()
            if item is None:
                return
    finally:
        with tasks.lock:
            tasks.threads -= 1
            if me is not None:
                tasks.workers.discard(me)
                if me in tasks.idle:  # pragma: no cover - only if waiting itself raised
                    tasks.idle.remove(me)
        if item is not None:  # pragma: no cover - a thread that could not even set itself up
            log.error("flask-status: a pool thread failed to start; a task of its pool was not run")
        del item  # outside the lock (see _Tasks)


def _run(tasks: _Tasks, me: _Worker, item: _Task) -> None:
    task, args, timeout, pinned = item
    if not pinned:
        me.home.restore()  # pinned for an earlier hand-off: this task may run anywhere
    ident = threading.get_ident()
    with tasks.lock:
        tasks.running[ident] = (tasks.now(), timeout)
    try:
        task(*args)
    except BaseException:  # a worker must outlive any task
        log.exception("flask-status: a task raised in the worker pool")
    del task, args, item  # this frame's references: the caller drops its own next
    with tasks.lock:
        del tasks.running[ident]


class WorkerPool:
    """Runs submitted callables on at most ``max_workers`` daemon threads, started on demand.

    A task is a callable and its arguments, handed as a tuple (no closure or partial per task)
    to one worker: the one that went idle last (its caches are the warmest), woken through its
    own pipe (see :mod:`.wake`) or its latch; with none idle, a new thread if the bound allows,
    else the backlog the next free worker takes from. Knowing which thread runs a task lets a
    caller that will wait for it pin that thread to its own CPU (``affine=True``, see
    :mod:`.affinity`). When the pool is collected, its workers end (after their task).

    Thread-safety: ``submit`` may be called from any thread. The shared ``_tasks`` guards the
    idle workers, the backlog and the counts with its own lock. After ``fork()`` the child gets
    an empty pool (the parent's threads do not exist there) with a fresh lock.

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
        """In a child after ``fork()``: no threads, no tasks."""
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
    def idle(self) -> int:
        """How many worker threads wait for a task now."""
        return len(self._tasks.idle)

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

    def submit(
        self, task: Callable[..., object], *args: Any, timeout: float = float("inf"), affine: bool = False
    ) -> int | None:
        """Hand ``task(*args)`` to an idle worker, a new one if the bound allows, else queue it.

        ``timeout`` is how long the task may run before it counts as hung. A hung task does
        not hold capacity others need: the pool grows past ``max_workers`` by one thread per
        hung task, up to ``hard_cap``. With every thread hung at the cap, the task is not
        queued behind them: :class:`PoolExhausted` is raised at once. Raises ``RuntimeError``
        too when a needed thread cannot be started; the task is then not queued.

        ``affine=True``: the caller is about to wait for the task, expected quick. An idle
        worker it is handed to is pinned to the caller's CPU (and stays so until it is handed a
        task that was not pinned for it), so that the two threads hand the run over and back on
        one CPU (see :mod:`.affinity`); that CPU is returned, for the caller to pin itself to
        while it waits. ``None``: no worker was pinned (none idle, or not possible here).
        """
        tasks = self._tasks
        cpu = affinity.here() if affine else None
        with tasks.lock:
            if tasks.idle:
                worker = tasks.idle.pop()
                if cpu is not None and not worker.home.follow(cpu):
                    cpu = None
                worker.task = (task, args, timeout, cpu is not None)
            else:
                limit = self.max_workers
                if tasks.threads >= limit:
                    hung = self._hung(tasks)
                    limit = min(self.max_workers + hung, self.hard_cap)
                    if tasks.threads >= limit and hung >= tasks.threads:
                        raise PoolExhausted(
                            f"not started: {hung} runs hung past their timeout hold every thread "
                            f"of the pool, at its cap of {self.hard_cap}"
                        )
                item: _Task = (task, args, timeout, False)
                if tasks.threads >= limit:
                    tasks.backlog.append(item)
                    return None
                tasks.threads += 1
                number = tasks.threads
                worker = None
        if worker is not None:
            worker.wake()
            return cpu
        thread = affinity.thread(_work, args=(tasks, [item]), name=f"{self.name}-{number}")
        try:
            thread.start()
        except BaseException:
            # e.g. "can't start new thread" under a process limit: count only real threads,
            # and let the caller fail this task instead of queueing it for nobody.
            with tasks.lock:
                tasks.threads -= 1
            raise
        return None
