"""The in-process results store: a bounded ``cachetools.TLRUCache`` behind a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from cachetools import TLRUCache

from ..clock import SYSTEM
from ..results import FieldResult

__all__ = ["MemoryStore"]


class _Entry(NamedTuple):
    result: FieldResult
    ttl: float


def _time_to_use(_key: str, entry: _Entry, now: float) -> float:
    return now + entry.ttl


class MemoryStore:
    """A bounded in-process results store on ``cachetools.TLRUCache``.

    Each entry expires after its own ttl, so a 30 s success and a 5 s failure sit side by
    side; past ``maxsize`` the least recently used entry goes. ``timer`` is the clock entries
    expire by (the manager passes its own, so tests can move time without sleeping).

    Thread-safety: ``TLRUCache`` is not thread-safe, so every access to it holds ``_lock``, a
    plain lock held only for the dictionary operation itself (never while a check runs).

    >>> from flask_status.results import FieldResult
    >>> store = MemoryStore(timer=lambda: 0.0)
    >>> store.put("db#1", FieldResult("db", "pass", value=True), ttl=30)
    >>> store.get("db#1").value
    True
    """

    def __init__(self, maxsize: int = 1024, *, timer: Callable[[], float] = SYSTEM.now) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be a positive int, got {maxsize!r}")
        self._cache: TLRUCache[str, _Entry] = TLRUCache(maxsize, _time_to_use, timer=timer)
        self._lock = threading.Lock()

    def get(self, key: str) -> FieldResult | None:
        """The result kept under ``key``, or ``None`` once it expired or was evicted."""
        with self._lock:
            entry = self._cache.get(key)
        return None if entry is None else entry.result

    def put(self, key: str, result: FieldResult, ttl: float) -> None:
        """Keep ``result`` under ``key`` for ``ttl`` seconds (``ttl <= 0`` keeps nothing)."""
        with self._lock:
            if ttl > 0:
                self._cache[key] = _Entry(result, ttl)
            else:
                self._cache.pop(key, None)

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._cache.clear()

    def reset_after_fork(self) -> None:
        """Give a forked child a fresh lock: the parent's may have been held at fork time."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._cache.expire()
            return len(self._cache)
