"""One run per ttl across processes: a process waiting for another's run never waits for a store
that went away. Real redis-servers, stopped while a process waits."""

from __future__ import annotations

import threading
import time

from _servers import RedisServer

from flask_status.clock import SYSTEM
from flask_status.definitions import Field
from flask_status.engine.election import Election
from flask_status.engine.policy import Timing
from flask_status.results import FieldResult
from flask_status.stores.redis import RedisStore


def _run_while_another_holds_the_lock(redis_server: RedisServer, timing: Timing) -> tuple[FieldResult | None, float]:
    store = RedisStore(redis_server.url(), prefix=f"election-{time.monotonic_ns()}", socket_timeout=0.2)
    field = Field("db", lambda: True, kind="check", **({"interval": timing.interval} if timing.interval else {}))
    election = Election(store, SYSTEM)
    lock_key = field.stable_key
    if timing.interval is not None:
        lock_key = f"{lock_key}@{int(SYSTEM.wall() // timing.interval)}"
    assert store.acquire(lock_key, 60) is not None  # another process won this ttl (or slot), then died
    outcome: list[tuple[FieldResult | None, float]] = []

    def waiter() -> None:
        started = time.monotonic()
        result = election.run(
            field,
            timing,
            lambda: FieldResult("db", "pass", value=True, time=SYSTEM.wall(), observed_at=SYSTEM.now()),
            fresh=lambda r: True,
            keep_for=lambda r: 30.0,
            timed_out=lambda waited: FieldResult("db", "fail", error="TimeoutError", timed_out=True),
        )
        outcome.append((result, time.monotonic() - started))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)  # the waiter polls the store for the winner's result
    redis_server.stop()  # the store dies while it waits
    thread.join(10)
    assert not thread.is_alive()
    return outcome[0]


def test_a_ttl_wait_runs_here_when_the_store_dies(redis_server: RedisServer) -> None:
    result, waited = _run_while_another_holds_the_lock(redis_server, Timing(ttl=10.0, failure_ttl=5.0, timeout=5.0))
    assert result is not None
    assert (result.status, result.timed_out) == ("pass", False)
    assert waited < 3.0  # well before the 5 s timeout


def test_a_periodic_wait_runs_here_when_the_store_dies(redis_server: RedisServer) -> None:
    timing = Timing(ttl=60.0, failure_ttl=60.0, timeout=5.0, interval=60.0)
    result, waited = _run_while_another_holds_the_lock(redis_server, timing)
    assert result is not None
    assert (result.status, result.timed_out) == ("pass", False)
    assert waited < 3.0
