"""Checks that run once per ttl for the whole fleet, through Redis (needs the redis extra).

STATUS_STORE_URL=redis://localhost:6379/0 gunicorn -w 4 "examples.docs_fleet:create_app()"
"""

import os

from flask import Flask

from flask_status import StatusManager, bearer_token
from flask_status.checks import http_check


def db_pool_ok() -> bool:
    return True  # stands in for a look at this process's own connection pool


def report_query_ok() -> bool:
    return True  # stands in for a costly query whose answer is the same from every replica


def create_app(test_config: dict[str, object] | None = None) -> Flask:
    app = Flask(__name__)
    # Configure first: StatusManager(app) reads the store's settings when it is created.
    app.config["STATUS_STORE_URL"] = os.environ.get("STATUS_STORE_URL", "redis://localhost:6379/0")
    app.config["STATUS_STORE_PREFIX"] = "billing"  # namespaces the keys
    app.config["STATUS_TOKENS"] = os.environ.get("STATUS_TOKENS")
    app.config["PAYMENTS_HEALTH_URL"] = "https://payments.example.com/health"
    app.config.update(test_config or {})
    status = StatusManager(app)

    ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
    # A dependency every replica sees the same way: checked once per 30 s for the whole fleet.
    payments = http_check(app.config["PAYMENTS_HEALTH_URL"], timeout=2.0)
    ready.add_check("payments_api", payments, ttl=30, timeout=2.0, shared=True)
    # This process's own pool: stays local.
    ready.add_check("db_pool", db_pool_ok, ttl=5)

    details = status.add_route("details", "/health/details", authenticator=bearer_token())
    # Once a minute for the whole fleet, in the background.
    details.add_check("report_query", report_query_ok, interval=60, timeout=10.0, shared=True)
    return app
