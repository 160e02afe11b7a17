"""Successful probes out of the werkzeug dev server's access log (``app.run()``, ``flask run``).

A probe every few seconds buries the lines a developer wants to read. :func:`install` puts one
:class:`QuietProbes` filter on the ``"werkzeug"`` logger per process, however many apps and
managers call it; it drops the access line of a ``GET`` or ``HEAD`` of a public status route
(no authenticator) that answered 2xx or 3xx, on every app whose ``STATUS_QUIET_PROBES`` is true.
Failures, other views and private routes are logged as before.

werkzeug's log line names no app, so the filter matches the request's path against the routes
of every app registered in the process (held weakly): an app with ``STATUS_QUIET_PROBES =
False`` served next to one with it true keeps the other's quiet paths quiet. gunicorn has its
own logger class, which needs no path matching (:mod:`flask_status.gunicorn`).
"""

from __future__ import annotations

import logging
import re
import threading
import weakref

from flask import Flask

from .state import EXTENSION_KEY

__all__ = ["QuietProbes", "install", "quiet_filter"]

# werkzeug's WSGIRequestHandler.log_request logs '<address> - - [<date>] "%s" %s %s' with the
# arguments ("GET /path?query HTTP/1.1", code, size), the first wrapped in ANSI colours for
# codes other than 200 (on every system but Windows without colorama).
_ACCESS_FORMAT = '"%s" %s %s'
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_METHODS = ("GET", "HEAD")


class QuietProbes(logging.Filter):
    """Drops werkzeug's access line of a successful probe of a public status route.

    Thread-safety: request threads log concurrently; the registered apps are a ``WeakSet``
    changed under ``_lock`` and copied under it before each match. Each app's routes and
    ``STATUS_QUIET_PROBES`` are read when a line is logged, so routes added after ``init_app``
    count too.
    """

    def __init__(self) -> None:
        super().__init__("flask_status.quiet")
        self._apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, app: Flask) -> None:
        """Match the status routes of ``app`` (every manager's) from now on."""
        with self._lock:
            self._apps.add(app)

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for the access line of a successful probe; True for every other record."""
        try:
            return not self._successful_probe(record)
        except Exception:  # a filter that raises breaks the request that logs: keep the line
            return True

    def _successful_probe(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 3 or not str(record.msg).endswith(_ACCESS_FORMAT):
            return False
        line, code = _ANSI.sub("", str(args[0])), str(args[1])
        if code[:1] not in ("2", "3"):
            return False
        method, _, rest = line.partition(" ")
        if method not in _METHODS:
            return False
        path = rest.rpartition(" ")[0].partition("?")[0]
        return self.quiet_path(path)

    def quiet_path(self, path: str) -> bool:
        """Whether ``path`` is a public status route of an app with ``STATUS_QUIET_PROBES`` on."""
        with self._lock:
            apps = list(self._apps)
        # A status route's rule is literal: its view takes no URL variables.
        return any(path in _public_rules(app) for app in apps)


def _public_rules(app: Flask) -> set[str]:
    """The URL rules of ``app``'s public status routes, every manager's; none when quiet is off."""
    if app.config.get("STATUS_QUIET_PROBES") is not True:
        return set()
    rules = set()
    for state in list(app.extensions.get(EXTENSION_KEY, {}).values()):
        routes = state.manager.routes
        for name, rule in list(state.urls.items()):
            route = routes.get(name)
            if route is not None and route.authenticator is None:
                rules.add(rule)
    return rules


quiet_filter = QuietProbes()
"""The one filter of this process, on the ``"werkzeug"`` logger once :func:`install` ran."""


def install(app: Flask) -> None:
    """Keep ``app``'s successful probes out of werkzeug's access log (idempotent, per process).

    Called by ``init_app`` for every app; whether the app's lines are dropped is decided when
    they are logged, by its ``STATUS_QUIET_PROBES``.
    """
    quiet_filter.add(app)
    logging.getLogger("werkzeug").addFilter(quiet_filter)  # adds it only once
