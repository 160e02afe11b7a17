"""The app tests/test_heartbeats.py beats from other processes (``flask status beat``, a script).

``STATUS_STORE_URL`` from the environment shares the beats; without it they stay in each process.
"""

from __future__ import annotations

import os

from flask import Flask

from flask_status import StatusManager

app = Flask(__name__)
if os.environ.get("STATUS_STORE_URL"):
    app.config["STATUS_STORE_URL"] = os.environ["STATUS_STORE_URL"]
    app.config["STATUS_STORE_PREFIX"] = os.environ.get("STATUS_STORE_PREFIX", "beat-test")
status = StatusManager(app)
details = status.add_route("details", "/health/details")
details.add_heartbeat("nightly", every=3600, grace=60)
details.add_heartbeat("worker", every=5, grace=2)
