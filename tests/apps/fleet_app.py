"""The app tests/test_fleet.py serves with a real ``gunicorn -w N``: checks that count their runs.

``gunicorn -c fleet_gunicorn.py --chdir tests/apps fleet_app:app``. Importing it has no side
effect besides building the app (pytest's doctest collection imports it without any
environment). Environment:

* ``FLEET_STORE_URL``: the shared store (``STATUS_STORE_URL``); unset: no shared store.
  ``FLEET_RETRY_AFTER`` (seconds): build the ``RedisStore`` here with that ``retry_after``
  and pass it as ``store=``, instead of the URL. ``FLEET_PREFIX``: ``STATUS_STORE_PREFIX``.
* ``FLEET_RUNS``: a file each check run appends ``"<check> <pid> <time.time()>"`` to
  (``O_APPEND``: lines from concurrent processes never interleave); each run also does
  ``INCR fleet:runs:<check>`` on ``FLEET_STORE_URL``'s server (ignored while it is down).
* ``FLEET_IMPORTS``: a file the pid of every process that imports this module is appended to.
* ``FLEET_CHECK_SECONDS`` (0.3), ``FLEET_TTL`` (30), ``FLEET_TIMEOUT`` (5), ``FLEET_INTERVAL``
  (1): the checks' cost, ttl, timeout and interval.
* ``FLEET_LOG=1``: the ``flask_status`` logger writes INFO and above to stderr, with the pid.

Routes (every response carries ``X-Worker-Pid``): ``/ping``; ``/shared`` (check ``api``,
``shared=True``, ttl); ``/local`` (the same, not shared); ``/periodic-shared`` and
``/periodic-local`` (``interval``, shared or not).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Any

from flask import Flask, Response

from flask_status import StatusManager

__all__ = ["app", "status"]

ENV = os.environ
STORE_URL = ENV.get("FLEET_STORE_URL") or None
RUNS = ENV.get("FLEET_RUNS") or None
CHECK_SECONDS = float(ENV.get("FLEET_CHECK_SECONDS", "0.3"))
TTL = float(ENV.get("FLEET_TTL", "30"))
TIMEOUT = float(ENV.get("FLEET_TIMEOUT", "5"))
INTERVAL = float(ENV.get("FLEET_INTERVAL", "1"))

if ENV.get("FLEET_IMPORTS"):
    with open(ENV["FLEET_IMPORTS"], "a") as imports:
        imports.write(f"{os.getpid()}\n")

if ENV.get("FLEET_LOG") == "1":
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("[fleet %(process)d] %(levelname)s %(name)s: %(message)s"))
    _logger = logging.getLogger("flask_status")
    _logger.addHandler(_handler)
    _logger.setLevel(logging.INFO)

_counter: Any = None


def _counter_client() -> Any:
    """A Redis client for the run counters: short timeouts, no retries (never slows a check)."""
    global _counter
    if _counter is None and STORE_URL is not None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        _counter = redis.Redis.from_url(
            STORE_URL, socket_timeout=0.2, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
        )
    return _counter


def record(name: str) -> None:
    """Count one run of check ``name``: a line in ``FLEET_RUNS`` and ``INCR`` in Redis."""
    if RUNS is not None:
        line = f"{name} {os.getpid()} {time.time():.6f}\n".encode()
        fd = os.open(RUNS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    client = _counter_client()
    if client is not None:
        with contextlib.suppress(Exception):  # Redis is down (the outage test): the file still counts it
            client.incr(f"fleet:runs:{name}")


def shared_api() -> bool:
    record("shared_api")
    time.sleep(CHECK_SECONDS)
    return True


def local_api() -> bool:
    record("local_api")
    time.sleep(CHECK_SECONDS)
    return True


def periodic_shared() -> bool:
    record("periodic_shared")
    time.sleep(min(CHECK_SECONDS, INTERVAL / 4))
    return True


def periodic_local() -> bool:
    record("periodic_local")
    time.sleep(min(CHECK_SECONDS, INTERVAL / 4))
    return True


def _store() -> Any:
    if STORE_URL is None or not ENV.get("FLEET_RETRY_AFTER"):
        return None
    from flask_status.stores.redis import RedisStore

    return RedisStore(STORE_URL, prefix=ENV.get("FLEET_PREFIX", "fleet"), retry_after=float(ENV["FLEET_RETRY_AFTER"]))


app = Flask(__name__)
_given = _store()
if STORE_URL is not None and _given is None:  # the usual way: the URL in the config
    app.config["STATUS_STORE_URL"] = STORE_URL
    app.config["STATUS_STORE_PREFIX"] = ENV.get("FLEET_PREFIX", "fleet")
status = StatusManager(app, store=_given)
status.add_route("shared", "/shared").add_check("api", shared_api, ttl=TTL, timeout=TIMEOUT, shared=True)
status.add_route("local", "/local").add_check("api", local_api, ttl=TTL, timeout=TIMEOUT)
status.add_route("periodic_shared", "/periodic-shared").add_check(
    "api", periodic_shared, interval=INTERVAL, timeout=TIMEOUT, shared=True
)
status.add_route("periodic_local", "/periodic-local").add_check(
    "api", periodic_local, interval=INTERVAL, timeout=TIMEOUT
)


@app.after_request
def tag_worker(response: Response) -> Response:
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response


@app.get("/ping")
def ping() -> dict[str, int]:
    return {"pid": os.getpid()}
