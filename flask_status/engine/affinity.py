"""Keeping a hand-off on one CPU: the waiting thread and the worker running its task.

A request that runs a field on the pool sleeps until a worker thread lands the result. On a
machine with idle CPUs, Linux wakes a sleeping thread on an idle CPU rather than on the busy
one of its waker: the worker starts on another CPU than the request's, and the request is woken
back across CPUs. On a virtual machine each such wake-up makes the idle CPU leave its halt
(tens of µs), and both threads then run with cold caches: measured with a one-field route on 2
vCPUs, about 120-190 µs more per request than with both threads on one CPU. The GIL runs one of
the two at a time anyway, so a second CPU buys nothing for this exchange.

So, for a quick run (see :class:`~flask_status.engine.runner.Runner`: its last run took less
than :data:`PIN_FOR`) that a request waits for:

* the submitting thread pins the idle worker it hands the task to onto its own CPU
  (:meth:`Home.follow`), while the worker sleeps (cheap: nothing to migrate). The worker keeps
  that pin while it runs the task, callbacks included: taking its CPUs back while running costs
  a round trip through the kernel's migration thread, about as much as the pin saves. It takes
  them back when it is handed a task nobody waits for that way (:meth:`Home.restore`);
* the waiting thread pins itself onto that CPU while it sleeps, for at most :data:`PIN_FOR`
  (:func:`hold_here`, :func:`let_go`), then waits on unpinned: a slow run costs it no choice.

A thread started by a pinned thread would inherit its single CPU for good: every thread this
library starts from a worker or a request thread is made by :func:`thread`, which gives it the
starter's own CPUs back first. A thread or process a quick callable starts itself keeps the pin
(client libraries start theirs on first use, and a first run is never pinned).

Where this cannot work, every function here is a no-op: not Linux (no
``os.sched_setaffinity``), no ``sched_getcpu`` in the C library, green threads (gevent,
eventlet), a process allowed a single CPU, or turned off with ``FLASK_STATUS_CPU_AFFINITY=0``.
A call the kernel refuses (a seccomp profile, a cpuset changed under us) turns it off for the
process, logged once at debug level. The decision is made again in a child after ``fork()``
(gevent patches a gunicorn worker after the fork).

>>> cpus = hold_here(here())  # pinned to this CPU now, where supported
>>> if cpus is not None:
...     let_go(cpus)
>>> frozenset(os.sched_getaffinity(0)) == ALLOWED if hasattr(os, "sched_getaffinity") else True
True
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from .._fork import after_fork
from .wake import green_threads

__all__ = ["ALLOWED", "OPT_OUT", "PIN_FOR", "Home", "here", "hold_here", "let_go", "thread", "usable"]

log = logging.getLogger("flask_status")

#: Set this environment variable to "0" to leave every thread's CPU affinity alone (hand-offs
#: then cross CPUs wherever the operating system puts the two threads).
OPT_OUT = "FLASK_STATUS_CPU_AFFINITY"

#: The longest a waiting thread stays pinned to its CPU, in seconds, and how quick a callable's
#: last run must have been for its next one to be handed over pinned. A run that lands within
#: it (a quick check: tens of µs) wakes the waiter on the worker's CPU; a slower one wakes it
#: wherever the scheduler likes, the hand-off's cost being nothing beside the run's.
PIN_FOR = 0.002

_set: Callable[[int, Any], None] | None = getattr(os, "sched_setaffinity", None)
_get: Callable[[int], set[int]] | None = getattr(os, "sched_getaffinity", None)


def _allowed() -> frozenset[int]:
    try:
        return frozenset(_get(0)) if _get is not None else frozenset()
    except OSError:  # pragma: no cover - refused by a sandbox: no pinning
        return frozenset()


#: The CPUs this process was allowed when this module was imported.
ALLOWED: frozenset[int] = _allowed()


def _load_getcpu() -> Callable[[], int] | None:
    if _set is None or _get is None:
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        getcpu = libc.sched_getcpu
    except (ImportError, OSError, AttributeError):  # no ctypes, or a libc without sched_getcpu
        return None
    getcpu.restype = ctypes.c_int
    getcpu.argtypes = []
    return getcpu


class _Switch:
    """Whether affinity is used in this process: decided on first use (again in a child after
    ``fork()``), off for good after a refused call. Read without a lock: a stale read costs one
    more syscall, which fails."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.lock = threading.Lock()
        self.decided = False
        self.on = False
        self.getcpu: Callable[[], int] | None = None

    def decide(self) -> bool:
        self.decided = True
        self.on = False
        if os.environ.get(OPT_OUT) == "0" or green_threads() or len(ALLOWED) < 2:
            return False
        self.getcpu = _load_getcpu()
        self.on = self.getcpu is not None
        return self.on

    def refused(self, error: OSError) -> None:
        if self.on:
            self.on = False
            log.debug("flask-status: CPU affinity refused (%s): hand-offs no longer pinned", error)


_switch = _Switch()
after_fork(_switch, _Switch.renew)


class _Local(threading.local):
    #: The pool worker's home, in a worker thread; the CPUs to go back to, in a waiting thread.
    home: Home | None = None
    held: set[int] | None = None


_local = _Local()


def usable() -> bool:
    """Whether quick hand-offs are pinned to one CPU in this process (see the module's docstring)."""
    switch = _switch
    if not switch.decided:
        with switch.lock:
            if not switch.decided:
                switch.decide()
    return switch.on


def here() -> int | None:
    """The CPU the calling thread runs on, or ``None`` where hand-offs are not pinned."""
    if not usable():
        return None
    getcpu = _switch.getcpu
    if getcpu is None:  # pragma: no cover - turned off between the two reads
        return None
    cpu = getcpu()
    return cpu if cpu >= 0 else None


def _pin(tid: int, cpus: Any) -> bool:
    """Set thread ``tid``'s CPUs (0: the caller); ``False``, and off for the process, if refused."""
    if _set is None:  # pragma: no cover - usable() is false there
        return False
    try:
        _set(tid, cpus)
    except OSError as error:
        _switch.refused(error)
        return False
    return True


class Home:
    """A pool worker's own set of CPUs, read when it starts, to go back to after a pin.

    ``pinned`` is the CPU it is pinned to, or ``None``. Written by a submitting thread (under
    the pool's lock, while the worker is idle) and by the worker itself (when handed a task
    that was not pinned for it), never both at once: a worker idle in the pool runs no task.
    """

    __slots__ = ("cpus", "pinned", "tid")

    def __init__(self) -> None:
        self.tid = threading.get_native_id()
        self.pinned: int | None = None
        self.cpus = ALLOWED
        if usable() and _get is not None:
            with contextlib.suppress(OSError):
                self.cpus = frozenset(_get(0))
        _local.home = self

    def follow(self, cpu: int) -> bool:
        """Pin this idle worker to ``cpu``, the caller's, unless it already is; ``False`` if refused."""
        if self.pinned == cpu:
            return True
        if _pin(self.tid, (cpu,)):
            self.pinned = cpu
            return True
        return False

    def restore(self) -> None:
        """In the worker itself: back to all its CPUs, if pinned (still pinned if refused)."""
        if self.pinned is not None and _pin(0, self.cpus):
            self.pinned = None


def hold_here(cpu: int | None) -> set[int] | None:
    """Pin the calling thread to ``cpu`` if it runs there now; the CPUs to :func:`let_go` back
    to, or ``None`` (not pinned: nothing to let go). ``cpu`` is the CPU its run's worker was
    pinned to: a thread that moved since (or joined another thread's run from another CPU)
    stays free."""
    if cpu is None or here() != cpu or _get is None:
        return None
    try:
        cpus = _get(0)
    except OSError as error:  # pragma: no cover - refused by a sandbox
        _switch.refused(error)
        return None
    if not _pin(0, (cpu,)):
        return None
    _local.held = cpus
    return cpus


def let_go(cpus: set[int]) -> None:
    """Give the calling thread back the CPUs :func:`hold_here` returned."""
    _local.held = None
    if not _pin(0, cpus):  # the cpuset changed meanwhile: whatever the process may use
        _pin(0, ALLOWED)


def _starters_home() -> frozenset[int] | set[int] | None:
    """The calling thread's own CPUs while this module has it pinned, else ``None``."""
    local = _local
    if local.held is not None:
        return local.held
    home = local.home
    if home is not None and home.pinned is not None:
        return home.cpus
    return None


def thread(
    target: Callable[..., object], *, name: str, args: tuple[Any, ...] = (), daemon: bool = True
) -> threading.Thread:
    """A ``threading.Thread`` (not started) that never keeps a pin of the thread that made it.

    A thread inherits its starter's CPUs: started from a worker pinned for a quick run, it would
    run on that one CPU for good. This one first takes back the starter's own set.

    >>> done = []
    >>> worker = thread(done.append, name="demo", args=(1,))
    >>> worker.start(); worker.join()
    >>> done
    [1]
    """
    home = _starters_home()
    if home is None:
        return threading.Thread(target=target, args=args, name=name, daemon=daemon)
    cpus = frozenset(home)

    def unpinned(*given: Any) -> None:
        _pin(0, cpus)
        target(*given)

    return threading.Thread(target=unpinned, args=args, name=name, daemon=daemon)
