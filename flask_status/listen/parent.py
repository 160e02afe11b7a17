"""The parent's side of the probe listener: what a pre-forking master (gunicorn) prepares.

Before it forks, the master opens the probe port (``STATUS_PROBE_PORT`` from its environment:
it has not loaded the app) and makes a shared :class:`~.load.Board`; it gives each worker a
slot before forking it and frees the slot when the worker exits. Every worker then accepts
probes on the one inherited socket (a worker that dies leaves no connection behind: the
others accept from the same queue) and publishes its load into its slot, where every worker's
listener reads every worker's.

The master itself never serves probes, so when no worker is left the port stops answering
(connections wait in its queue and the probe times out): no listener stays up while the app
is dead.

Thread-safety: used from the master's main thread (gunicorn runs hooks there) and, after the
fork, read by the worker's: nothing here is shared between threads.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from ..config import PROBE_HOST_ENV, PROBE_PORT_ENV, parse_port
from .listener import listeners
from .load import Board

__all__ = ["Parent", "parent"]

log = logging.getLogger("flask_status")

#: A gunicorn worker's attribute holding its slot (set in the master before the fork).
SLOT_ATTRIBUTE = "flask_status_slot"


class Parent:
    """The master's board, probe socket and slot assignments (see the module's docstring).

    >>> side = Parent()
    >>> side.prepare({})
    >>> side.board is not None, side.sock is None
    (True, True)
    """

    def __init__(self) -> None:
        self.board: Board | None = None
        self.sock: socket.socket | None = None
        self.port: int | None = None
        self._slots: dict[int, int] = {}  # id(worker) -> slot, in the master

    def prepare(self, environ: Mapping[str, str]) -> None:
        """In the master, before any fork: the shared board, and the socket if a port is set."""
        if self.board is None:
            self.board = Board.shared()
        raw = environ.get(PROBE_PORT_ENV)
        if raw and self.sock is None:
            port = parse_port(raw, f"the environment variable {PROBE_PORT_ENV}")
            host = environ.get(PROBE_HOST_ENV) or "0.0.0.0"
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if hasattr(socket, "SO_REUSEPORT"):
                    # A new master started by USR2 (a binary upgrade) opens the port while the
                    # old one still holds it.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind((host, port))
                sock.listen(128)
            except OSError as error:
                sock.close()
                raise OSError(
                    error.errno,
                    f"flask-status: cannot listen for probes on {host}:{port} ({PROBE_PORT_ENV}): {error.strerror}",
                ) from error
            self.sock, self.port = sock, sock.getsockname()[1]
            log.info("flask-status: probe port %s:%s open; each worker serves it", host, self.port)

    def assign(self, worker: Any) -> None:
        """In the master, before forking ``worker``: give it a free slot."""
        board = self.board
        if board is None:
            return
        index = board.free_index(taken=self._slots.values())
        if index is None:
            log.warning("flask-status: no slot left on the probe board for a new worker (%d workers)", board.count)
            return
        self._slots[id(worker)] = index
        setattr(worker, SLOT_ATTRIBUTE, index)

    def release(self, worker: Any) -> None:
        """In the master, once ``worker`` has exited: free its slot."""
        index = self._slots.pop(id(worker), None)
        if index is not None and self.board is not None:
            self.board.release(index)

    def start_worker(self, worker: Any) -> None:
        """In a worker, its app loaded: start each app's listener on the shared socket and slot."""
        index = getattr(worker, SLOT_ATTRIBUTE, None)
        capacity = _threads(worker)
        # The master's socket and this worker's slot go to one listener: a second app in the
        # process (several apps behind a dispatcher) needs a port of its own in its config.
        sock, board = self.sock, self.board
        for listener in listeners():
            shared = sock is not None and listener.settings.port in (self.port, 0)
            if index is None or board is None:
                listener.start(sock=sock if shared else None, capacity=capacity)
            else:
                listener.start(board=board, index=index, capacity=capacity, sock=sock if shared else None)
                board = None
            if shared:
                sock = None


def _threads(worker: Any) -> int | None:
    """How many requests a gunicorn worker serves at once: its threads (sync: 1); ``None`` for
    an async worker (gevent, eventlet), whose capacity is not threads."""
    kind = type(worker).__name__
    if kind == "SyncWorker":
        return 1
    if kind == "ThreadWorker":
        threads = getattr(getattr(worker, "cfg", None), "threads", None)
        return threads if isinstance(threads, int) and threads > 0 else None
    return None


parent = Parent()
"""This process's parent side (used only when the process is a gunicorn master)."""
