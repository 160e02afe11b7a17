"""Requests per second of flask-status routes against bare Flask, py-healthcheck and 1.0.1.

What is timed: a loop of direct WSGI calls, ``app.wsgi_app(environ, start_response)``, with
the environ built once by werkzeug's ``EnvironBuilder`` and shallow-copied per call, and
the response body iterated and closed as a server would. No sockets, no test client: what
is left is Flask's own request handling plus the view, so the share flask-status adds shows
as sharply as it can. ``--client test-client`` times ``app.test_client().get(...)`` instead
(its own overhead dilutes the differences).

Variants, each on its own Flask app:

* ``bare_plain``: a view returning ``jsonify({"status": "OK"})``, the floor;
* ``fs_plain``: ``StatusManager(app).add_route("live", "/live")``;
* ``bare_five``: a view returning ``jsonify`` of the same body as ``fs_five``, from a dict
  computed once (what a hand-written cached view would do at best);
* ``fs_five``: a flask-status route with five callable fields, each ``ttl=60``, warm;
* ``phc_five``: py-healthcheck's ``HealthCheck`` with five checks returning the same values,
  ``success_ttl=60`` (its cache on), mounted as a Flask view (skipped if not installed);
* ``v101_plain`` / ``v101_five``: the original flask-status 1.0.1 release,
  ``FlaskStatus(app, url=..., message=...)`` and five ``add_field(key, callable)``. 1.0.1
  calls a callable field once, at registration, so its five fields are constants from then
  on: it serves ``jsonify`` of a fixed dict, like ``bare_five``;
* ``ctl_plain``: ``bare_plain`` again, in the 1.0.1 worker (a control: same code, other
  process, so ``ctl_plain / bare_plain`` shows what the cross-process comparison is worth).
  The "corrected" ratios divide each side by the bare view of its own process:
  ``(fs_x / bare_plain) / (v101_x / ctl_plain)``, which cancels any bias of one process.

1.0.1 has the same import name as this package, so it runs in its own virtual environment,
created once and kept in ``benchmarks/.venv-flask-status-1.0.1/`` (``python -m venv``, then
``pip install flask-status==1.0.1 flask``). For fairness every variant runs in a worker
subprocess of this same script, ``--worker ours`` under this python and ``--worker v101``
under the 1.0.1 venv's python, both with the same interpreter and Flask/Werkzeug versions
(checked). The workers time their own loops; this process only sends "time variant X for N
calls" over a pipe and waits, so one variant runs at a time and the coordinator costs none
of the timed CPU.

The machine is shared and noisy, so the variants are interleaved: each round times one
slice of every variant, the order rotating from round to round (ABC..., BC...A, ...), with a
``gc.collect()`` before each slice. Reported: the median req/s per variant over the rounds,
and each ratio both as ratio of medians and as the median of the per-round (paired) ratios.

Run: ``.venv/bin/python benchmarks/bench_overhead.py`` (about 60 s, plus about 10 s the
first time, to build the 1.0.1 venv); ``--rounds 40 --slice 0.5`` runs longer; ``--no-v101``
skips 1.0.1; ``--profile`` prints where flask-status spends its time on the warm path
(cProfile, in this process).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    FIVE_VALUES,
    HERE,
    PROBE_HEADERS,
    clear_progress,
    getter,
    paired_ratio,
    progress,
    ratio_of_medians,
    wsgi_caller,
)
from flask import Flask, jsonify

# Nothing from flask_status is imported at module level (nor by _common): this file also runs
# as the worker inside the 1.0.1 venv, where ``flask_status`` is the old release.

V101_VERSION = "1.0.1"
V101_VENV = HERE / f".venv-flask-status-{V101_VERSION}"

TARGET_PLAIN = 0.95
TARGET_FIVE = 0.90

# name -> (label, path); the order is the display order.
VARIANTS: dict[str, tuple[str, str]] = {
    "bare_plain": ('bare view, jsonify({"status": "OK"})', "/live"),
    "fs_plain": ('flask-status add_route("live")', "/live"),
    "v101_plain": ("flask-status 1.0.1 FlaskStatus(url=/live)", "/live"),
    "ctl_plain": ("bare_plain again, in the 1.0.1 venv's worker", "/live"),
    "bare_five": ("bare view, jsonify(5 values computed once)", "/details"),
    "fs_five": ("flask-status, 5 callable fields ttl=60", "/details"),
    "v101_five": ("flask-status 1.0.1, 5 add_field(callable): run once", "/details"),
    "phc_five": ("py-healthcheck, 5 checks success_ttl=60", "/details"),
}
WORKER_VARIANTS = {
    "ours": ("bare_plain", "fs_plain", "bare_five", "fs_five", "phc_five"),
    "v101": ("ctl_plain", "v101_plain", "v101_five"),
}

# (numerator, denominator, target, op); a target of None is reported, not judged.
COMPARISONS: list[tuple[str, str, float | None, str]] = [
    ("fs_plain", "bare_plain", TARGET_PLAIN, ">="),
    ("fs_five", "bare_five", TARGET_FIVE, ">="),
    ("fs_five", "phc_five", 1.0, ">"),
    ("fs_plain", "v101_plain", TARGET_PLAIN, ">="),
    ("fs_five", "v101_five", TARGET_FIVE, ">="),
    ("v101_plain", "ctl_plain", None, ""),
    ("ctl_plain", "bare_plain", None, ""),
]


# -- the apps -----------------------------------------------------------------------------------


def bare_plain_app() -> Flask:
    app = Flask("bare_plain")

    @app.get("/live")
    def live() -> Any:
        return jsonify({"status": "OK"})

    return app


def fs_plain_app() -> Flask:
    from flask_status import StatusManager

    app = Flask("fs_plain")
    StatusManager(app).add_route("live", "/live")
    return app


def bare_five_app() -> Flask:
    app = Flask("bare_five")
    body = {"status": "OK", **{name: getter(value)() for name, value in FIVE_VALUES.items()}}

    @app.get("/details")
    def details() -> Any:
        return jsonify(body)

    return app


def fs_five_app() -> Flask:
    from flask_status import StatusManager

    app = Flask("fs_five")
    route = StatusManager(app).add_route("details", "/details")
    for name, value in FIVE_VALUES.items():
        route.add_field(name, getter(value), ttl=60)
    return app


def phc_five_app() -> Flask | None:
    try:
        from healthcheck import HealthCheck  # type: ignore[import-untyped]
    except ImportError:
        return None
    app = Flask("phc_five")
    # py-healthcheck 1.10: checkers return (passed, output) and are cached per function by
    # run() for success_ttl seconds; run() returns (body, status, headers), a Flask response.
    health = HealthCheck(success_ttl=60, failed_ttl=60)
    for name, value in FIVE_VALUES.items():

        def check(value: Any = value) -> tuple[bool, Any]:
            return True, value

        check.__name__ = name
        health.add_check(check)
    app.add_url_rule("/details", "healthcheck", view_func=health.run)
    return app


def v101_plain_app() -> Flask:
    from flask_status import FlaskStatus  # 1.0.1, in its own venv

    app = Flask("v101_plain")
    # A fresh message dict: 1.0.1's default ``message={"status": "OK"}`` is one dict shared by
    # every instance, which add_field mutates (the five fields would leak into this route).
    FlaskStatus(app, url="/live", message={"status": "OK"})
    return app


def v101_five_app() -> Flask:
    from flask_status import FlaskStatus

    app = Flask("v101_five")
    status = FlaskStatus(app, url="/details", message={"status": "OK"})
    for name, value in FIVE_VALUES.items():
        status.add_field(name, getter(value))  # 1.0.1 calls it here, once, and keeps the value
    return app


BUILDERS: dict[str, Callable[[], Flask | None]] = {
    "bare_plain": bare_plain_app,
    "ctl_plain": bare_plain_app,
    "fs_plain": fs_plain_app,
    "bare_five": bare_five_app,
    "fs_five": fs_five_app,
    "phc_five": phc_five_app,
    "v101_plain": v101_plain_app,
    "v101_five": v101_five_app,
}


# -- calling them -------------------------------------------------------------------------------


def client_caller(app: Flask, path: str) -> Callable[[], bytes]:
    """One request per call through Flask's test client."""
    client = app.test_client()

    def call() -> bytes:
        response = client.get(path, headers=PROBE_HEADERS)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        return response.get_data()

    return call


def time_slice(call: Callable[[], bytes], n: int) -> float:
    """Requests per second over ``n`` calls."""
    started = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - started)


def calibrate(call: Callable[[], bytes], slice_seconds: float) -> int:
    """Warm a variant up; the number of calls that lasts about ``slice_seconds``."""
    n = 50
    while True:
        started = time.perf_counter()
        for _ in range(n):
            call()
        elapsed = time.perf_counter() - started
        if elapsed >= 0.05:
            break
        n *= 2
    return max(50, int(n * slice_seconds / elapsed))


def build_calls(names: tuple[str, ...], client: str) -> tuple[dict[str, Callable[[], bytes]], list[str]]:
    """The callers of the variants that can be built here, and the names that cannot."""
    make_call = wsgi_caller if client == "wsgi" else client_caller
    calls: dict[str, Callable[[], bytes]] = {}
    missing: list[str] = []
    for name in names:
        app = BUILDERS[name]()
        if app is None:
            missing.append(name)
        else:
            calls[name] = make_call(app, VARIANTS[name][1])
    return calls, missing


# -- the worker: this script, run with --worker, answering one JSON line per command -----------


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


def worker(kind: str, client: str) -> int:
    """Serve commands from stdin: ``hello``, ``calibrate``, ``time``, ``exit``."""
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but answers may reach the pipe
    calls, missing = build_calls(WORKER_VARIANTS[kind], client)
    import flask_status

    def answer(payload: dict[str, Any]) -> None:
        out.write(json.dumps(payload) + "\n")
        out.flush()

    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "hello":
            answer(
                {
                    "variants": list(calls),
                    "missing": missing,
                    "bodies": {name: json.loads(call()) for name, call in calls.items()},
                    "python": platform.python_version(),
                    "executable": sys.executable,
                    "flask": _version("flask"),
                    "werkzeug": _version("werkzeug"),
                    "flask_status": _version("flask-status"),
                    "flask_status_file": flask_status.__file__,
                }
            )
        elif op == "calibrate":
            answer({"n": calibrate(calls[command["name"]], command["slice"])})
        elif op == "time":
            gc.collect()
            answer({"rate": time_slice(calls[command["name"]], command["n"])})
        elif op == "exit":
            answer({"bye": True})
            return 0
        else:
            answer({"error": f"unknown op {op!r}"})
    return 0


class Worker:
    """One worker subprocess, in its own process group, spoken to one JSON line at a time."""

    def __init__(self, python: str, kind: str, client: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", kind, "--client", client],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's tracebacks, if any, go straight to our stderr
            start_new_session=True,
            cwd=HERE,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
        )
        self._buffer = b""

    def ask(self, timeout: float = 120.0, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"worker {self.kind}: no answer to {command} within {timeout:g} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"worker {self.kind} exited (code {self.process.poll()}) during {command}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"worker {self.kind}: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.ask(timeout=5, op="exit")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the group we started
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


# -- the 1.0.1 venv -----------------------------------------------------------------------------


def v101_python(venv: Path, quiet: bool = False) -> str:
    """The python of a venv with flask-status 1.0.1 and flask, created on first use.

    Built with this interpreter's ``-m venv`` (same Python version as the other workers) and
    ``pip install flask-status==1.0.1 flask``; a ``.complete`` marker says it finished.
    """
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    if marker.exists() and python.exists():
        return str(python)
    if venv.exists():
        shutil.rmtree(venv)  # a half-built one from an interrupted run
    base = getattr(sys, "_base_executable", None) or sys.executable
    print(f"creating {venv} (once): venv + pip install flask-status=={V101_VERSION} flask", flush=True)
    started = time.monotonic()
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"flask-status=={V101_VERSION}", "flask"],
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL if quiet else None,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    marker.write_text(f"flask-status=={V101_VERSION}\n")
    print(f"  done in {time.monotonic() - started:.0f} s\n")
    return str(python)


# -- profile ------------------------------------------------------------------------------------


def profile(client: str, requests: int) -> None:
    calls, _ = build_calls(("fs_plain", "fs_five"), client)
    for name, call in calls.items():
        for _ in range(200):
            call()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            call()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
        stats.print_stats(18)
        print(f"\n--- cProfile of {name} ({VARIANTS[name][0]}), {requests} warm requests, by own time ---")
        text = out.getvalue()
        start = text.find("   ncalls")
        print(text[start:].rstrip() if start >= 0 else text)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats("flask_status", 12)
        text = out.getvalue()
        start = text.find("   ncalls")
        print(f"\n--- flask_status functions of {name}, by cumulative time ---")
        print(text[start:].rstrip() if start >= 0 else text)


# -- main ---------------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    worker: Worker
    per_slice: int = 1000
    rates: list[float] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (default 21)")
    parser.add_argument("--slice", type=float, default=0.25, help="seconds per variant per round (default 0.25)")
    parser.add_argument(
        "--client",
        choices=("wsgi", "test-client"),
        default="wsgi",
        help="direct WSGI calls (default) or Flask's test client",
    )
    parser.add_argument("--no-v101", action="store_true", help="skip the flask-status 1.0.1 rows")
    parser.add_argument("--v101-venv", type=Path, default=V101_VENV, help=f"where the 1.0.1 venv lives ({V101_VENV})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", action="store_true", help="also cProfile the flask-status variants")
    parser.add_argument("--profile-requests", type=int, default=20000, help="requests per profile (default 20000)")
    parser.add_argument("--worker", choices=tuple(WORKER_VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.client)
    if args.rounds < 1 or args.slice <= 0:
        parser.error("--rounds must be >= 1 and --slice > 0")

    pythons = {"ours": sys.executable}
    if args.no_v101:
        print("--no-v101: skipping the flask-status 1.0.1 rows\n")
    else:
        try:
            pythons["v101"] = v101_python(args.v101_venv.resolve())
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"could not build the flask-status 1.0.1 venv ({exc}): skipping its rows\n")

    workers: list[Worker] = []
    try:
        for kind, python in pythons.items():
            workers.append(Worker(python, kind, args.client))
        return run(args, workers)
    finally:
        for one in workers:
            one.stop()


def run(args: argparse.Namespace, workers: list[Worker]) -> int:
    hello = {one.kind: one.ask(timeout=60, op="hello") for one in workers}
    ours = hello["ours"]
    if "phc_five" in ours["missing"]:
        print("py-healthcheck is not installed (pip install py-healthcheck): skipping the phc_five row\n")
    if "v101" in hello:
        old = hello["v101"]
        if old["flask_status"] != V101_VERSION or "site-packages" not in old["flask_status_file"]:
            found = f"{old['flask_status']} from {old['flask_status_file']}"
            raise SystemExit(f"the 1.0.1 worker imported flask-status {found}")
        mismatch = [key for key in ("python", "flask", "werkzeug") if old[key] != ours[key]]
        if mismatch:
            print(f"warning: the 1.0.1 venv differs in {mismatch}: " + ", ".join(f"{k} {old[k]}" for k in mismatch))

    by_worker = {one.kind: one for one in workers}
    variants: list[Variant] = []
    bodies: dict[str, Any] = {}
    for name in VARIANTS:
        for kind, info in hello.items():
            if name in info["variants"]:
                variants.append(Variant(name, by_worker[kind]))
                bodies[name] = info["bodies"][name]

    # The bodies must agree, or the comparison is meaningless.
    for group, names in (("plain", ("bare_plain", "fs_plain", "v101_plain", "ctl_plain")),
                         ("five-field", ("bare_five", "fs_five", "v101_five"))):  # fmt: skip
        seen = {name: bodies[name] for name in names if name in bodies}
        if len({json.dumps(body, sort_keys=True) for body in seen.values()}) != 1:
            raise SystemExit(f"{group} bodies differ: {seen}")

    v101_note = f", flask-status 1.0.1 in {args.v101_venv.name}/" if "v101" in hello else ""
    print(
        f"python {ours['python']}, flask {ours['flask']}, werkzeug {ours['werkzeug']}, "
        f"py-healthcheck {_version('py-healthcheck')}{v101_note}, {os.cpu_count()} cores, client: {args.client}"
    )
    print(
        f"{args.rounds} interleaved rounds x {len(variants)} variants x ~{args.slice:g} s, "
        f"each variant in a worker subprocess ({', '.join(hello)})\n"
    )

    for variant in variants:
        variant.per_slice = variant.worker.ask(op="calibrate", name=variant.name, slice=args.slice)["n"]

    started = time.perf_counter()
    for round_index in range(args.rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            variant.rates.append(variant.worker.ask(op="time", name=variant.name, n=variant.per_slice)["rate"])
        progress(f"round {round_index + 1}/{args.rounds}")
    clear_progress()

    by_name = {v.name: v for v in variants}
    print(f"{'variant':<11} {'median req/s':>12} {'min':>9} {'max':>9}   what")
    for variant in variants:
        rates = variant.rates
        print(
            f"{variant.name:<11} {statistics.median(rates):>12,.0f} {min(rates):>9,.0f} {max(rates):>9,.0f}"
            f"   {VARIANTS[variant.name][0]}"
        )

    print(f"\n{'ratio':<24} {'of medians':>10} {'paired':>8}  {'target':<8} verdict")
    failures = 0
    for name, base, target, op in COMPARISONS:
        label = f"{name} / {base}"
        if name not in by_name or base not in by_name:
            print(f"{label:<24} {'skipped':>10}")
            continue
        a, b = by_name[name].rates, by_name[base].rates
        of_medians = ratio_of_medians(a, b)
        paired = paired_ratio(a, b)
        if target is None:
            note = "control: same code in both workers" if name == "ctl_plain" else "1.0.1 vs a bare view"
            print(f"{label:<24} {of_medians:>10.3f} {paired:>8.3f}  {'-':<8} ({note})")
            continue
        ok = paired >= target if op == ">=" else paired > target
        failures += not ok
        verdict = "met" if ok else "MISSED"
        print(f"{label:<24} {of_medians:>10.3f} {paired:>8.3f}  {op + format(target, 'g'):<8} {verdict}")
    # Each process's own bare view as its floor cancels what the process itself adds or takes.
    # ctl_plain is bare_plain's code in the 1.0.1 worker.
    base, old_base = "bare_plain", "ctl_plain"
    for name, old in (("fs_plain", "v101_plain"), ("fs_five", "v101_five")):
        if all(n in by_name for n in (name, base, old, old_base)):
            rates = [by_name[n].rates for n in (name, base, old, old_base)]
            of_medians = (statistics.median(rates[0]) / statistics.median(rates[1])) / (
                statistics.median(rates[2]) / statistics.median(rates[3])
            )
            paired = statistics.median((a / b) / (c / d) for a, b, c, d in zip(*rates, strict=True))
            label, note = f"{name} / {old}", f"corrected: each over {base} in its own process"
            print(f"{label:<24} {of_medians:>10.3f} {paired:>8.3f}  {'-':<8} ({note})")
    print(f"\n(measured in {time.perf_counter() - started:.0f} s; paired = median of per-round ratios)")
    if "v101_five" in by_name:
        print(
            "note: 1.0.1 runs a callable field once, at add_field, and serves that value forever: its five "
            "fields are constants, never refreshed (flask-status 2 re-runs each one every ttl)."
        )

    if args.profile:
        profile(args.client, args.profile_requests)
    return 1 if failures and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
