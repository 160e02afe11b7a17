"""SMTP: a mail server greets, answers ``EHLO`` and ``NOOP`` (standard library ``smtplib`` only)."""

from __future__ import annotations

import smtplib
import socket
import ssl as ssl_module
import time
from collections.abc import Callable
from contextlib import suppress

from .._validate import require_seconds
from ..results import CheckResult

__all__ = ["smtp_check"]


def smtp_check(
    host: str,
    port: int = 25,
    *,
    timeout: float = 2.0,
    starttls: bool = False,
    ssl: bool = False,
    ssl_context: ssl_module.SSLContext | None = None,
    username: str | None = None,
    password: str | None = None,
    local_hostname: str | None = None,
) -> Callable[[], CheckResult]:
    """A check that an SMTP server greets with 220 and answers ``EHLO`` and ``NOOP`` with 250:
    ``observed`` is the round trip in seconds.

    Each run connects, reads the greeting, sends ``EHLO``, then (with ``starttls=True``)
    ``STARTTLS`` and ``EHLO`` again, then (with ``username`` and ``password``) ``AUTH``, then
    ``NOOP``, and ends with ``QUIT``: no mail is sent, no recipient named. The round trip
    counts everything up to the ``NOOP``'s answer. With ``ssl=True`` the connection is TLS from
    the start (``SMTP_SSL``, "implicit TLS", usually port 465). ``ssl_context`` is the TLS
    context for either (default: :func:`ssl.create_default_context`, which verifies the
    certificate and the host name against the system's CAs).

    ``timeout`` bounds connecting and every answer (``smtplib``'s socket timeout). The host
    name sent with ``EHLO`` is ``local_hostname``, by default this machine's
    :func:`socket.gethostname`, so that ``smtplib`` does not look up its own FQDN (a DNS
    lookup without a timeout) on each run. Resolving ``host`` itself has no timeout of its
    own: give ``add_check`` a ``timeout`` that bounds the whole run.

    A refused connection, a timeout (``TimeoutError: mail:25 did not answer within 2 s``), a
    greeting other than 220 (``SMTPConnectError``), an answer other than 250 to ``EHLO`` or
    ``NOOP``, a failed ``STARTTLS`` or certificate check, or a login not answered 235
    (``SMTPAuthenticationError: (535, ...)``) raise, so the check fails with that error's text;
    the password never appears in it. The arguments are checked here (``TypeError`` /
    ``ValueError`` naming the one refused).

    >>> check = smtp_check("mail.internal", 587, starttls=True, timeout=1.0)
    >>> smtp_check("mail.internal", 465, ssl=True, starttls=True)
    Traceback (most recent call last):
    ...
    ValueError: smtp_check takes ssl=True (TLS from the start) or starttls=True (TLS after EHLO), not both
    """
    name = _host(host)
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"smtp_check port must be an int from 1 to 65535, got {port!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"smtp_check port must be an int from 1 to 65535, got {port!r}")
    seconds = require_seconds(timeout, "smtp_check timeout", allow_zero=False)
    for flag, enabled in (("starttls", starttls), ("ssl", ssl)):
        if not isinstance(enabled, bool):
            raise TypeError(f"smtp_check {flag} must be True or False, got {enabled!r}")
    if ssl and starttls:
        raise ValueError("smtp_check takes ssl=True (TLS from the start) or starttls=True (TLS after EHLO), not both")
    if ssl_context is not None:
        if not isinstance(ssl_context, ssl_module.SSLContext):
            raise TypeError(f"smtp_check ssl_context must be an ssl.SSLContext, got {type(ssl_context).__name__}")
        if not (ssl or starttls):
            raise ValueError("smtp_check ssl_context needs ssl=True or starttls=True")
    if (username is None) != (password is None):
        raise ValueError("smtp_check needs both username and password, or neither")
    for what, credential in (("username", username), ("password", password)):
        if credential is not None and not isinstance(credential, str):
            raise TypeError(f"smtp_check {what} must be a str, got {type(credential).__name__}")
    if local_hostname is None:
        helo = socket.gethostname() or "localhost"
    elif isinstance(local_hostname, str) and local_hostname and not any(c.isspace() for c in local_hostname):
        helo = local_hostname
    else:
        raise ValueError(f"smtp_check local_hostname must be a host name without spaces, got {local_hostname!r}")
    context = ssl_context
    if context is None and (ssl or starttls):
        context = ssl_module.create_default_context()
    address = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    def check_smtp() -> CheckResult:
        started = time.perf_counter()
        try:
            # Connecting in the constructor: it reads the greeting (SMTPConnectError unless 220)
            # and keeps the host name that STARTTLS and SMTP_SSL verify the certificate for.
            client: smtplib.SMTP
            if ssl:
                client = smtplib.SMTP_SSL(name, port, local_hostname=helo, timeout=seconds, context=context)
            else:
                client = smtplib.SMTP(name, port, local_hostname=helo, timeout=seconds)
            try:
                _expect_250(client.ehlo(), "EHLO")
                if starttls:
                    client.starttls(context=context)  # SMTPNotSupportedError unless offered
                    _expect_250(client.ehlo(), "EHLO")
                if username is not None and password is not None:
                    code, text = client.login(username, password)
                    if code != 235:  # smtplib also returns 503, "already authenticated" (or "EHLO first")
                        raise smtplib.SMTPAuthenticationError(code, text)
                _expect_250(client.noop(), "NOOP")
                elapsed = round(time.perf_counter() - started, 6)
                with suppress(smtplib.SMTPException, OSError):
                    client.quit()  # polite; its answer proves nothing more
            finally:
                client.close()
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib reports a read that timed out as "Connection unexpectedly closed: timed out".
            if isinstance(exc.__context__, TimeoutError):
                raise TimeoutError(f"{address} did not answer within {seconds:g} s") from exc
            raise
        return CheckResult.ok(observed=elapsed, unit="s")

    mode = "ssl" if ssl else "starttls" if starttls else "plain"
    check_smtp.__qualname__ = f"smtp_check({address}, {mode})"
    return check_smtp


def _expect_250(answer: tuple[int, bytes], command: str) -> None:
    code, text = answer
    if code != 250:
        raise smtplib.SMTPResponseException(code, text or f"{command} refused".encode())


def _host(host: object) -> str:
    """``host`` if it is a name or an address, else the error saying why.

    >>> _host("mail.internal"), _host("::1")
    ('mail.internal', '::1')
    >>> _host("mail.internal:25")
    Traceback (most recent call last):
    ...
    ValueError: smtp_check host must be a name or an address, without a port (give port=), got 'mail.internal:25'
    """
    if not isinstance(host, str) or not host:
        raise TypeError(f"smtp_check host must be a non-empty str, got {host!r}")
    if host.startswith("[") or any(char.isspace() or char in "/@" for char in host):
        raise ValueError(f"smtp_check host must be a name or an address without brackets, got {host!r}")
    if host.count(":") == 1:
        raise ValueError(f"smtp_check host must be a name or an address, without a port (give port=), got {host!r}")
    return host
