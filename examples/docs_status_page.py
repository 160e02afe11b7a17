"""A details route for people in a browser (HTTP Basic) and for monitoring (a bearer token).

STATUS_PASSWORD=... STATUS_TOKENS=... flask --app examples.docs_status_page run
then open http://127.0.0.1:5000/health/details and log in as ops.
"""

import os

from flask import Flask

from flask_status import CheckResult, StatusManager, any_of, basic_auth, bearer_token
from flask_status.checks import disk_check


def queue_depth() -> CheckResult:
    depth = 12  # stands in for asking your queue
    if depth > 100:
        return CheckResult.warn(f"{depth} jobs waiting", observed=depth, unit="jobs")
    return CheckResult.ok(observed=depth, unit="jobs")


app = Flask(__name__)
app.config["STATUS_BASIC_AUTH"] = {"ops": os.environ["STATUS_PASSWORD"]}  # people, in a browser
app.config["STATUS_TOKENS"] = os.environ["STATUS_TOKENS"]  # monitoring: Authorization: Bearer ...
status = StatusManager(app)
details = status.add_route(
    "details",
    "/health/details",
    message={"service": "billing", "version": "1.4.2"},
    # Basic first: a browser, which cannot send a bearer token, gets the Basic challenge.
    authenticator=any_of(basic_auth(), bearer_token()),
)
details.add_check("queue", queue_depth, ttl=5, critical=False)
details.add_check("disk", disk_check("/", warn=0.90, fail=0.97), ttl=60, critical=False)
