"""gunicorn config of ``bench_saturation.py``: flask-status's hooks, as a user writes them.

With ``STATUS_PROBE_PORT`` in the environment the master opens the probe port before it forks
and each worker serves probes on it; without it the hooks leave probes to the app's port.
"""

from flask_status.gunicorn import *  # noqa: F403

graceful_timeout = 2
