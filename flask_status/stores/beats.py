"""Where beats are kept: the last beat of each heartbeat, in this process and in the shared store.

With a shared store (``STATUS_STORE_URL``) a beat is written there too, so a beat sent by a
cron job's process, a Celery worker or another host is seen by every web worker; the newest of
the process's own and the shared one wins, and while the store is unreachable the process's
own is used. Without a store, beats stay in the process: only beats sent from the same
process (a thread, a scheduler inside the app) count.

A beat is kept as a :class:`~flask_status.results.FieldResult`: its ``time`` is the beat's
wall-clock time, its ``value`` the payload, its ``message`` who sent it.

>>> from flask_status.clock import ManualClock
>>> beats = Beats(None, ManualClock())
>>> beats.record("nightly", {"rows": 12}, by="cron").value
{'rows': 12}
>>> beats.last("nightly").message
'cron'
"""

from __future__ import annotations

import threading
from typing import Any

from .._fork import after_fork
from ..clock import Clock
from ..results import FieldResult
from .base import SharedStore

__all__ = ["KEEP", "Beats", "beat_key"]

KEEP = 30 * 86400.0
"""Seconds the shared store keeps a beat: long past any sensible ``every``."""


def beat_key(name: str) -> str:
    """The store key of heartbeat ``name``'s last beat.

    >>> beat_key("nightly-import")
    'beat:nightly-import'
    """
    return f"beat:{name}"


class Beats:
    """The last beat of each heartbeat of one app.

    Thread-safety: request threads (reading for the check) and any thread beating share it;
    ``_lock`` guards ``_local``; the shared store guards its own state.
    """

    def __init__(self, shared: SharedStore | None, clock: Clock) -> None:
        self.shared = shared
        self.clock = clock
        self._lock = threading.Lock()
        self._local: dict[str, FieldResult] = {}
        after_fork(self, Beats._renew_lock)

    def _renew_lock(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it at fork time

    def record(self, name: str, payload: Any = None, *, by: str | None = None) -> FieldResult:
        """Record a beat of ``name`` now (``payload`` already JSON-safe); returns it."""
        beat = FieldResult(
            name, "pass", value=payload, message=by, observed_at=self.clock.now(), time=self.clock.wall()
        )
        with self._lock:
            self._local[name] = beat
        if self.shared is not None:
            self.shared.put(beat_key(name), beat, KEEP)
        return beat

    def last(self, name: str) -> FieldResult | None:
        """The newest beat of ``name`` known here or in the shared store; ``None``: none yet."""
        with self._lock:
            local = self._local.get(name)
        shared = self.shared.get(beat_key(name)) if self.shared is not None else None
        if shared is None or (local is not None and local.time >= shared.time):
            return local
        return shared
