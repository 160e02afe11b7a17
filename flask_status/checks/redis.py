"""Redis: the server answers ``PING`` (extra ``redis``: redis-py)."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._redis import redis_client, scheme_of
from .._validate import require_seconds
from ..results import CheckResult
from ._extras import missing_extra

if TYPE_CHECKING:
    import redis

__all__ = ["redis_check"]


def redis_check(client_or_url: redis.Redis | str, *, timeout: float = 2.0) -> Callable[[], CheckResult]:
    """A check that a Redis server answers ``PING``: ``observed`` is the round trip in seconds.

    ``client_or_url`` is a ``redis.Redis`` client (its own timeouts and retries apply; give
    it ``socket_timeout`` / ``socket_connect_timeout`` so a hung server cannot hold a worker
    thread for long), or a URL (``redis://``, ``rediss://`` or ``unix://``). For a URL the
    client is built on the first run with ``redis.Redis.from_url``, with both socket timeouts
    set to ``timeout`` seconds and no retries, then reused (``timeout`` applies to URLs
    only). Only the URL's scheme is checked here (``ValueError``); the rest is parsed on the
    first run, whose errors fail the check.

    A refused connection, a timeout or an authentication error raises, so the check fails
    with redis-py's error text; a ``PING`` that answers anything but true fails too. Needs
    redis-py: ``pip install 'flask-status[redis]'`` (``ImportError`` saying so otherwise).
    Asyncio clients (``redis.asyncio.Redis``) are refused: checks run in worker threads.

    Examples (not run as doctests: redis-py is optional)::

        ready.add_check("cache", redis_check("redis://cache.internal:6379/0", timeout=1.0), ttl=10)
        ready.add_check("sessions", redis_check(app.session_redis), critical=False)
    """
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:
        raise missing_extra(__name__, "redis-py", "redis") from exc

    seconds = require_seconds(timeout, "redis_check timeout", allow_zero=False)
    get_client: Callable[[], redis.Redis]
    if isinstance(client_or_url, str):
        url = client_or_url
        redis_client(url, timeout=seconds, what="redis_check")  # a bad URL fails here, at registration
        lock = threading.Lock()
        built: list[redis.Redis] = []

        def get_client() -> redis.Redis:
            if not built:
                with lock:
                    if not built:
                        built.append(redis_client(url, timeout=seconds, what="redis_check"))
            return built[0]

        label = f"{scheme_of(url)}://"
    elif isinstance(client_or_url, redis.asyncio.Redis):
        raise TypeError("redis_check needs a synchronous client (redis.Redis), not redis.asyncio.Redis")
    elif callable(getattr(client_or_url, "ping", None)):
        client = client_or_url

        def get_client() -> redis.Redis:
            return client

        label = type(client).__name__
    else:
        raise TypeError(f"redis_check needs a redis.Redis client or a redis:// URL, got {type(client_or_url).__name__}")

    def check_redis() -> CheckResult:
        started = time.perf_counter()
        answer: Any = get_client().ping()
        elapsed = round(time.perf_counter() - started, 6)
        if inspect.isawaitable(answer):
            close = getattr(answer, "close", None)
            if close is not None:
                close()  # never awaited: silence "coroutine was never awaited"
            raise TypeError("redis_check got an asyncio client: use a synchronous redis.Redis")
        if not answer:
            return CheckResult.fail(f"PING answered {answer!r}", observed=elapsed, unit="s")
        return CheckResult.ok(observed=elapsed, unit="s")

    check_redis.__qualname__ = f"redis_check({label})"
    return check_redis
