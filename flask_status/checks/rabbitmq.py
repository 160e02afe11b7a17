"""RabbitMQ (and any AMQP 0-9-1 broker): a connection and a channel open (extra ``rabbitmq``: pika)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from .._redis import redact_url, scheme_of
from .._validate import require_seconds
from ..results import CheckResult, error_text
from ._extras import missing_extra

__all__ = ["rabbitmq_check"]

_SCHEMES = ("amqp", "amqps")


def rabbitmq_check(url: str, *, timeout: float = 2.0, queue: str | None = None) -> Callable[[], CheckResult]:
    """A check that an AMQP broker accepts a login and opens a channel: ``observed`` is the round
    trip in seconds.

    ``url`` is an ``amqp://`` or ``amqps://`` URL, as pika's ``URLParameters`` reads it:
    ``amqp://user:password@host:5672/vhost`` (a ``/`` vhost is written ``%2F``). Each run opens
    a new connection (TCP, TLS for ``amqps://``, the AMQP handshake with the login and the
    vhost), opens a channel, and closes both: the round trip counts everything but the close.
    Nothing is declared, published or consumed.

    With ``queue``, the run also declares that queue *passively* (it must exist; nothing is
    created) and the message says how deep it is: ``"queue 'jobs': 12 messages, 2 consumers"``.
    A queue that does not exist fails the check (``ChannelClosedByBroker: (404, "NOT_FOUND ...")``).

    ``timeout`` bounds connecting (pika's ``socket_timeout``) and the whole handshake
    (``stack_timeout``), with one attempt and no retry; it overrides those settings, and
    ``connection_attempts``, ``retry_delay``, ``blocked_connection_timeout`` and ``heartbeat``,
    in the URL's query. Once connected, pika's blocking adapter has no deadline of its own: a
    broker that stops answering after the handshake is dropped by the AMQP heartbeat, set to
    ``timeout`` rounded up to whole seconds, which pika notices after two idle checks of
    heartbeat + 5 seconds each (14 s for ``timeout=2``). The route's ``timeout`` answers the
    request before then; the run's thread waits that long.

    A refused connection raises ``ConnectionError`` naming the address, a timeout
    ``TimeoutError``, a wrong login ``ProbableAuthenticationError: ... ACCESS_REFUSED ...``, an
    unknown vhost ``ProbableAccessDeniedError``: the check fails with that text, the password
    never in it. The URL is read here (``ValueError`` for another scheme or a query pika
    refuses, the password masked). Needs pika: ``pip install 'flask-status[rabbitmq]'``
    (``ImportError`` saying so otherwise).

    Examples (not run as doctests: pika is optional)::

        ready.add_check("broker", rabbitmq_check("amqp://app:secret@rabbitmq:5672/app", timeout=1.0), ttl=15)
        details.add_check("jobs", rabbitmq_check(url, queue="jobs"), ttl=30, critical=False)
    """
    try:
        import pika
        import pika.exceptions
        from pika.adapters.utils.connection_workflow import (
            AMQPConnectorPhaseErrorBase,
            AMQPConnectorStackTimeout,
        )
    except ImportError as exc:
        raise missing_extra(__name__, "pika", "rabbitmq") from exc

    if not isinstance(url, str):
        raise TypeError(f"rabbitmq_check needs the URL as a str, got {type(url).__name__}")
    seconds = require_seconds(timeout, "rabbitmq_check timeout", allow_zero=False)
    if queue is not None and not isinstance(queue, str):
        raise TypeError(f"rabbitmq_check queue must be a queue name (str) or None, got {queue!r}")
    if queue is not None and not queue:
        raise ValueError("rabbitmq_check queue must not be empty (the server would name a new queue)")
    shown = redact_url(url)
    scheme = scheme_of(url)
    if scheme not in _SCHEMES:
        raise ValueError(f"rabbitmq_check needs an amqp:// or amqps:// URL, got scheme {scheme!r} in {shown!r}")
    parameters = _parameters(pika, url, shown, seconds)
    host = parameters.host if ":" not in parameters.host else f"[{parameters.host}]"
    address = f"{host}:{parameters.port}"

    def check_rabbitmq() -> CheckResult:
        started = time.perf_counter()
        try:
            connection = pika.BlockingConnection(parameters)
        except pika.exceptions.AMQPConnectionError as exc:
            # A socket error comes wrapped, its text only in the wrapper's repr: unwrap it.
            cause: Any = exc.args[0] if exc.args else None
            if isinstance(cause, AMQPConnectorPhaseErrorBase) and isinstance(cause.exception, Exception):
                if isinstance(cause.exception, TimeoutError):
                    raise TimeoutError(f"cannot connect to {address} within {seconds:g} s") from exc
                raise ConnectionError(f"cannot connect to {address}: {error_text(cause.exception)}") from exc
            raise
        except AMQPConnectorStackTimeout as exc:
            raise TimeoutError(f"no AMQP handshake with {address} within {seconds:g} s") from exc
        try:
            channel = connection.channel()
            message = None
            if queue is not None:
                declared = channel.queue_declare(queue, passive=True)
                messages, consumers = declared.method.message_count, declared.method.consumer_count
                message = f"queue {queue!r}: {_count(messages, 'message')}, {_count(consumers, 'consumer')}"
            elapsed = round(time.perf_counter() - started, 6)
        finally:
            if connection.is_open:
                # Closing a connection the broker already dropped cannot fail the check.
                with suppress(pika.exceptions.AMQPError, OSError):
                    connection.close()
        return CheckResult.ok(message, observed=elapsed, unit="s")

    check_rabbitmq.__qualname__ = f"rabbitmq_check({scheme}://{address})"
    return check_rabbitmq


def _parameters(pika: Any, url: str, shown: str, seconds: float) -> Any:
    """pika's ``URLParameters`` for ``url``, with one bounded attempt (``ValueError`` without
    the password for a URL pika refuses)."""
    try:
        parameters = pika.URLParameters(url)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        password = urlsplit(url).password if "@" in url else None
        if password:
            text = text.replace(password, "***")
        raise ValueError(f"rabbitmq_check: invalid AMQP URL {shown!r}: {text}") from None
    parameters.socket_timeout = seconds
    parameters.stack_timeout = seconds
    parameters.blocked_connection_timeout = seconds
    parameters.connection_attempts = 1
    parameters.retry_delay = 0
    parameters.heartbeat = max(1, math.ceil(seconds))
    return parameters


def _count(number: int, noun: str) -> str:
    """``"1 message"``, ``"12 messages"``.

    >>> _count(1, "message"), _count(12, "consumer")
    ('1 message', '12 consumers')
    """
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
