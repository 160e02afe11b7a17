"""The app ``bench_burst.py`` serves with gunicorn: slow status routes that count their runs.

Each "slot" is a pair of cold routes with four costly items (``time.sleep``) cached 60 s:

* ``/fs/<slot>``: a flask-status route with four callable fields, ``ttl=60``;
* ``/phc/<slot>``: a py-healthcheck ``HealthCheck`` with the same four checks,
  ``success_ttl=60`` (only when py-healthcheck is installed).

Every slot has its own callables, so each is cold until its first request: one burst per
slot. ``GET /counts`` answers how many times each item of each slot ran, ``GET /ping``
answers once the app is up. Environment: ``BURST_SLOTS`` (how many slots, default 4),
``BURST_FIELD_SECONDS`` (cost of one item, default 0.2).

Run by hand: ``.venv/bin/gunicorn -k gthread --threads 32 -w 1 --chdir benchmarks burst_app:app``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify

from flask_status import StatusManager

try:
    from healthcheck import HealthCheck  # type: ignore[import-untyped]
except ImportError:  # the burst then skips the py-healthcheck rows
    HealthCheck = None

FIELDS = ("database", "cache", "queue", "search")
SLOTS = int(os.environ.get("BURST_SLOTS", "4"))
FIELD_SECONDS = float(os.environ.get("BURST_FIELD_SECONDS", "0.2"))

_lock = threading.Lock()
_runs: dict[str, dict[str, dict[str, int]]] = {"fs": {}, "phc": {}}


def costly(kind: str, slot: str, name: str) -> Callable[[], None]:
    """Register a counter for ``kind/slot/name``; return the function that bumps it and sleeps."""
    counts = _runs[kind].setdefault(slot, {})
    counts[name] = 0

    def run() -> None:
        with _lock:
            counts[name] += 1
        time.sleep(FIELD_SECONDS)

    return run


def fs_field(slot: str, name: str) -> Callable[[], dict[str, Any]]:
    bump = costly("fs", slot, name)

    def field() -> dict[str, Any]:
        bump()
        return {"ok": True}

    field.__name__ = name
    return field


def phc_check(slot: str, name: str) -> Callable[[], tuple[bool, str]]:
    bump = costly("phc", slot, name)

    def check() -> tuple[bool, str]:
        bump()
        return True, "ok"

    check.__name__ = name  # py-healthcheck names a check's result after its function
    return check


app = Flask(__name__)
status = StatusManager(app)

for index in range(SLOTS):
    slot = f"s{index}"
    route = status.add_route(f"burst_{slot}", f"/fs/{slot}")
    for field_name in FIELDS:
        route.add_field(field_name, fs_field(slot, field_name), ttl=60)
    if HealthCheck is not None:
        # py-healthcheck 1.10: run() caches each check's result per function for success_ttl
        # and returns (body, status, headers), which Flask takes as a response.
        health = HealthCheck(success_ttl=60, failed_ttl=60)
        for field_name in FIELDS:
            health.add_check(phc_check(slot, field_name))
        app.add_url_rule(f"/phc/{slot}", f"phc_{slot}", view_func=health.run)


@app.get("/ping")
def ping() -> Any:
    return jsonify({"pid": os.getpid(), "py_healthcheck": HealthCheck is not None, "slots": SLOTS})


@app.get("/counts")
def counts() -> Any:
    with _lock:
        return jsonify(_runs)
