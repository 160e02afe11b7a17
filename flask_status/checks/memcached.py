"""memcached: every server answers ``version`` (extra ``memcached``: pymemcache)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeAlias

from .._validate import require_seconds
from ..results import CheckResult, error_text
from ._extras import missing_extra

__all__ = ["memcached_check"]

DEFAULT_PORT = 11211

Server: TypeAlias = str | tuple[str, int]
"""``"host:port"`` (``"host"`` for port 11211, ``"[::1]:11211"``, a unix socket ``"/path"``)
or ``(host, port)``."""


def memcached_check(servers: Server | Sequence[Server], *, timeout: float = 2.0) -> Callable[[], CheckResult]:
    """A check that every memcached server answers ``version``: ``observed`` is the slowest
    server's round trip in seconds.

    ``servers`` is one server or a list of them, each ``"host:port"`` (``"cache:11211"``,
    ``"[::1]:11211"``; ``"cache"`` alone for port 11211), a unix socket path (``"/run/memcached.sock"``
    or ``"unix:/run/memcached.sock"``), or a ``(host, port)`` tuple: the servers a
    ``pymemcache`` ``HashClient`` spreads keys over, each of which holds a share of the cache.
    They are read here: a malformed server, a port out of range or a server listed twice is a
    ``ValueError`` (a ``TypeError`` for another type), naming it.

    Each run connects to each server in turn, sends ``version`` and closes: nothing is stored,
    no key is read. ``timeout`` bounds connecting and the answer, per server: the run can take
    up to ``timeout`` times the number of servers. The message gives the version
    (``"memcached 1.6.18"``), or how many servers answered and the slowest.

    The check fails if any server fails, naming each one that did and why:
    ``ConnectionError: memcached 10.0.0.7:11211: ConnectionRefusedError: [Errno 111] Connection
    refused``. Needs pymemcache: ``pip install 'flask-status[memcached]'`` (``ImportError``
    saying so otherwise).

    Examples (not run as doctests: pymemcache is optional)::

        ready.add_check("cache", memcached_check("memcached:11211", timeout=1.0), ttl=10)
        details.add_check("sessions", memcached_check(["cache-a:11211", ("cache-b", 11211)]), ttl=30)
    """
    try:
        from pymemcache.client.base import Client
    except ImportError as exc:
        raise missing_extra(__name__, "pymemcache", "memcached") from exc

    seconds = require_seconds(timeout, "memcached_check timeout", allow_zero=False)
    specs = _servers(servers)
    names = [_name(spec) for spec in specs]

    def check_memcached() -> CheckResult:
        failures: list[str] = []
        answers: list[tuple[float, str, str]] = []  # (round trip, server, version)
        for spec, name in zip(specs, names, strict=True):
            client = Client(spec, connect_timeout=seconds, timeout=seconds, no_delay=True)
            try:
                started = time.perf_counter()
                version = client.version()
                elapsed = round(time.perf_counter() - started, 6)
            except Exception as exc:
                failures.append(f"memcached {name}: {error_text(exc)}")
            else:
                answers.append((elapsed, name, version.decode("ascii", "replace")))
            finally:
                client.close()
        if failures:
            raise ConnectionError("; ".join(failures))
        slowest, slowest_name, version = max(answers)
        if len(answers) == 1:
            message = f"memcached {version}"
        else:
            message = f"{len(answers)} servers answered, slowest {slowest_name}"
        return CheckResult.ok(message, observed=slowest, unit="s")

    check_memcached.__qualname__ = f"memcached_check({', '.join(names)})"
    return check_memcached


def _servers(servers: object) -> list[str | tuple[str, int]]:
    """``servers`` as a non-empty list of pymemcache server specs: ``(host, port)`` or a socket path.

    >>> _servers("cache:11211"), _servers(["cache", ("10.0.0.7", 11212), "[::1]:11213"])
    ([('cache', 11211)], [('cache', 11211), ('10.0.0.7', 11212), ('::1', 11213)])
    >>> _servers("cache:port")
    Traceback (most recent call last):
    ...
    ValueError: memcached_check server 'cache:port' has a port that is not a number: use 'host:port'
    """
    if isinstance(servers, (str, tuple)) and _is_server(servers):
        listed: list[object] = [servers]
    elif isinstance(servers, tuple) and len(servers) == 2 and isinstance(servers[1], str) and servers[1].isdigit():
        raise TypeError(f"memcached_check server {servers!r} needs its port as an int: (host, 11211)")
    elif isinstance(servers, Sequence) and not isinstance(servers, (str, bytes)):
        listed = list(servers)
        if not listed:
            raise ValueError("memcached_check needs at least one server, got an empty list")
    else:
        raise TypeError(
            "memcached_check servers must be 'host:port', (host, port) or a list of them, "
            f"got {type(servers).__name__}: {servers!r}"
        )
    specs: list[str | tuple[str, int]] = []
    for server in listed:
        spec = _spec(server)
        if spec in specs:
            raise ValueError(f"memcached_check lists server {_name(spec)} twice")
        specs.append(spec)
    return specs


def _is_server(value: object) -> bool:
    """Whether ``value`` is one server rather than a list of them: a str, or a (str, int) pair."""
    if isinstance(value, str):
        return True
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _spec(server: object) -> str | tuple[str, int]:
    if isinstance(server, str):
        text = server.strip()
        if text.startswith("unix:"):
            text = text[len("unix:") :]
            if not text.startswith("/"):
                raise ValueError(f"memcached_check server {server!r} needs an absolute socket path: unix:/path")
        if text.startswith("/"):
            return text
        host, port = _split(text, server)
    elif _is_server(server):
        assert isinstance(server, tuple)
        host, port = server
    else:
        raise TypeError(f"memcached_check server must be 'host:port' or (host: str, port: int), got {server!r}")
    host = host.strip()
    if not host or any(char.isspace() or char in "/[]@" for char in host):
        raise ValueError(f"memcached_check server {server!r} has no valid host")
    if not 0 < port < 65536:
        raise ValueError(f"memcached_check server {server!r} has port {port}, outside 1-65535")
    return (host, port)


def _split(text: str, server: str) -> tuple[str, int]:
    """``"host:port"``, ``"[v6]:port"``, ``"host"`` or ``"[v6]"`` as (host, port)."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"memcached_check server {server!r} is not valid: use '[::1]:11211'")
        port_text = rest[1:] if rest else str(DEFAULT_PORT)
    elif text.count(":") > 1:
        raise ValueError(f"memcached_check server {server!r}: write an IPv6 address in brackets, '[::1]:11211'")
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else str(DEFAULT_PORT)
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"memcached_check server {server!r} has a port that is not a number: use 'host:port'")
    return host, int(port_text)


def _name(spec: str | tuple[str, int]) -> str:
    """How a server is named in messages: ``cache:11211``, ``[::1]:11211``, ``/run/memcached.sock``."""
    if isinstance(spec, str):
        return spec
    host, port = spec
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
