"""Throughput and latency of a public status route under a real server, cold and warm.

Serves ``benchmarks/server_app.py`` with gunicorn (``-k gthread --threads 16 -w 1``) and with
waitress (``--threads=16``), on 127.0.0.1 (a free port), and loads it over loopback with
``wrk`` (``-t1 -c16 --latency``; Debian's ``apt-get install wrk``) when it is on the PATH,
else with a Python client (16 threads, one keep-alive ``http.client`` connection each). The
script prints which one it used; ``--load python`` forces the Python client. The two do not
report the same percentiles: wrk corrects its latency histogram for coordinated omission
(``stats_correct``: a stall counts as if requests had kept arriving at the mean rate during
it), so a 0.2 s stall in a cold window lifts wrk's p99 to about 0.2 s; the Python client
reports raw per-request latencies, where the 16 requests that waited are well under 1%.

Two routes, each on a fresh server process every round, so every "cold" window is cold:

* ``/bare``: a bare Flask view, ``jsonify({"status": "OK"})``: the baseline;
* ``/health/ready``: a public flask-status route answering the same body, with one check
  that sleeps 0.2 s, ``ttl=30``.

Each server is loaded for a cold window from the moment it answers ``/ping`` (default 2 s:
the check's first run, 0.2 s, happens inside it, with 16 clients waiting on that one run),
then for a warm window (default 2 s) right after. Reported for each server, route and window:
req/s, p50, p99 and max latency (median over the rounds), errors, and how many times the
check ran (must be 1 per server: single flight, and the ttl outlives the server); then each
ratio ``/health/ready`` over ``/bare``, of medians and paired (per round: both routes ran
within seconds of each other, on the same kind of server). Which route goes first alternates
from round to round.

Run: ``.venv/bin/python benchmarks/bench_server.py`` (about 70 s); ``--rounds 5`` runs longer;
``--servers gunicorn``, ``--cold 3 --warm 5``, ``--connections 32``. Every server is stopped
in a ``finally`` (SIGTERM, then SIGKILL of the process group it was started in), and every
wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from _common import (
    HOST,
    ServerProcess,
    clear_progress,
    closed_loop,
    free_port,
    get_json,
    gunicorn_command,
    paired_ratio,
    progress,
    ratio_of_medians,
    serving,
)

ROUTES = {"bare": "/bare", "status": "/health/ready"}
ROUTE_LABELS = {"bare": "bare view /bare", "status": "flask-status /health/ready"}
PHASES = ("cold", "warm")


@dataclass
class Window:
    """One load window's outcome."""

    rps: float
    p50: float
    p99: float
    max: float
    requests: int
    errors: int


@dataclass
class Cell:
    """Every round's window for one (server, route, phase)."""

    windows: list[Window] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)


# -- servers ------------------------------------------------------------------------------------


def server_command(kind: str, port: int, threads: int) -> list[str]:
    bindir = Path(sys.executable).parent
    if kind == "gunicorn":
        return gunicorn_command(str(bindir / "gunicorn"), port, "server_app:app", threads=threads)
    return [
        str(bindir / "waitress-serve"),
        f"--listen={HOST}:{port}",
        f"--threads={threads}",
        "server_app:app",
    ]


def start_server(kind: str, threads: int, check_seconds: float, log: IO[Any]) -> ServerProcess:
    """A server process serving server_app on a free port, in its own process group."""
    port = free_port()
    env = {"SERVER_CHECK_SECONDS": str(check_seconds), "PYTHONDONTWRITEBYTECODE": "1"}
    return ServerProcess(kind, server_command(kind, port, threads), port, log, env=env)


# -- load generators ----------------------------------------------------------------------------

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot read a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk_load(wrk: str, port: int, path: str, seconds: float, connections: int) -> Window:
    """One ``wrk --latency`` run; its percentiles, max, requests and errors."""
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        f"http://{HOST}:{port}{path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    out = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{out}{done.stderr}")
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    latency_max = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", out, re.MULTILINE)
    if not (percentiles.keys() >= {"50", "99"} and latency_max and total):
        raise RuntimeError(f"cannot read wrk's output:\n{out}\n{done.stderr}")
    requests = int(total.group(1))
    elapsed = float(total.group(2)) * _UNITS[total.group(3)]
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Window(
        rps=requests / elapsed,
        p50=_seconds(percentiles["50"]),
        p99=_seconds(percentiles["99"]),
        max=_seconds(latency_max.group(1)),
        requests=requests,
        errors=errors,
    )


def python_load(port: int, path: str, seconds: float, connections: int) -> Window:
    """``connections`` threads, one keep-alive connection each, GET ``path`` until the deadline."""
    samples, failed, elapsed = closed_loop(port, path, connections, seconds, timeout=10, grace=15)
    every = sorted(latency for _, latency, _ in samples)
    if not every:
        raise RuntimeError(f"GET {path}: no request completed")
    errors = failed + sum(1 for _, _, code in samples if code != 200)

    def pct(q: float) -> float:
        return every[min(len(every) - 1, int(q * len(every)))]

    return Window(len(every) / elapsed, pct(0.50), pct(0.99), every[-1], len(every), errors)


# -- main ---------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers per route per round (default 3)")
    parser.add_argument("--servers", default="gunicorn,waitress", help="comma-separated (default gunicorn,waitress)")
    parser.add_argument("--cold", type=float, default=2.0, help="seconds of the cold window (default 2)")
    parser.add_argument("--warm", type=float, default=2.0, help="seconds of the warm window (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--threads", type=int, default=16, help="server threads (default 16)")
    parser.add_argument("--check-seconds", type=float, default=0.2, help="cost of the check (default 0.2)")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    parser.add_argument("--timeout", type=float, default=30.0, help="bound on a server's start, seconds")
    args = parser.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if args.rounds < 1 or not servers or set(servers) - {"gunicorn", "waitress"}:
        parser.error("--rounds must be >= 1 and --servers a list of gunicorn, waitress")
    if min(args.cold, args.warm) <= 0 or args.connections < 1:
        parser.error("--cold, --warm and --connections must be positive")
    for kind in servers:
        executable = server_command(kind, 0, 1)[0]
        if not Path(executable).exists():
            print(f"{executable} not found: .venv/bin/pip install {kind}", file=sys.stderr)
            return 2

    wrk = shutil.which("wrk") if args.load in ("auto", "wrk") else None
    if args.load == "wrk" and not wrk:
        print("wrk not found (apt-get install -y wrk)", file=sys.stderr)
        return 2
    if wrk and not (args.cold.is_integer() and args.warm.is_integer()):
        parser.error("wrk takes whole seconds: give --cold and --warm as integers, or --load python")
    if wrk:
        load_name = (
            f"wrk -t1 -c{args.connections} --latency ({wrk}); its percentiles are corrected for "
            "coordinated omission (a stall counts as if requests kept arriving during it)"
        )
    else:
        why = "forced by --load python" if args.load == "python" else "wrk not found (apt-get install -y wrk)"
        load_name = (
            f"Python client, {args.connections} threads with keep-alive http.client ({why}); "
            "raw per-request percentiles"
        )

    def load(port: int, path: str, seconds: float) -> Window:
        if wrk:
            return wrk_load(wrk, port, path, seconds, args.connections)
        return python_load(port, path, seconds, args.connections)

    print(f"load generator: {load_name}")
    print(
        f"servers: {', '.join(servers)} with {args.threads} threads, 1 process; check: sleep "
        f"{args.check_seconds:g} s, ttl=30; windows: cold {args.cold:g} s from the first request, then "
        f"warm {args.warm:g} s; {args.rounds} rounds, a fresh server per route per round; {os.cpu_count()} cores\n"
    )

    cells: dict[tuple[str, str, str], Cell] = {}
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as log:
        for round_index in range(args.rounds):
            routes = list(ROUTES) if round_index % 2 == 0 else list(reversed(ROUTES))
            for kind in servers:
                for route in routes:
                    with serving(start_server(kind, args.threads, args.check_seconds, log), log) as server:
                        server.wait_ready(args.timeout)
                        for phase, seconds in (("cold", args.cold), ("warm", args.warm)):
                            window = load(server.port, ROUTES[route], seconds)
                            cells.setdefault((kind, route, phase), Cell()).windows.append(window)
                        runs = get_json(server.port, "/counts")["database"]
                        cells[(kind, route, "cold")].runs.append(runs)
            progress(f"round {round_index + 1}/{args.rounds}")
    clear_progress()

    print("medians over the rounds; latencies in ms; check runs: per server lifetime (cold + warm)\n")
    header = f"{'server':<9} {'route':<27} {'window':<6} {'req/s':>7} {'[min-max]':>15} {'p50':>6} {'p99':>7}"
    print(f"{header} {'max':>7} {'errors':>6}  check runs")
    failures = 0
    for kind in servers:
        for route in ROUTES:
            for phase in PHASES:
                cell = cells[(kind, route, phase)]
                w = cell.windows
                rps = [x.rps for x in w]
                runs = " ".join(map(str, cell.runs)) if route == "status" and phase == "cold" else ""
                print(
                    f"{kind:<9} {ROUTE_LABELS[route]:<27} {phase:<6} {statistics.median(rps):>7,.0f} "
                    f"{f'[{min(rps):,.0f}-{max(rps):,.0f}]':>15} "
                    f"{ms(statistics.median(x.p50 for x in w)):>6} {ms(statistics.median(x.p99 for x in w)):>7} "
                    f"{ms(statistics.median(x.max for x in w)):>7} {sum(x.errors for x in w):>6}  {runs}"
                )
                if sum(x.errors for x in w):
                    failures += 1
                if runs and set(cell.runs) != {1}:
                    failures += 1
                    print("  ^ MISSED: the check must run exactly once per server (single flight, ttl=30)")
        print()

    print("ratios /health/ready over /bare (req/s: higher is better; latency: lower is better)")
    print(f"{'server':<9} {'window':<6} {'req/s of medians':>16} {'paired':>7} {'p50 ratio':>10} {'p99 ratio':>10}")
    for kind in servers:
        for phase in PHASES:
            ours, base = cells[(kind, "status", phase)].windows, cells[(kind, "bare", phase)].windows
            of_medians = ratio_of_medians((x.rps for x in ours), (x.rps for x in base))
            paired = paired_ratio([a.rps for a in ours], [b.rps for b in base])
            p50 = paired_ratio([a.p50 for a in ours], [b.p50 for b in base])
            p99 = paired_ratio([a.p99 for a in ours], [b.p99 for b in base])
            print(f"{kind:<9} {phase:<6} {of_medians:>16.3f} {paired:>7.3f} {p50:>10.3f} {p99:>10.3f}")
    print(
        f"\n(latency ratios are paired medians; measured in {time.perf_counter() - started:.0f} s; "
        f"errors = non-2xx + socket errors)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
