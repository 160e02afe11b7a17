"""Celery beside the app (docs/workers.rst): the workers beat, the web side checks the queue.

The module that creates the Celery app, imported by the web process and by every worker.
"""

from __future__ import annotations

import os

from celery import Celery
from flask import Flask

from flask_status import StatusManager
from flask_status.celery import celery_check, install

BROKER_URL = os.environ.get("BROKER_URL", "redis://127.0.0.1:6379/0")

flask_app = Flask(__name__)
status = StatusManager(flask_app)
details = status.add_route("details", "/health/details")
# Some worker beat within the last 30 s.
details.add_heartbeat("celery", every=10, grace=20)

celery_app = Celery(__name__, broker=BROKER_URL)

# In each worker process: beat while making progress, and touch a file for the worker's own
# liveness probe (python -m flask_status.probe --file /tmp/celery-alive --max-age 60).
install(celery_app, status, app=flask_app, heartbeat="celery", file="/tmp/celery-alive")

# On the web side: the broker's queue depth, never a broadcast to the workers.
details.add_check("queue", celery_check(celery_app, queue="celery", warn=100, fail=1000), ttl=10)
