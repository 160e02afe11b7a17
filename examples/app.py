"""The example app: a public liveness route, a readiness route and a protected details route.

    python3 dev.py run          # then, in another terminal:
    curl -i http://127.0.0.1:5000/health/live
    curl -i http://127.0.0.1:5000/health/ready
    curl -i -H "Authorization: Bearer let-me-in" http://127.0.0.1:5000/health/details
    curl -i -u ops:let-me-in http://127.0.0.1:5000/health/details
    curl -i -H "Accept: application/health+json" -H "Authorization: Bearer let-me-in" \\
         http://127.0.0.1:5000/health/details
    FLASK_APP=examples.app flask status        # the same checks, no server needed

The details route takes a bearer token (for scripts and monitoring) or a user name and password
(HTTP Basic, for people): open http://127.0.0.1:5000/health/details in a browser, log in as
``ops`` with password ``let-me-in``, and the status page shows. These are development defaults;
set your own with environment variables: STATUS_TOKEN for the token, STATUS_USER and
STATUS_PASSWORD for the login.
"""

from __future__ import annotations

import os
import random
import time

from flask import Flask

from flask_status import CheckResult, StatusManager, __version__
from flask_status.auth import any_of, basic_auth, bearer_token
from flask_status.checks import disk_check

DEFAULT_TOKEN = "let-me-in"
DEFAULT_USER = "ops"
DEFAULT_PASSWORD = "let-me-in"


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
    # Config first: StatusManager(app) reads it.
    app.config.setdefault("STATUS_TOKENS", os.environ.get("STATUS_TOKEN", DEFAULT_TOKEN))
    user, password = _login()
    app.config.setdefault("STATUS_BASIC_AUTH", {user: password})

    status = StatusManager(app)
    # Liveness: no checks at all. A probe must not restart a pod because the database is down.
    # liveness=True: on the probe listener (STATUS_PROBE_PORT) it fails if a worker is stuck.
    status.add_route("live", "/health/live", liveness=True)
    # Readiness: the load balancer's route. Status only, nothing about the checks leaks.
    # readiness=True: fails at once while the server drains on SIGTERM (flask_status.drain).
    ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
    ready.add_check("database", database, ttl=30, timeout=2.0)
    # Details, for people and monitoring: a login (HTTP Basic) or a bearer token. Basic comes
    # first so that a browser, which cannot send a bearer token, gets the Basic challenge and
    # asks for a user name and password; then the page for people shows (HTML, by Accept).
    details = status.add_route(
        "details",
        "/health/details",
        message={"service": "example", "version": __version__},
        authenticator=any_of(basic_auth(), bearer_token()),
    )
    details.add_check("database", database, ttl=30, timeout=2.0)  # shares ready's cache entry
    details.add_check("queue", queue_depth, ttl=5, critical=False)
    details.add_check("disk", disk_check("/", warn=0.90, fail=0.97), ttl=60, critical=False)
    details.add_field("uptime_s", _uptime(), ttl=1)

    @app.get("/")
    def index() -> dict[str, object]:
        return {"routes": list(status.state(app).urls.values())}

    return app


def _login() -> tuple[str, str]:
    """The user name and password of the status page: STATUS_USER, STATUS_PASSWORD, or the defaults."""
    return os.environ.get("STATUS_USER", DEFAULT_USER), os.environ.get("STATUS_PASSWORD", DEFAULT_PASSWORD)


def _uptime() -> object:
    started = time.monotonic()
    return lambda: round(time.monotonic() - started, 1)


if __name__ == "__main__":
    token = os.environ.get("STATUS_TOKEN", DEFAULT_TOKEN)
    user, password = _login()
    port = int(os.environ.get("PORT", "5000"))
    base = f"http://127.0.0.1:{port}"
    print(f"flask-status example on {base}")
    print(f"  curl -i {base}/health/live")
    print(f"  curl -i {base}/health/ready")
    print(f'  curl -i -H "Authorization: Bearer {token}" {base}/health/details')
    print(f"  in a browser: {base}/health/details, log in as {user!r} with password {password!r}")
    print("  (STATUS_TOKEN, STATUS_USER and STATUS_PASSWORD set your own)")
    create_app().run(host="127.0.0.1", port=port, threaded=True)
