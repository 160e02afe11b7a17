"""HTTP dependencies: a URL answers with an expected status (standard library ``urllib`` only)."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .._validate import validate_seconds
from ..results import CheckResult

__all__ = ["http_check"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand a 3xx back as it is, so ``expect`` sees the status the URL itself answers."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_check(
    url: str,
    *,
    expect: int | Collection[int] = 200,
    timeout: float = 2.0,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    follow_redirects: bool = True,
) -> Callable[[], CheckResult]:
    """A check that ``url`` answers ``method`` with a status in ``expect`` within ``timeout``.

    ``expect`` is one status or a collection of them (``{200, 204}``, ``range(200, 300)``).
    The check passes with ``observed`` = seconds until the response's status and headers
    arrived (``unit="s"``) and the message ``"HTTP 200"``; another status fails with
    ``"HTTP 503, expected 200"``; a refused connection, a DNS failure or the ``timeout``
    raises, so the check fails with that error's text. The body is not read.

    Only ``http://`` and ``https://`` URLs are accepted (``ValueError`` otherwise, here at
    factory time). Credentials in the URL (``https://user:secret@host/``) are sent as HTTP
    Basic authentication and kept out of every message. Redirects are followed unless
    ``follow_redirects=False``, which makes a 3xx the status compared with ``expect``.
    Proxies come from the environment (``HTTP_PROXY``, ``NO_PROXY``...), as for ``urllib``.

    Keep the check's ``timeout`` at or below the one given to ``add_check``, so the check
    reports the HTTP error rather than the runner's own timeout.

    >>> check = http_check("http://billing:8000/health/live", expect={200, 204}, timeout=1.0)
    >>> http_check("ftp://example.invalid/")
    Traceback (most recent call last):
    ...
    ValueError: http_check needs an http:// or https:// URL, got scheme 'ftp'
    """
    if not isinstance(url, str):
        raise TypeError(f"http_check needs the URL as a str, got {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError("http_check got a URL it cannot parse (check the host and port)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"http_check needs an http:// or https:// URL, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("http_check needs a URL with a host, like http://service:8000/health")
    statuses = _statuses(expect)
    seconds = validate_seconds(timeout, "http_check timeout", allow_zero=False)
    assert seconds is not None
    verb = method.upper() if isinstance(method, str) else method
    if verb not in _METHODS:
        raise ValueError(f"http_check method must be one of {sorted(_METHODS)}, got {method!r}")
    request_headers = {"User-Agent": "flask-status", **_headers(headers)}
    if parts.username is not None or parts.password is not None:
        # urllib does not read credentials from the URL: send them as Basic auth, and keep
        # them out of the URL urllib sees (its errors may quote the host part).
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        if not any(key.lower() == "authorization" for key in request_headers):
            request_headers["Authorization"] = f"Basic {token}"
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = host if port is None else f"{host}:{port}"
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    opener = urllib.request.build_opener() if follow_redirects else urllib.request.build_opener(_NoRedirect())
    wanted = _span(statuses)

    def check_http() -> CheckResult:
        request = urllib.request.Request(url, method=verb, headers=request_headers)
        started = time.perf_counter()
        try:
            response = opener.open(request, timeout=seconds)
        except urllib.error.HTTPError as error:  # a status urllib treats as an error: 4xx, 5xx, 3xx
            code = error.code
            error.close()
        else:
            with response:
                code = response.status
        elapsed = round(time.perf_counter() - started, 6)
        if code in statuses:
            return CheckResult.ok(f"HTTP {code}", observed=elapsed, unit="s")
        return CheckResult.fail(f"HTTP {code}, expected {wanted}", observed=elapsed, unit="s")

    check_http.__qualname__ = f"http_check({verb} {parts.scheme}://{parts.hostname}{parts.path or '/'})"
    return check_http


def _statuses(expect: object) -> frozenset[int]:
    """``expect`` as a set of HTTP statuses, each from 100 to 599."""
    codes: tuple[object, ...]
    if isinstance(expect, int) and not isinstance(expect, bool):
        codes = (expect,)
    elif isinstance(expect, Collection) and not isinstance(expect, (str, bytes)):
        codes = tuple(expect)
        if not codes:
            raise ValueError("http_check expect must name at least one HTTP status")
    else:
        raise TypeError(f"http_check expect must be an HTTP status or a collection of them, got {expect!r}")
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"http_check expect must hold HTTP statuses from 100 to 599, got {code!r}")
    return frozenset(code for code in codes if isinstance(code, int))


def _headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(f"http_check headers must be a mapping of str to str, got {type(headers).__name__}")
    for key, value in headers.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("http_check headers must map str to str")
    return dict(headers)


def _span(statuses: frozenset[int]) -> str:
    """Statuses for a message, consecutive ones as a run.

    >>> _span(frozenset({200})), _span(frozenset({*range(200, 205), 304}))
    ('200', '200-204, 304')
    """
    runs: list[str] = []
    ordered = sorted(statuses)
    start = previous = ordered[0]
    for code in [*ordered[1:], None]:
        if code is not None and code == previous + 1:
            previous = code
            continue
        runs.append(str(start) if start == previous else f"{start}-{previous}")
        if code is not None:
            start = previous = code
    return ", ".join(runs)
