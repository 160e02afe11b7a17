"""A fleet of gunicorn workers sharing one Redis: one run per ttl (or interval) across processes.

Each test starts its own ``redis-server`` and its own ``gunicorn`` (gthread, 8 threads) on free
loopback ports, serving ``tests/apps/fleet_app.py``, each in its own process group, killed at
teardown. The checks count their runs in a file (``O_APPEND``: one line per run, with the pid
and the time) and with ``INCR`` in Redis, so the test sees every run of every process. The last
two tests need no gunicorn: two Flask apps in this process stand for two processes, for the
cases a real fleet cannot be made to hit on demand.

Without redis-server or gunicorn these tests skip, and fail under ``CI=true``.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from _servers import APPS, Answer, Poller, RedisServer, ServerProcess, eventually, get, gunicorn
from flask import Flask

from flask_status import StatusManager

pytestmark = pytest.mark.server

BOOT_SECONDS = 15.0  # gunicorn -w 4 imports Flask four times on two busy cores


# -- servers and clients --------------------------------------------------------------------------


def counter(server: RedisServer, name: str) -> int:
    """How many runs of check ``name`` fleet_app counted in Redis."""
    client = server.client()
    try:
        return int(client.get(f"fleet:runs:{name}") or 0)
    finally:
        client.close()


@dataclass(frozen=True)
class Run:
    check: str
    pid: int
    at: float  # time.time() when the run started


@dataclass
class Fleet:
    """gunicorn serving fleet_app, and the files its workers write: their pids once booted, their runs."""

    server: ServerProcess
    booted: Path
    runs_file: Path

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def master(self) -> int:
        return self.server.process.pid

    def output(self, tail: int = 6000) -> str:
        return self.server.output(tail)

    def workers(self) -> list[int]:
        """Pids of the workers that loaded the app and are about to serve."""
        if not self.booted.exists():
            return []
        return [int(line) for line in self.booted.read_text().split()]

    def runs(self, check: str | None = None) -> list[Run]:
        if not self.runs_file.exists():
            return []
        runs = []
        for line in self.runs_file.read_text().splitlines():
            name, pid, at = line.split()
            if check is None or name == check:
                runs.append(Run(name, int(pid), float(at)))
        return runs


@contextmanager
def serving(
    tmp_path: Path, *, workers: int, env: dict[str, str], preload: bool = False, threads: int = 8
) -> Iterator[Fleet]:
    """gunicorn serving fleet_app until every worker is up."""
    booted, runs = tmp_path / "booted", tmp_path / "runs"

    def up(server: ServerProcess) -> bool:
        return (
            len(Fleet(server, booted, runs).workers()) >= workers and get(server.port, "/ping", timeout=1).status == 200
        )

    with gunicorn(
        "fleet_app:app",
        "--config", str(APPS / "fleet_gunicorn.py"),
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--timeout", "30",
        *(["--preload"] if preload else []),
        log=tmp_path / "gunicorn.log",
        env={"FLEET_BOOTED": str(booted), "FLEET_RUNS": str(runs), **env},
        ready=up,
        boot_seconds=BOOT_SECONDS,
    ) as server:  # fmt: skip
        yield Fleet(server, booted, runs)


def burst(port: int, path: str, clients: int, timeout: float = 10.0) -> list[Answer]:
    """``clients`` connections opened first (so gunicorn spreads them over its workers), then
    released together by a barrier, one GET each."""
    barrier = threading.Barrier(clients)
    answers: list[Answer] = []
    lock = threading.Lock()

    def one() -> None:
        answer = get(port, path, timeout=timeout, connected=lambda: barrier.wait(timeout))
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 5)
    assert len(answers) == clients, f"{clients - len(answers)} clients never finished"
    return answers


def reach_workers(server: Fleet, paths: tuple[str, ...], want: int, seconds: float = 6.0) -> set[int]:
    """Send bursts at ``paths`` until ``want`` different workers answered each (or time is up);
    return the pids that answered every path."""
    served: dict[str, set[int]] = {path: set() for path in paths}

    def reached() -> bool:
        for path in paths:
            served[path] |= {a.pid for a in burst(server.port, path, 16) if a.pid is not None}
        return min(len(pids) for pids in served.values()) >= want

    eventually(reached, seconds, every=0)
    return set.intersection(*served.values())


# -- 1. a cold burst: one run across the fleet ----------------------------------------------------


def test_cold_burst_runs_a_shared_check_once_across_workers(redis_server: RedisServer, tmp_path: Path) -> None:
    env = {"FLEET_STORE_URL": redis_server.url(), "FLEET_CHECK_SECONDS": "0.3", "FLEET_TTL": "30"}
    with serving(tmp_path, workers=4, env=env) as server:
        shared = burst(server.port, "/shared", 32)
        local = burst(server.port, "/local", 32)
        shared_runs, local_runs = server.runs("shared_api"), server.runs("local_api")
        context = f"\nruns: {server.runs()}\nlog:\n{server.output()}"

    assert [a.error for a in shared + local if a.error] == [], context
    assert {a.status for a in shared} == {200}, context
    assert {a.status for a in local} == {200}, context
    shared_pids = {a.pid for a in shared}
    local_pids = {a.pid for a in local}
    # The burst reached several workers, and still the check ran once in all of them.
    assert len(shared_pids) >= 2, f"the burst reached only workers {shared_pids}{context}"
    assert len(shared_runs) == 1, context
    assert counter(redis_server, "shared_api") == 1
    # Not shared: one run in each worker that served (single flight inside a process only).
    assert len(local_runs) == len(local_pids) <= 4, context
    assert {r.pid for r in local_runs} == local_pids, context
    assert len(local_runs) > 1, f"the burst reached only workers {local_pids}{context}"
    slowest = max(a.latency for a in shared)
    assert slowest < 1.5, f"the waiters took {slowest:.3f} s for a 0.3 s check{context}"
    print(
        f"shared: {len(shared_runs)} run for {len(shared)} requests on {len(shared_pids)} workers, "
        f"slowest {slowest:.3f} s; local: {len(local_runs)} runs on {len(local_pids)} workers"
    )


# -- 2. a periodic shared check: once per interval across the fleet -------------------------------


def test_periodic_shared_check_runs_about_once_per_interval_across_workers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    interval, window = 1.0, 4.0
    env = {"FLEET_STORE_URL": redis_server.url(), "FLEET_INTERVAL": str(interval), "FLEET_CHECK_SECONDS": "0.1"}
    with serving(tmp_path, workers=4, env=env) as server:
        # Every worker that answers a periodic route starts its own scheduler.
        scheduling = reach_workers(server, ("/periodic-shared", "/periodic-local"), want=4)
        time.sleep(interval)  # each started scheduler has had its first turn
        start = time.time()
        time.sleep(window)
        end = time.time()
        # Every worker serves the fleet's latest result, the ones that did not run it too.
        answers = burst(server.port, "/periodic-shared", 16)
        runs = server.runs()
        context = f"\nworkers scheduling: {scheduling}\nruns: {runs}\nlog:\n{server.output()}"

    assert len(scheduling) >= 2, context
    shared = [r for r in runs if r.check == "periodic_shared" and start <= r.at < end]
    local = [r for r in runs if r.check == "periodic_local" and start <= r.at < end]
    # One run per interval across the fleet; the lock lasts 0.8 interval, so up to ~1.25 per interval.
    assert window / interval - 1 <= len(shared) <= 1.5 * window / interval, context
    # Not shared: every scheduling worker runs it every interval.
    assert len(local) >= (len(scheduling) - 0.5) * (window / interval - 1), context
    assert {r.pid for r in local} == scheduling, context
    assert {(a.status, a.error) for a in answers} == {(200, None)}, f"{answers}{context}"
    print(
        f"{window:g} s, interval {interval:g} s, {len(scheduling)} workers scheduling: "
        f"shared {len(shared)} runs (by {len({r.pid for r in shared})} workers), not shared {len(local)} runs"
    )


# -- 3. the scheduler after fork, with and without --preload --------------------------------------


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_scheduler_runs_in_every_worker_not_in_the_master(preload: bool, tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    env = {"FLEET_INTERVAL": "0.5", "FLEET_CHECK_SECONDS": "0.05", "FLEET_IMPORTS": str(imports)}
    with serving(tmp_path, workers=2, env=env, preload=preload) as server:
        served = reach_workers(server, ("/periodic-local",), want=2)
        woken = time.time()
        time.sleep(2.0)
        runs = server.runs("periodic_local")
        master, workers = server.master, set(server.workers())
        context = f"\nmaster {master}, workers {workers}, served {served}\nruns: {runs}\nlog:\n{server.output()}"

    imported = {int(pid) for pid in imports.read_text().split()}
    if preload:
        assert imported == {master}, f"with --preload only the master imports the app{context}"
    else:
        assert master not in imported, context
        assert workers <= imported, context
    assert served == workers, f"every worker must have served to test them all{context}"
    ran = {r.pid for r in runs}
    assert master not in ran, f"the master ran the periodic check{context}"
    assert ran == served, context
    for pid in served:  # still running on schedule, not a one-off: about 4 runs in 2 s
        assert sum(1 for r in runs if r.pid == pid and r.at >= woken) >= 2, context
    print(f"preload={preload}: runs per worker {[sum(1 for r in runs if r.pid == p) for p in sorted(served)]}")


# -- 4. a Redis outage mid-run --------------------------------------------------------------------

_LOG_LINE = re.compile(r"\[fleet (\d+)\] \w+ flask_status: (.*)")


def store_log(server: Fleet, text: str) -> list[int]:
    """Pids of the workers' flask_status log lines containing ``text``, one per line."""
    return [
        int(match.group(1))
        for match in map(_LOG_LINE.match, server.output(tail=10_000_000).splitlines())
        if match and text in match.group(2)
    ]


def gaps(runs: list[Run]) -> list[float]:
    starts = sorted(r.at for r in runs)
    return [round(b - a, 3) for a, b in itertools.pairwise(starts)]


def test_redis_outage_mid_run_keeps_probes_answering_then_sharing_resumes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    ttl, check, timeout = 0.5, 0.1, 2.0
    env = {
        "FLEET_STORE_URL": redis_server.url(),
        "FLEET_RETRY_AFTER": "1",
        "FLEET_TTL": str(ttl),
        "FLEET_CHECK_SECONDS": str(check),
        "FLEET_TIMEOUT": str(timeout),
        "FLEET_LOG": "1",
    }
    with serving(tmp_path, workers=2, env=env) as server:
        poller = Poller(server.port, "/shared", every=0.05, timeout=timeout + 3)
        poller.start()
        try:
            assert eventually(lambda: len({a.pid for a in poller.answers}) == 2, 5), "both workers answered"
            assert eventually(lambda: len(server.runs("shared_api")) >= 3, 5), "three shared runs"
            # Stop Redis between two runs: just after one published its result, long before the
            # next is due, so that the figures below do not depend on luck. Stopping it while a
            # worker waits for another's run is test_waiter_runs_the_check_itself_... below.
            seen = len(server.runs("shared_api"))
            assert eventually(lambda: len(server.runs("shared_api")) > seen, 5), "a new shared run"
            time.sleep(max(0.0, server.runs("shared_api")[-1].at + check + 0.08 - time.time()))
            outage = time.time()
            redis_server.stop()
            time.sleep(2.0)
            restart = time.time()
            redis_server.start()
            warned = set(store_log(server, "shared store unreachable"))
            assert eventually(
                lambda: bool(warned) and warned <= set(store_log(server, "shared store reachable again")), 6
            ), "every worker that lost the store found it again"
            recovered = time.time()
            counter_at_recovery = counter(redis_server, "shared_api")
            time.sleep(2.0)
            counter_at_end = counter(redis_server, "shared_api")
        finally:
            answers = poller.stop()
        end = time.time()
        runs = server.runs("shared_api")
        log = server.output(tail=10_000_000)
    unreachable, reachable = store_log(server, "shared store unreachable"), store_log(server, "reachable again")
    context = (
        f"\nruns (s after the outage): {[(r.pid, round(r.at - outage, 3)) for r in runs]}"
        f"\nrestart +{restart - outage:.3f} s, recovered +{recovered - outage:.3f} s\nlog:\n{log[-6000:]}"
    )

    # Every probe answered 200 in time, during the outage too; never a 500 or a socket error.
    assert [a.error for a in answers if a.error] == [], context
    assert {a.status for a in answers} == {200}, f"{sorted({a.status for a in answers}, key=str)}{context}"
    slowest = max(a.latency for a in answers)
    assert slowest < timeout + 0.5, f"slowest probe {slowest:.3f} s{context}"
    # Shared before: one run per ttl across both workers (runs start >= ttl + check apart).
    shared_before = [r for r in runs if r.at < outage]
    assert len(shared_before) >= 4, context
    assert min(gaps(shared_before)) >= 0.8 * ttl, f"gaps before the outage {gaps(shared_before)}{context}"
    # During the outage each worker ran the check itself.
    during = [r for r in runs if outage < r.at < restart]
    assert len(during) >= 2, context
    # Once every worker found Redis again: one run per ttl across the fleet again, counted in Redis.
    after = [r for r in runs if recovered <= r.at < end]
    assert len(after) >= 2, context
    assert min(gaps(after)) >= 0.8 * ttl, f"gaps after recovery {gaps(after)}{context}"
    assert 0 < counter_at_recovery < counter_at_end, context
    # Logged once per worker, not once per request (about 80 probes during the outage).
    assert 1 <= len(unreachable) <= 2, context
    assert len(set(unreachable)) == len(unreachable), context
    assert set(unreachable) <= set(reachable), context
    print(
        f"{len(answers)} probes, all 200, slowest {slowest * 1000:.0f} ms; runs: "
        f"{len(shared_before)} before the outage (min gap {min(gaps(shared_before)):.3f} s), "
        f"{len(during)} during it by {len({r.pid for r in during})} workers, {len(after)} after recovery "
        f"(min gap {min(gaps(after)):.3f} s); warnings {len(unreachable)}, reachable again {len(reachable)}"
    )


def test_waiter_runs_the_check_itself_when_the_store_dies_mid_wait(redis_server: RedisServer) -> None:
    """Two apps stand for two processes: app 0 is elected and runs a 0.6 s check; app 1 asks
    0.1 s later and waits for the published result; Redis dies 0.3 s in, so nothing is ever
    published. app 1 falls back to the in-process path, as with Redis down from the start.

    (Regression, found by this file at c9fdc84: app 1 polled the dead store until its timeout,
    then answered 503 ``TimeoutError``.)"""
    timeout = 3.0

    def api() -> bool:
        time.sleep(0.6)
        return True

    apps, stores = [], []
    for index in range(2):
        app = Flask(f"fleet_process_{index}")
        app.config.update(STATUS_STORE_URL=redis_server.url(), STATUS_STORE_PREFIX="fleet-waiter")
        status = StatusManager(app)
        status.add_route("ready", "/ready").add_check("api", api, ttl=30, timeout=timeout, shared=True)
        apps.append(app)
        stores.append(status.state(app).shared)
    answers: dict[int, tuple[int, float]] = {}

    def ask(index: int, delay: float) -> None:
        time.sleep(delay)
        started = time.monotonic()
        code = apps[index].test_client().get("/ready").status_code
        answers[index] = (code, time.monotonic() - started)

    threads = [threading.Thread(target=ask, args=(0, 0.0)), threading.Thread(target=ask, args=(1, 0.1))]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        redis_server.stop()
        for thread in threads:
            thread.join(timeout + 5)
    finally:
        for store in stores:
            close = getattr(store, "close", None)
            if close is not None:
                close()
    shown = {index: (code, round(waited, 3)) for index, (code, waited) in answers.items()}
    assert len(answers) == 2, shown
    # Both answer 200 well within the timeout: the waiter runs the check itself once the store is gone.
    assert all(code == 200 and waited < timeout - 1.0 for code, waited in answers.values()), shown


def test_two_callables_under_one_name_never_share_a_result(redis_server: RedisServer) -> None:
    """README, "Sharing": two different callables are never mixed up, even under the same name.
    With ``shared=True`` each partial gets its own Redis key (its bound arguments are part of it),
    so the route of the replica (down) never reports the primary's pass."""

    def reachable(host: str) -> bool:
        return host == "primary"  # the replica is down

    app = Flask("fleet_keys")
    app.config.update(STATUS_STORE_URL=redis_server.url(), STATUS_STORE_PREFIX="fleet-keys")
    status = StatusManager(app)
    primary = functools.partial(reachable, "primary")
    replica = functools.partial(reachable, "replica")
    status.add_route("primary", "/primary").add_check("db", primary, ttl=30, shared=True)
    status.add_route("replica", "/replica").add_check("db", replica, ttl=30, shared=True)
    client = app.test_client()
    try:
        codes = (client.get("/primary").status_code, client.get("/replica").status_code)
    finally:
        store = status.state(app).shared
        close = getattr(store, "close", None)
        if close is not None:
            close()
    assert codes == (200, 503), f"/primary, /replica answered {codes}"
