"""The app ``bench_saturation.py`` serves with gunicorn: a slow view and two probe routes.

* ``/slow?seconds=S`` (default 1): sleeps ``S`` seconds, holding a worker thread (the load),
  and answers the worker's pid (the benchmark counts each worker's busy time);
* ``/health/live``: a liveness route (``liveness=True``), no items;
* ``/health/ready``: a readiness route (``readiness=True``) with one check, ``dependency``,
  ``ttl=BENCH_DEPENDENCY_TTL`` (1), ``timeout=BENCH_DEPENDENCY_TIMEOUT`` (1): it passes while the
  file ``BENCH_DEPENDENCY_FILE`` exists (the benchmark deletes it to make the dependency fail);
* ``/ping``: answers ``{"pid": ...}`` once the app is up.

Both status routes are public (no authenticator), so when ``STATUS_PROBE_PORT`` is set in the
environment (and the gunicorn config has flask-status's hooks, ``saturation_gunicorn.py``) each
worker also serves them on that port, from a thread of its own; without it they are served on
the app's port only, by the same threads as ``/slow``. Importing this module has no side effect
besides building the app. Run by hand (from ``benchmarks/``):
``BENCH_DEPENDENCY_FILE=/tmp/dep STATUS_PROBE_PORT=9001 STATUS_PROBE_HOST=127.0.0.1
../.venv/bin/python -m gunicorn -c saturation_gunicorn.py -k gthread -w 2 --threads 2
saturation_app:app``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request

from flask_status import StatusManager

ENV = os.environ
DEPENDENCY = Path(ENV["BENCH_DEPENDENCY_FILE"]) if ENV.get("BENCH_DEPENDENCY_FILE") else None
TTL = float(ENV.get("BENCH_DEPENDENCY_TTL", "1"))
TIMEOUT = float(ENV.get("BENCH_DEPENDENCY_TIMEOUT", "1"))


def dependency() -> bool:
    """Passes while the dependency file exists (always, without ``BENCH_DEPENDENCY_FILE``)."""
    return DEPENDENCY is None or DEPENDENCY.exists()


app = Flask(__name__)
app.config["STATUS_PROBE_HOST"] = "127.0.0.1"  # the gunicorn master reads STATUS_PROBE_HOST from its environment
status = StatusManager(app)
status.add_route("live", "/health/live", liveness=True)
status.add_route("ready", "/health/ready", readiness=True).add_check("dependency", dependency, ttl=TTL, timeout=TIMEOUT)


@app.get("/slow")
def slow() -> str:
    time.sleep(float(request.args.get("seconds", "1")))
    return str(os.getpid())


@app.get("/ping")
def ping() -> Any:
    return jsonify({"pid": os.getpid()})
