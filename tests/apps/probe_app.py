"""The app tests/test_listener.py serves behind a probe listener (STATUS_PROBE_PORT from the environment).

gunicorn: ``STATUS_PROBE_PORT=9001 gunicorn -c tests/apps/probe_gunicorn.py --chdir tests/apps
probe_app:app``. Plain: ``python tests/apps/probe_app.py werkzeug|waitress PORT``.

Environment: ``STUCK_AFTER`` and ``SATURATED_AFTER`` (seconds) set ``STATUS_STUCK_AFTER`` and
``STATUS_SATURATED_AFTER``; the readiness check passes while the file ``DEPENDENCY_FILE`` exists
(cached ``DEPENDENCY_TTL`` seconds, default 1).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from flask import Flask, request

from flask_status import StatusManager
from flask_status.auth import bearer_token

app = Flask(__name__)
app.config["STATUS_PROBE_HOST"] = "127.0.0.1"
app.config["STATUS_STUCK_AFTER"] = float(os.environ.get("STUCK_AFTER", "2"))
if os.environ.get("SATURATED_AFTER"):
    app.config["STATUS_SATURATED_AFTER"] = float(os.environ["SATURATED_AFTER"])
if os.environ.get("WORKER_THREADS"):
    app.config["STATUS_WORKER_THREADS"] = int(os.environ["WORKER_THREADS"])
app.config["STATUS_TOKENS"] = "probe-test-token"
app.config["STATUS_DRAIN_DELAY"] = float(os.environ.get("DRAIN_DELAY", "3"))

DEPENDENCY = Path(os.environ["DEPENDENCY_FILE"]) if os.environ.get("DEPENDENCY_FILE") else None


def dependency() -> bool:
    return DEPENDENCY is None or DEPENDENCY.exists()


status = StatusManager(app)
status.add_route("live", "/health/live", liveness=True).add_field("pid", os.getpid, inline=True)
ready = status.add_route("ready", "/health/ready", readiness=True)
ready.add_check("dependency", dependency, ttl=float(os.environ.get("DEPENDENCY_TTL", "1")), timeout=1)
status.add_route("details", "/health/details", authenticator=bearer_token()).add_field("secret", "s3cret")

_never = threading.Event()


@app.get("/ping")
def ping() -> str:
    return "pong"


@app.get("/slow")
def slow() -> str:
    time.sleep(float(request.args.get("seconds", "1")))
    return f"done by {os.getpid()}"


@app.get("/wedge")
def wedge() -> str:
    _never.wait()  # blocks until the process ends: a wedged request
    return "never"


@app.get("/whoami")
def whoami() -> dict[str, object]:
    return {"pid": os.getpid()}


def main(server: str, port: int) -> None:
    if server == "waitress":
        import waitress

        waitress.serve(app, host="127.0.0.1", port=port, threads=int(os.environ.get("WORKER_THREADS", "2")))
    else:
        app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
