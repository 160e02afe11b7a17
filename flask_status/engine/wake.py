"""Waking a thread through a pipe: the cheap way to hand a run to the pool and its result back.

A request that runs a field on the pool hands the run to a worker thread and waits for its
result: two wake-ups per request. Between two threads on one CPU (where :mod:`.affinity` keeps
a quick run), a wake-up through a pipe takes about half the time of one through a lock (a
futex): a round trip of 6-8 µs against 12-16 µs on a virtual machine. The GIL lets only one of
them run Python anyway, so nothing is lost.

:class:`Waker` is one thread's pipe, kept in a thread-local and closed with its thread; a
byte written to it wakes that thread (a worker waking a waiting request, a submit waking an
idle worker). :func:`thread_waker` gives the calling
thread's, or ``None`` where pipes cannot be used: without ``select.poll`` (Windows), under
gevent or eventlet green threads (a blocking read would stop every greenlet), or when the
process is out of file descriptors, or turned off (``FLASK_STATUS_PIPE_WAKEUPS=0``). Callers
then wait on a lock.

After ``fork()`` the child makes new pipes: the inherited ones are shared with the parent.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from typing import Any

from .._fork import after_fork

# Windows has no poll(): no pipe wake-ups there.
_poll: Any = getattr(select, "poll", None)
_POLLIN: int = getattr(select, "POLLIN", 1)

__all__ = ["OPT_OUT", "Waker", "green_threads", "pipes_usable", "thread_waker"]

_BYTE = b"\0"


def green_threads() -> bool:
    """True when ``threading`` is monkey-patched by gevent or eventlet (threads are greenlets)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return True
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and bool(patcher.is_monkey_patched("thread"))


#: Set this environment variable to "0" to wake threads through locks instead of pipes (one
#: file descriptor pair less per waiting thread and per pool thread, for a slower hand-off).
OPT_OUT = "FLASK_STATUS_PIPE_WAKEUPS"


def pipes_usable() -> bool:
    """Whether threads are woken through pipes: on POSIX with ``poll``, with real threads, unless
    ``FLASK_STATUS_PIPE_WAKEUPS=0``. Otherwise they wait on locks."""
    if os.environ.get(OPT_OUT) == "0":
        return False
    return _poll is not None and os.name == "posix" and not green_threads()


class _Generation:
    """Bumped in a child after ``fork()``: wakers of an older generation are the parent's."""

    value = 0

    def bump(self) -> None:
        self.value += 1


_generation = _Generation()
after_fork(_generation, _Generation.bump)


class Waker:
    """A thread's pipe: :meth:`wake` from any thread, :meth:`sleep` in the owning thread only.

    Both ends are non-blocking: a wake-up never blocks its writer (a full pipe already holds a
    wake-up), and :meth:`sleep` reads whatever is there. The pipe is closed when the waker is
    collected (its thread ended); a writer must be done with it by then (see
    :class:`~flask_status.engine.flight.Flight`, which unregisters a waiter before it leaves).
    """

    __slots__ = ("_poll", "generation", "read_fd", "write_fd")

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.generation = _generation.value
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self._poll = _poll()
        self._poll.register(self.read_fd, _POLLIN)

    def wake(self) -> None:
        """Wake the owning thread (if it sleeps; else its next :meth:`sleep` returns at once)."""
        try:  # noqa: SIM105 - once per request: no context manager on this path
            os.write(self.write_fd, _BYTE)
        except BlockingIOError:  # full: a wake-up is pending anyway
            pass

    def sleep(self, seconds: float) -> None:
        """Return after a wake-up or ``seconds``, whichever comes first (or spuriously: callers
        check what they wait for in a loop). Swallows every pending wake-up."""
        if self._poll.poll(max(seconds, 0.0) * 1000.0):
            try:  # noqa: SIM105 - once per request: no context manager on this path
                os.read(self.read_fd, 4096)
            except BlockingIOError:  # pragma: no cover - poll said readable
                pass

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.read_fd = self.write_fd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown, os may be gone
            if self.read_fd >= 0:
                self.close()


class _Local(threading.local):
    waker: Waker | None = None


_local = _Local()


def thread_waker() -> Waker | None:
    """The calling thread's waker, made on first use; ``None`` where pipes cannot be used."""
    local = _local
    waker = local.waker
    if waker is not None and waker.generation == _generation.value:
        return waker
    if waker is not None:  # the parent's, inherited through fork(): this child's copy of its fds
        waker.close()
        local.waker = None
    if not pipes_usable():
        return None
    try:
        waker = local.waker = Waker()
    except OSError:  # out of file descriptors: wait on locks, and try again later
        return None
    return waker
