"""The app tests/test_fleet_readiness.py serves as two pods (two gunicorn sharing one Redis).

Environment: ``STATUS_STORE_URL``; ``DEPENDENCY_FILE``: this pod's view of the dependency (the
check passes while the file exists).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from flask_status import StatusManager

app = Flask(__name__)
app.config["STATUS_STORE_URL"] = os.environ.get("STATUS_STORE_URL")
app.config["STATUS_STORE_PREFIX"] = "fleet-ready-test"
status = StatusManager(app)
DEPENDENCY = Path(os.environ.get("DEPENDENCY_FILE", "/nonexistent"))


def dependency() -> bool:
    return DEPENDENCY.exists()


status.add_route("ready", "/ready", readiness=True).add_check("dependency", dependency, ttl=0.3, fleet_tolerant=True)
status.add_route("details", "/details").add_check("dependency", dependency, ttl=0.3, fleet_tolerant=True)


@app.get("/ping")
def ping() -> str:
    return "pong"
