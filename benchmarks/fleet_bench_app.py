"""The app ``bench_stale.py`` and ``bench_shared.py`` serve with gunicorn: checks that log their runs.

Every check appends ``"<check> <pid> <time.time()>"`` to the file ``BENCH_RUNS`` each time it
runs (``O_APPEND``, so lines from concurrent workers never mix), then sleeps
``BENCH_CHECK_SECONDS`` (default 0.5) and passes. Every response carries ``X-Worker-Pid``.

``bench_stale.py`` (one worker): the same costly check three ways, each with its own callable
(the cache is per name *and* callable, so they never share a result):

* ``/stale``: ``ttl=BENCH_TTL`` (1), ``stale=BENCH_STALE`` (60): served at once while one
  background run refreshes it;
* ``/ttl``: ``ttl=BENCH_TTL`` only: the request that finds it expired waits for the run;
* ``/phc``: py-healthcheck 1.10, ``HealthCheck(success_ttl=BENCH_TTL)``, mounted as a Flask
  view (only when py-healthcheck is installed).

``bench_shared.py`` (``-w 4``, ``BENCH_STORE_URL`` set: ``STATUS_STORE_URL``, with
``BENCH_PREFIX`` as ``STATUS_STORE_PREFIX``):

* ``/shared`` and ``/local``: ``ttl=BENCH_TTL``, with and without ``shared=True``;
* ``/periodic-shared`` and ``/periodic-local``: ``interval=BENCH_INTERVAL`` (1), with and
  without ``shared=True``.

``/ping`` answers once the app is up; ``BENCH_BOOTED``, when set, is a file each process that
loads the app appends its pid to. Importing this module has no side effect besides
building the app. Run by hand (from ``benchmarks/``):
``BENCH_RUNS=/tmp/runs ../.venv/bin/gunicorn -k gthread --threads 16 -w 1 fleet_bench_app:app``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, jsonify

from flask_status import StatusManager

try:
    from healthcheck import HealthCheck  # type: ignore[import-untyped]
except ImportError:  # bench_stale.py then skips the py-healthcheck rows
    HealthCheck = None

ENV = os.environ
RUNS = ENV.get("BENCH_RUNS") or None
CHECK_SECONDS = float(ENV.get("BENCH_CHECK_SECONDS", "0.5"))
TTL = float(ENV.get("BENCH_TTL", "1"))
STALE = float(ENV.get("BENCH_STALE", "60"))
INTERVAL = float(ENV.get("BENCH_INTERVAL", "1"))
TIMEOUT = float(ENV.get("BENCH_TIMEOUT", "5"))
STORE_URL = ENV.get("BENCH_STORE_URL") or None


def record(name: str) -> None:
    """Log one run of check ``name`` (pid and wall-clock time) to ``BENCH_RUNS``."""
    if RUNS is None:
        return
    fd = os.open(RUNS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name} {os.getpid()} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)


def costly(name: str, seconds: float = CHECK_SECONDS) -> bool:
    record(name)
    time.sleep(seconds)
    return True


def stale_db() -> bool:
    return costly("stale")


def ttl_db() -> bool:
    return costly("ttl")


def phc_db() -> tuple[bool, str]:
    costly("phc")
    return True, "ok"


def shared_api() -> bool:
    return costly("shared")


def local_api() -> bool:
    return costly("local")


def periodic_shared() -> bool:
    return costly("periodic_shared", min(CHECK_SECONDS, INTERVAL / 4))


def periodic_local() -> bool:
    return costly("periodic_local", min(CHECK_SECONDS, INTERVAL / 4))


app = Flask(__name__)
if STORE_URL is not None:
    app.config["STATUS_STORE_URL"] = STORE_URL
    app.config["STATUS_STORE_PREFIX"] = ENV.get("BENCH_PREFIX", "fleet-bench")
status = StatusManager(app, default_timeout=TIMEOUT)
status.add_route("stale", "/stale").add_check("database", stale_db, ttl=TTL, stale=STALE)
status.add_route("ttl", "/ttl").add_check("database", ttl_db, ttl=TTL)
status.add_route("shared", "/shared").add_check("api", shared_api, ttl=TTL, shared=True)
status.add_route("local", "/local").add_check("api", local_api, ttl=TTL)
status.add_route("periodic_shared", "/periodic-shared").add_check(
    "api", periodic_shared, interval=INTERVAL, shared=True
)
status.add_route("periodic_local", "/periodic-local").add_check("api", periodic_local, interval=INTERVAL)

if HealthCheck is not None:
    # py-healthcheck 1.10: run() caches each check's result for success_ttl and returns
    # (body, status, headers), which Flask takes as a response. No single flight: every
    # request that finds the result expired runs the check itself.
    health = HealthCheck(success_ttl=TTL, failed_ttl=TTL)
    phc_db.__name__ = "database"  # py-healthcheck names a result after its function
    health.add_check(phc_db)
    app.add_url_rule("/phc", "phc", view_func=health.run)


@app.after_request
def tag_worker(response: Response) -> Response:
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response


if ENV.get("BENCH_BOOTED"):  # the benchmark waits until every worker has loaded the app
    record_boot = os.open(ENV["BENCH_BOOTED"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(record_boot, f"{os.getpid()}\n".encode())
    finally:
        os.close(record_boot)


@app.get("/ping")
def ping() -> Any:
    return jsonify({"pid": os.getpid(), "py_healthcheck": HealthCheck is not None})
