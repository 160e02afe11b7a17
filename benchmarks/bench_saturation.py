"""Probes while every worker thread is busy: the app's own port against the probe listener.

Serves ``saturation_app.py`` with ``python -m gunicorn -c saturation_gunicorn.py -k gthread
-w 2 --threads 2`` on 127.0.0.1 (4 worker threads in all) and saturates it: ``--clients`` (16)
Python threads loop on ``/slow?seconds=1`` (a 1 s view), each sending its next request as soon
as the last one answered, on a new connection each time (``--keepalive``: one connection per
client); their first requests go out 50 ms apart. So every worker thread is busy and about 12
requests wait. (gthread workers accept every connection they can, busy or not, so a burst of
connections lands on one worker and leaves the other's threads idle for seconds; with
keep-alive the imbalance lasts as long as the connections. Hence new connections, the 50 ms
stagger and a ``--settle`` of 2 s before anything is measured; the table shows how busy each
worker's threads were.) Meanwhile two probers, one asking ``/health/live`` and one
``/health/ready``, each send a probe every ``--every`` seconds (0.1) on a new connection with
a ``--probe-timeout`` (1 s) timeout, like a kubelet: one probe at a time per prober, at the
next 0.1 s tick once the last one is over (so a probe that times out delays the next; the
ticks missed meanwhile are skipped). The same run is made twice, each on a fresh gunicorn,
with the same phases:

* ``without``: no ``STATUS_PROBE_PORT``: the probes go to the app's own port, into the same
  queues as ``/slow``;
* ``with``: ``STATUS_PROBE_PORT`` (a free port) and ``STATUS_PROBE_HOST=127.0.0.1``: the
  master binds the probe port and each worker serves the public status routes on it from a
  thread of its own, answering from results refreshed in the background.

Phases, per variant: the server starts and answers (``/ping``, then ``/health/live`` and
``/health/ready`` on the probe target, 6 times in a row each); the load starts; after
``--settle`` seconds (2) the probers run for ``--load-seconds`` (6; ``--quick``: 2). Timed:
each probe, from before it connects to the end of its body (``time.perf_counter``). A probe
*failed* on a connection error, a timeout or an answer outside 2xx; failed probes count in the
latencies with the time they took (a timeout as its 1 s). Then, still under load, the
readiness check's dependency fails (the file it checks is deleted) and ``/health/ready`` is
probed every 0.1 s, from the deletion until 10 probes in a row answer 503, or for ``--cap``
seconds (10; ``--quick``: 5): "never within" says they did not. Reported: the first 503, and
"every probe 503": the first probe of that final run of 503s, from when every worker answered
503 (the probe port reaches the two workers at random).

Reported per variant: probes sent and failed (and what they failed with), p50, p99 (nearest
rank) and max probe latency; "threads busy": the share of the worker threads serving ``/slow``
while the probers ran, in all and per worker (each answered ``/slow`` counts as its thread
busy for the second before its answer; the app answers its pid); the two readiness times.
Targets, with the listener: no failed probe, p99 under 50 ms, every probe 503 within ttl +
timeout + 1 s of the dependency failing (3 s: the check has ``ttl=1, timeout=1``); a verdict
line per target (met / MISSED). The run without the listener has no targets: it is the
problem the listener solves.

Run: ``.venv/bin/python benchmarks/bench_saturation.py`` (about 40 s; ``--quick``: about 25 s).
Options: ``--quick``, ``--strict`` (exit 1 when a target is missed), ``--variants
without,with``, ``--clients``, ``--keepalive``, ``--slow-seconds``, ``--load-seconds``,
``--cap``, ``--every``, ``--probe-timeout``, ``--settle``, ``--timeout`` (bound on any other
wait, 30 s). Each gunicorn runs in a session of its own and is stopped at the end (SIGTERM,
then SIGKILL to its process group); every wait is bounded; the dependency file lives in a
temporary directory.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from _common import (
    HERE,
    HOST,
    PROBE_HEADERS,
    ServerProcess,
    clear_progress,
    free_port,
    gunicorn_command,
    progress,
    serving,
)

VARIANTS = ("without", "with")
DESCRIPTION = {"without": "without listener", "with": "with listener"}
WORKERS, THREADS = 2, 2
TTL, TIMEOUT = 1.0, 1.0  # of the readiness check (saturation_app.py reads them from the environment)
P99_TARGET = 0.050  # seconds
CONFIRM = 10  # 503s in a row that end the dependency phase
STAGGER = 0.05  # seconds between the load clients' first requests (a burst would land on one worker)


# -- one probe ----------------------------------------------------------------------------------


@dataclass
class Probe:
    path: str
    at: float  # perf_counter when it started
    latency: float  # seconds, until the body was read or the probe failed
    status: int | None  # HTTP status; None: no answer
    error: str  # what it failed with ("" when it got an answer)


def probe(port: int, path: str, timeout: float) -> Probe:
    """One ``GET path`` on a new connection, as a kubelet sends it; a timeout of ``timeout``
    seconds on the connection and on each read (and on the whole probe, checked after)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=PROBE_HEADERS)
        response = conn.getresponse()
        response.read()
        latency = time.perf_counter() - start
        if latency > timeout:
            return Probe(path, start, latency, None, "timeout")
        return Probe(path, start, latency, response.status, "")
    except TimeoutError:
        return Probe(path, start, time.perf_counter() - start, None, "timeout")
    except (OSError, http.client.HTTPException) as error:
        return Probe(path, start, time.perf_counter() - start, None, type(error).__name__)
    finally:
        conn.close()


def failed(one: Probe) -> bool:
    return one.status is None or not 200 <= one.status < 300


def kind(one: Probe) -> str:
    """What a failed probe failed with: ``timeout``, an exception's name, or ``HTTP 503``."""
    return one.error or f"HTTP {one.status}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank of the sorted ``values`` (NaN when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


class Prober:
    """A thread probing ``path`` every ``every`` seconds, one probe at a time: after each, it
    waits for the next tick of a ``every``-second clock (ticks missed meanwhile are skipped)."""

    def __init__(self, port: int, path: str, every: float, timeout: float) -> None:
        self.port, self.path, self.every, self.timeout = port, path, every, timeout
        self.probes: list[Probe] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> list[Probe]:
        self.stopping.set()
        self.thread.join(self.timeout + 1.0)
        if self.thread.is_alive():
            raise RuntimeError(f"prober of {self.path} still busy {self.timeout + 1:g} s after it was stopped")
        return self.probes

    def _run(self) -> None:
        begin = time.perf_counter()
        while not self.stopping.is_set():
            self.probes.append(probe(self.port, self.path, self.timeout))
            elapsed = time.perf_counter() - begin
            self.stopping.wait(math.floor(elapsed / self.every + 1) * self.every - elapsed)


# -- the load -----------------------------------------------------------------------------------


class Load:
    """``clients`` threads looping on ``GET path`` until stopped, on a new connection each time
    (``keepalive``: one connection per client, opened again after a failure), their first
    requests ``stagger`` seconds apart; a failed request is counted by kind."""

    def __init__(self, port: int, path: str, clients: int, timeout: float, keepalive: bool, stagger: float) -> None:
        self.port, self.path, self.timeout, self.keepalive, self.stagger = port, path, timeout, keepalive, stagger
        self.answered: list[tuple[float, str]] = []  # (perf_counter at the end, the pid in the body)
        self.started = 0.0
        self.errors: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def start(self) -> None:
        self.started = time.perf_counter()
        for thread in self.threads:
            thread.start()

    def busy(self, since: float, until: float, seconds: float, threads: int) -> dict[str, float]:
        """Per worker, the share of its ``threads`` that were serving a request between ``since``
        and ``until`` (perf_counter), each answered request counting as busy for the ``seconds``
        before its answer came. Requests answered after ``until + seconds`` are not counted: call
        it once every request that was served in the window has been answered."""
        span = max(until - since, 1e-9)
        held: dict[str, float] = {}
        with self.lock:
            for end, pid in self.answered:
                held[pid] = held.get(pid, 0.0) + max(0.0, min(end, until) - max(end - seconds, since))
        return {pid: total / (threads * span) for pid, total in held.items()}

    def stop(self) -> None:
        """Stop sending (requests in flight end when the server stops)."""
        self.stopping.set()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self.threads):
            print(f"warning: load clients still busy {timeout:g} s after the server stopped", file=sys.stderr)

    def _client(self, index: int) -> None:
        if self.stopping.wait(index * self.stagger):
            return
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            while not self.stopping.is_set():
                try:
                    conn.request("GET", self.path)
                    response = conn.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as error:
                    if not self.stopping.is_set():
                        with self.lock:
                            self.errors[type(error).__name__] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                    continue
                if not self.keepalive:
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                if self.stopping.is_set():
                    break
                with self.lock:
                    if response.status == 200:
                        self.answered.append((time.perf_counter(), body.decode()))
                    else:
                        self.errors[f"HTTP {response.status}"] += 1
        finally:
            conn.close()


# -- one variant on one fresh gunicorn ----------------------------------------------------------


@dataclass
class Outcome:
    variant: str
    probes: list[Probe] = field(default_factory=list)  # of the load phase
    busy: dict[str, float] = field(default_factory=dict)  # per worker: its threads' busy share while probed
    load_errors: Counter[str] = field(default_factory=Counter)
    first_503: float | None = None  # seconds from the deletion
    every_503: float | None = None  # the first probe of the final run of CONFIRM 503s
    ready_probes: list[Probe] = field(default_factory=list)  # of the dependency phase

    def failures(self) -> list[Probe]:
        return [one for one in self.probes if failed(one)]


def control_socket_option() -> list[str]:
    """``--no-control-socket`` when this gunicorn has it (25+ opens a control socket by default)."""
    try:
        text = subprocess.run(
            [sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["--no-control-socket"] if "--no-control-socket" in text else []


def start_gunicorn(extra: list[str], env: dict[str, str], log: IO[bytes]) -> ServerProcess:
    """``python -m gunicorn -c saturation_gunicorn.py -k gthread -w 2 --threads 2`` serving
    saturation_app on a free port, in a session (process group) of its own."""
    port = free_port()
    options = ["-c", str(HERE / "saturation_gunicorn.py"), *extra]
    command = gunicorn_command("gunicorn", port, "saturation_app:app", threads=THREADS, workers=WORKERS, extra=options)
    return ServerProcess("gunicorn", [sys.executable, "-m", *command], port, log, env=env)


def wait_probes(port: int, timeout: float) -> None:
    """Until ``/health/live`` and ``/health/ready`` answer 200 six times in a row each."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(probe(port, path, 1.0).status == 200 for path in ("/health/live", "/health/ready") for _ in range(6)):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the probe routes on port {port} did not answer 200 within {timeout:g} s")


def run_variant(variant: str, args: argparse.Namespace, extra: list[str], tmp: Path, log: IO[bytes]) -> Outcome:
    dependency = tmp / f"dependency-{variant}"
    dependency.touch()
    env = {
        "BENCH_DEPENDENCY_FILE": str(dependency),
        "BENCH_DEPENDENCY_TTL": str(TTL),
        "BENCH_DEPENDENCY_TIMEOUT": str(TIMEOUT),
        "STATUS_PROBE_PORT": "",  # "" is unset: no listener
        "STATUS_PROBE_HOST": HOST,
    }
    probe_port = 0
    if variant == "with":
        probe_port = free_port()
        env["STATUS_PROBE_PORT"] = str(probe_port)
    outcome = Outcome(variant)
    load = None
    try:
        with serving(start_gunicorn(extra, env, log), log, tail=4000) as server:
            server.wait_ready(args.timeout)
            target = probe_port or server.port
            wait_probes(target, args.timeout)
            load = Load(
                server.port, f"/slow?seconds={args.slow_seconds:g}", args.clients, args.timeout, args.keepalive, STAGGER
            )
            load.start()
            time.sleep(args.settle)
            probers = [
                Prober(target, path, args.every, args.probe_timeout) for path in ("/health/live", "/health/ready")
            ]
            for prober in probers:
                prober.start()
            probed = time.perf_counter()
            end = probed + args.load_seconds
            while (left := end - time.perf_counter()) > 0:
                progress(f"{DESCRIPTION[variant]}: probing under load, {left:4.1f} s left")
                time.sleep(min(0.5, left))
            for prober in probers:
                outcome.probes.extend(prober.stop())
            unprobed = time.perf_counter()

            dependency.unlink()
            down = time.perf_counter()
            progress(f"{DESCRIPTION[variant]}: dependency failed, probing /health/ready")
            streak_start: float | None = None
            streak = 0
            while streak < CONFIRM and time.perf_counter() - down < args.cap:
                one = probe(target, "/health/ready", args.probe_timeout)
                outcome.ready_probes.append(one)
                if one.status == 503:
                    if outcome.first_503 is None:
                        outcome.first_503 = one.at - down
                    if streak == 0:
                        streak_start = one.at - down
                    streak += 1
                else:
                    streak = 0
                elapsed = time.perf_counter() - down
                time.sleep(max(0.0, math.floor(elapsed / args.every + 1) * args.every - elapsed))
            if streak >= CONFIRM:
                outcome.every_503 = streak_start
            # every /slow served while probed has been answered by now
            time.sleep(max(0.0, unprobed + args.slow_seconds + 0.2 - time.perf_counter()))
            outcome.busy = load.busy(probed, unprobed, args.slow_seconds, THREADS)
            outcome.load_errors = Counter(load.errors)
            load.stop()
    finally:
        if load is not None:
            load.stop()  # (already stopped, unless something failed)
            load.join(args.timeout)
    return outcome


# -- report -------------------------------------------------------------------------------------


def fmt_seconds(value: float | None, cap: float) -> str:
    return f"{value:.2f} s" if value is not None else f"never within {cap:g} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s of probing under load, a 5 s cap (about 25 s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default without,with)")
    parser.add_argument("--clients", type=int, default=16, help="client threads looping on /slow (default 16)")
    parser.add_argument("--slow-seconds", type=float, default=1.0, help="seconds each /slow takes (default 1)")
    parser.add_argument("--load-seconds", type=float, default=None, help="seconds of probing under load (6)")
    parser.add_argument("--cap", type=float, default=None, help="longest wait for readiness to fail (10 s)")
    parser.add_argument("--keepalive", action="store_true", help="load clients keep their connection")
    parser.add_argument("--every", type=float, default=0.1, help="seconds between probes (default 0.1)")
    parser.add_argument("--probe-timeout", type=float, default=1.0, help="timeout of a probe (default 1 s)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds of load before probing (default 2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="bound on any other wait (default 30 s)")
    args = parser.parse_args(argv)
    if args.load_seconds is None:
        args.load_seconds = 2.0 if args.quick else 6.0
    if args.cap is None:
        args.cap = 5.0 if args.quick else 10.0
    variants = [v for v in args.variants.split(",") if v]
    if not variants or not set(variants) <= set(VARIANTS) or args.clients < 1 or args.every <= 0:
        parser.error("need variants among without,with, --clients >= 1, --every > 0")
    if importlib.util.find_spec("gunicorn") is None:
        print("gunicorn not found: .venv/bin/pip install gunicorn", file=sys.stderr)
        return 2

    started = time.perf_counter()
    extra = control_socket_option()
    budget = TTL + TIMEOUT + 1.0
    print(
        f"gunicorn -k gthread -w {WORKERS} --threads {THREADS}; {args.clients} clients looping on "
        f"/slow?seconds={args.slow_seconds:g}; probes of /health/live and /health/ready every {args.every:g} s "
        f"each, new connection, {args.probe_timeout:g} s timeout; {args.load_seconds:g} s of probing under load, "
        f"then the dependency fails (check ttl={TTL:g}, timeout={TIMEOUT:g}); "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
    )
    outcomes: dict[str, Outcome] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-saturation-") as tmp,
        (Path(tmp) / "gunicorn.log").open("w+b") as log,
    ):
        for variant in variants:
            outcomes[variant] = run_variant(variant, args, extra, Path(tmp), log)
    clear_progress(70)

    print(
        f"{'variant':<17} {'probes to':<10} {'sent':>5} {'failed':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f"  {'threads busy':>18}  {'first 503':>18}  {'every probe 503':>18}"
    )
    for variant, outcome in outcomes.items():
        latencies = [one.latency for one in outcome.probes]
        shares = sorted(outcome.busy.values())
        busy = f"{sum(shares) / WORKERS:.0%} (" + " + ".join(f"{share:.0%}" for share in shares) + ")"
        print(
            f"{DESCRIPTION[variant]:<17} {'probe port' if variant == 'with' else 'app port':<10}"
            f" {len(outcome.probes):>5} {len(outcome.failures()):>6}"
            f" {percentile(latencies, 0.50) * 1000:>7.1f} {percentile(latencies, 0.99) * 1000:>7.1f}"
            f" {max(latencies, default=float('nan')) * 1000:>7.1f}"
            f"  {busy:>18}"
            f"  {fmt_seconds(outcome.first_503, args.cap):>18}  {fmt_seconds(outcome.every_503, args.cap):>18}"
        )
    print()
    for variant, outcome in outcomes.items():
        by_path = {
            path: f"{sum(1 for one in outcome.probes if one.path == path and failed(one))}"
            f"/{sum(1 for one in outcome.probes if one.path == path)}"
            for path in ("/health/live", "/health/ready")
        }
        kinds = Counter(kind(one) for one in outcome.failures())
        what = ", ".join(f"{name} x{n}" for name, n in kinds.most_common()) or "none"
        ready_kinds = Counter(kind(one) if failed(one) else "200" for one in outcome.ready_probes)
        ready_what = ", ".join(f"{name} x{n}" for name, n in ready_kinds.most_common())
        load_what = ", ".join(f"{name} x{n}" for name, n in outcome.load_errors.most_common()) or "none"
        print(
            f"{DESCRIPTION[variant]}: failed probes {by_path['/health/live']} live, {by_path['/health/ready']} ready "
            f"({what}); after the dependency failed, /health/ready answered: {ready_what}; /slow errors: {load_what}"
        )
    print()

    missed = 0
    if "with" in outcomes:
        outcome = outcomes["with"]
        p99 = percentile([one.latency for one in outcome.probes], 0.99)
        targets = [
            (f"0 failed probes: {len(outcome.failures())} of {len(outcome.probes)}", not outcome.failures()),
            (f"probe p99 under {P99_TARGET * 1000:g} ms: {p99 * 1000:.1f} ms", p99 < P99_TARGET),
            (
                f"/health/ready 503 (every probe) within ttl + timeout + 1 = {budget:g} s of the dependency failing: "
                f"{fmt_seconds(outcome.every_503, args.cap)}",
                outcome.every_503 is not None and outcome.every_503 <= budget,
            ),
        ]
        for text, met in targets:
            missed += not met
            print(f"target (with listener), {text}: {'met' if met else 'MISSED'}")
    print(f"(measured in {time.perf_counter() - started:.0f} s)")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
