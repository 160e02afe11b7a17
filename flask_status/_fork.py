"""One place that renews per-process state in a child after ``fork()`` (gunicorn ``--preload``).

A thread of the parent may hold a lock at the moment of the fork, and the parent's threads do
not exist in the child: every object that owns locks, threads or runs in flight registers a
method here, and the child calls each one once. Objects are held weakly, so a discarded app's
pieces are never kept alive by this registry.

Only a child process may renew the process-wide registry: renewing it in a living process
would, for one, close the pipes its pool threads are reading. The example uses a registry of
its own:

>>> class Piece:
...     def renew(self):
...         self.lock = "new"
>>> registry = Renewals()
>>> piece = Piece()
>>> registry.add(piece, Piece.renew)
>>> registry.renew_all()
>>> piece.lock
'new'
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Renewals", "after_fork"]

log = logging.getLogger("flask_status")

T = TypeVar("T")


class Renewals:
    """Owners, held weakly, and what renews each one after ``fork()``.

    Thread-safety: ``lock`` guards the registry in the parent; :meth:`renew_all` (in the child,
    where the parent may have held it at fork time) replaces the lock before reading it.
    """

    def __init__(self) -> None:
        self._registry: weakref.WeakKeyDictionary[Any, list[Callable[[Any], None]]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def add(self, owner: T, renew: Callable[[T], None]) -> None:
        """Call ``renew(owner)`` on :meth:`renew_all`, while ``owner`` lives."""
        with self._lock:
            self._registry.setdefault(owner, []).append(renew)

    def renew_all(self) -> None:
        """Renew every living owner; one that fails is logged and the others still renewed."""
        self._lock = threading.Lock()
        for owner, renewals in list(self._registry.items()):
            for renew in renewals:
                try:
                    renew(owner)
                except Exception:  # one piece must not leave the others broken in the child
                    log.exception("flask-status: renewing %r after fork failed", owner)


_process = Renewals()


def after_fork(owner: T, renew: Callable[[T], None]) -> None:
    """Call ``renew(owner)`` in a child process after ``fork()``, while ``owner`` lives."""
    _process.add(owner, renew)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_process.renew_all)
