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
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
VARIANTS = ("stale", "ttl", "phc")
DESCRIPTION = {
    "stale": "flask-status ttl=1, stale=60",
    "ttl": "flask-status ttl=1 (baseline)",
    "phc": "py-healthcheck success_ttl=1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(port: int, path: str, timeout: float = 5.0) -> Any:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def no_control_socket(gunicorn: str) -> list[str]:
    """``--no-control-socket`` when this gunicorn has it (25+ opens a control socket by default)."""
    try:
        text = subprocess.run([gunicorn, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["--no-control-socket"] if "--no-control-socket" in text else []


class Server:
    """gunicorn or waitress serving fleet_bench_app on a free port, in its own process group."""

    def __init__(self, kind: str, gunicorn: str, extra: list[str], env: dict[str, str], log: IO[bytes]) -> None:
        self.port = free_port()
        if kind == "gunicorn":
            command = [
                gunicorn, "-k", "gthread", "--threads", "16", "-w", "1",
                "-b", f"{HOST}:{self.port}", "--chdir", str(HERE),
                "--timeout", "60", "--graceful-timeout", "2", "--log-level", "warning",
                *extra, "fleet_bench_app:app",
            ]  # fmt: skip
        else:
            command = [
                sys.executable, "-m", "waitress", "--threads=16", f"--listen={HOST}:{self.port}",
                "fleet_bench_app:app",
            ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=HERE, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.info: dict[str, Any] = {}

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with code {self.process.returncode} before serving")
            try:
                self.info = get_json(self.port, "/ping", timeout=1.0)
                return
            except (OSError, RuntimeError):
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer /ping within {timeout:g} s")

    def stop(self) -> None:
        """SIGTERM the server, then SIGKILL its process group if anything is left."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"warning: server pid {self.process.pid} did not exit", file=sys.stderr)


@dataclass
class Window:
    """One variant's load window on one fresh server."""

    variant: str
    duration: float
    warmup: float
    threshold: float
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (start offset, latency, status)
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
    lock = threading.Lock()
    begin = time.perf_counter()
    end = begin + duration

    def client() -> None:
        samples: list[tuple[float, float, int]] = []
        errors = 0
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            while True:
                start = time.perf_counter()
                if start >= end:
                    break
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    samples.append((start - begin, time.perf_counter() - start, response.status))
                except (OSError, http.client.HTTPException):
                    errors += 1
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        finally:
            conn.close()
        with lock:
            window.samples.extend(samples)
            window.errors += errors

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, end + timeout + 1.0 - time.perf_counter()))
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"GET {path}: clients still busy {timeout:g} s after the window ended")


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

    gunicorn = args.gunicorn or str(Path(sys.executable).parent / "gunicorn")
    if args.server == "gunicorn" and not Path(gunicorn).exists():
        gunicorn = shutil.which("gunicorn") or ""
        if not gunicorn:
            print("gunicorn not found: .venv/bin/pip install gunicorn", file=sys.stderr)
            return 2
    extra = no_control_socket(gunicorn) if args.server == "gunicorn" else []

    started = time.perf_counter()
    windows: dict[str, list[Window]] = {v: [] for v in variants}
    serving = "gunicorn -k gthread --threads 16 -w 1" if args.server == "gunicorn" else "waitress --threads=16"
    print(
        f"{serving}; check {args.check_seconds:g} s, ttl {args.ttl:g} s (stale {args.stale:g} s); "
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
                server = Server(args.server, gunicorn, extra, env, log)
                try:
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
                except Exception:
                    log.seek(0)
                    sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                    raise
                finally:
                    server.stop()
                print(f"\rround {round_index + 1}/{args.rounds}: {variant} done", end=" ", file=sys.stderr, flush=True)
    print(f"\r{' ' * 60}\r", end="", file=sys.stderr)

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
