"""A burst of concurrent clients at a cold status route, served by a real gunicorn.

Starts ``gunicorn -k gthread --threads 32 -w 1`` on 127.0.0.1 (a free port) serving
``benchmarks/burst_app.py``, whose routes have four fields that each sleep 0.2 s, cached
60 s. Each round starts a fresh gunicorn (so everything is cold: results, rendered bodies,
the check thread pool) and fires, at a route nobody has asked yet:

* 16 concurrent clients (threads, one ``http.client`` connection each, connected first,
  released together by a barrier), then 64 at another cold route;
* the same two bursts at py-healthcheck routes with the same four checks and its caching on
  (``success_ttl=60``), when py-healthcheck is installed.

Reported per burst: how many times each field ran (flask-status must run each exactly once:
single flight), and the burst's wall time, from the barrier to the last response (median
over rounds; about one field's cost, 0.2 s, when the four fields run in parallel once; 0.8 s
or more when they run one after another, or once per client).

Run: ``.venv/bin/python benchmarks/bench_burst.py`` (about 30 s); ``--rounds 15`` runs
longer, ``--clients 16,64,128`` changes the bursts. gunicorn is stopped at the end in every
case, and every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any

from _common import (
    ServerProcess,
    add_counts,
    clear_progress,
    find_gunicorn,
    fire_burst,
    fmt_codes,
    free_port,
    get_json,
    gunicorn_command,
    progress,
    serving,
)

FIELDS = ("database", "cache", "queue", "search")


@dataclass
class Burst:
    """One burst's outcome."""

    wall: float
    latencies: list[float]
    statuses: dict[int, int]
    runs: dict[str, int] = field(default_factory=dict)


@dataclass
class Row:
    kind: str
    clients: int
    bursts: list[Burst] = field(default_factory=list)


def start_gunicorn(executable: str, threads: int, slots: int, field_seconds: float, log: IO[Any]) -> ServerProcess:
    """A gunicorn serving burst_app on a free port, in its own process group."""
    port = free_port()
    command = gunicorn_command(executable, port, "burst_app:app", threads=threads)
    env = {"BURST_SLOTS": str(slots), "BURST_FIELD_SECONDS": str(field_seconds)}
    return ServerProcess("gunicorn", command, port, log, env=env)


def burst(port: int, path: str, clients: int, timeout: float) -> Burst:
    """``clients`` threads connect, wait at a barrier, then GET ``path`` at once."""
    fired = fire_burst(port, path, clients, timeout, report_errors=True)
    return Burst(fired.wall, fired.latencies(), fired.statuses())


def fmt_runs(bursts: list[Burst]) -> str:
    """Runs per field, e.g. ``1 1 1 1``; rounds that differ are listed one by one."""
    per_round = [" ".join(str(b.runs.get(name, "?")) for name in FIELDS) for b in bursts]
    if len(set(per_round)) == 1:
        return per_round[0]
    return " | ".join(per_round)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="fresh gunicorn per round (default 7)")
    parser.add_argument("--clients", default="16,64", help="burst sizes, comma-separated (default 16,64)")
    parser.add_argument("--threads", type=int, default=32, help="gunicorn gthread threads (default 32)")
    parser.add_argument("--field-seconds", type=float, default=0.2, help="cost of one field (default 0.2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="bound on any one wait, seconds (default 30)")
    parser.add_argument("--no-phc", action="store_true", help="skip py-healthcheck even if installed")
    parser.add_argument("--gunicorn", default=None, help="gunicorn executable (default: next to this python)")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.clients.split(",") if part.strip()]
    if args.rounds < 1 or not sizes or min(sizes) < 1:
        parser.error("--rounds and every --clients size must be >= 1")

    executable = find_gunicorn(args.gunicorn)
    if not executable:
        print("gunicorn not found: .venv/bin/pip install gunicorn", file=sys.stderr)
        return 2

    rows: dict[tuple[str, int], Row] = {}
    phc_available = not args.no_phc
    started = time.perf_counter()
    print(
        f"gunicorn -k gthread --threads {args.threads} -w 1, fields: {len(FIELDS)} x {args.field_seconds:g} s "
        f"(ttl=60), {args.rounds} rounds, {os.cpu_count()} cores\n"
    )
    with tempfile.TemporaryFile(mode="w+") as log:
        for round_index in range(args.rounds):
            with serving(start_gunicorn(executable, args.threads, len(sizes), args.field_seconds, log), log) as server:
                server.wait_ready(timeout=args.timeout)
                if not server.info.get("py_healthcheck") and phc_available:
                    print("py-healthcheck is not installed (pip install py-healthcheck): skipping its rows\n")
                    phc_available = False
                kinds = ["fs", "phc"] if phc_available else ["fs"]
                if round_index % 2:
                    kinds.reverse()  # alternate which goes first, so drift hits both
                plan = [(kind, slot, clients) for kind in kinds for slot, clients in enumerate(sizes)]
                for kind, slot, clients in plan:
                    result = burst(server.port, f"/{kind}/s{slot}", clients, args.timeout)
                    rows.setdefault((kind, clients), Row(kind, clients)).bursts.append(result)
                    time.sleep(0.3)  # let stragglers finish before the next burst
                counts = get_json(server.port, "/counts")
                for kind, slot, clients in plan:
                    rows[(kind, clients)].bursts[-1].runs = counts[kind][f"s{slot}"]
            progress(f"round {round_index + 1}/{args.rounds}")
    clear_progress()

    names = {"fs": "flask-status", "phc": "py-healthcheck"}
    print(f"runs per field: {' / '.join(FIELDS)}; wall: barrier to last response; lat: a client's own time\n")
    header = f"{'route':<15} {'clients':>7}  {'runs per field':<15} {'wall median':>11} {'min':>6} {'max':>6}"
    print(f"{header}  {'p50 lat':>7}  HTTP (all rounds)")
    failures = 0
    serial = len(FIELDS) * args.field_seconds
    for (kind, clients), row in sorted(rows.items(), key=lambda item: (item[0][1], item[0][0])):
        walls = [b.wall for b in row.bursts]
        latencies = [statistics.median(b.latencies) for b in row.bursts if b.latencies]
        statuses = add_counts(b.statuses for b in row.bursts)
        http_codes = fmt_codes(statuses)
        print(
            f"{names[kind]:<15} {clients:>7}  {fmt_runs(row.bursts):<15} {statistics.median(walls):>10.3f}s"
            f" {min(walls):>6.3f} {max(walls):>6.3f}  {statistics.median(latencies):>6.3f}s  {http_codes}"
        )
        if kind == "fs":
            once = all(all(b.runs.get(name) == 1 for name in FIELDS) for b in row.bursts)
            fast = statistics.median(walls) < serial
            ok = once and fast and set(statuses) == {200}
            failures += not ok
            if not ok:
                print(f"  ^ MISSED: each field must run once, all 200, wall well under {serial:g} s (serial)")

    print()
    for clients in sizes:
        fs_row, phc_row = rows.get(("fs", clients)), rows.get(("phc", clients))
        if fs_row and phc_row:
            fs_wall = statistics.median(b.wall for b in fs_row.bursts)
            phc_wall = statistics.median(b.wall for b in phc_row.bursts)
            fs_runs = statistics.median(sum(b.runs.values()) for b in fs_row.bursts)
            phc_runs = statistics.median(sum(b.runs.values()) for b in phc_row.bursts)
            print(
                f"{clients} clients: py-healthcheck wall / flask-status wall = {phc_wall / fs_wall:.1f}x; "
                f"field runs {phc_runs:g} vs {fs_runs:g}"
            )
    print(
        f"\none field costs {args.field_seconds:g} s; four in series {serial:g} s. "
        f"(measured in {time.perf_counter() - started:.0f} s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
