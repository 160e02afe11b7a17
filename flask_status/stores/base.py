"""What the engine needs from a results store: one small interface, and the shared variant.

The runner talks to a :class:`ResultStore` only through ``get`` / ``put`` / ``clear``, so a store
shared between processes (:class:`SharedStore`, e.g. :class:`~flask_status.stores.redis.RedisStore`)
can stand beside the in-process one without touching anything else. Stores know nothing of
Flask, routes or thread pools.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..results import FieldResult

__all__ = ["ResultStore", "SharedStore", "StoreUnavailable"]


@runtime_checkable
class ResultStore(Protocol):
    """What the runner needs from a results store.

    ``get`` returns the last result put under ``key`` while it is kept, else ``None``;
    ``put`` keeps ``result`` for ``ttl`` seconds. Implementations must be safe to call from
    many threads at once.
    """

    def get(self, key: str) -> FieldResult | None:
        """The result kept under ``key``, or ``None``."""

    def put(self, key: str, result: FieldResult, ttl: float) -> None:
        """Keep ``result`` under ``key`` for ``ttl`` seconds."""

    def clear(self) -> None:
        """Forget every result."""


class StoreUnavailable(Exception):
    """A shared store cannot be reached now; callers fall back to the in-process path."""


@runtime_checkable
class SharedStore(ResultStore, Protocol):
    """A store several processes share, with a lock that elects one runner per key.

    ``get`` returns ``None`` and ``put`` does nothing while the store is unreachable; ``acquire``
    raises :class:`StoreUnavailable` then, so the caller runs the check itself. ``acquire``
    returns a token when this process may run ``key`` (the lock expires by itself after
    ``ttl`` seconds), ``None`` when another holds it; ``release`` frees it only for its holder.
    Results put here carry wall-clock times: readers compare ``FieldResult.time`` to now.
    """

    def acquire(self, key: str, ttl: float) -> str | None:
        """Take the run lock of ``key`` for ``ttl`` seconds: a token, or ``None`` if held."""

    def release(self, key: str, token: str) -> bool:
        """Free the run lock of ``key`` if ``token`` still holds it."""
