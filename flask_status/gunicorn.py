"""Every gunicorn setting and hook flask-status needs, in one star-import for ``gunicorn.conf.py``.

::

    # gunicorn.conf.py
    from flask_status.gunicorn import *  # noqa: F403

    graceful_timeout = 20

- ``when_ready`` and ``post_worker_init``: drain readiness on SIGTERM before the server stops
  (:mod:`flask_status.drain`); and the probe listener (:doc:`/probes`): the master opens
  ``STATUS_PROBE_PORT`` (from its environment) and a board where workers publish their load
  before it forks, each worker starts serving probes once its app is loaded.
- ``pre_fork``: give each worker its slot on that board.
- ``child_exit``: free a dead worker's slot; forget its ``live*`` gauges in Prometheus
  multiprocess mode (:mod:`flask_status.metrics`; nothing without ``PROMETHEUS_MULTIPROC_DIR``).
- ``logger_class``: :class:`ProbeQuietLogger`, gunicorn's logger without the access-log lines
  of successful probes (``STATUS_QUIET_PROBES``, on by default; failures are always logged).

If your config defines a hook of the same name, define it after the import and call ours from
it (``flask_status.gunicorn.when_ready(server)``). A ``logger_class`` of your own replaces
ours (subclass ``flask_status.gunicorn.ProbeQuietLogger`` to keep probes quiet); so does
``logger_class = "gunicorn.glogging.Logger"``, which also turns the statsd logger back on when
``statsd_host`` is set.

>>> sorted(__all__)
['child_exit', 'logger_class', 'post_worker_init', 'pre_fork', 'when_ready']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import drain, metrics
from .listen.parent import parent

__all__ = ["child_exit", "logger_class", "post_worker_init", "pre_fork", "when_ready"]


def when_ready(server: Any) -> None:
    """gunicorn ``when_ready`` hook (master, before the first fork): drain on SIGTERM
    (:func:`flask_status.drain.when_ready`); open the probe port and the load board."""
    drain.when_ready(server)
    parent.prepare(os.environ)


def pre_fork(server: Any, worker: Any) -> None:
    """gunicorn ``pre_fork`` hook (master): give ``worker`` its slot on the load board."""
    parent.assign(worker)


def post_worker_init(worker: Any) -> None:
    """gunicorn ``post_worker_init`` hook (each worker, its app loaded): drain when the master
    says so (:func:`flask_status.drain.post_worker_init`); serve probes."""
    drain.post_worker_init(worker)
    parent.start_worker(worker)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn ``child_exit`` hook (master): free the worker's slot; forget its ``live*``
    Prometheus gauges (:func:`flask_status.metrics.child_exit`)."""
    parent.release(worker)
    metrics.child_exit(server, worker)


logger_class = "flask_status.gunicorn.ProbeQuietLogger"
"""gunicorn's ``logger_class`` setting: a name, so gunicorn is imported only when it loads it."""

PROBE_FLAG = "flask_status.probe"
"""The WSGI environ key the status view sets to ``True`` on a request of a public status route
while ``STATUS_QUIET_PROBES`` is on: the access line may be left out if the answer succeeded."""


def quiet_access(environ: Mapping[str, Any], status_code: object) -> bool:
    """Whether the access line of a request stays out of the log: a probe of a public status
    route (:data:`PROBE_FLAG` set by the view) that answered below 400.

    >>> quiet_access({PROBE_FLAG: True}, 200), quiet_access({PROBE_FLAG: True}, 503), quiet_access({}, 200)
    (True, False, False)
    """
    return environ.get(PROBE_FLAG) is True and isinstance(status_code, int) and status_code < 400


def __getattr__(name: str) -> Any:
    # ProbeQuietLogger subclasses gunicorn's Logger: made when first asked for (by gunicorn,
    # loading logger_class), so this module imports without gunicorn installed.
    if name != "ProbeQuietLogger":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _probe_quiet_logger()
    globals()[name] = value
    return value


def _probe_quiet_logger() -> type:
    try:
        from gunicorn.glogging import Logger  # type: ignore[import-untyped,unused-ignore]
    except ImportError as error:
        raise ImportError(
            "flask_status.gunicorn.ProbeQuietLogger is gunicorn's logger class and needs gunicorn: pip install gunicorn"
        ) from error

    class ProbeQuietLogger(Logger):  # type: ignore[misc,unused-ignore]
        """gunicorn's logger, without the access-log line of a successful probe.

        A request whose environ carries :data:`PROBE_FLAG` (set by the view of a public status
        route while the app's ``STATUS_QUIET_PROBES`` is true) and whose answer is below 400
        is not logged; every other request is, as by ``gunicorn.glogging.Logger``.
        """

        def access(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> None:
            if quiet_access(environ, getattr(resp, "status_code", None)):
                return
            super().access(resp, req, environ, request_time)

    ProbeQuietLogger.__module__ = __name__
    ProbeQuietLogger.__qualname__ = "ProbeQuietLogger"
    return ProbeQuietLogger
