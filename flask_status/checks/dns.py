"""DNS: a name resolves, through the system's resolver (standard library only)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from .._fork import after_fork
from .._validate import require_seconds
from ..engine import affinity
from ..results import CheckResult
from .tcp import _host, _ms

__all__ = ["dns_check"]

_FAMILIES = frozenset({socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6})
_SHOWN = 3  # addresses a message lists; the rest are counted


def dns_check(
    name: str, *, timeout: float = 2.0, family: socket.AddressFamily | int = socket.AF_UNSPEC
) -> Callable[[], CheckResult]:
    """A check that ``name`` resolves to at least one address: ``observed`` is the time it took.

    Each run asks the system's resolver (:func:`socket.getaddrinfo`, so ``/etc/hosts``,
    ``nsswitch.conf`` and ``resolv.conf`` apply, as for the app's own connections) for the
    addresses of ``name`` in ``family`` (``socket.AF_UNSPEC``: IPv4 and IPv6;
    ``socket.AF_INET`` or ``socket.AF_INET6``: one of them). It passes with ``observed`` =
    seconds until the answer (``unit="s"``) and the message
    ``"resolved db.internal to 10.0.0.7, 10.0.0.8 in 1.2 ms"`` (the first three addresses, then
    how many more). A name that does not resolve raises ``socket.gaierror``, so the check fails
    with its text (``"gaierror: [Errno -2] Name or service not known"``).

    ``getaddrinfo`` has no timeout of its own, so the lookup runs on a daemon thread of its
    own and the check waits for it up to ``timeout`` seconds, then fails with ``TimeoutError``.
    A lookup that hangs is not started again: the next run waits for the same one, so a
    check never holds more than one thread, however long the resolver hangs. Keep
    ``timeout`` at or below the one given to ``add_check``, so the check reports the
    resolver's delay rather than the runner's own timeout.

    ``name`` is a non-empty host name (or an address, which resolves to itself); ``timeout``
    positive seconds (``TypeError`` / ``ValueError`` otherwise, here).

    >>> result = dns_check("localhost", timeout=2.0)()
    >>> result.status, result.unit, result.message.startswith("resolved localhost to ")
    ('pass', 's', True)
    >>> dns_check("localhost", family=socket.AF_UNIX)
    Traceback (most recent call last):
    ...
    ValueError: dns_check family must be socket.AF_UNSPEC, socket.AF_INET or socket.AF_INET6, got socket.AF_UNIX
    """
    host = _host(name, "dns_check")
    seconds = require_seconds(timeout, "dns_check timeout", allow_zero=False)
    families = "socket.AF_UNSPEC, socket.AF_INET or socket.AF_INET6"
    if isinstance(family, bool) or not isinstance(family, int):
        raise TypeError(f"dns_check family must be {families}, got {family!r}")
    if family not in _FAMILIES:
        given = f"socket.{family.name}" if isinstance(family, socket.AddressFamily) else repr(family)
        raise ValueError(f"dns_check family must be {families}, got {given}")
    lookups = _Lookups(host, socket.AddressFamily(family))

    def check_dns() -> CheckResult:
        lookup = lookups.current()
        if not lookup.done.wait(seconds):
            age = time.perf_counter() - lookup.started
            raise TimeoutError(f"no answer for {host!r} from the resolver within {seconds:g} s (asked {age:.1f} s ago)")
        if lookup.error is not None:
            raise lookup.error
        elapsed = lookup.finished - lookup.started
        if not lookup.addresses:  # getaddrinfo raises rather than answer nothing; in case it does not
            return CheckResult.fail(f"{host} resolved to no address", observed=round(elapsed, 6), unit="s")
        shown = ", ".join(lookup.addresses[:_SHOWN])
        more = len(lookup.addresses) - _SHOWN
        listed = f"{shown} and {more} more" if more > 0 else shown
        return CheckResult.ok(f"resolved {host} to {listed} in {_ms(elapsed)}", observed=round(elapsed, 6), unit="s")

    check_dns.__qualname__ = f"dns_check({host})"
    return check_dns


class _Lookup:
    """One ``getaddrinfo`` call on a daemon thread of its own, and its outcome once ``done``."""

    def __init__(self, host: str, family: socket.AddressFamily) -> None:
        self.done = threading.Event()
        self.addresses: list[str] = []
        self.error: Exception | None = None
        self.started = time.perf_counter()
        self.finished = self.started
        thread = affinity.thread(self._resolve, args=(host, family), name=f"flask-status dns_check({host})")
        thread.start()

    def _resolve(self, host: str, family: socket.AddressFamily) -> None:
        try:
            answers = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
            # One entry per address, in the resolver's order (a scoped IPv6 address keeps its scope).
            self.addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
        except Exception as error:  # handed to the run that waits for it
            self.error = error
        finally:
            self.finished = time.perf_counter()
            self.done.set()


class _Lookups:
    """The lookup of one check: a new one per run, unless the last one is still running.

    Thread-safety: ``_lock`` guards ``_last``; runs of the check may overlap (the same check on
    two routes). After ``fork()`` the child has neither the lock's holder nor the lookup's
    thread: both are renewed.
    """

    def __init__(self, host: str, family: socket.AddressFamily) -> None:
        self._host = host
        self._family = family
        self._lock = threading.Lock()
        self._last: _Lookup | None = None
        after_fork(self, _Lookups._renew)

    def current(self) -> _Lookup:
        """The lookup still running, or a new one: never more than one thread per check."""
        with self._lock:
            if self._last is None or self._last.done.is_set():
                self._last = _Lookup(self._host, self._family)
            return self._last

    def _renew(self) -> None:
        self._lock = threading.Lock()
        self._last = None
