"""The probe listener: the app's public status routes on a port of their own, off its request queue.

When every worker thread is busy, a probe sent to the app's port waits in the same queue as
the traffic, times out, and Kubernetes restarts a pod that was only busy. With
``STATUS_PROBE_PORT`` set, each worker process also serves its app's public status routes
(those without an authenticator) on that port, from a thread of its own
(:mod:`.server`), answering from results kept fresh in the background (:mod:`.listener`),
and judging liveness and readiness from how busy the workers are (:mod:`.load`).

See :doc:`/probes` for the mechanism under gunicorn, waitress and the werkzeug server, the
Kubernetes manifest and the failure modes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..config import probe_settings
from .listener import ProbeListener, listeners

if TYPE_CHECKING:
    from flask import Flask

    from ..clock import Clock
    from ..state import StatusState

__all__ = ["LISTENER_KEY", "ProbeListener", "attach", "listener_of", "listeners"]

LISTENER_KEY = "flask-status-listener"
"""``app.extensions[LISTENER_KEY]`` is the app's :class:`ProbeListener`, when it has one."""


def attach(app: Flask, state: StatusState, clock: Clock) -> ProbeListener | None:
    """Serve ``state``'s public routes on the app's probe listener, made on first use; ``None``
    when the app has no ``STATUS_PROBE_PORT`` (config or environment)."""
    settings = probe_settings(app.config, os.environ)
    if settings is None:
        return None
    listener: ProbeListener | None = app.extensions.get(LISTENER_KEY)
    if listener is None:
        listener = app.extensions[LISTENER_KEY] = ProbeListener(app, settings, clock)
    listener.add(state)
    return listener


def listener_of(app: Flask) -> ProbeListener | None:
    """``app``'s probe listener, or ``None``.

    >>> from flask import Flask
    >>> listener_of(Flask(__name__)) is None
    True
    """
    return app.extensions.get(LISTENER_KEY)
