"""Probes that never wait: a 0.5 s check with ``ttl=1, stale=60`` under steady load.

Serves ``benchmarks/fleet_bench_app.py`` with gunicorn (``-k gthread --threads 16 -w 1``; or
waitress, ``--server waitress``) on 127.0.0.1 and loads one route for ``--duration`` seconds
(10) from ``--clients`` (8) Python threads, each with its own keep-alive connection, sending
its next request as soon as the last one answered, and recording each request's latency:

* ``stale``: ``add_check("database", check, ttl=1, stale=60)``: once the result is past its
  ttl, a request gets it at once and one background run refreshes it;
* ``ttl``: the same check with ``ttl=1`` only (the baseline): the request that finds the result
  expired waits for the run (single flight: the requests that come meanwhile wait for that run);
* ``phc``: py-healthcheck 1.10, ``HealthCheck(success_ttl=1)``, the same check (skipped when it
  is not installed): no single flight, so each request that finds the result expired runs it.

Each window runs on a fresh server, so its first requests are cold: they wait for the first
run whatever the variant. Requests that start in the first ``--warmup`` seconds (1) are the
warm-up; the rest are the steady state. A request "waited" when it took longer than
``--threshold`` (0.4 s, against a 0.5 s check). The goal for ``stale``: no request waits after
the warm-up. Reported per variant (medians over ``--rounds``, 2; the order of the variants
rotates from round to round): steady-state req/s, p50, p99, p99.9 and max latency, requests
that waited (warm-up and steady state), check runs, errors; then each baseline against
``stale``. Exit 1 when a steady-state ``stale`` request waited or any request failed.

Run: ``.venv/bin/python benchmarks/bench_stale.py`` (about 70 s). Every server is stopped at
the end (SIGTERM, then SIGKILL to its process group) and every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from _common import (
    HOST,
    Sample,
    ServerProcess,
    clear_progress,
    closed_loop,
    find_gunicorn,
    free_port,
    gunicorn_command,
    no_control_socket,
    progress,
    serving,
)

VARIANTS = ("stale", "ttl", "phc")
DESCRIPTION = {
    "stale": "flask-status ttl=1, stale=60",
    "ttl": "flask-status ttl=1 (baseline)",
    "phc": "py-healthcheck success_ttl=1",
}


def start_server(kind: str, gunicorn: str, extra: list[str], env: dict[str, str], log: IO[bytes]) -> ServerProcess:
    """gunicorn or waitress serving fleet_bench_app on a free port, in its own process group."""
    port = free_port()
    if kind == "gunicorn":
        command = gunicorn_command(gunicorn, port, "fleet_bench_app:app", threads=16, extra=extra)
    else:
        command = [
            sys.executable, "-m", "waitress", "--threads=16", f"--listen={HOST}:{port}",
            "fleet_bench_app:app",
        ]  # fmt: skip
    return ServerProcess("server", command, port, log, env=env)


@dataclass
class Window:
    """One variant's load window on one fresh server."""

    variant: str
    duration: float
    warmup: float
    threshold: float
    samples: list[Sample] = field(default_factory=list)  # (start offset, latency, status)
    errors: int = 0
    runs: int = 0

    def steady(self) -> list[float]:
        return sorted(lat for start, lat, code in self.samples if start >= self.warmup and code == 200)

    def waited(self, steady: bool) -> int:
        return sum(1 for start, lat, _ in self.samples if lat > self.threshold and (start >= self.warmup) == steady)

    def rate(self) -> float:
        return len(self.steady()) / max(self.duration - self.warmup, 1e-9)

    def bad(self) -> int:
        return self.errors + sum(1 for _, _, code in self.samples if code != 200)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(fraction * len(values)) - 1))
    return values[index]


def load(port: int, path: str, clients: int, duration: float, timeout: float, window: Window) -> None:
    """``clients`` threads, one keep-alive connection each, closed loop for ``duration`` s."""
    samples, errors, _ = closed_loop(port, path, clients, duration, timeout=timeout, grace=timeout + 1.0)
    window.samples.extend(samples)
    window.errors += errors


def count_runs(path: Path, name: str) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split()[0] == name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per window (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="windows per variant, fresh server each (default 2)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--check-seconds", type=float, default=0.5, help="cost of the check (default 0.5)")
    parser.add_argument("--ttl", type=float, default=1.0, help="ttl of every variant (default 1)")
    parser.add_argument("--stale", type=float, default=60.0, help="stale window of the stale variant (default 60)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per window (default 1)")
    parser.add_argument("--threshold", type=float, default=0.4, help="a request slower than this waited (0.4)")
    parser.add_argument("--server", choices=("gunicorn", "waitress"), default="gunicorn")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default stale,ttl,phc)")
    parser.add_argument("--timeout", type=float, default=30.0, help="bound on any one wait, seconds (default 30)")
    parser.add_argument("--gunicorn", default=None, help="gunicorn executable (default: next to this python)")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if args.rounds < 1 or args.clients < 1 or args.duration <= args.warmup or not set(variants) <= set(VARIANTS):
        parser.error("need --rounds >= 1, --clients >= 1, --duration > --warmup, variants among stale,ttl,phc")

    gunicorn = find_gunicorn(args.gunicorn) if args.server == "gunicorn" else ""
    if args.server == "gunicorn" and not gunicorn:
        print("gunicorn not found: .venv/bin/pip install gunicorn", file=sys.stderr)
        return 2
    extra = no_control_socket(gunicorn) if args.server == "gunicorn" else []

    started = time.perf_counter()
    windows: dict[str, list[Window]] = {v: [] for v in variants}
    served_by = "gunicorn -k gthread --threads 16 -w 1" if args.server == "gunicorn" else "waitress --threads=16"
    print(
        f"{served_by}; check {args.check_seconds:g} s, ttl {args.ttl:g} s (stale {args.stale:g} s); "
        f"{args.clients} clients, closed loop, {args.duration:g} s windows ({args.warmup:g} s warm-up), "
        f"{args.rounds} rounds, {os.cpu_count()} cores; waited = latency > {args.threshold:g} s\n"
    )
    with tempfile.TemporaryDirectory(prefix="bench-stale-") as tmp, (Path(tmp) / "server.log").open("w+b") as log:
        runs_file = Path(tmp) / "runs"
        env = {
            "BENCH_RUNS": str(runs_file),
            "BENCH_CHECK_SECONDS": str(args.check_seconds),
            "BENCH_TTL": str(args.ttl),
            "BENCH_STALE": str(args.stale),
            "BENCH_TIMEOUT": str(max(5.0, 4 * args.check_seconds)),
        }
        for round_index in range(args.rounds):
            order = variants[round_index % len(variants) :] + variants[: round_index % len(variants)]
            for variant in order:
                runs_file.unlink(missing_ok=True)
                with serving(start_server(args.server, gunicorn, extra, env, log), log, tail=4000) as server:
                    server.wait_ready(args.timeout)
                    if variant == "phc" and not server.info.get("py_healthcheck"):
                        print("py-healthcheck is not installed (pip install py-healthcheck): skipping its rows\n")
                        variants.remove("phc")
                        del windows["phc"]
                        continue
                    window = Window(variant, args.duration, args.warmup, args.threshold)
                    load(server.port, f"/{variant}", args.clients, args.duration, args.timeout, window)
                    window.runs = count_runs(runs_file, variant)
                    windows[variant].append(window)
                progress(f"round {round_index + 1}/{args.rounds}: {variant} done", end=" ")
    clear_progress(60)

    def med(variant: str, metric: Callable[[Window], float]) -> float:
        return statistics.median(metric(w) for w in windows[variant])

    print(
        f"{'variant':<32} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'p99.9':>7} {'max ms':>7}  "
        f"{'waited: warm-up':>15} {'steady':>6}  {'runs':>5}  errors"
    )
    for variant in variants:
        ws = windows[variant]
        waits_warm = "/".join(str(w.waited(steady=False)) for w in ws)
        waits_steady = "/".join(str(w.waited(steady=True)) for w in ws)
        runs = "/".join(str(w.runs) for w in ws)
        print(
            f"{DESCRIPTION[variant]:<32} {med(variant, Window.rate):>7.0f}"
            f" {med(variant, lambda w: percentile(w.steady(), 0.50)) * 1000:>7.1f}"
            f" {med(variant, lambda w: percentile(w.steady(), 0.99)) * 1000:>7.1f}"
            f" {med(variant, lambda w: percentile(w.steady(), 0.999)) * 1000:>7.1f}"
            f" {med(variant, lambda w: max(w.steady(), default=float('nan'))) * 1000:>7.1f}"
            f"  {waits_warm:>15} {waits_steady:>6}  {runs:>5}  {sum(w.bad() for w in ws)}"
        )
    print("(per-round figures are separated by '/'; latencies and req/s are medians over rounds, steady state)\n")

    if "stale" in windows:
        for baseline in (v for v in variants if v != "stale"):
            ratios = []
            for label, metric in (
                ("req/s", Window.rate),
                ("p50", lambda w: percentile(w.steady(), 0.50)),
                ("p99", lambda w: percentile(w.steady(), 0.99)),
                ("p99.9", lambda w: percentile(w.steady(), 0.999)),
                ("max", lambda w: max(w.steady(), default=float("nan"))),
            ):
                ratios.append(f"{label} {med(baseline, metric) / med('stale', metric):.2f}x")
            waited = med(baseline, lambda w: w.waited(steady=True))
            print(
                f"{baseline} / stale: {', '.join(ratios)}; steady-state requests that waited: "
                f"{waited:g} vs {med('stale', lambda w: w.waited(steady=True)):g} (medians)"
            )
    failures = sum(w.bad() for ws in windows.values() for w in ws)
    failures += sum(w.waited(steady=True) for w in windows.get("stale", []))
    verdict = "met" if not failures else "MISSED"
    print(f"\ngoal (stale: no steady-state request waits, no errors anywhere): {verdict}")
    print(f"(measured in {time.perf_counter() - started:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
