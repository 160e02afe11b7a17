"""How busy each worker is: a board of slots, one per worker process, and pure verdicts on it.

Each worker process writes its own slot: requests in flight, its capacity (threads), since
when it has been busy, when a request last finished, since when every thread has been busy.
Any process reads every slot. Under gunicorn with :mod:`flask_status.gunicorn`'s hooks the
board is one shared memory page made by the master before it forks, so every worker's probe
listener sees every worker; elsewhere it is private to the process, with one slot.

The verdicts (:func:`stuck`, :func:`saturated`) are pure functions of slots and a time: no
lock, no clock read, so they are tested on plain values.

Times are on the manager's clock (``time.monotonic()`` by default: one clock for every
process of the machine).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from werkzeug.wsgi import ClosingIterator

__all__ = ["Board", "LoadMeter", "Slot", "saturated", "stuck"]

# seq, pid, in_flight, capacity (0: unknown), busy_since, last_finished, saturated_since (-1: no)
_SLOT = struct.Struct("<qqqqddd")
_SIZE = 64  # one cache line per slot
_RETRIES = 100


@dataclass(frozen=True, slots=True)
class Slot:
    """What one worker published.

    >>> Slot(pid=7, in_flight=0, capacity=4, busy_since=0.0, last_finished=0.0, saturated_since=None).busy
    False
    """

    pid: int
    in_flight: int
    capacity: int | None
    busy_since: float
    last_finished: float
    saturated_since: float | None

    @property
    def busy(self) -> bool:
        """True while a request is in flight."""
        return self.in_flight > 0


def stuck(slots: Iterable[Slot], now: float, after: float) -> list[tuple[Slot, float]]:
    """The workers stuck at ``now``: requests in flight, and none finished for ``after`` seconds
    (counted from when the worker last finished a request or last became busy, the later).

    Merely busy is not stuck: a worker whose requests keep finishing is serving.

    >>> busy = Slot(1, 2, 2, busy_since=100.0, last_finished=150.0, saturated_since=100.0)
    >>> [(s.pid, age) for s, age in stuck([busy], now=230.0, after=60.0)]
    [(1, 80.0)]
    >>> stuck([busy], now=200.0, after=60.0)
    []
    """
    found = []
    for slot in slots:
        if slot.in_flight > 0:
            age = now - max(slot.busy_since, slot.last_finished)
            if age > after:
                found.append((slot, age))
    return found


def saturated(slots: Iterable[Slot], now: float, after: float) -> tuple[int, float] | None:
    """``(threads, seconds)`` when every thread of every worker has been busy for at least
    ``after`` seconds at ``now``, else ``None``. A worker of unknown capacity is never
    saturated (so neither is the app).

    >>> full = Slot(1, 2, 2, busy_since=0.0, last_finished=9.0, saturated_since=4.0)
    >>> saturated([full], now=10.0, after=5.0)
    (2, 6.0)
    >>> saturated([full, Slot(2, 1, 2, 0.0, 9.0, None)], now=10.0, after=5.0) is None
    True
    """
    threads, since = 0, float("-inf")
    count = 0
    for slot in slots:
        count += 1
        if slot.capacity is None or slot.saturated_since is None:
            return None
        threads += slot.capacity
        since = max(since, slot.saturated_since)
    if count == 0 or now - since < after:
        return None
    return threads, now - since


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a signal 0 probes it without sending anything)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


class Board:
    """Slots of workers: in a shared memory page (:meth:`shared`, made before ``fork()``) or in
    this process's memory (:meth:`private`).

    A slot has one writer (its worker, under that worker's lock) and any number of readers in
    any process; a sequence number, odd while a write is under way, lets a reader retry a slot
    it caught mid-write (a seqlock), so no reader ever waits on a writer.

    >>> board = Board.private()
    >>> board.claim(0, pid=os.getpid(), capacity=4)
    >>> [slot.pid for slot in board.slots()] == [os.getpid()]
    True
    """

    def __init__(self, buffer: Any, count: int) -> None:
        self._buffer = buffer
        self.count = count

    @classmethod
    def shared(cls, count: int = 256) -> Board:
        """A board in anonymous shared memory: made in a parent, seen by the children it forks."""
        return cls(mmap.mmap(-1, count * _SIZE), count)

    @classmethod
    def private(cls) -> Board:
        """A board of one slot in this process's memory."""
        return cls(bytearray(_SIZE), 1)

    def _write(self, index: int, values: tuple[Any, ...]) -> None:
        offset = index * _SIZE
        seq = struct.unpack_from("<q", self._buffer, offset)[0]
        struct.pack_into("<q", self._buffer, offset, seq + 1)  # odd: a write is under way
        _SLOT.pack_into(self._buffer, offset, seq + 1, *values)
        struct.pack_into("<q", self._buffer, offset, seq + 2)

    def _read(self, index: int) -> tuple[Any, ...] | None:
        """Slot ``index``'s values, or ``None`` when every try caught it mid-write (a writer
        descheduled in the middle): a torn slot is never read as a worker's load."""
        offset = index * _SIZE
        for _ in range(_RETRIES):
            values: tuple[Any, ...] = _SLOT.unpack_from(self._buffer, offset)
            if values[0] % 2 == 0 and struct.unpack_from("<q", self._buffer, offset)[0] == values[0]:
                return values
        return None

    def claim(self, index: int, *, pid: int, capacity: int | None) -> None:
        """Take slot ``index`` for process ``pid`` (idle, nothing finished yet)."""
        self._check(index)
        self._write(index, (pid, 0, capacity or 0, 0.0, 0.0, -1.0))

    def release(self, index: int) -> None:
        """Free slot ``index`` (its worker is gone)."""
        self._check(index)
        self._write(index, (0, 0, 0, 0.0, 0.0, -1.0))

    def free_index(self, taken: Iterable[int] = ()) -> int | None:
        """The first slot that no process holds and that is not in ``taken``."""
        skip = set(taken)
        for index in range(self.count):
            values = self._read(index)
            if index not in skip and values is not None and values[1] == 0:
                return index
        return None

    def update(
        self, index: int, in_flight: int, busy_since: float, last_finished: float, saturated_since: float | None
    ) -> None:
        """Publish slot ``index``'s load (the pid and capacity stay)."""
        # Only this slot's worker writes it, so its own read is never torn for long.
        values = self._read(index) or _SLOT.unpack_from(self._buffer, index * _SIZE)
        _, pid, _, capacity, *_ = values
        since = -1.0 if saturated_since is None else saturated_since
        self._write(index, (pid, in_flight, capacity, busy_since, last_finished, since))

    def slots(self) -> Iterator[Slot]:
        """Every slot a live worker holds. A slot whose process is gone is skipped: a worker
        killed in the middle of a request, whose master did not free its slot (a ``child_exit``
        hook of the user's own), must not read as a stuck worker forever."""
        for index in range(self.count):
            values = self._read(index)
            if values is None:
                continue
            _, pid, in_flight, capacity, busy_since, last_finished, since = values
            if pid > 0 and _alive(pid):
                yield Slot(pid, in_flight, capacity or None, busy_since, last_finished, since if since >= 0 else None)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.count:
            raise ValueError(f"slot index must be from 0 to {self.count - 1}, got {index!r}")


class LoadMeter:
    """WSGI middleware counting this worker's requests in flight into its slot of a board.

    A request counts from the call until its body is closed (the server closes it after the
    last byte). Thread-safety: every request thread of the worker calls it; ``_lock`` guards
    the counts and the write to the slot.

    >>> from werkzeug.test import Client
    >>> from werkzeug.wrappers import Response
    >>> board = Board.private()
    >>> board.claim(0, pid=os.getpid(), capacity=2)
    >>> meter = LoadMeter(Response("hi"), board, 0, now=lambda: 5.0)
    >>> Client(meter).get("/", buffered=True).status_code  # buffered: the body is closed
    200
    >>> slot = next(board.slots())
    >>> slot.in_flight, slot.last_finished
    (0, 5.0)
    """

    def __init__(self, app: Callable[..., Any], board: Board, index: int, *, now: Callable[[], float]) -> None:
        self.app = app
        self.board = board
        self.index = index
        self.now = now
        self.capacity: int | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._busy_since = 0.0
        self._last_finished = 0.0
        self._saturated_since: float | None = None
        #: Called (from a request thread) at the start of each request: the listener starts its
        #: thread there in a process that has none yet (a forked child without hooks).
        self.on_request: Callable[[], None] | None = None

    def attach(self, board: Board, index: int, capacity: int | None) -> None:
        """Publish into ``board``'s slot ``index`` from now on (a worker given its slot)."""
        with self._lock:
            self.board, self.index, self.capacity = board, index, capacity
            board.claim(index, pid=os.getpid(), capacity=capacity)
            self._publish()

    def _publish(self) -> None:
        self.board.update(self.index, self._in_flight, self._busy_since, self._last_finished, self._saturated_since)

    def _started(self) -> None:
        with self._lock:
            now = self.now()
            if self._in_flight == 0:
                self._busy_since = now
            self._in_flight += 1
            if self.capacity is not None and self._in_flight >= self.capacity and self._saturated_since is None:
                self._saturated_since = now
            self._publish()

    def _finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_finished = self.now()
            if self.capacity is None or self._in_flight < self.capacity:
                self._saturated_since = None
            self._publish()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        hook = self.on_request
        if hook is not None:
            hook()
        self._started()
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._finished()
            raise
        return ClosingIterator(body, self._finished)
