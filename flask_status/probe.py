"""A cheap exec probe for images without curl: ``python -m flask_status.probe``.

Two modes, one line of output each, exit ``0`` (healthy) or ``1`` (not):

.. code-block:: text

   $ python -m flask_status.probe http://127.0.0.1:8000/health/ready --timeout 3
   ok 200 http://127.0.0.1:8000/health/ready 4 ms
   $ python -m flask_status.probe --file /tmp/worker-heartbeat --max-age 60
   ok age 12.5 s /tmp/worker-heartbeat (max-age 60 s)

- ``URL [--timeout S]``: one ``GET`` (``http`` or ``https``; a query string and IPv6 literal
  hosts such as ``http://[::1]:8000/health`` work; certificates are verified). ``0`` on a 2xx
  answer within ``S`` seconds (default 5: to connect, then for the whole exchange, body
  included), ``1`` on anything else: another status (``fail 503 ...``; redirects are not
  followed), a refused connection (``fail refused ...``), a timeout, a name that does not
  resolve, a TLS error, a bad URL.
- ``--file PATH --max-age S``: a heartbeat file. ``0`` while the file exists and was modified
  at most ``S`` seconds ago (by ``time.time()``); ``1`` when it is missing, older, or modified
  more than :data:`FUTURE_SKEW` seconds in the future (a clock that jumped).

Wrong arguments (a missing URL, a URL and ``--file`` together, a timeout that is not a positive
number) exit ``2`` with a usage message naming the argument.

It imports the standard library only, never Flask, the app or the rest of flask-status (the
package's ``__init__`` imports its names lazily), so a probe costs about what a bare
interpreter importing :mod:`http.client` costs, where ``flask status`` imports the whole app.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import socket
import sys
import time
from urllib.parse import urlsplit

__all__ = ["DEFAULT_TIMEOUT", "FUTURE_SKEW", "check_file", "check_url", "main"]

DEFAULT_TIMEOUT = 5.0
"""Seconds a URL probe waits for the whole exchange when ``--timeout`` is not given."""

FUTURE_SKEW = 2.0
"""How far in the future a heartbeat file's mtime may be before it counts as a failure."""

# Read at most this much of a body: the status decides, the body is read (not left unread, which
# resets the connection at the server) only to close the exchange cleanly.
_BODY_LIMIT = 1 << 20
_MAX_SECONDS = 86400.0


def check_url(url: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """``GET url`` once, within ``timeout`` seconds: whether it answered 2xx, and the line to print.

    >>> check_url("ftp://example.com/health")
    (False, 'fail bad-url ftp://example.com/health: the scheme must be http or https')
    """
    start = time.monotonic()
    target = _target(url)
    if isinstance(target, str):
        return False, f"fail bad-url {_shown(url)}: {target}"
    scheme, host, port, path = target
    connection: http.client.HTTPConnection
    if scheme == "https":
        if not hasattr(http.client, "HTTPSConnection"):
            return False, f"fail tls {_shown(url)}: this Python has no ssl module"
        connection = http.client.HTTPSConnection(host, port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    deadline = start + timeout
    response: http.client.HTTPResponse | None = None
    try:
        connection.connect()
        sock = connection.sock
        _until(sock, deadline)
        connection.request(
            "GET", path, headers={"Accept": "*/*", "Connection": "close", "User-Agent": "flask-status-probe"}
        )
        response = connection.getresponse()
        read = 0
        # Within the deadline too: a body that never ends is a timeout. The response closes the
        # socket itself once it has read the whole body.
        while read < _BODY_LIMIT and not response.isclosed():
            _until(sock, deadline)
            chunk = response.read(65536)
            if not chunk:
                break
            read += len(chunk)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        reason, detail = _classify(error)
        return False, f"fail {reason} {_shown(url)} {_ms(start)}{detail}"
    finally:
        if response is not None:
            response.close()
        connection.close()
    ok = 200 <= status < 300
    return ok, f"{'ok' if ok else 'fail'} {status} {_shown(url)} {_ms(start)}"


def check_file(path: str, max_age: float, now: float | None = None) -> tuple[bool, str]:
    """Whether the file at ``path`` was modified at most ``max_age`` seconds before ``now``
    (default: ``time.time()``), and the line to print.

    >>> check_file("/nonexistent/heartbeat", 60)
    (False, 'fail missing /nonexistent/heartbeat')
    """
    when = time.time() if now is None else now
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return False, f"fail missing {_printable(path)}"
    except OSError as error:
        return False, f"fail error {_printable(path)}: {_printable(error.strerror or str(error))}"
    age = when - mtime
    if age < -FUTURE_SKEW:
        return False, f"fail future {_printable(path)}: modified {-age:.1f} s from now (has the clock jumped?)"
    ok = age <= max_age
    return ok, f"{'ok' if ok else 'fail'} age {max(age, 0.0):.1f} s {_printable(path)} (max-age {max_age:g} s)"


def main(argv: list[str] | None = None) -> int:
    """Run the probe as ``python -m flask_status.probe`` does: print one line, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m flask_status.probe",
        description="GET a status URL, or check a heartbeat file's age; exit 0 when healthy, 1 when not.",
        formatter_class=_Formatter,
    )
    parser.add_argument("url", nargs="?", help="http:// or https:// URL to GET; 2xx passes")
    parser.add_argument(
        "--timeout", type=_seconds, metavar="S", help=f"seconds for the whole exchange (default {DEFAULT_TIMEOUT:g})"
    )
    parser.add_argument("--file", metavar="PATH", help="a heartbeat file: passes while recently modified")
    parser.add_argument("--max-age", type=_seconds, metavar="S", help="with --file: the oldest mtime that passes")
    args = parser.parse_args(argv)
    if args.file is not None:
        if args.url is not None:
            parser.error("give a URL or --file PATH, not both")
        if args.max_age is None:
            parser.error("--file needs --max-age S: the oldest the file may be, in seconds")
        if args.timeout is not None:
            parser.error("--timeout applies to a URL; a --file check has --max-age")
        ok, line = check_file(args.file, args.max_age)
    else:
        if args.url is None:
            parser.error("give the URL to GET (http://127.0.0.1:8000/health/live), or --file PATH --max-age S")
        if args.max_age is not None:
            parser.error("--max-age applies to --file PATH; a URL has --timeout")
        ok, line = check_url(args.url, DEFAULT_TIMEOUT if args.timeout is None else args.timeout)
    print(line, flush=True)
    return 0 if ok else 1


class _Formatter(argparse.HelpFormatter):
    """argparse's help, given the terminal's width so that it does not import shutil for it
    (2 ms of a probe's start; ``add_argument`` makes a formatter, even when no help is shown)."""

    def __init__(self, prog: str) -> None:
        columns = os.environ.get("COLUMNS", "")  # what shutil.get_terminal_size reads first
        if columns.isdigit():
            width = int(columns)
        else:
            try:
                width = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
            except (AttributeError, ValueError, OSError):  # no stdout, not a terminal
                width = 80
        super().__init__(prog, width=max(width - 2, 40))


def _seconds(text: str) -> float:
    """A positive, finite number of seconds, at most a day (argparse names the option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    if value > _MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {_MAX_SECONDS:g} seconds (a day), got {text!r}")
    return value


def _target(url: str) -> tuple[str, str, int | None, str] | str:
    """``(scheme, host, port, path and query)`` of ``url``, or why it cannot be probed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return str(error)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not supported"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not path.isprintable() or " " in path:
        return "the path holds spaces or control characters: percent-encode them"
    return scheme, parts.hostname, port, path


def _until(sock: socket.socket | None, deadline: float) -> None:
    """Give ``sock``'s next operation what is left of the deadline (``TimeoutError`` if nothing)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    if sock is not None and sock.fileno() != -1:
        sock.settimeout(left)


def _classify(error: BaseException) -> tuple[str, str]:
    """A short reason for the line, and the detail after it (empty where the reason says it all)."""
    if isinstance(error, ConnectionRefusedError):
        return "refused", ""
    if isinstance(error, TimeoutError):
        return "timeout", ""
    if isinstance(error, socket.gaierror):
        return "dns", f": {_printable(error.strerror or str(error))}"
    if isinstance(error, http.client.InvalidURL):
        return "bad-url", f": {_printable(str(error))}"
    if any(cls.__name__ == "SSLError" for cls in type(error).__mro__):  # ssl, without importing it
        return "tls", f": {_printable(str(error))}"
    if isinstance(error, http.client.HTTPException):
        return "bad-answer", f": {type(error).__name__}"
    return "error", f": {_printable(f'{type(error).__name__}: {error}')}"


def _shown(url: str) -> str:
    """``url`` as printed: on one line, any password in it masked."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    userinfo, at, _ = netloc.rpartition("@")
    if at and ":" in userinfo:
        url = url.replace(netloc, f"{userinfo.partition(':')[0]}:***@{netloc.rpartition('@')[2]}", 1)
    return _printable(url)


def _ms(start: float) -> str:
    return f"{round((time.monotonic() - start) * 1000)} ms"


def _printable(text: str) -> str:
    """``text`` on one line: control characters escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


if __name__ == "__main__":
    sys.exit(main())
