"""The app tests/test_notify.py serves with two ``gunicorn -w 4`` standing for two pods.

Environment: ``STATUS_STORE_URL`` (shared), ``DEPENDENCY_FILE`` (the shared check passes while
it exists), ``FLEET_CALLS`` (a file each fleet-wide hook call appends a line to),
``WEBHOOK_URL`` and ``MIN_INTERVAL`` (the webhook notifier's).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask

from flask_status import StatusEvent, StatusManager
from flask_status.notify import webhook

app = Flask(__name__)
app.config["STATUS_STORE_URL"] = os.environ.get("STATUS_STORE_URL")
app.config["STATUS_STORE_PREFIX"] = "notify-test"
status = StatusManager(app)
DEPENDENCY = Path(os.environ.get("DEPENDENCY_FILE", "/nonexistent"))
ready = status.add_route("ready", "/ready", readiness=True)
ready.add_check("dependency", DEPENDENCY.exists, ttl=0.3, shared=True, timeout=1)


@status.on_change(fleet=True)
def record(event: StatusEvent) -> None:
    line = json.dumps({"check": event.check, "new": event.new, "process": event.process, "fleet": event.fleet})
    fd = os.open(os.environ["FLEET_CALLS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


if os.environ.get("WEBHOOK_URL"):
    # Flood control fleet-wide, in the same Redis: the eight workers share one window per check.
    notifier = webhook(
        os.environ["WEBHOOK_URL"],
        min_interval=float(os.environ.get("MIN_INTERVAL", "3")),
        store=app.config["STATUS_STORE_URL"],
    )
    status.on_change(notifier, fleet=True)


@app.get("/ping")
def ping() -> str:
    return "pong"
