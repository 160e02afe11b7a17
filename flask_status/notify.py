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

Flood control lives in the process unless ``store`` is given: the fleet's transitions are
elected among its processes, so a fleet-wide hook needs fleet-wide flood control too. With
``store`` (a :class:`~flask_status.RedisStore`, or a ``redis://`` URL: the app's
``STATUS_STORE_URL``), what was sent last, and when, is kept in Redis; a change held for the end
of a window is sent by one process, the newest the fleet saw.

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
from dataclasses import replace
from typing import Any, cast

from ._fork import after_fork
from ._validate import require_seconds
from .clock import SYSTEM, Clock
from .engine import affinity
from .results import Status
from .web.events import StatusEvent

__all__ = ["Notifier", "webhook"]

log = logging.getLogger("flask_status")

_ICONS = {"pass": ":white_check_mark:", "warn": ":warning:", "fail": ":red_circle:"}


def _body(event: StatusEvent, *, slack: bool, now: float) -> dict[str, Any]:
    message = event.result.error or event.result.message if event.result is not None else None
    if slack:
        return {
            "text": f"{_ICONS.get(event.new, '')} flask-status: {_slack_escape(str(event))} ({event.process})".strip()
        }
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
        store: Any = None,
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
        self._store_spec = store
        self._store: Any = None
        self._flushing: set[str] = set()
        after_fork(self, Notifier._renew)

    def _renew(self) -> None:
        # In a child after fork(): the parent's sender threads are not here, nor its lock's holder.
        self._lock = threading.Lock()
        self._sender = None
        self._flushing = set()

    def _shared(self) -> Any:
        """The store flood control lives in, built on first use from a URL; ``None``: none."""
        if self._store is None and self._store_spec is not None:
            spec = self._store_spec
            if isinstance(spec, str):
                from .stores.redis import RedisStore  # the redis extra is needed only then

                spec = RedisStore(spec, prefix="flask-status-notify")
            self._store = spec
        return self._store

    def __call__(self, event: StatusEvent) -> None:
        if event.draining:
            return  # a pod shutting down is not an incident
        store = self._shared()
        if store is not None:
            self._fleet_call(store, event)
            return
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

    # -- fleet-wide flood control (in the store) ------------------------------------------------

    def _fleet_call(self, store: Any, event: StatusEvent) -> None:
        item = f"notify:{event.manager}:{event.route}:{event.check or ''}"
        store.swap(f"{item}:latest", event.new, _KEEP)
        sent = _parse_sent(store.peek(f"{item}:sent"))
        now = self.clock.wall()
        if sent is not None and sent[0] == event.new:
            self.dropped += 1
            return
        if sent is not None and now - sent[1] < self.min_interval:
            self._hold_in_fleet(store, item, event, sent)
            return
        store.swap(f"{item}:sent", json.dumps([event.new, now]), _KEEP)
        self._send(event)

    def _hold_in_fleet(self, store: Any, item: str, event: StatusEvent, sent: tuple[str, float]) -> None:
        """Send what the fleet saw last once the window of the last notification ends."""
        with self._lock:
            if item in self._flushing:
                self.dropped += 1
                return  # this process already waits for that window's end
            self._flushing.add(item)
        due = sent[1] + self.min_interval - self.clock.wall()
        thread = affinity.thread(self._flush_fleet, args=(store, item, event, sent, due), name="flask-status-notify")
        thread.start()

    def _flush_fleet(self, store: Any, item: str, event: StatusEvent, sent: tuple[str, float], due: float) -> None:
        try:
            self.clock.wait(Future(), max(due, 0.0))
            # One process sends for the end of this window: the one that claims it.
            if not store.claim(f"{item}:flush:{sent[1]!r}", "1", self.min_interval + 60):
                return
            latest = store.peek(f"{item}:latest")
            now_sent = _parse_sent(store.peek(f"{item}:sent"))
            if latest is None or (now_sent is not None and now_sent[0] == latest):
                return  # back to what was sent: no news
            store.swap(f"{item}:sent", json.dumps([latest, self.clock.wall()]), _KEEP)
            if latest not in ("pass", "warn", "fail"):
                return
            old = now_sent[0] if now_sent is not None and now_sent[0] in ("pass", "warn", "fail") else event.old
            self._send(replace(event, old=cast(Status, old), new=cast(Status, latest)))
        except Exception:  # never kill anything for a notification
            log.exception("flask-status: webhook flood control failed for %s", item)
        finally:
            with self._lock:
                self._flushing.discard(item)

    # -- flood control in the process ------------------------------------------------------------

    def _start_sender(self) -> None:
        # Under _lock.
        wake, self._wake = self._wake, Future()
        if not wake.done():
            wake.set_result(None)
        if self._sender is None or not self._sender.is_alive():
            self._sender = affinity.thread(self._send_held, name="flask-status-notify")
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
            with self._lock:
                self.sent += 1
        except Exception as error:  # a webhook down must not break the other hooks
            log.warning("flask-status: webhook %s failed for %s: %s", _where(self.url), event, error)


_KEEP = 7 * 86400.0  # how long the store remembers what was sent of an item


def _parse_sent(raw: str | None) -> tuple[str, float] | None:
    if raw is None:
        return None
    try:
        status, stamp = json.loads(raw)
        return str(status), float(stamp)
    except (TypeError, ValueError):
        return None


def _where(url: str) -> str:
    """The URL without credentials, path and query (Slack's webhook paths are secrets, and so
    is a token in a query).

    >>> _where("https://user:pw@hooks.example.com?token=s3cret")
    'https://hooks.example.com'
    """
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{host.rpartition('@')[2]}"


def _slack_escape(text: str) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` escaped, so a check's message cannot
    mention ``<!channel>`` or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook(
    url: str,
    *,
    slack: bool = False,
    min_interval: float = 300.0,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
    clock: Clock = SYSTEM,
    store: Any = None,
) -> Notifier:
    """An ``on_change`` hook POSTing each status change to ``url`` as JSON (see the module).

    ``slack=True`` sends ``{"text": ...}`` (Slack's incoming webhooks, and the many chat tools
    that take the same). ``min_interval``: the least seconds between two notifications of one
    item (0: no window). ``timeout``: seconds a POST may take. ``headers``: extra HTTP headers
    (an ``Authorization``). ``store``: a :class:`~flask_status.RedisStore` or ``redis://`` URL to
    keep flood control fleet-wide (see the module's docstring; use it with ``fleet=True``). A
    POST that fails is logged (the URL's path, often a secret, left out), never raised.

    >>> hook = webhook("http://127.0.0.1:9/hooks", min_interval=60)
    >>> hook.min_interval
    60.0
    """
    return Notifier(
        url, slack=slack, min_interval=min_interval, timeout=timeout, headers=headers, clock=clock, store=store
    )
