"""One run per fleet: ``shared=True`` checks under a real ``gunicorn -w 4`` sharing one Redis.

Starts its own ``redis-server`` (a free loopback port, no persistence) and serves
``benchmarks/fleet_bench_app.py`` with ``gunicorn -k gthread --threads 8 -w 4``, the app's
``STATUS_STORE_URL`` pointing at that Redis. Every check logs each run (pid, time) to a file,
so runs are counted across all workers.

1. **Cold burst** (``--rounds``, 3; a fresh gunicorn and a fresh key prefix each round): 32
   clients (``--clients``) connect, then GET at once a route whose check costs 0.3 s
   (``--check-seconds``), ``ttl=30``, ``shared=True`` (``/shared``); then the same burst at the
   same check without ``shared`` (``/local``). Reported: runs across the workers (expect 1 for
   shared; one per worker that served for not shared, up to 4), workers that served, wall time
   (barrier to last response), HTTP codes.
2. **Periodic** (one fresh gunicorn): ``interval=1`` (``--interval``) checks with and without
   ``shared=True``; bursts reach every worker first (each starts its own scheduler on its first
   request), then the runs are counted over ``--duration`` seconds (10; 30 makes a steadier
   figure). Reported: runs per interval across the fleet (expect about 1 shared, about 4 not)
   and the workers that ran them. While it lasts, a poller also GETs ``/shared`` and ``/local``
   (``ttl=1``) 20 times a second each (``--poll``): runs per ttl across the fleet, the same
   comparison for a ttl check under steady probing.

Run: ``.venv/bin/python benchmarks/bench_shared.py`` (about 35 s); ``--duration 30`` for the
longer periodic figure. Needs ``redis-server`` on the PATH and redis-py. Every server is
stopped at the end (gunicorn: SIGTERM, then SIGKILL to its process group; redis-server:
SIGTERM then SIGKILL) and every wait is bounded. Exit 1 when a shared check ran more than
expected or a request failed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from _common import (
    HOST,
    ServerProcess,
    add_counts,
    clear_progress,
    find_gunicorn,
    fire_burst,
    fmt_codes,
    free_port,
    gunicorn_command,
    no_control_socket,
    progress,
    serving,
)


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, int | None]:
    """One GET on a new connection: (HTTP status or -1, the worker's pid)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        pid = response.getheader("X-Worker-Pid")
        return response.status, int(pid) if pid else None
    except (OSError, http.client.HTTPException):
        return -1, None
    finally:
        conn.close()


class Redis(ServerProcess):
    """A private redis-server on a free loopback port, in its own process group."""

    def __init__(self, binary: str) -> None:
        port = free_port()
        command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        super().__init__("redis-server", command, port, subprocess.DEVNULL, cwd=None)
        self.url = f"redis://{HOST}:{self.port}/0"

    def wait_ready(self, timeout: float) -> None:
        import redis

        client = redis.Redis(host=HOST, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with code {self.process.returncode}")
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer PING within {timeout:g} s")
                time.sleep(0.05)
        finally:
            client.close()


class Gunicorn(ServerProcess):
    """gunicorn -w N serving fleet_bench_app on a free port, in its own process group."""

    def __init__(self, gunicorn: str, extra: list[str], workers: int, env: dict[str, str], log: IO[bytes]) -> None:
        port = free_port()
        self.workers = workers
        self.booted = Path(log.name).with_suffix(".booted")
        command = gunicorn_command(gunicorn, port, "fleet_bench_app:app", threads=8, workers=workers, extra=extra)
        super().__init__("gunicorn", command, port, log, env={**env, "BENCH_BOOTED": str(self.booted)})

    def wait_ready(self, timeout: float) -> None:
        """Until the app answers and every worker has loaded it (``BENCH_BOOTED``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {self.process.returncode} before serving")
            booted = len(self.booted.read_text().split()) if self.booted.exists() else 0
            if booted >= self.workers and get(self.port, "/ping", timeout=1.0)[0] == 200:
                time.sleep(0.2)  # the last worker to load the app enters its loop
                return
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not serve with {self.workers} workers within {timeout:g} s")


@dataclass
class Burst:
    wall: float
    statuses: dict[int, int]
    pids: set[int]
    runs: int = 0
    run_pids: int = 0


def burst(port: int, path: str, clients: int, timeout: float) -> Burst:
    """``clients`` connections opened first (gunicorn spreads them over its workers), then
    released together by a barrier, one GET each."""
    fired = fire_burst(port, path, clients, timeout)
    return Burst(fired.wall, fired.statuses(), fired.worker_pids())


def read_runs(path: Path) -> list[tuple[str, int, float]]:
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        name, pid, at = line.split()
        runs.append((name, int(pid), float(at)))
    return runs


def cold_bursts(args: argparse.Namespace, gunicorn: str, extra: list[str], redis_url: str, tmp: Path) -> int:
    print(
        f"1. cold burst: {args.clients} clients at a {args.check_seconds:g} s check, ttl=30, "
        f"gunicorn -w {args.workers}, {args.rounds} rounds (fresh gunicorn and key prefix each)\n"
    )
    rows: dict[str, list[Burst]] = {"shared": [], "local": []}
    failures = 0
    for round_index in range(args.rounds):
        runs_file = tmp / f"runs-burst-{round_index}"
        env = {
            "BENCH_RUNS": str(runs_file),
            "BENCH_STORE_URL": redis_url,
            "BENCH_PREFIX": f"bench-{secrets.token_hex(4)}",
            "BENCH_CHECK_SECONDS": str(args.check_seconds),
            "BENCH_TTL": "30",
        }
        with (
            (tmp / f"gunicorn-burst-{round_index}.log").open("w+b") as log,
            serving(Gunicorn(gunicorn, extra, args.workers, env, log), log, tail=4000) as server,
        ):
            server.wait_ready(args.timeout)
            order = ["shared", "local"] if round_index % 2 == 0 else ["local", "shared"]
            for kind in order:
                result = burst(server.port, f"/{kind}", args.clients, args.timeout)
                time.sleep(0.2)
                runs = [r for r in read_runs(runs_file) if r[0] == kind]
                result.runs, result.run_pids = len(runs), len({r[1] for r in runs})
                rows[kind].append(result)
        progress(f"round {round_index + 1}/{args.rounds}")
    clear_progress(40)
    print(f"{'check':<22} {'runs per round':<16} {'workers served':<16} {'wall median [min-max]':<24} HTTP")
    for kind, label in (("shared", "shared=True"), ("local", "not shared")):
        bursts = rows[kind]
        walls = [b.wall for b in bursts]
        statuses = add_counts(b.statuses for b in bursts)
        print(
            f"{label:<22} {' '.join(str(b.runs) for b in bursts):<16} "
            f"{' '.join(str(len(b.pids)) for b in bursts):<16} "
            f"{statistics.median(walls):.3f} s [{min(walls):.3f}-{max(walls):.3f}]    {fmt_codes(statuses)}"
        )
        failures += sum(1 for b in bursts if set(b.statuses) != {200})
        if kind == "shared":
            failures += sum(1 for b in bursts if b.runs != 1)
    shared_runs = statistics.median(b.runs for b in rows["shared"])
    local_runs = statistics.median(b.runs for b in rows["local"])
    print(
        f"\nruns per burst, median: shared {shared_runs:g}, not shared {local_runs:g} ({local_runs / shared_runs:g}x)"
    )
    print("(not shared: one run per worker that served the burst, single flight inside each process)\n")
    return failures


def periodic(args: argparse.Namespace, gunicorn: str, extra: list[str], redis_url: str, tmp: Path) -> int:
    print(
        f"2. periodic: interval={args.interval:g} s checks over {args.duration:g} s, gunicorn -w {args.workers}; "
        f"meanwhile ttl={args.interval:g} s checks polled {args.poll:g}/s each\n"
    )
    runs_file = tmp / "runs-periodic"
    env = {
        "BENCH_RUNS": str(runs_file),
        "BENCH_STORE_URL": redis_url,
        "BENCH_PREFIX": f"bench-{secrets.token_hex(4)}",
        "BENCH_CHECK_SECONDS": str(min(args.check_seconds, args.interval / 4)),
        "BENCH_INTERVAL": str(args.interval),
        "BENCH_TTL": str(args.interval),
    }
    failures = 0
    codes: dict[str, dict[int, int]] = {"/shared": {}, "/local": {}}
    slowest: dict[str, float] = {"/shared": 0.0, "/local": 0.0}
    with (
        (tmp / "gunicorn-periodic.log").open("w+b") as log,
        serving(Gunicorn(gunicorn, extra, args.workers, env, log), log, tail=4000) as server,
    ):
        halt = threading.Event()

        def poll(path: str) -> None:
            while not halt.is_set():
                sent = time.perf_counter()
                code, _ = get(server.port, path, timeout=args.timeout)
                slowest[path] = max(slowest[path], time.perf_counter() - sent)
                codes[path][code] = codes[path].get(code, 0) + 1
                halt.wait(1.0 / args.poll)

        pollers = [threading.Thread(target=poll, args=(path,), daemon=True) for path in codes]
        try:
            server.wait_ready(args.timeout)
            # Each worker starts its scheduler on its first periodic request: reach them all.
            reached: dict[str, set[int]] = {"/periodic-shared": set(), "/periodic-local": set()}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and min(len(p) for p in reached.values()) < args.workers:
                for path in reached:
                    reached[path] |= burst(server.port, path, 16, args.timeout).pids
            scheduling = set.intersection(*reached.values())
            for thread in pollers:
                thread.start()
            time.sleep(args.interval + 0.5)  # every scheduler had its first turn; ttl routes warm
            start = time.time()
            time.sleep(args.duration)
            end = time.time()
        finally:
            halt.set()
            for thread in pollers:
                if thread.is_alive():
                    thread.join(args.timeout + 1)
    runs = [r for r in read_runs(runs_file) if start <= r[2] < end]
    turns = args.duration / args.interval
    print(f"workers scheduling: {len(scheduling)} of {args.workers}")
    print(f"{'check':<36} {'runs':>5} {'per interval':>13} {'workers that ran it':>20}")
    per_interval: dict[str, float] = {}
    for name, label in (
        ("periodic_shared", f"interval={args.interval:g}, shared=True"),
        ("periodic_local", f"interval={args.interval:g}, not shared"),
        ("shared", f"ttl={args.interval:g}, shared=True, polled"),
        ("local", f"ttl={args.interval:g}, not shared, polled"),
    ):
        mine = [r for r in runs if r[0] == name]
        per_interval[name] = len(mine) / turns
        print(f"{label:<36} {len(mine):>5} {per_interval[name]:>13.2f} {len({r[1] for r in mine}):>20}")
    print(
        f"\nnot shared / shared: periodic {per_interval['periodic_local'] / per_interval['periodic_shared']:.2f}x, "
        f"ttl {per_interval['local'] / max(per_interval['shared'], 1e-9):.2f}x; "
        f"HTTP of the pollers: /shared {fmt_codes(codes['/shared'])}, /local {fmt_codes(codes['/local'])} "
        f"(slowest {slowest['/shared']:.3f} s and {slowest['/local']:.3f} s: a poll that finds the result "
        "expired waits for a run, so the /local poller, which finds it expired more often, sends fewer)"
    )
    # A shared check runs about once per interval: the lock lasts 0.8 interval, so up to 1.25.
    failures += per_interval["periodic_shared"] > 1.3
    failures += sum(n for path in codes for code, n in codes[path].items() if code != 200)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold bursts, a fresh gunicorn each (default 3)")
    parser.add_argument("--clients", type=int, default=32, help="clients per cold burst (default 32)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--check-seconds", type=float, default=0.3, help="cost of the burst check (default 0.3)")
    parser.add_argument("--interval", type=float, default=1.0, help="interval (and polled ttl), s (default 1)")
    parser.add_argument("--duration", type=float, default=10.0, help="periodic measurement, s (default 10)")
    parser.add_argument("--poll", type=float, default=20.0, help="requests/s of each ttl poller (default 20)")
    parser.add_argument("--only", choices=("burst", "periodic"), default=None, help="run one part only")
    parser.add_argument("--timeout", type=float, default=30.0, help="bound on any one wait, seconds (default 30)")
    parser.add_argument("--gunicorn", default=None, help="gunicorn executable (default: next to this python)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.clients < 1 or args.workers < 1 or args.duration <= 0 or args.poll <= 0:
        parser.error("--rounds, --clients, --workers must be >= 1; --duration and --poll > 0")

    gunicorn = find_gunicorn(args.gunicorn)
    binary = shutil.which("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        print("redis-py is not installed: .venv/bin/pip install redis", file=sys.stderr)
        return 2
    if not gunicorn or not binary:
        print("needs gunicorn (.venv/bin/pip install gunicorn) and redis-server (apt-get install redis-server)")
        return 2
    extra = no_control_socket(gunicorn)

    started = time.perf_counter()
    failures = 0
    with serving(Redis(binary)) as server:
        server.wait_ready(args.timeout)
        with tempfile.TemporaryDirectory(prefix="bench-shared-") as tmp:
            if args.only in (None, "burst"):
                failures += cold_bursts(args, gunicorn, extra, server.url, Path(tmp))
            if args.only in (None, "periodic"):
                failures += periodic(args, gunicorn, extra, server.url, Path(tmp))
    print(f"\n{'met' if not failures else 'MISSED'}: shared checks ran once per burst / about once per interval")
    print(f"(measured in {time.perf_counter() - started:.0f} s, {os.cpu_count()} cores)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
