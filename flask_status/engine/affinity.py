"""Keeping a hand-off on one CPU: the waiting thread and the worker running its task.

A request that runs a field on the pool sleeps until a worker thread lands the result. On a
machine with idle CPUs, Linux wakes a sleeping thread on an idle CPU rather than on the busy
one of its waker: the worker starts on another CPU than the request's, and the request is woken
back across CPUs. On a virtual machine each such wake-up makes the idle CPU leave its halt
(tens of µs), and both threads then run with cold caches: measured with a one-field route on 2
vCPUs, about 180 µs more per request than with both threads on one CPU. The GIL runs one of
the two at a time anyway, so a second CPU buys nothing for this exchange.

So, for the length of a hand-off only:

* the submitting thread pins the worker it hands the task to onto its own CPU
  (:func:`pin`), and the worker takes its full set of CPUs back as soon as it starts the task
  (:meth:`Home.restore`): user code never runs pinned, and threads it starts never inherit a pin;
* the waiting thread pins itself onto its CPU while it sleeps, for at most :data:`PIN_FOR`
  (:func:`hold_here`, :func:`let_go`), then waits on unpinned: a slow check costs it no CPU choice.

Where this cannot work, every function here is a no-op: not Linux (no
``os.sched_setaffinity``), no ``sched_getcpu`` in the C library, green threads (gevent,
eventlet), a process allowed a single CPU, or turned off with ``FLASK_STATUS_CPU_AFFINITY=0``.
A call the kernel refuses (a seccomp profile, a cpuset changed under us) turns it off for the
process, logged once.

>>> cpus = hold_here()  # pinned to this CPU now, where supported
>>> if cpus is not None:
...     let_go(cpus)
>>> sorted(os.sched_getaffinity(0)) == sorted(ALLOWED) if hasattr(os, "sched_getaffinity") else True
True
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

from .wake import green_threads

__all__ = ["OPT_OUT", "PIN_FOR", "Home", "hold_here", "here", "let_go", "pin", "usable"]

log = logging.getLogger("flask_status")

#: Set this environment variable to "0" to leave every thread's CPU affinity alone (hand-offs
#: then cross CPUs wherever the operating system puts the two threads).
OPT_OUT = "FLASK_STATUS_CPU_AFFINITY"

#: The longest a waiting thread stays pinned to its CPU, in seconds. A run that lands within
#: it (a quick check: tens of µs) wakes the waiter on the worker's CPU; a slower one wakes it
#: wherever the scheduler likes, the hand-off's cost being nothing beside the check's.
PIN_FOR = 0.002

_set: Callable[[int, object], None] | None = getattr(os, "sched_setaffinity", None)
_get: Callable[[int], set[int]] | None = getattr(os, "sched_getaffinity", None)

#: The CPUs this process may use, read at import (the doctest compares against it).
ALLOWED: frozenset[int] = frozenset(_get(0)) if _get is not None else frozenset()


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
    """Whether affinity is used in this process: decided on first use, off for good after a
    refused call. Read without a lock (a stale read costs one more syscall that fails)."""

    def __init__(self) -> None:
        self.decided = False
        self.on = False
        self.getcpu: Callable[[], int] | None = None

    def decide(self) -> bool:
        self.decided = True
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
_lock = threading.Lock()


def usable() -> bool:
    """Whether hand-offs are pinned to one CPU in this process (see the module's docstring)."""
    switch = _switch
    if not switch.decided:
        with _lock:
            if not switch.decided:
                switch.decide()
    return switch.on


def here() -> int | None:
    """The CPU the calling thread runs on, or ``None`` where hand-offs are not pinned."""
    if not usable():
        return None
    getcpu = _switch.getcpu
    assert getcpu is not None
    cpu = getcpu()
    return cpu if cpu >= 0 else None


def pin(tid: int, cpu: int) -> bool:
    """Pin thread ``tid`` (a native thread id, 0 for the caller) to ``cpu``; ``False`` if refused."""
    assert _set is not None
    try:
        _set(tid, (cpu,))
    except OSError as error:
        _switch.refused(error)
        return False
    return True


class Home:
    """A thread's own set of CPUs, read when it starts, to go back to after a pin.

    ``pinned`` is the CPU it was pinned to, or ``None``: written by the thread that pins it
    (under the pool's lock, when it hands the thread a task) and by the thread itself when it
    goes back home, never both at once: a worker is pinned only while idle.
    """

    __slots__ = ("cpus", "pinned", "tid")

    def __init__(self, cpus: frozenset[int] | None = None) -> None:
        """``cpus``: the thread's own set when the thread that started it was pinned (it
        inherited the pin, and leaves it here); ``None``: the set it runs with."""
        self.tid = threading.get_native_id()
        self.pinned: int | None = None
        if not usable():
            self.cpus = ALLOWED
            return
        assert _get is not None
        assert _set is not None
        if cpus is not None and cpus != frozenset(_get(0)):
            try:
                _set(0, cpus)
            except OSError as error:
                _switch.refused(error)
        self.cpus = frozenset(_get(0))

    def follow(self, cpu: int) -> None:
        """Pin this (idle) thread to ``cpu``, the caller's, unless it already is."""
        if self.pinned != cpu and pin(self.tid, cpu):
            self.pinned = cpu

    def restore(self) -> None:
        """In the thread itself: back to all its CPUs, if pinned (no migration: it runs here)."""
        if self.pinned is not None:
            self.pinned = None
            assert _set is not None
            try:
                _set(0, self.cpus)
            except OSError as error:
                _switch.refused(error)


def hold_here() -> set[int] | None:
    """Pin the calling thread to the CPU it runs on; the CPUs to :func:`let_go` back to, or
    ``None`` where hand-offs are not pinned (then there is nothing to let go)."""
    cpu = here()
    if cpu is None:
        return None
    assert _get is not None
    assert _set is not None
    try:
        cpus = _get(0)
        _set(0, (cpu,))
    except OSError as error:
        _switch.refused(error)
        return None
    return cpus


def let_go(cpus: set[int]) -> None:
    """Give the calling thread back the CPUs :func:`hold_here` returned."""
    assert _set is not None
    try:
        _set(0, cpus)
    except OSError as error:  # the cpuset changed meanwhile: what the process may use now
        _switch.refused(error)
        with contextlib.suppress(OSError):
            _set(0, _get(os.getpid()))  # type: ignore[misc]
