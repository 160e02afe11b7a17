"""A webhook notifier for status changes, with flood control: a ready ``on_change`` hook.

::

    from flask_status.notify import webhook

    status.on_change(webhook("https://hooks.slack.com/services/...", slack=True), fleet=True)

With ``fleet=True`` it is called once per transition across the fleet (see
:meth:`StatusManager.on_change <flask_status.StatusManager.on_change>`), never on a request's
thread. Per item (a check of a route, or a route), it notifies **once until it changes**: an
event saying what was last sent is dropped; and at most once per ``min_interval`` seconds: a
change inside that window is held, and the newest held one is sent when the window ends
(unless the item is back to what was sent last, which is then no news).

The body is JSON: the event's fields (``manager``, ``route``, ``check``, ``kind``, ``old``,
``new``, ``message``, ``process``, ``fleet``, ``time``), or with ``slack=True`` a
Slack-compatible ``{"text": ...}``. Messages are the results' own, already redacted by the
manager (credentials in URLs, tokens, passwords): nothing else of the app's is sent.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from ._validate import require_seconds
from .clock import SYSTEM, Clock
from .web.events import StatusEvent

__all__ = ["Notifier", "webhook"]

log = logging.getLogger("flask_status")

_ICONS = {"pass": ":white_check_mark:", "warn": ":warning:", "fail": ":red_circle:"}


def _body(event: StatusEvent, *, slack: bool, now: float) -> dict[str, Any]:
    message = event.result.error or event.result.message if event.result is not None else None
    if slack:
        return {"text": f"{_ICONS.get(event.new, '')} flask-status: {event} ({event.process})".strip()}
    return {
        "manager": event.manager,
        "route": event.route,
        "check": event.check,
        "kind": event.kind,
        "old": event.old,
        "new": event.new,
        "message": message,
        "process": event.process,
        "fleet": event.fleet,
        "time": now,
    }


class Notifier:
    """The hook :func:`webhook` returns. Call it with a :class:`StatusEvent`.

    Thread-safety: called from the event thread; its sender thread sends held events when
    their window ends. ``_lock`` guards ``_sent`` (the last status sent, and when, per item)
    and ``_held`` (the newest event waiting for its item's window to end).
    """

    def __init__(
        self,
        url: str,
        *,
        slack: bool = False,
        min_interval: float = 300.0,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
        self.url = url
        self.slack = slack
        self.min_interval = require_seconds(min_interval, "min_interval", allow_zero=True)
        self.timeout = require_seconds(timeout, "timeout", allow_zero=False)
        self.headers = {"Content-Type": "application/json", "User-Agent": "flask-status", **(headers or {})}
        self.clock = clock
        self._lock = threading.Lock()
        self._sent: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._held: dict[tuple[str, str, str], StatusEvent] = {}
        self._wake: Future[None] = Future()
        self._sender: threading.Thread | None = None
        #: How many notifications were sent, and how many events flood control dropped.
        self.sent = 0
        self.dropped = 0

    def __call__(self, event: StatusEvent) -> None:
        if event.draining:
            return  # a pod shutting down is not an incident
        key = (event.manager, event.route, event.check or "")
        now = self.clock.now()
        with self._lock:
            last = self._sent.get(key)
            if last is not None and last[0] == event.new:
                self._held.pop(key, None)  # back to what was sent: the held change is no news
                self.dropped += 1
                return
            if last is not None and now - last[1] < self.min_interval:
                if key in self._held:
                    self.dropped += 1
                self._held[key] = event
                self._start_sender()
                return
            self._sent[key] = (event.new, now)
        self._send(event)

    def _start_sender(self) -> None:
        # Under _lock.
        wake, self._wake = self._wake, Future()
        if not wake.done():
            wake.set_result(None)
        if self._sender is None or not self._sender.is_alive():
            self._sender = threading.Thread(target=self._send_held, name="flask-status-notify", daemon=True)
            self._sender.start()

    def _send_held(self) -> None:
        while True:
            with self._lock:
                if not self._held:
                    self._sender = None
                    return
                now = self.clock.now()
                due = [
                    (key, event)
                    for key, event in self._held.items()
                    if now - self._sent.get(key, ("", float("-inf")))[1] >= self.min_interval
                ]
                for key, event in due:
                    del self._held[key]
                    self._sent[key] = (event.new, now)
                wait = min(
                    (self._sent[key][1] + self.min_interval - now for key in self._held if key in self._sent),
                    default=0.0,
                )
                wake = self._wake
            for _, event in due:
                self._send(event)
            if not due:
                self.clock.wait(wake, max(wait, 0.0))

    def _send(self, event: StatusEvent) -> None:
        data = json.dumps(_body(event, slack=self.slack, now=self.clock.wall())).encode()
        request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read()
            self.sent += 1
        except Exception as error:  # a webhook down must not break the other hooks
            log.warning("flask-status: webhook %s failed for %s: %s", _where(self.url), event, error)


def _where(url: str) -> str:
    """The URL without its path and query (Slack's webhook paths are secrets)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}"


def webhook(
    url: str,
    *,
    slack: bool = False,
    min_interval: float = 300.0,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
    clock: Clock = SYSTEM,
) -> Notifier:
    """An ``on_change`` hook POSTing each status change to ``url`` as JSON (see the module).

    ``slack=True`` sends ``{"text": ...}`` (Slack's incoming webhooks, and the many chat tools
    that take the same). ``min_interval``: the least seconds between two notifications of one
    item (0: no window). ``timeout``: seconds a POST may take. ``headers``: extra HTTP headers
    (an ``Authorization``). A POST that fails is logged (the URL's path, often a secret, left
    out), never raised.

    >>> hook = webhook("http://127.0.0.1:9/hooks", min_interval=60)
    >>> hook.min_interval
    60.0
    """
    return Notifier(url, slack=slack, min_interval=min_interval, timeout=timeout, headers=headers, clock=clock)
