"""Memory and threads over 100,000 requests to a route with cached and uncached fields.

In one process, ``--clients`` threads (default 4) send requests straight into
``app.wsgi_app`` (as in ``bench_overhead.py``: no sockets) to one flask-status route with:

* ``database``: a check, ``ttl=30`` (cached: runs once);
* ``queue_depth``: a field, ``ttl=30`` (cached);
* ``requests_seen``: an uncached field (no ttl) returning a counter, so it runs on every
  request, on the runner's thread pool, and the body changes (is rendered again) every time;
* ``clock``: an uncached check returning ``True``;
* ``version``: a constant.

The requests go in blocks of 10,000 (``--block``); after each block, with the clients
parked, ``gc.collect()`` and a sample: resident memory (``VmRSS``) and OS thread count
(``Threads``) from ``/proc/self/status``, plus what flask-status holds (results in the store,
rendered bodies, runs in flight, pool threads). Verdict "flat after warm-up": from the
sample at ``--warmup`` requests (default 20,000) to the last, RSS grows by less than
``--max-growth-mb`` (default 2 MB) and the thread count does not change; the script exits 1
otherwise. Every response must be 200.

Run: ``.venv/bin/python benchmarks/bench_memory.py`` (about 60 s on 2 shared cores);
``--requests 500000`` runs longer; ``--clients 1`` sends from one thread. Linux only
(``/proc``).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import wsgi_caller
from flask import Flask

from flask_status import StatusManager
from flask_status.extension import EXTENSION_KEY


def proc_status() -> dict[str, int]:
    """``VmRSS`` (kB) and ``Threads`` of this process, from ``/proc/self/status``."""
    wanted = {"VmRSS", "Threads"}
    found: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            found[key] = int(value.split()[0])
    return found


RUNS = {"database": 0, "queue_depth": 0, "requests_seen": 0, "clock": 0}


def make_app() -> Flask:
    app = Flask("memory")
    route = StatusManager(app).add_route("details", "/details")
    counter = itertools.count(1)

    def counted(name: str, value: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            RUNS[name] += 1  # each field runs on one thread at a time (single flight)
            return value()

        return run

    route.add_check("database", counted("database", lambda: True), ttl=30)
    route.add_field("queue_depth", counted("queue_depth", lambda: 12), ttl=30)
    route.add_field("requests_seen", counted("requests_seen", lambda: next(counter)))
    route.add_check("clock", counted("clock", lambda: True))
    route.add_field("version", "2.0.0")
    return app


def run_block(calls: list[Callable[[], bytes]], requests: int, timeout: float) -> None:
    """``requests`` calls shared by ``len(calls)`` client threads, each with its own caller;
    raises if any failed."""
    clients = len(calls)
    errors: list[BaseException] = []
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]

    def client(call: Callable[[], bytes], n: int) -> None:
        try:
            for _ in range(n):
                call()
        except BaseException as exc:
            errors.append(exc)

    if clients == 1:
        client(calls[0], requests)
    else:
        threads = [threading.Thread(target=client, args=pair, daemon=True) for pair in zip(calls, shares, strict=True)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError(f"a block of {requests} requests did not finish within {timeout:g} s")
    if errors:
        raise errors[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, help="total requests (default 100000)")
    parser.add_argument("--block", type=int, default=10_000, help="requests between samples (default 10000)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--warmup", type=int, default=20_000, help="requests before 'flat' is judged (20000)")
    parser.add_argument("--max-growth-mb", type=float, default=2.0, help="allowed RSS growth after warm-up (2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on one block, seconds (default 120)")
    args = parser.parse_args(argv)
    if min(args.requests, args.block, args.clients) < 1 or args.warmup >= args.requests:
        parser.error("--requests, --block and --clients must be >= 1, and --warmup < --requests")
    if not Path("/proc/self/status").exists():
        print("needs /proc/self/status (Linux)", file=sys.stderr)
        return 2

    app = make_app()
    state = app.extensions[EXTENSION_KEY]["status"]
    calls = [wsgi_caller(app, "/details") for _ in range(args.clients)]  # one per client thread
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cores; {args.requests:,} requests to /details "
        f"(2 cached + 2 uncached items + 1 constant) from {args.clients} client thread(s), in-process WSGI calls\n"
    )
    gc.collect()
    start = proc_status()
    print(f"before the first request: RSS {start['VmRSS'] / 1024:.1f} MB, {start['Threads']} threads\n")
    print(
        f"{'requests':>9} {'RSS MB':>8} {'+MB':>6} {'threads':>7} {'req/s':>7}   "
        "flask-status: stored results, rendered bodies, in flight, pool threads"
    )
    samples: list[tuple[int, int, int]] = []
    done = 0
    started = time.perf_counter()
    while done < args.requests:
        n = min(args.block, args.requests - done)
        block_started = time.perf_counter()
        run_block(calls, n, args.timeout)
        rate = n / (time.perf_counter() - block_started)
        done += n
        gc.collect()
        now = proc_status()
        samples.append((done, now["VmRSS"], now["Threads"]))
        print(
            f"{done:>9,} {now['VmRSS'] / 1024:>8.1f} {(now['VmRSS'] - start['VmRSS']) / 1024:>+6.1f} "
            f"{now['Threads']:>7} {rate:>7,.0f}   {len(state.store)}, {len(state.views._rendered)}, "
            f"{state.runner.inflight}, {state.runner.pool.threads}"
        )
    elapsed = time.perf_counter() - started

    after = [s for s in samples if s[0] >= args.warmup]
    base = after[0]
    growth_mb = (samples[-1][1] - base[1]) / 1024
    peak_mb = (max(s[1] for s in after) - base[1]) / 1024
    thread_counts = sorted({s[2] for s in after})
    flat_rss = growth_mb < args.max_growth_mb
    flat_threads = len(thread_counts) == 1
    print(
        f"\nafter warm-up ({base[0]:,} -> {samples[-1][0]:,} requests): RSS {growth_mb:+.2f} MB "
        f"(peak {peak_mb:+.2f} MB; limit {args.max_growth_mb:g} MB), threads {thread_counts}"
    )
    print("runs of each field: " + ", ".join(f"{name} {n:,}" for name, n in RUNS.items()))
    verdict = "flat after warm-up" if flat_rss and flat_threads else "NOT flat after warm-up"
    print(f"{verdict} (measured in {elapsed:.0f} s, {args.requests / elapsed:,.0f} req/s overall)")
    return 0 if flat_rss and flat_threads else 1


if __name__ == "__main__":
    sys.exit(main())
