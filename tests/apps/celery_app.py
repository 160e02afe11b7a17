"""A Flask app and its Celery app, as tests/test_celery.py runs them: a real worker process.

``celery -A celery_app worker --pool=solo`` (from tests/apps). Environment: ``BROKER_URL`` (the
broker), ``STATUS_STORE_URL`` (the shared store the beats go to), ``BEAT_FILE`` (the worker's
liveness file), ``BEAT_EVERY`` and ``STUCK_AFTER`` (seconds).
"""

from __future__ import annotations

import os
import time

from celery import Celery
from flask import Flask

from flask_status import StatusManager
from flask_status.celery import install

flask_app = Flask(__name__)
flask_app.config["STATUS_STORE_URL"] = os.environ.get("STATUS_STORE_URL")
flask_app.config["STATUS_STORE_PREFIX"] = os.environ.get("STATUS_STORE_PREFIX", "celery-test")
status = StatusManager(flask_app)
status.add_route("details", "/health/details").add_heartbeat("celery", every=1, grace=1)

celery = Celery(__name__, broker=os.environ.get("BROKER_URL", "redis://127.0.0.1:6379/0"))
celery.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)

install(
    celery,
    status,
    app=flask_app,
    heartbeat="celery",
    every=float(os.environ.get("BEAT_EVERY", "0.3")),
    file=os.environ.get("BEAT_FILE") or None,
    stuck_after=float(os.environ.get("STUCK_AFTER", "600")),
)


@celery.task
def add(a: int, b: int) -> int:
    return a + b


@celery.task
def block(seconds: float) -> str:
    time.sleep(seconds)
    return "done"
