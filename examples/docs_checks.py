"""The ready-made checks (needs the sqlalchemy and redis extras).

flask --app "examples.docs_checks:create_app()" status
"""

import os

from flask import Flask
from sqlalchemy import create_engine

from flask_status import StatusManager, bearer_token
from flask_status.checks import disk_check, http_check, redis_check, sqlalchemy_check


def create_app(test_config: dict[str, object] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["DATABASE_URL"] = os.environ.get("DATABASE_URL", "sqlite:///app.db")
    app.config["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    app.config["BILLING_URL"] = "http://billing:8000/health/live"
    app.config["DATA_DIR"] = "/"
    app.config["STATUS_TOKENS"] = os.environ.get("STATUS_TOKENS")
    app.config.update(test_config or {})

    # Bound the query itself too: the check's timeout only stops the request waiting.
    engine = create_engine(app.config["DATABASE_URL"], pool_timeout=2)
    status = StatusManager(app)

    database = sqlalchemy_check(engine)  # SELECT 1; also takes a Flask-SQLAlchemy db

    ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
    ready.add_check("database", database, ttl=10, timeout=2.0)
    ready.add_check("cache", redis_check(app.config["REDIS_URL"], timeout=1.0), ttl=10, critical=False)  # PING
    ready.add_check("billing", http_check(app.config["BILLING_URL"], timeout=1.0), ttl=10)  # expects 200

    details = status.add_route("details", "/health/details", authenticator=bearer_token())
    details.add_check("database", database, ttl=10, timeout=2.0)  # shares ready's result
    details.add_check("disk", disk_check(app.config["DATA_DIR"], warn=0.85, fail=0.95), ttl=60, critical=False)
    return app
