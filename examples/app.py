"""The example app: a public liveness route, a readiness route and a protected details route.

    python3 dev.py run          # then, in another terminal:
    curl -i http://127.0.0.1:5000/health/live
    curl -i http://127.0.0.1:5000/health/ready
    curl -i -H "Authorization: Bearer let-me-in" http://127.0.0.1:5000/health/details
    curl -i -H "Accept: application/health+json" -H "Authorization: Bearer let-me-in" \\
         http://127.0.0.1:5000/health/details
    FLASK_APP=examples.app flask status        # the same checks, no server needed

The token comes from the STATUS_TOKEN environment variable (default ``let-me-in``).
"""

from __future__ import annotations

import os
import random
import time

from flask import Flask

from flask_status import CheckResult, StatusManager, __version__
from flask_status.auth import bearer_token
from flask_status.checks import disk_check

DEFAULT_TOKEN = "let-me-in"


def database() -> bool:
    """Stands in for a costly database round trip: half a second."""
    time.sleep(0.5)
    return True


def queue_depth() -> CheckResult:
    """A check with a measurement: warns when the (simulated) queue backs up."""
    depth = random.randint(0, 120)
    if depth > 100:
        return CheckResult.warn(f"{depth} jobs waiting", observed=depth, unit="jobs")
    return CheckResult.ok(observed=depth, unit="jobs")


def create_app() -> Flask:
    """The app factory: ``flask --app examples.app run`` finds it by name."""
    app = Flask(__name__)
    app.config.setdefault("STATUS_TOKENS", os.environ.get("STATUS_TOKEN", DEFAULT_TOKEN))

    status = StatusManager(app)
    # Liveness: no checks at all. A probe must not restart a pod because the database is down.
    status.add_route("live", "/health/live")
    # Readiness: the load balancer's route. Status only, nothing about the checks leaks.
    # readiness=True: fails at once while the server drains on SIGTERM (flask_status.drain).
    ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
    ready.add_check("database", database, ttl=30, timeout=2.0)
    # Details, for people and monitoring: behind a bearer token.
    details = status.add_route(
        "details",
        "/health/details",
        message={"service": "example", "version": __version__},
        authenticator=bearer_token(),
    )
    details.add_check("database", database, ttl=30, timeout=2.0)  # shares ready's cache entry
    details.add_check("queue", queue_depth, ttl=5, critical=False)
    details.add_check("disk", disk_check("/", warn=0.90, fail=0.97), ttl=60, critical=False)
    details.add_field("uptime_s", _uptime(), ttl=1)

    @app.get("/")
    def index() -> dict[str, object]:
        return {"routes": list(status.state(app).urls.values())}

    return app


def _uptime() -> object:
    started = time.monotonic()
    return lambda: round(time.monotonic() - started, 1)


if __name__ == "__main__":
    token = os.environ.get("STATUS_TOKEN", DEFAULT_TOKEN)
    print("flask-status example on http://127.0.0.1:5000")
    print("  curl -i http://127.0.0.1:5000/health/live")
    print("  curl -i http://127.0.0.1:5000/health/ready")
    print(f'  curl -i -H "Authorization: Bearer {token}" http://127.0.0.1:5000/health/details')
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
