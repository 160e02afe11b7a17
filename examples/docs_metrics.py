"""Prometheus metrics of the status checks (needs the prometheus extra)."""

from flask import Flask

from flask_status import StatusManager, ip_allowlist
from flask_status.metrics import add_metrics_route


def database() -> bool:
    return True  # stands in for a real round trip to your database


def create_app() -> Flask:
    app = Flask(__name__)
    status = StatusManager(app)
    ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
    ready.add_check("database", database, ttl=30, timeout=2.0)
    # Scraped from inside the cluster only; a scrape never runs a check.
    add_metrics_route(status, "/metrics", authenticator=ip_allowlist("10.0.0.0/8", "127.0.0.1"))
    return app
