"""Mounting under a blueprint or a URL prefix; endpoint names for url_for."""

from __future__ import annotations

from flask import Blueprint, Flask, url_for

from flask_status import StatusManager


def test_blueprint_mount(app: Flask) -> None:
    ops = Blueprint("ops", __name__, url_prefix="/ops")
    status = StatusManager()
    status.add_route("live", "/live")
    status.init_app(ops)
    status.add_route("ready", "/ready")  # before registration: mounted with the others
    app.register_blueprint(ops)
    status.add_route("late", "/late")  # after registration: mounted on the app too
    client = app.test_client()
    for path in ("/ops/live", "/ops/ready", "/ops/late"):
        assert client.get(path).get_json() == {"status": "OK"}, path
    with app.test_request_context():
        assert url_for("ops.status_live") == "/ops/live"
        assert url_for("ops.status_late") == "/ops/late"
    assert status.state(app).urls == {"live": "/ops/live", "ready": "/ops/ready", "late": "/ops/late"}


def test_url_prefix(app: Flask) -> None:
    status = StatusManager(app, url_prefix="internal/")
    status.add_route("root", "/")
    status.add_route("live", "live")
    client = app.test_client()
    assert client.get("/internal").status_code == 200
    assert client.get("/internal/live").status_code == 200
    with app.test_request_context():
        assert url_for("status_live") == "/internal/live"
