"""A discarded app is freed: collected, its pool's threads end, its periodic checks stop.

Test suites and app factories build many apps; each must leave nothing running behind it.
"""

from __future__ import annotations

import gc
import threading
import weakref

from _servers import eventually
from flask import Flask

from flask_status import StatusManager


def _pool_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("flask-status-status-"))


def test_discarded_apps_are_collected_and_their_threads_end() -> None:
    before = _pool_threads()
    apps: list[weakref.ref[Flask]] = []
    periodic_runs: list[int] = []
    for index in range(40):
        app = Flask(f"factory_{index}")
        status = StatusManager(app)
        ready = status.add_route("ready", "/ready")
        ready.add_check("db", lambda: True)  # runs on the pool: starts a thread
        ready.add_check("queue", lambda: periodic_runs.append(1) or True, interval=0.05)
        assert app.test_client().get("/ready").status_code in (200, 503)
        apps.append(weakref.ref(app))
        del app, status, ready
    assert _pool_threads() > before  # each app started its pool

    def gone() -> bool:
        gc.collect()
        return all(ref() is None for ref in apps) and _pool_threads() <= before

    assert eventually(gone, 10.0), f"{sum(r() is not None for r in apps)} apps alive, {_pool_threads()} threads"
    runs = len(periodic_runs)
    assert not eventually(lambda: len(periodic_runs) > runs, 0.5)  # their periodic checks stopped
