"""sqlalchemy_check with Flask-SQLAlchemy: the engine is looked up on each run, per bind key."""

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_status import StatusManager
from flask_status.checks import sqlalchemy_check

db = SQLAlchemy()


def create_app(test_config: dict[str, object] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///app.db"
    app.config["SQLALCHEMY_BINDS"] = {"reports": "sqlite:///reports.db"}
    app.config.update(test_config or {})
    db.init_app(app)
    status = StatusManager(app)

    ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
    ready.add_check("database", sqlalchemy_check(db), ttl=10, timeout=2.0)
    ready.add_check("reports_db", sqlalchemy_check(db, bind="reports"), ttl=10, timeout=2.0, critical=False)
    return app
