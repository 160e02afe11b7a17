"""A quick run handed to the pool and back on one CPU: the worker is pinned to the waiting
thread's CPU, the waiter to its own for at most ``PIN_FOR``; nobody stays pinned otherwise.

Real threads, real ``sched_setaffinity``: each test reads the affinity the kernel reports.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import pytest
from _servers import eventually
from flask import Flask

from flask_status import StatusManager
from flask_status.definitions import Field
from flask_status.engine import affinity
from flask_status.engine.pool import WorkerPool
from flask_status.engine.runner import Runner
from flask_status.results import FieldResult
from flask_status.stores.memory import MemoryStore

pytestmark = pytest.mark.skipif(not affinity.usable(), reason="needs Linux, sched_getcpu and at least two CPUs allowed")


def _cpus() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


def _app() -> Flask:
    app = Flask("affinity_test_app")
    app.config.update(TESTING=True)
    return app


def test_a_quick_run_after_the_first_runs_on_the_waiting_threads_cpu() -> None:
    seen: list[frozenset[int]] = []
    app = _app()
    StatusManager(app).add_route("d", "/d").add_field("cpus", lambda: seen.append(_cpus()) or len(seen))
    client = app.test_client()
    assert client.get("/d").status_code == 200
    assert seen[0] == affinity.ALLOWED  # a first run is never pinned: its clients may start threads
    for _ in range(5):
        assert client.get("/d").status_code == 200
        assert _cpus() == affinity.ALLOWED  # the waiting thread got its CPUs back
    assert all(len(cpus) == 1 for cpus in seen[1:]), seen  # later quick runs: the waiter's CPU


def test_threads_a_first_run_starts_are_not_pinned() -> None:
    started: list[frozenset[int]] = []

    def connect() -> bool:  # a client whose first use starts a thread of its own
        thread = threading.Thread(target=lambda: started.append(_cpus()))
        thread.start()
        thread.join(10)
        return True

    app = _app()
    StatusManager(app).add_route("d", "/d").add_check("client", connect)
    assert app.test_client().get("/d").status_code == 200
    assert started == [affinity.ALLOWED]


def test_a_slow_run_is_not_pinned_next_time() -> None:
    runner = Runner(MemoryStore())
    field = Field("db", lambda: True, kind="check")
    runner._note_speed(field, FieldResult("db", "pass", duration=affinity.PIN_FOR / 10))
    assert field.key in runner._quick
    runner._note_speed(field, FieldResult("db", "pass", duration=affinity.PIN_FOR * 5))
    assert field.key not in runner._quick


def test_a_waiter_whose_run_times_out_gets_its_cpus_back() -> None:
    release = threading.Event()
    quick = threading.Event()

    def sometimes_hangs() -> bool:
        if quick.is_set():
            release.wait(10)
        return True

    app = _app()
    StatusManager(app).add_route("d", "/d").add_check("db", sometimes_hangs, timeout=0.2)
    client = app.test_client()
    try:
        for _ in range(2):  # quick twice: the next run is handed over pinned
            assert client.get("/d").status_code == 200
        quick.set()
        answer = client.get("/d")
        assert answer.status_code == 503
        assert "no result within 0.2 s" in answer.get_data(as_text=True)
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
        pool.submit(record, affine=affine)
        assert done.wait(10)
    assert seen[0] == affinity.ALLOWED
    assert len(seen[1]) == 1  # handed over pinned to this thread's CPU
    assert seen[2] == affinity.ALLOWED  # a background task: pinned no more


def test_turned_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(affinity.OPT_OUT, "0")
    switch = affinity._Switch()
    assert switch.decide() is False
    monkeypatch.setenv(affinity.OPT_OUT, "1")
    assert switch.decide() is True


def test_a_refused_call_turns_it_off_for_the_process(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    switch = affinity._Switch()
    assert switch.decide()
    monkeypatch.setattr(affinity, "_switch", switch)
    caplog.set_level("DEBUG", logger="flask_status")
    assert affinity.pin(0, 1 << 20) is False  # no such CPU: the kernel says EINVAL
    assert not affinity.usable()
    assert affinity.here() is None
    assert affinity.hold_here() is None
    assert f"[Errno {errno.EINVAL}]" in caplog.text
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
