"""Every gunicorn hook flask-status needs, in one star-import for ``gunicorn.conf.py``.

::

    # gunicorn.conf.py
    from flask_status.gunicorn import *  # noqa: F403

    graceful_timeout = 20

- ``when_ready`` and ``post_worker_init``: drain readiness on SIGTERM before the server stops
  (:mod:`flask_status.drain`).
- ``child_exit``: forget a dead worker's ``live*`` gauges in Prometheus multiprocess mode
  (:mod:`flask_status.metrics`; does nothing without ``PROMETHEUS_MULTIPROC_DIR``).

If your config defines a hook of the same name, define it after the import and call ours from
it (``flask_status.gunicorn.when_ready(server)``).

>>> sorted(__all__)
['child_exit', 'post_worker_init', 'when_ready']
"""

from __future__ import annotations

from .drain import post_worker_init, when_ready
from .metrics import child_exit

__all__ = ["child_exit", "post_worker_init", "when_ready"]
