"""The app of the multiprocess metrics test, served by a real ``gunicorn -w 2``.

It is also gunicorn's config module (``-c python:metrics_app``), for the ``child_exit`` hook;
gunicorn takes every module-level name that is one of its settings, so keep names here clear of
them (``bind``, ``workers``, ``timeout``...). Importing it has no side effect besides building the
app, so pytest's doctest collection can import it, with or without prometheus_client.

Routes: ``/ping`` (not a status route: the test waits on it without running checks),
``/health/ready`` (check ``database`` passes; field ``worker`` is the pid of the worker that
answered), ``/health/broken`` (check ``queue`` fails) and ``/metrics`` (bearer token from
``METRICS_APP_TOKEN``).
"""

from __future__ import annotations

import importlib.util
import os

from flask import Flask

from flask_status import StatusManager
from flask_status.auth import bearer_token
from flask_status.metrics import add_metrics_route, child_exit

__all__ = ["app", "child_exit", "status"]

app = Flask(__name__)
status = StatusManager(app)

ready = status.add_route("ready", "/health/ready", readiness=True)
ready.add_check("database", lambda: True)  # no ttl: one run per request
ready.add_field("worker", os.getpid)

broken = status.add_route("broken", "/health/broken")
broken.add_check("queue", lambda: False)


@app.get("/ping")
def ping() -> dict[str, int]:
    return {"pid": os.getpid()}


if importlib.util.find_spec("prometheus_client") is not None:
    add_metrics_route(status, "/metrics", authenticator=bearer_token(env="METRICS_APP_TOKEN", config_key=None))
