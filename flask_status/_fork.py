"""One place that renews per-process state in a child after ``fork()`` (gunicorn ``--preload``).

A thread of the parent may hold a lock at the moment of the fork, and the parent's threads do
not exist in the child: every object that owns locks, threads or runs in flight registers a
method here, and the child calls each one once. Objects are held weakly, so a discarded app's
pieces are never kept alive by this registry.

>>> class Piece:
...     def renew(self):
...         self.lock = "new"
>>> piece = Piece()
>>> after_fork(piece, Piece.renew)
>>> _renew_all()
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

__all__ = ["after_fork"]

log = logging.getLogger("flask_status")

T = TypeVar("T")

# Guarded by _lock in the parent; the child replaces the lock before reading the registry.
_registry: weakref.WeakKeyDictionary[Any, list[Callable[[Any], None]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def after_fork(owner: T, renew: Callable[[T], None]) -> None:
    """Call ``renew(owner)`` in a child process after ``fork()``, while ``owner`` lives."""
    with _lock:
        _registry.setdefault(owner, []).append(renew)


def _renew_all() -> None:
    global _lock
    _lock = threading.Lock()  # the parent may have held it at fork time
    for owner, renewals in list(_registry.items()):
        for renew in renewals:
            try:
                renew(owner)
            except Exception:  # one piece must not leave the others broken in the child
                log.exception("flask-status: renewing %r after fork failed", owner)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_all)
