"""A quick run handed to the pool and back on one CPU: the worker is pinned to the waiting
thread's CPU, the waiter to its own for at most ``PIN_FOR``; first runs, slow runs, background
runs and the threads this library starts are never pinned.

Real threads, real ``sched_setaffinity``: each test reads the affinity the kernel reports.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import pytest
from _servers import eventually, in_a_forked_child
from flask import Flask

from flask_status import StatusManager
from flask_status.definitions import Field
from flask_status.engine import affinity
from flask_status.engine.flight import Flight
from flask_status.engine.pool import WorkerPool
from flask_status.engine.runner import Runner
from flask_status.results import FieldResult
from flask_status.stores.memory import MemoryStore

pytestmark = pytest.mark.skipif(not affinity.usable(), reason="needs Linux, sched_getcpu and two CPUs allowed")


def _cpus(tid: int = 0) -> frozenset[int]:
    return frozenset(os.sched_getaffinity(tid))


def _app() -> Flask:
    app = Flask("affinity_test_app")
    app.config.update(TESTING=True)
    return app


def _recorder(seen: list[frozenset[int]]) -> Any:
    def record() -> int:
        seen.append(_cpus())
        return len(seen)

    return record


def _idle_worker(status: StatusManager, app: Flask) -> bool:
    """Whether a pool thread came back to wait for a task (it does so after waking the request:
    a request that comes sooner is handed a new thread, never pinned)."""
    pool = status.state(app).runner.pool
    return eventually(lambda: pool.idle >= 1)


def test_a_quick_run_after_the_first_runs_on_the_waiting_threads_cpu() -> None:
    seen: list[frozenset[int]] = []
    app = _app()
    status = StatusManager(app)
    status.add_route("d", "/d").add_field("cpus", _recorder(seen))
    client = app.test_client()
    for _ in range(6):
        assert client.get("/d").status_code == 200
        assert _idle_worker(status, app)
        assert _cpus() == affinity.ALLOWED  # the waiting thread got its CPUs back
    assert seen[0] == affinity.ALLOWED
    assert all(len(cpus) == 1 for cpus in seen[1:]), seen  # later quick runs: the waiter's CPU


def test_a_first_run_goes_to_a_worker_that_is_not_pinned() -> None:
    # A client library starts its threads on first use: they would inherit a pin for good.
    quick: list[frozenset[int]] = []
    started: list[frozenset[int]] = []

    def connect() -> bool:
        thread = threading.Thread(target=lambda: started.append(_cpus()))
        thread.start()
        thread.join(10)
        return True

    app = _app()
    status = StatusManager(app, max_workers=1)
    status.add_route("quick", "/quick").add_field("cpus", _recorder(quick))
    status.add_route("client", "/client").add_check("client", connect)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/quick").status_code == 200
        assert _idle_worker(status, app)
    assert len(quick[-1]) == 1  # the pool's one worker was pinned for the last hand-off...
    assert client.get("/client").status_code == 200  # ...and is handed this first run
    assert started == [affinity.ALLOWED]


def test_a_slow_run_is_not_pinned_next_time() -> None:
    runner = Runner(MemoryStore())
    field = Field("db", lambda: True, kind="check")
    runner._note_speed(field, FieldResult("db", "pass", duration=affinity.PIN_FOR / 10))
    assert field.key in runner._quick
    runner._note_speed(field, FieldResult("db", "pass", duration=affinity.PIN_FOR * 5))
    assert field.key not in runner._quick


def test_a_waiter_whose_run_times_out_gets_its_cpus_back() -> None:
    release, hang = threading.Event(), threading.Event()
    seen: list[frozenset[int]] = []

    def sometimes_hangs() -> bool:
        seen.append(_cpus())
        if hang.is_set():
            release.wait(10)
        return True

    app = _app()
    status = StatusManager(app)
    status.add_route("d", "/d").add_check("db", sometimes_hangs, timeout=0.2)
    client = app.test_client()
    try:
        assert client.get("/d").status_code == 200  # quick: the next run is handed over pinned
        assert _idle_worker(status, app)
        hang.set()
        answer = client.get("/d")
        assert answer.status_code == 503
        assert "no result within 0.2 s" in answer.get_data(as_text=True)
        assert len(seen[1]) == 1  # the hung run was handed over pinned, and waited for so
        assert _cpus() == affinity.ALLOWED
    finally:
        release.set()


def test_a_task_nobody_waits_for_runs_on_every_cpu_again() -> None:
    pool = WorkerPool(1, name="affine")
    seen: list[frozenset[int]] = []
    done = threading.Event()

    def record() -> None:
        seen.append(_cpus())
        done.set()

    pool.submit(record)  # starts the worker
    assert done.wait(10)
    for affine in (True, False):
        done.clear()
        assert eventually(lambda: pool.idle == 1)
        cpu = pool.submit(record, affine=affine)
        assert (cpu is not None) is affine
        assert done.wait(10)
    assert seen[0] == affinity.ALLOWED
    assert len(seen[1]) == 1  # handed over pinned to this thread's CPU
    assert seen[2] == affinity.ALLOWED  # a background task: pinned no more


def test_a_task_from_the_backlog_is_not_run_on_an_old_pin() -> None:
    pool = WorkerPool(1, name="backlog")
    seen: list[frozenset[int]] = []
    go, done = threading.Event(), threading.Event()
    pool.submit(done.set)
    assert done.wait(10)
    assert eventually(lambda: pool.idle == 1)
    done.clear()
    assert pool.submit(lambda: seen.append(_cpus()) or go.wait(10), affine=True) is not None  # pins it
    # Its one worker busy: queued, not handed over, so nothing pinned for it (None).
    assert pool.submit(lambda: seen.append(_cpus()) or done.set(), affine=True) is None
    go.set()
    assert done.wait(10)
    assert len(seen[0]) == 1
    assert seen[1] == affinity.ALLOWED


def test_a_pool_freed_by_its_own_task_ends_its_thread() -> None:
    # The last reference to a pool may be in the task it runs: dropping it must not happen
    # under the pool's lock, which the pool's finalizer takes.
    pool = WorkerPool(1, name="last-reference")
    done, go = threading.Event(), threading.Event()
    pool.submit(done.set)
    assert done.wait(10)
    tasks = pool._tasks
    assert eventually(lambda: len(tasks.idle) == 1)
    [worker_thread] = [t for t in threading.enumerate() if t.name == "last-reference-1"]

    def hold(the_pool: WorkerPool) -> None:
        go.wait(10)

    pool.submit(hold, pool, affine=True)
    del pool  # the task's argument is the last reference now
    go.set()
    worker_thread.join(10)
    assert not worker_thread.is_alive()
    assert tasks.closed
    assert tasks.lock.acquire(timeout=1)  # free, not held by a stuck thread
    tasks.lock.release()


def test_threads_started_by_a_pinned_thread_are_not_pinned() -> None:
    seen: list[frozenset[int]] = []
    cpus = affinity.hold_here(affinity.here())
    assert cpus is not None
    try:
        assert len(_cpus()) == 1
        thread = affinity.thread(lambda: seen.append(_cpus()), name="started-while-pinned")
        thread.start()
        thread.join(10)
    finally:
        affinity.let_go(cpus)
    assert seen == [affinity.ALLOWED]
    assert _cpus() == affinity.ALLOWED


def test_a_thread_a_pinned_worker_starts_for_the_pool_is_not_pinned() -> None:
    pool = WorkerPool(2, name="starter")
    seen: dict[str, frozenset[int]] = {}
    done = threading.Event()

    def inner() -> None:
        seen["new thread"] = _cpus()
        done.set()

    def outer() -> None:  # a pinned run whose callbacks hand the pool more work
        seen["pinned worker"] = _cpus()
        pool.submit(inner)  # no worker idle: a second thread starts, from this pinned one

    first = threading.Event()
    pool.submit(first.set)
    assert first.wait(10)
    assert eventually(lambda: pool.idle == 1)
    pool.submit(outer, affine=True)
    assert done.wait(10)
    assert pool.threads == 2
    assert len(seen["pinned worker"]) == 1
    assert seen["new thread"] == affinity.ALLOWED


def test_turned_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    switch = affinity._Switch()
    monkeypatch.setenv(affinity.OPT_OUT, "0")
    assert switch.decide() is False
    monkeypatch.setenv(affinity.OPT_OUT, "1")
    assert switch.decide() is True


def test_a_refused_call_turns_it_off_for_the_process(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    switch = affinity._Switch()
    assert switch.decide()
    monkeypatch.setattr(affinity, "_switch", switch)
    caplog.set_level("DEBUG", logger="flask_status")
    assert affinity._pin(0, (1 << 20,)) is False  # no such CPU: the kernel says EINVAL
    assert not affinity.usable()
    assert affinity.here() is None
    assert affinity.hold_here(0) is None
    assert f"[Errno {errno.EINVAL}]" in caplog.text
    assert _cpus() == affinity.ALLOWED


def test_a_waiter_is_pinned_to_its_runs_cpu_while_it_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(affinity, "PIN_FOR", 60.0)  # pinned until the result lands
    waiter = threading.get_native_id()
    pinned = lambda: len(_cpus(waiter)) == 1  # noqa: E731
    seen: list[bool] = []

    def land(flight: Flight, wait_for_pin: bool) -> None:
        seen.append(eventually(pinned, 10.0) if wait_for_pin else not eventually(pinned, 0.3))
        flight.set_result(FieldResult("db", "pass"))

    for pin in (True, False):  # pinned with its worker, then a run nobody pinned
        flight = Flight()
        lander = threading.Thread(target=land, args=(flight, pin))
        lander.start()
        flight.cpu = affinity.here() if pin else None  # where its worker would have been pinned
        assert flight.wait(10)
        lander.join(10)
        assert _cpus() == affinity.ALLOWED
    assert seen == [True, True]


def test_the_runner_hands_a_quick_run_over_with_the_cpu_to_wait_on() -> None:
    runner = Runner(MemoryStore())
    flights: list[Flight | None] = []
    field = Field("db", lambda: flights.append(runner.flights._runs.get(field.key)) or True, kind="check")
    for _ in range(3):
        assert runner.evaluate([field])[0].status == "pass"
        assert eventually(lambda: runner.pool.idle == 1)
    first, *later = flights
    assert first is not None
    assert first.cpu is None  # a first run: not pinned
    assert all(flight is not None and flight.cpu is not None for flight in later)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_decides_again_and_pins_no_first_run() -> None:
    runner = Runner(MemoryStore())
    field = Field("db", lambda: True, kind="check")
    runner._note_speed(field, FieldResult("db", "pass", duration=0.0))
    assert affinity.usable()
    assert field.key in runner._quick

    def child() -> int:
        fresh = not affinity._switch.decided and not runner._quick
        return 0 if fresh and affinity.usable() else 2

    assert in_a_forked_child(child) == 0
    assert field.key in runner._quick  # the parent's own knowledge is untouched
