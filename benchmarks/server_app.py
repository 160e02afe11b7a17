"""The app ``bench_server.py`` serves with gunicorn and waitress: a public route and its floor.

* ``GET /bare``: a bare Flask view, ``jsonify({"status": "OK"})``: the baseline;
* ``GET /health/ready``: a public flask-status route (``details=False``, so it answers
  ``{"status": "OK"}`` like ``/bare``) with one costly check, ``time.sleep`` of
  ``SERVER_CHECK_SECONDS`` (default 0.2 s), ``ttl=30``: cold, the first requests wait for
  its one run (single flight); warm, they are served from the cache;
* ``GET /ping``: answers once the app is up (the benchmark waits for it, then loads);
* ``GET /counts``: how many times the check ran.

Run by hand: ``.venv/bin/gunicorn -k gthread --threads 16 -w 1 --chdir benchmarks server_app:app``
or ``.venv/bin/waitress-serve --threads=16 --listen=127.0.0.1:8080 server_app:app`` (from
``benchmarks/``).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import Flask, jsonify

from flask_status import StatusManager

CHECK_SECONDS = float(os.environ.get("SERVER_CHECK_SECONDS", "0.2"))
CHECK_TTL = float(os.environ.get("SERVER_CHECK_TTL", "30"))

_lock = threading.Lock()
_runs = {"database": 0}


def database() -> bool:
    with _lock:
        _runs["database"] += 1
    time.sleep(CHECK_SECONDS)
    return True


app = Flask(__name__)
status = StatusManager(app)
ready = status.add_route("ready", "/health/ready", details=False)
ready.add_check("database", database, ttl=CHECK_TTL)


@app.get("/bare")
def bare() -> Any:
    return jsonify({"status": "OK"})


@app.get("/ping")
def ping() -> Any:
    return jsonify({"pid": os.getpid()})


@app.get("/counts")
def counts() -> Any:
    with _lock:
        return jsonify(_runs)
