"""TCP: something accepts connections on a host and port (standard library only)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from .._validate import require_seconds
from ..results import CheckResult

__all__ = ["tcp_check"]


def tcp_check(host: str, port: int, *, timeout: float = 2.0) -> Callable[[], CheckResult]:
    """A check that a TCP connection to ``host:port`` opens: ``observed`` is the time it took.

    Each run resolves ``host``, connects with :func:`socket.create_connection` and closes the
    connection at once, sending nothing. It passes with ``observed`` = seconds from the start
    of the resolution to the open connection (``unit="s"``) and the message
    ``"connected to db.internal:5432 in 3.1 ms"``; a refused connection, a name that does not
    resolve or the ``timeout`` raises, so the check fails with that error's text
    (``"ConnectionRefusedError: [Errno 111] Connection refused"``, ``"TimeoutError: timed out"``).

    A connection proves that something accepts it, not that it serves: the kernel completes
    the handshake of a listening socket whose process is stuck. ``timeout`` applies to each
    address the name resolves to, in turn (as for ``create_connection``), and the name's
    resolution has no timeout of its own: give an IP address, or give ``add_check`` a
    ``timeout`` that bounds the whole run.

    ``host`` is a host name or an IP address (IPv6 without brackets); ``port`` an int from 1
    to 65535; ``timeout`` positive seconds (``TypeError`` / ``ValueError`` otherwise, here).

    >>> import socket
    >>> with socket.create_server(("127.0.0.1", 0)) as server:
    ...     check = tcp_check("127.0.0.1", server.getsockname()[1], timeout=1.0)
    ...     result = check()
    >>> result.status, result.unit, result.message.startswith("connected to 127.0.0.1:")
    ('pass', 's', True)
    >>> tcp_check("db.internal", 70000)
    Traceback (most recent call last):
    ...
    ValueError: tcp_check port must be an int from 1 to 65535, got 70000
    """
    name = _host(host, "tcp_check")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"tcp_check port must be an int from 1 to 65535, got {port!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"tcp_check port must be an int from 1 to 65535, got {port!r}")
    seconds = require_seconds(timeout, "tcp_check timeout", allow_zero=False)
    address = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    def check_tcp() -> CheckResult:
        started = time.perf_counter()
        connection = socket.create_connection((name, port), timeout=seconds)
        elapsed = time.perf_counter() - started
        connection.close()
        return CheckResult.ok(f"connected to {address} in {_ms(elapsed)}", observed=round(elapsed, 6), unit="s")

    check_tcp.__qualname__ = f"tcp_check({address})"
    return check_tcp


def _host(host: object, what: str) -> str:
    """``host`` if it is a name or an address ``getaddrinfo`` can take, else the error saying why.

    >>> _host("db.internal", "tcp_check"), _host("::1", "tcp_check")
    ('db.internal', '::1')
    >>> _host("[::1]", "tcp_check")
    Traceback (most recent call last):
    ...
    ValueError: tcp_check host must be a name or an address without brackets, got '[::1]'
    """
    if not isinstance(host, str) or not host:
        raise TypeError(f"{what} host must be a non-empty str, got {host!r}")
    if host.startswith("[") or any(char.isspace() for char in host):
        raise ValueError(f"{what} host must be a name or an address without brackets, got {host!r}")
    try:
        host.encode("idna")  # what getaddrinfo does with it: an empty or too long label fails here
    except UnicodeError:
        raise ValueError(f"{what} host is not a valid host name (empty or too long label), got {host!r}") from None
    return host


def _ms(seconds: float) -> str:
    """A duration in milliseconds for a message: a decimal below 10 ms.

    >>> _ms(0.0031), _ms(0.25)
    ('3.1 ms', '250 ms')
    """
    millis = seconds * 1000
    return f"{millis:.1f} ms" if millis < 10 else f"{millis:.0f} ms"
