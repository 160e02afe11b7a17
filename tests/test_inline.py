"""Fields without a ttl, run on every request: ``inline=True`` (in the request's own thread,
without a timeout, saying so), and the hand-off to the pool the others go through (a pipe per
waiting thread and per pool, closed when the thread or the pool ends; fresh ones after fork)."""

from __future__ import annotations

import doctest
import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from _servers import in_a_forked_child
from flask import Flask, current_app, g

from flask_status import StatusManager, _fork
from flask_status.clock import ManualClock
from flask_status.definitions import Field
from flask_status.engine import wake
from flask_status.engine.flight import Flight
from flask_status.engine.pool import WorkerPool
from flask_status.results import FieldResult

# Self-contained on purpose: an app, a clock and a wait of its own (no shared fixtures).


def _app() -> Flask:
    app = Flask("inline_test_app")
    app.config.update(TESTING=True)
    return app


def _eventually(condition: Callable[[], object], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def test_an_inline_field_runs_in_the_request_thread_in_its_app_context() -> None:
    app = _app()
    seen: list[tuple[int, Any, Any]] = []

    @app.before_request
    def mark() -> None:
        g.request_thread = threading.get_ident()

    def where() -> bool:
        seen.append((threading.get_ident(), current_app._get_current_object(), g.get("request_thread")))  # type: ignore[attr-defined]
        return True

    status = StatusManager(app)
    status.add_route("details", "/details").add_field("where", where, inline=True)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/details").get_json() == {"status": "OK", "where": True}
    assert len(seen) == 3  # no ttl: once per request, as on the pool
    for thread, running_app, request_thread in seen:
        assert thread == request_thread  # the request's own thread...
        assert running_app is app  # ...in its app context (g is the request's)
    assert status.state(app).runner.pool.threads == 0  # nothing was handed to the pool


def test_outside_a_request_an_inline_field_gets_an_app_context() -> None:
    app = _app()
    status = StatusManager(app)
    status.add_route("details", "/details").add_field("app", lambda: current_app.name, inline=True)
    report = status.evaluate("details", app)  # as `flask status` does, with no context pushed
    assert report.results[0].value == "inline_test_app"
    assert report.status == "pass"


def test_an_inline_field_mixes_with_pool_fields_and_caches_like_any_other() -> None:
    clock = ManualClock()
    app = _app()
    calls = {"inline": 0, "pool": 0}

    def inline() -> int:
        calls["inline"] += 1
        return calls["inline"]

    def pool() -> str:
        calls["pool"] += 1
        return threading.current_thread().name

    route = StatusManager(app, clock=clock).add_route("details", "/details")
    route.add_field("inline", inline, inline=True, ttl=30)
    route.add_field("pool", pool)
    client = app.test_client()
    body = client.get("/details").get_json()
    assert body["inline"] == 1
    assert body["pool"].startswith("flask-status-")  # the other field still ran on the pool
    assert client.get("/details").get_json()["inline"] == 1  # fresh: served from the cache
    clock.advance(31)
    assert client.get("/details").get_json()["inline"] == 2
    assert calls == {"inline": 2, "pool": 3}


def test_an_inline_field_never_raises_for_its_own_sake() -> None:
    app = _app()

    def broken() -> Any:
        raise ConnectionError("refused")

    route = StatusManager(app).add_route("ready", "/ready")
    route.add_check("database", broken, inline=True)
    route.add_field("weird", lambda: object(), inline=True)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == {"status": "fail", "error": "ConnectionError: refused"}
    assert body["weird"]["status"] == "fail"
    assert "not JSON serialisable" in body["weird"]["error"]


def test_a_request_joining_an_inline_run_waits_up_to_the_timeout() -> None:
    clock = ManualClock()
    app = _app()
    release = threading.Event()
    started = threading.Event()
    calls: list[int] = []

    def slow() -> bool:
        calls.append(threading.get_ident())
        started.set()
        release.wait(30)
        return True

    status = StatusManager(app, clock=clock)
    status.add_route("ready", "/ready").add_check("database", slow, inline=True, timeout=2)
    answers: dict[str, Any] = {}

    def first() -> None:
        answers["first"] = app.test_client().get("/ready")

    runner = threading.Thread(target=first, daemon=True)
    runner.start()
    try:
        assert started.wait(10)
        # A second request finds the run in flight: single flight, it joins it and waits on the
        # clock, up to the check's timeout (the request running it has no timeout).
        joiner = threading.Thread(target=lambda: answers.setdefault("second", app.test_client().get("/ready")))
        joiner.start()
        assert _eventually(lambda: clock.waiting > 0), "the second request did not wait on the clock"
        clock.advance(2)
        joiner.join(10)
        second = answers["second"]
        assert second.status_code == 503
        assert second.get_json()["database"] == {"status": "fail", "error": "TimeoutError: no result within 2 s"}
        assert runner.is_alive()  # the first request is still inside the call: nothing bounds it
    finally:
        release.set()
        runner.join(10)
    assert answers["first"].status_code == 200
    assert len(calls) == 1  # one run for both requests


def test_a_keyboard_interrupt_inline_reaches_the_caller_after_the_run_ends() -> None:
    app = _app()

    def interrupted() -> bool:
        raise KeyboardInterrupt

    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", interrupted, inline=True)
    with pytest.raises(KeyboardInterrupt):
        status.evaluate("ready", app)
    assert status.state(app).runner.inflight == 0  # the flight was closed first


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval": 10}, "so interval cannot apply"),
        ({"ttl": 10, "stale": 60}, "so stale cannot apply"),
        ({"ttl": 10, "shared": True}, "so shared cannot apply"),
    ],
)
def test_inline_refuses_options_that_run_in_the_background(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Field("db", lambda: True, kind="check", inline=True, **options)


def test_inline_is_a_bool_for_callables_only() -> None:
    with pytest.raises(TypeError, match="inline of check 'db' must be a bool"):
        Field("db", lambda: True, kind="check", inline="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is a constant"):
        Field("version", "2.0.0", inline=True)
    assert Field("db", lambda: True, kind="check").inline is False
    assert Field("db", lambda: True, kind="check", inline=True).inline is True


# -- the hand-off to the pool ----------------------------------------------------------------------


@pytest.fixture
def pipe_wakeups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipe wake-ups on (the default), whatever the environment says (wake.OPT_OUT)."""
    monkeypatch.delenv(wake.OPT_OUT, raising=False)
    if not wake.pipes_usable():
        pytest.skip("no pipe wake-ups on this platform")


pipes = pytest.mark.usefixtures("pipe_wakeups")


def test_a_flight_wakes_every_waiter_and_times_out_the_impatient() -> None:
    flight = Flight()
    woken: list[bool] = []
    waiters = [threading.Thread(target=lambda: woken.append(flight.wait(10))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    assert not flight.wait(0.05)  # nothing landed yet: a short wait times out
    flight.set_result(FieldResult("db", "pass"))
    for waiter in waiters:
        waiter.join(10)
    assert woken == [True, True, True]
    assert flight.wait(0)
    assert flight.result().status == "pass"
    assert flight._wakers is None  # every waiter left: nothing will be written to their pipes


def test_a_waiter_that_timed_out_is_never_woken_later() -> None:
    flight = Flight()
    assert not flight.wait(0.01)
    assert flight._wakers == []  # it unregistered before leaving
    flight.set_result(FieldResult("db", "pass"))
    waker = wake.thread_waker()
    if waker is not None:
        with pytest.raises(BlockingIOError):
            os.read(waker.read_fd, 1)  # no byte was written after it left


@pipes
def test_a_waiting_threads_pipe_is_closed_when_the_thread_ends() -> None:
    seen: list[tuple[int, int]] = []  # (fd, inode) of both ends

    def wait_once() -> None:
        flight = Flight()
        threading.Timer(0.01, flight.set_result, (FieldResult("db", "pass"),)).start()
        assert flight.wait(10)
        waker = wake.thread_waker()
        assert waker is not None
        seen.extend((fd, os.fstat(fd).st_ino) for fd in (waker.read_fd, waker.write_fd))

    thread = threading.Thread(target=wait_once)
    thread.start()
    thread.join(10)
    gc.collect()
    assert len(seen) == 2
    assert all(_pipe_closed(fd, inode) for fd, inode in seen)


def _pipe_closed(fd: int, inode: int) -> bool:
    """``fd`` is closed, or open on something else than the pipe ``inode`` (a number reused)."""
    try:
        return os.fstat(fd).st_ino != inode
    except OSError:
        return True


def _idle(pool: WorkerPool, workers: int) -> bool:
    """Whether ``workers`` of ``pool``'s threads came to wait for a task within 10 s."""
    return _eventually(lambda: pool.idle == workers)


def _pipes_of(pool: WorkerPool) -> list[tuple[int, int]]:
    """Each living worker's pipe ends and their inodes (workers that wait on latches have none)."""
    tasks = pool._tasks
    with tasks.lock:
        wakers = [w.waker for w in tasks.workers if w.waker is not None]
    return [(fd, os.fstat(fd).st_ino) for waker in wakers for fd in (waker.read_fd, waker.write_fd)]


def _end_of(pool: WorkerPool) -> Callable[[], None]:
    """Drop ``pool``; a function that asserts its threads ended (and their pipes, if any, closed)."""
    tasks = pool._tasks
    threads = [t for t in threading.enumerate() if t.name.startswith(f"{pool.name}-")]
    assert len(threads) == tasks.threads
    pipes = _pipes_of(pool)

    def check() -> None:
        gc.collect()
        for thread in threads:
            thread.join(10)
            assert not thread.is_alive(), f"{thread.name} still runs after its pool was collected"
        assert tasks.threads == 0
        assert not tasks.workers
        assert _eventually(lambda: gc.collect() is not None and all(_pipe_closed(fd, ino) for fd, ino in pipes))

    return check


@pipes
def test_a_pool_nobody_holds_ends_its_threads_and_closes_their_pipes() -> None:
    pool = WorkerPool(3, name="doomed")
    done = threading.Barrier(4, timeout=10)
    for _ in range(3):
        pool.submit(done.wait)
    done.wait()  # three workers, each ran one task
    assert pool.threads == 3
    assert _idle(pool, 3)
    assert len(_pipes_of(pool)) == 6  # each worker waits on a pipe of its own
    check = _end_of(pool)
    del pool
    check()


def test_a_pool_without_pipes_ends_its_threads_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wake, "pipes_usable", lambda: False)
    pool = WorkerPool(2, name="queued")
    ran = threading.Event()
    pool.submit(ran.set)
    assert ran.wait(10)
    assert _idle(pool, 1)
    assert _pipes_of(pool) == []  # its worker waits on a latch
    again = threading.Event()
    pool.submit(again.set)  # handed to the idle worker through its latch
    assert again.wait(10)
    check = _end_of(pool)
    del pool
    check()


def test_without_pipes_a_route_still_answers_within_its_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wake, "pipes_usable", lambda: False)
    result: dict[str, Any] = {}

    def in_a_new_thread() -> None:  # a thread that never had a waker: it waits on the latch
        app = _app()
        release = threading.Event()
        route = StatusManager(app).add_route("d", "/d")
        route.add_field("quick", lambda: 7)
        route.add_field("hang", lambda: release.wait(10), timeout=0.1)
        try:
            result["body"] = app.test_client().get("/d").get_json()
        finally:
            release.set()
        result["waker"] = wake.thread_waker()

    thread = threading.Thread(target=in_a_new_thread)
    thread.start()
    thread.join(10)
    assert result["waker"] is None
    assert result["body"] == {
        "status": "FAIL",
        "quick": 7,
        "hang": {"status": "fail", "error": "TimeoutError: no result within 0.1 s"},
    }


@pipes
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_hands_off_through_pipes_of_its_own() -> None:
    app = _app()
    status = StatusManager(app)
    status.add_route("d", "/d").add_field("pid", os.getpid)
    client = app.test_client()
    assert client.get("/d").get_json()["pid"] == os.getpid()  # the parent's pool and waker exist
    parent_pool = status.state(app).runner.pool
    parent_tasks, parent_waker = parent_pool._tasks, wake.thread_waker()
    assert _idle(parent_pool, 1)
    parent_pipes = _pipes_of(parent_pool)
    assert len(parent_pipes) == 2
    assert parent_waker is not None

    def child() -> int:
        answers = [client.get("/d").get_json()["pid"] for _ in range(20)]
        tasks, waker = status.state(app).runner.pool._tasks, wake.thread_waker()
        # New pipes, made in the child (the parent's copies were closed here, so the numbers
        # may well be the same): new objects, the waker of the child's generation.
        parent_worker = next(iter(parent_tasks.workers))
        fresh = tasks is not parent_tasks and len(tasks.workers) == 1
        fresh = fresh and parent_worker.waker is not None and parent_worker.waker.read_fd == -1
        fresh = fresh and waker is not None and waker is not parent_waker and parent_waker.read_fd == -1
        return 2 if answers != [os.getpid()] * 20 else 0 if fresh else 3

    assert in_a_forked_child(child) == 0
    # The parent goes on with its own pipes, untouched by the child.
    assert [client.get("/d").get_json()["pid"] for _ in range(20)] == [os.getpid()] * 20
    assert all(os.fstat(fd).st_ino == inode for fd, inode in parent_pipes)


@pipes
def test_the_fork_registrys_example_leaves_this_process_pools_alone() -> None:
    # The pipe once closed under a live worker: the _fork docstring's example renewed the
    # whole process's registry inside the test run, resetting every living pool.
    pool = WorkerPool(1, name="bystander")
    done = threading.Event()
    pool.submit(done.set)
    assert done.wait(10)
    assert _idle(pool, 1)
    pipes = _pipes_of(pool)
    assert len(pipes) == 2
    failed, attempted = doctest.testmod(_fork, verbose=False)
    assert (failed, attempted) == (0, 6)
    assert _pipes_of(pool) == pipes  # both ends still its worker's pipe
    again = threading.Event()
    pool.submit(again.set)
    assert again.wait(10)


def test_pipe_wake_ups_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(wake.OPT_OUT, "0")
    assert not wake.pipes_usable()
    pool = WorkerPool(1, name="locks")
    done = threading.Event()
    pool.submit(done.set)
    assert done.wait(10)
    assert _idle(pool, 1)
    assert _pipes_of(pool) == []


def test_a_pool_collected_inside_its_own_workers_locked_block_still_shuts() -> None:
    # An app's runner and state form a cycle: the cyclic collector frees its pool, and may do
    # so in that pool's own worker, in the middle of a block that holds the pool's lock. The
    # pool's finalizer then cannot wait for the lock; it hands the shutdown to a thread.
    armed = threading.Event()

    def now() -> float:  # stands for a collection the interpreter starts at this point
        if armed.is_set() and threading.current_thread().name.startswith("cycle-"):
            armed.clear()
            gc.collect()
        return time.monotonic()

    class Owner:
        pool: WorkerPool
        me: Any

    owner = Owner()
    owner.pool, owner.me = WorkerPool(1, name="cycle", now=now), owner
    tasks = owner.pool._tasks
    done = threading.Event()
    owner.pool.submit(done.set)
    assert done.wait(10)
    assert _idle(owner.pool, 1)
    [worker_thread] = [t for t in threading.enumerate() if t.name == "cycle-1"]
    ran = threading.Event()
    gc.disable()
    try:
        del owner  # garbage now, but only the cyclic collector frees it
        armed.set()
        worker = tasks.idle.pop()  # what submit does, without the pool
        worker.task = (ran.set, (), float("inf"), False)
        worker.wake()  # the worker's run reads the clock under the lock: the pool is collected there
        assert ran.wait(10)
    finally:
        gc.enable()
    worker_thread.join(10)
    assert not worker_thread.is_alive()
    assert tasks.closed
    assert tasks.lock.acquire(timeout=10)
    tasks.lock.release()
