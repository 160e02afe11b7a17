"""A results store shared between processes and hosts, on Redis (extra ``redis``: redis-py).

:class:`RedisStore` implements the :class:`~flask_status.stores.base.ResultStore` protocol
(``get`` / ``put`` / ``clear``) plus a small lock (``acquire`` / ``release``) that elects one
runner among all processes to run a check while the others wait for its result.

It is built so that it can never become a new single point of failure: every Redis call is
bounded by a short socket timeout, and when Redis cannot be reached the store logs one
warning, behaves as an empty store for ``retry_after`` seconds without touching the network
(``get`` gives ``None``, ``put`` does nothing, ``acquire`` raises :class:`StoreUnavailable`
at once so the caller runs the check itself), then tries again.

Values are JSON (``FieldResult.to_dict()``), never pickle: a process can never be made to
run code by what it reads from Redis, and anything that is not a well-formed result (a
corrupt value, another program's key) is read as missing.

Example (not run as a doctest: it needs a Redis server)::

    from flask_status import RedisStore

    store = RedisStore("redis://:secret@cache.internal:6379/0", prefix="shop-status")
    store.put("db", FieldResult("db", "pass", value=True), ttl=30)
    store.get("db")          # FieldResult(name='db', status='pass', value=True, ...)
    token = store.acquire("db", ttl=10)
    if token is not None:    # this process won: run the check, put the result, then
        store.release("db", token)
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._redis import redact_url, redis_client
from .._validate import require_seconds
from ..clock import SYSTEM, Clock, as_clock
from ..results import STATUSES, FieldResult, error_text
from .base import StoreUnavailable

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

__all__ = ["RedisStore", "StoreUnavailable"]

log = logging.getLogger("flask_status")

_T = TypeVar("_T")

_MISSING_EXTRA = "flask_status.redis_store needs redis-py: pip install 'flask-status[redis]'"

# Deletes the lock only while it still holds the caller's token: a holder whose lock expired
# (and was taken by another process) must not delete the new holder's lock.
_RELEASE_LUA = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""

_RESULT_FIELDS = frozenset(f.name for f in dataclasses.fields(FieldResult))
_OPTIONAL_TEXT = ("error", "message", "unit")
_NUMBERS = ("duration", "observed_at", "time")
_FLAGS = ("timed_out", "pending")
_CLEAR_BATCH = 500


# Raised by RedisStore.acquire when Redis cannot be reached (or is in its retry_after pause
# after an outage): nobody can be elected, so the caller runs the check locally.


def _glob_escape(text: str) -> str:
    """``text`` with Redis glob metacharacters escaped, for ``SCAN MATCH``."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _validate_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"RedisStore prefix must be a str, not {type(prefix).__name__}: {prefix!r}")
    if not prefix:
        raise ValueError("RedisStore prefix must not be empty")
    if any(char.isspace() or not char.isprintable() for char in prefix):
        raise ValueError(f"RedisStore prefix must not contain spaces or control characters, got {prefix!r}")
    if {"result", "lock"} & set(prefix.split(":")):
        # "app:result" would put its keys under "app:result:result:...", which SCAN of the
        # prefix "app" matches: clearing one store would delete the other's results.
        raise ValueError(f"RedisStore prefix must not have a ':result' or ':lock' part, got {prefix!r}")
    return prefix


def _validate_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"RedisStore key must be a str, not {type(key).__name__}: {key!r}")
    if not key:
        raise ValueError("RedisStore key must not be empty")
    return key


def _milliseconds(ttl: float) -> int:
    """``ttl`` seconds as a positive whole number of milliseconds for ``PX``."""
    return max(1, math.ceil(ttl * 1000))


#: How far ahead of this host's clock a result's time may be (clock skew between hosts). A
#: result from further in the future would stay fresh forever: it is read as missing.
MAX_SKEW = 5.0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(raw: object, now: float) -> tuple[FieldResult | None, str | None]:
    """The result a stored value holds, or ``None`` and why it is not one.

    Nothing read from the store is trusted: another program, an older version or an attacker
    with access to Redis may have written it. Non-finite numbers anywhere (``NaN`` would break
    every JSON body), wrong types, and times ahead of ``now`` (the wall clock) by more than
    :data:`MAX_SKEW` are read as missing.
    """
    try:
        data = json.loads(raw, parse_constant=_reject_constant)  # type: ignore[arg-type]
    except (TypeError, ValueError, RecursionError) as exc:
        return None, f"not JSON ({type(exc).__name__})"
    problem = _problem(data, now)
    if problem is not None:
        return None, problem
    return FieldResult(**data), None


def _problem(data: Any, now: float) -> str | None:
    """What keeps ``data`` (decoded JSON) from being a :class:`FieldResult`, or ``None``."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    unknown = set(data) - _RESULT_FIELDS
    if unknown:
        return f"unknown keys {sorted(unknown)}"
    if not isinstance(data.get("name"), str) or not data["name"]:
        return "no name"
    if data.get("status") not in STATUSES:
        return "no valid status"
    for name in _OPTIONAL_TEXT:
        if not isinstance(data.get(name), (str, type(None))):
            return f"{name} is not a string"
    for name in _NUMBERS:
        number = data.get(name, 0.0)
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            return f"{name} is not a number"
    for name in _FLAGS:
        if not isinstance(data.get(name, False), bool):
            return f"{name} is not a bool"
    reported = data.get("reported_at")
    if reported is not None and (
        isinstance(reported, bool) or not isinstance(reported, (int, float)) or not 0 <= reported < 1e11
    ):
        return "reported_at is not a time"
    stamp = data.get("time", 0.0)
    if stamp < 0 or stamp > now + MAX_SKEW:
        return f"its time {stamp!r} is not a time this host has reached"
    if data.get("duration", 0.0) < 0:
        return "a negative duration"
    return None


# KEYS[1]: the item; ARGV: status, wall time seen, ttl in ms. Returns {old value or false, 1 if set}.
_ELECT = """
local old = redis.call('GET', KEYS[1])
if old then
  local sep = string.find(old, '|', 1, true)
  if sep and tonumber(string.sub(old, sep + 1)) > tonumber(ARGV[2]) then return {old, 0} end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return {old or false, 1}
"""


class RedisStore:
    """A :class:`~flask_status.stores.base.ResultStore` on Redis, shared by every process using it.

    ``client_or_url`` is a ``redis://``, ``rediss://`` or ``unix://`` URL, or a synchronous
    ``redis.Redis`` client. For a URL the store builds its own client with
    ``socket_timeout`` and ``socket_connect_timeout`` both set to ``socket_timeout`` and no
    retries, so no call can block longer than about ``socket_timeout`` (one connect plus one
    command; options in the URL's query string, such as ``?socket_timeout=2``, take precedence,
    as redis-py gives them); :meth:`close` closes that client. A client you give keeps its own
    timeouts and retry policy, which then bound every call (the store logs a warning at
    construction when the client has no socket timeout or retries more than once: redis-py's
    defaults, 5 s and 10 retries, can block a check for a minute); you close it yourself.
    Values are written as UTF-8 JSON and read back whether or not the client has
    ``decode_responses``. Nothing read back is trusted: a value that is not a well-formed
    result (not JSON, ``NaN`` or ``Infinity`` anywhere, a wrong type, a ``time`` ahead of
    ``clock``'s wall time by more than :data:`MAX_SKEW` seconds, which would stay fresh
    forever) is read as missing, and the first one is logged as a warning.

    Keys: results are ``f"{prefix}:result:{key}"``, locks ``f"{prefix}:lock:{key}"``; stores
    with different prefixes never see each other's keys, and :meth:`clear` deletes only its
    own prefix's results (``SCAN`` + ``DEL``, never ``KEYS`` or ``FLUSHDB``).

    Outages: a connection error or timeout (``redis.ConnectionError`` and its subclasses such
    as ``AuthenticationError``, ``redis.TimeoutError``, ``OSError``) logs one warning
    ``"flask-status: shared store unreachable ..."`` on the ``flask_status`` logger (the URL
    shown without its password) and pauses the store for ``retry_after`` seconds: ``get``
    gives ``None``, ``put``, ``clear`` and ``release`` do nothing, ``acquire`` raises
    :class:`StoreUnavailable`, all at once and without touching the network. After the pause
    one call tries Redis again (the others still see the pause until it answers); when it
    succeeds, one info ``"flask-status: shared store reachable again ..."`` is logged. Other
    Redis errors (a read-only replica, a key of the wrong type) are not outages: ``get``
    reads them as missing, the others log a warning (``acquire`` raises ``StoreUnavailable``).

    Thread-safety: one store serves every thread of a process. Shared between threads: the
    redis-py client (thread-safe: each command takes a connection from its pool), the
    settings and the release script (set once in the constructor, read-only after) and the
    outage state (``_outage``, ``_down_until``, ``_epoch``), guarded by ``_lock``, a plain lock
    held only to read or update those three fields, never during a Redis call or while
    logging. ``_epoch`` counts outage transitions so that a call that started before one
    cannot end or restart it when it returns late.

    Fork (gunicorn ``--preload``): redis-py connection pools remember their process id and
    start afresh in a forked child, so a client built before the fork is safe to use after
    it. :meth:`reset_after_fork` (called by the runner in the child) replaces ``_lock``, which
    another thread of the parent may have held at the moment of the fork.

    Example (not run as a doctest: it needs a Redis server)::

        store = RedisStore("redis://cache.internal:6379/0", prefix="shop-status", retry_after=5)
        store.put("db", FieldResult("db", "pass", value=True), ttl=30)
        store.get("db").value    # True, in this process or any other using the same prefix
        store.available          # False while Redis is unreachable
    """

    def __init__(
        self,
        client_or_url: redis.Redis | str,
        *,
        prefix: str = "flask-status",
        socket_timeout: float = 0.5,
        retry_after: float = 5.0,
        clock: Clock = SYSTEM,
    ) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ImportError(_MISSING_EXTRA) from exc

        self.prefix = _validate_prefix(prefix)
        timeout = require_seconds(socket_timeout, "RedisStore socket_timeout", allow_zero=False)
        pause = require_seconds(retry_after, "RedisStore retry_after", allow_zero=True)
        self.socket_timeout = timeout
        self.retry_after = pause
        #: The wall clock values read back are checked against (a result from the future is refused).
        self._clock = as_clock(clock)
        self._warned_bad_value = False
        self._unreachable: tuple[type[BaseException], ...] = (
            redis.ConnectionError,
            redis.TimeoutError,
            OSError,
        )
        self._redis_error: type[Exception] = redis.RedisError
        self._client: redis.Redis
        if isinstance(client_or_url, str):
            self._client = self._from_url(client_or_url, timeout)
            self._owns_client = True
        else:
            self._client = self._check_client(client_or_url)
            self._owns_client = False
            self._where = _describe_client(client_or_url)
        self._release_script: Script = self._client.register_script(_RELEASE_LUA)
        self._lock = threading.Lock()
        self._outage = False
        self._down_until = 0.0
        self._epoch = 0

    def _from_url(self, url: str, timeout: float) -> redis.Redis:
        self._where = redact_url(url)
        return redis_client(url, timeout=timeout, what="RedisStore")

    @staticmethod
    def _check_client(client: object) -> redis.Redis:
        needed = ("get", "set", "delete", "scan_iter", "register_script")
        if not all(callable(getattr(client, name, None)) for name in needed):
            raise TypeError(
                f"RedisStore needs a redis.Redis client or a redis:// URL, not {type(client).__name__}: {client!r}"
            )
        # redis.asyncio.Redis shares its command methods with redis.Redis; only its
        # execute_command is a coroutine function.
        if inspect.iscoroutinefunction(getattr(client, "execute_command", None)):
            raise TypeError("RedisStore needs a synchronous client (redis.Redis), not redis.asyncio.Redis")
        risk = _blocking_risk(client)
        if risk:
            log.warning(
                "flask-status: the Redis client given to RedisStore has %s: while Redis is unreachable a "
                "store call may block a check that long; build it with socket_timeout=0.5, "
                "socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0), or pass a URL",
                risk,
            )
        return client  # type: ignore[return-value]

    # -- the outage state -----------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """``False`` from a failed connection until a later call reaches Redis again."""
        with self._lock:
            return not self._outage

    def _enter(self) -> int | None:
        """The epoch to call Redis under, or ``None`` while paused after an outage.

        Once the pause is over, the first caller probes Redis and the pause is extended for
        everybody else until that probe returns.
        """
        with self._lock:
            if not self._outage:
                return self._epoch
            now = time.monotonic()
            if now < self._down_until:
                return None
            self._down_until = now + self.retry_after
            return self._epoch

    def _reached(self, epoch: int) -> None:
        """A call made under ``epoch`` got an answer from Redis."""
        with self._lock:
            if not self._outage or epoch != self._epoch:
                return
            self._outage = False
            self._epoch += 1
        log.info("flask-status: shared store reachable again at %s", self._where)

    def _unreachable_now(self, epoch: int, exc: BaseException) -> None:
        """A call made under ``epoch`` could not reach Redis: start or extend an outage."""
        with self._lock:
            if epoch != self._epoch:
                return  # began before the latest transition: it says nothing new
            first = not self._outage
            self._outage = True
            self._epoch += 1
            self._down_until = time.monotonic() + self.retry_after
        if first:
            log.warning(
                "flask-status: shared store unreachable at %s (%s); it reads as empty and elects nobody "
                "until it answers again (next try in %g s)",
                self._where,
                error_text(exc),
                self.retry_after,
            )
        else:
            log.debug("flask-status: shared store still unreachable at %s (%s)", self._where, error_text(exc))

    def _call(self, what: str, command: Callable[[], _T]) -> tuple[bool, _T | None]:
        """Run one Redis ``command``: ``(True, answer)``, or ``(False, None)`` when it could not.

        Connection errors and timeouts start an outage; other Redis errors are logged (at
        debug for reads) and reported as ``(False, None)``; nothing else is caught.
        """
        epoch = self._enter()
        if epoch is None:
            return False, None
        try:
            answer = command()
        except self._unreachable as exc:
            self._unreachable_now(epoch, exc)
            return False, None
        except self._redis_error as exc:
            self._reached(epoch)
            level = logging.DEBUG if what == "get" else logging.WARNING
            log.log(level, "flask-status: shared store %s failed at %s: %s", what, self._where, error_text(exc))
            return False, None
        self._reached(epoch)
        return True, answer

    # -- keys -----------------------------------------------------------------------------------

    def result_key(self, key: str) -> str:
        """The Redis key a result of ``key`` lives under: ``f"{prefix}:result:{key}"``."""
        return f"{self.prefix}:result:{_validate_key(key)}"

    def lock_key(self, key: str) -> str:
        """The Redis key the lock of ``key`` lives under: ``f"{prefix}:lock:{key}"``."""
        return f"{self.prefix}:lock:{_validate_key(key)}"

    # -- the ResultStore protocol ---------------------------------------------------------------

    def get(self, key: str) -> FieldResult | None:
        """The result kept under ``key``, or ``None`` when it is missing, expired, not a
        well-formed result, or Redis cannot be reached. Never raises for Redis' sake."""
        name = self.result_key(key)
        ok, raw = self._call("get", lambda: self._client.get(name))
        if not ok or raw is None:
            return None
        result, problem = _decode(raw, self._clock.wall())
        if problem is not None:
            log.debug("flask-status: shared store value %r is not a result (%s): ignored", name, problem)
            if not self._warned_bad_value:
                # Once per store: a bad value tends to be read on every probe until it expires.
                self._warned_bad_value = True
                log.warning("flask-status: shared store value %r is not a result (%s): read as missing", name, problem)
        return result

    def put(self, key: str, result: FieldResult, ttl: float) -> None:
        """Keep ``result`` under ``key`` for ``ttl`` seconds (``SET ... PX``, rounded up to
        whole milliseconds); ``ttl <= 0`` deletes it. Does nothing while Redis is unreachable.

        Raises ``TypeError`` / ``ValueError`` only for a bad argument (a non-finite ``ttl``,
        a result that is not JSON-serialisable), never for Redis' sake.
        """
        name = self.result_key(key)
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or math.isnan(ttl) or math.isinf(ttl):
            raise ValueError(f"RedisStore.put ttl must be a finite number of seconds, got {ttl!r}")
        if ttl <= 0:
            self._call("delete", lambda: self._client.delete(name))
            return
        if not isinstance(result, FieldResult):
            raise TypeError(f"RedisStore.put needs a FieldResult, not {type(result).__name__}")
        payload = json.dumps(result.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        millis = _milliseconds(ttl)
        self._call("put", lambda: self._client.set(name, payload, px=millis))

    def clear(self) -> None:
        """Delete every result of this prefix (``SCAN MATCH`` + ``DEL`` in batches); other
        prefixes and unrelated keys are untouched. Locks are left to expire: deleting one
        would let a second process start a run the first is still doing."""
        pattern = f"{_glob_escape(self.prefix)}:result:*"

        def delete_all() -> int:
            deleted = 0
            batch: list[Any] = []
            for name in self._client.scan_iter(match=pattern, count=_CLEAR_BATCH):
                batch.append(name)
                if len(batch) >= _CLEAR_BATCH:
                    deleted += int(self._client.delete(*batch))
                    batch.clear()
            if batch:
                deleted += int(self._client.delete(*batch))
            return deleted

        self._call("clear", delete_all)

    # -- electing one runner --------------------------------------------------------------------

    def acquire(self, key: str, ttl: float) -> str | None:
        """Take the lock of ``key`` for ``ttl`` seconds (``SET ... NX PX``): returns a random
        token to release it with, or ``None`` when another holder has it.

        Raises :class:`StoreUnavailable` when Redis cannot be reached, at once and without a
        network call while the store is paused after an outage: the caller should then run
        the check itself. Pick ``ttl`` at least as long as a run may take (its timeout), so
        that the lock of a process that died or hung expires by itself.
        """
        name = self.lock_key(key)
        seconds = require_seconds(ttl, "RedisStore.acquire ttl", allow_zero=False)
        token = secrets.token_hex(16)
        millis = _milliseconds(seconds)
        ok, taken = self._call("acquire", lambda: self._client.set(name, token, nx=True, px=millis))
        if not ok:
            raise StoreUnavailable(f"shared store at {self._where} is unavailable: cannot take the lock of {key!r}")
        return token if taken else None

    def release(self, key: str, token: str) -> bool:
        """Delete the lock of ``key`` if it still holds ``token`` (an atomic compare-and-delete
        script): ``True`` if it did. ``False`` when the lock expired or was taken by another
        holder meanwhile, or when Redis cannot be reached (the lock then expires by itself)."""
        name = self.lock_key(key)
        if not isinstance(token, str):
            raise TypeError(f"RedisStore.release token must be a str, not {type(token).__name__}")
        ok, deleted = self._call("release", lambda: self._release_script(keys=[name], args=[token]))
        return bool(ok and deleted == 1)

    # -- lifecycle ------------------------------------------------------------------------------

    def swap(self, key: str, value: str, ttl: float) -> tuple[bool, str | None]:
        """Set ``key`` (a key of its own, ``f"{prefix}:fleet:{key}"``) to ``value`` for ``ttl``
        seconds and return what it held, atomically (``SET ... GET``): ``(True, old)``, or
        ``(False, None)`` when Redis could not be asked. What fleet-wide hooks elect with: of
        the processes that swap in the same value, one alone gets another value back.
        """
        name = f"{self.prefix}:fleet:{_validate_key(key)}"
        ok, old = self._call("swap", lambda: self._client.set(name, value, px=_milliseconds(ttl), get=True))
        if not ok:
            return False, None
        if isinstance(old, bytes):
            old = old.decode("utf-8", "replace")
        return True, old if isinstance(old, str) else None

    def elect(self, key: str, status: str, stamp: float, ttl: float) -> tuple[bool, str | None, bool]:
        """Record ``status`` seen at wall time ``stamp`` under ``f"{prefix}:fleet:{key}"`` unless
        what is there was seen later, atomically (a Lua script): ``(reached, the status it held,
        whether this one was recorded)``. An older sighting never overwrites a newer one: a
        process whose news arrives late cannot turn the fleet's status back."""
        name = f"{self.prefix}:fleet:{_validate_key(key)}"

        def run() -> Any:
            return self._client.eval(_ELECT, 1, name, status, repr(float(stamp)), _milliseconds(ttl))

        ok, answer = self._call("swap", run)
        if not ok or not isinstance(answer, list) or len(answer) != 2:
            return False, None, False
        old, recorded = answer
        if isinstance(old, bytes):
            old = old.decode("utf-8", "replace")
        previous = old.split("|", 1)[0] if isinstance(old, str) else None
        return True, previous, bool(recorded)

    def claim(self, key: str, value: str, ttl: float) -> bool | None:
        """Set ``f"{prefix}:fleet:{key}"`` to ``value`` for ``ttl`` seconds only if it is not set
        (``SET ... NX``): ``True`` when this call set it, ``False`` when it was set, ``None``
        when Redis could not be asked."""
        name = f"{self.prefix}:fleet:{_validate_key(key)}"
        ok, answer = self._call("put", lambda: self._client.set(name, value, px=_milliseconds(ttl), nx=True))
        return bool(answer) if ok else None

    def peek(self, key: str) -> str | None:
        """What ``f"{prefix}:fleet:{key}"`` holds, or ``None`` (unset, or Redis unreachable)."""
        name = f"{self.prefix}:fleet:{_validate_key(key)}"
        ok, raw = self._call("get", lambda: self._client.get(name))
        if not ok or raw is None:
            return None
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)

    def publish_verdict(self, key: str, process: str, status: str, ttl: float) -> None:
        """Record ``process``'s latest verdict of check ``key`` (``HSET``), kept ``ttl`` seconds
        after the last one of any process. Nothing while Redis is unreachable."""
        name = f"{self.prefix}:verdicts:{_validate_key(key)}"
        value = json.dumps({"status": status, "time": self._clock.wall()})

        def publish() -> Any:
            pipeline = self._client.pipeline(transaction=False)
            pipeline.hset(name, process, value)
            pipeline.pexpire(name, _milliseconds(ttl))
            return pipeline.execute()

        self._call("put", publish)

    def verdicts(self, key: str, *, older_than: float | None = None) -> dict[str, tuple[str, float]] | None:
        """Every process's latest verdict of check ``key``: ``{process: (status, wall time)}``;
        ``None`` when Redis could not be asked. Malformed entries are left out; with
        ``older_than`` (a wall time), entries older than it are left out and deleted (a process
        gone, a worker recycled), so the hash never grows past the live processes."""
        name = f"{self.prefix}:verdicts:{_validate_key(key)}"
        ok, raw = self._call("get", lambda: self._client.hgetall(name))
        if not ok or not isinstance(raw, dict):
            return None
        found: dict[str, tuple[str, float]] = {}
        stale: list[str] = []
        for process, value in raw.items():
            try:
                data = json.loads(value)
                status, stamp = data["status"], float(data["time"])
            except (TypeError, ValueError, KeyError):
                continue
            who = process.decode("utf-8", "replace") if isinstance(process, bytes) else str(process)
            if older_than is not None and (not math.isfinite(stamp) or stamp < older_than):
                stale.append(who)
            elif status in STATUSES and math.isfinite(stamp):
                found[who] = (status, stamp)
        if stale:
            self._call("delete", lambda: self._client.hdel(name, *stale))
        return found

    def push_history(self, key: str, entry: str, cap: int, ttl: float) -> None:
        """Prepend ``entry`` to the list ``f"{prefix}:history:{key}"``, keep its first ``cap``
        entries, and keep it ``ttl`` seconds after this write. Nothing while Redis is down."""
        name = f"{self.prefix}:history:{_validate_key(key)}"

        def push() -> Any:
            pipeline = self._client.pipeline(transaction=False)
            pipeline.lpush(name, entry)
            pipeline.ltrim(name, 0, cap - 1)
            pipeline.pexpire(name, _milliseconds(ttl))
            return pipeline.execute()

        self._call("put", push)

    def read_history(self, key: str, count: int) -> list[str] | None:
        """The first ``count`` entries of the list ``f"{prefix}:history:{key}"`` (newest first),
        or ``None`` when Redis could not be asked."""
        name = f"{self.prefix}:history:{_validate_key(key)}"
        ok, raw = self._call("get", lambda: self._client.lrange(name, 0, count - 1))
        if not ok or not isinstance(raw, list):
            return None
        return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in raw]

    def reset_after_fork(self) -> None:
        """Give a forked child a fresh lock: the parent's may have been held at fork time.

        The redis-py client needs nothing: its connection pool notices the new process id and
        opens new connections instead of sharing the parent's sockets.
        """
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the client the store built from a URL; a client you gave is yours to close."""
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"<RedisStore {self._where} prefix={self.prefix!r}>"


def _describe_client(client: Any) -> str:
    """Where a client connects, without credentials: ``redis://host:port/db`` or ``unix://path``."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if not isinstance(kwargs, dict):
        return f"<{type(client).__name__}>"
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={db}"
    connection_class = getattr(client.connection_pool, "connection_class", None)
    scheme = "rediss" if "SSL" in getattr(connection_class, "__name__", "") else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


def _blocking_risk(client: Any) -> str:
    """What in a client's settings lets a call block long on a dead server, or ``""``."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if not isinstance(kwargs, dict):
        return ""
    risks = []
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in kwargs and kwargs[name] is None:
            risks.append(f"no {name}")
    get_retry = getattr(client, "get_retry", None)
    retry = get_retry() if callable(get_retry) else None
    retries = getattr(retry, "get_retries", None)
    count = retries() if callable(retries) else 0
    if isinstance(count, int) and (count > 1 or count < 0):
        risks.append(f"{count} retries" if count > 0 else "unlimited retries")
    return ", ".join(risks)
