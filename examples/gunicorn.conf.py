"""gunicorn settings for the example app: drain readiness on SIGTERM before stopping, and serve
probes on a port of their own when STATUS_PROBE_PORT is set (docs/probes.rst).

STATUS_PROBE_PORT=8081 gunicorn -c examples/gunicorn.conf.py "examples.app:create_app()"
"""

from flask_status.gunicorn import *  # noqa: F403

bind = "0.0.0.0:8000"
worker_class = "gthread"
workers = 2
threads = 8
# Requests still running when STATUS_DRAIN_DELAY (10 s by default) has passed get this long.
graceful_timeout = 15
