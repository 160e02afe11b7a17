"""Building a redis-py client from a URL, the one way the store and the Redis check both use.

Every call bounded (both socket timeouts), no retries (a probe that cannot reach Redis should
say so at once, not after redis-py's backoff), and errors that never show the password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import redis

__all__ = ["SCHEMES", "redact_url", "redis_client", "scheme_of"]

SCHEMES = ("redis", "rediss", "unix")
"""The URL schemes redis-py's ``Redis.from_url`` understands."""


def redact_url(url: str) -> str:
    """``url`` without credentials, query or fragment, fit for logs and error messages.

    >>> redact_url("redis://user:s3cret@cache:6379/0?password=x")
    'redis://user:***@cache:6379/0'
    >>> redact_url("unix://:s3cret@/run/redis.sock?db=1")
    'unix://:***@/run/redis.sock'
    >>> redact_url("redis://cache:6379/0")
    'redis://cache:6379/0'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if has_password else f"{user}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scheme_of(url: str) -> str:
    """The lower-cased scheme of ``url``, or ``""``.

    >>> scheme_of("REDIS://cache:6379/0")
    'redis'
    """
    return url.partition("://")[0].lower() if "://" in url else ""


def redis_client(url: str, *, timeout: float, what: str) -> redis.Redis:
    """A client for ``url`` whose every call gives up after ``timeout`` seconds, never retried.

    ``what`` names the caller in errors: a ``ValueError`` for a URL redis-py cannot use, with
    the password masked. Needs redis-py (the ``redis`` extra).
    """
    import redis as redis_module
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    shown = redact_url(url)
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        raise ValueError(f"{what} needs a redis://, rediss:// or unix:// URL, got scheme {scheme!r} in {shown!r}")
    try:
        return redis_module.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
    except ValueError as exc:
        text = str(exc)
        password = urlsplit(url).password if "@" in url else None
        if password:
            text = text.replace(password, "***")
        raise ValueError(f"{what}: invalid Redis URL {shown!r}: {text}") from None
