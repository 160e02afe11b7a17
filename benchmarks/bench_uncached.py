"""Requests per second of a route with one *uncached* field, against py-healthcheck and a bare view.

The seed's default use, ``route.add_field("database", check)`` without a ttl, runs the
callable on every request, on the runner's pool (so that its timeout holds). This script
times that path against what a user would otherwise write, all in this one process:

* ``bare``: a Flask view calling the same callable inline and returning
  ``jsonify({"status": "OK", "database": check()})``, the floor (no timeout, no cache);
* ``phc``: py-healthcheck's ``HealthCheck(success_ttl=0, failed_ttl=0)`` with the same
  callable as its one check, mounted as a Flask view (``view_func=health.run``). With both
  ttls 0 its cache is off: ``run()`` keeps each result until ``time.time() + 0``, and
  ``time.time()`` has moved by the next request (checked: the script counts the calls, and
  every variant must call its callable once per request). Its ``error_timeout`` is left at
  0, its default: it runs the check inline, without a timeout;
* ``fs``: ``StatusManager(app).add_route("details", "/details").add_field("database",
  check)``: no ttl, so a run per request, on the pool, bounded by the default timeout;
* ``fs_inline``: the same with ``inline=True``: the callable runs in the request thread,
  without a timeout (the explicit opt-in).

What is timed, as in ``bench_overhead.py``: a loop of direct WSGI calls
(``_common.wsgi_caller``: the environ built once, shallow-copied per call, the body iterated
and closed, every answer checked to be a 200). The variants are interleaved, one slice of
each per round, the order rotating from round to round, with ``gc.collect()`` before each
slice; reported are the median, min and max req/s per variant and each ratio as the ratio of
the medians and as the median of the per-round (paired) ratios.

Each round also times the pool hand-off alone (submit and wait, no Flask), as a quick run is
handed: the worker pinned to the waiting thread's CPU (``flask_status.engine.affinity``), a few
µs where it can be. ``FLASK_STATUS_CPU_AFFINITY=0`` turns the pinning off: the hand-off then
costs a few µs or 60-80 µs on two CPUs of a virtual machine, depending on where the operating
system runs the two threads (each wake-up crossing CPUs), which changes with the machine's
load. See benchmarks/README.md.

Run: ``.venv/bin/python benchmarks/bench_uncached.py`` (about 20 s); ``--quick`` (about 5 s);
``--rounds N --slice SECONDS`` to run longer; ``--strict`` exits 1 when ``fs / phc`` misses
its target; ``--profile`` prints where ``fs`` spends its time (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from _common import clear_progress, paired_ratio, progress, ratio_of_medians, wsgi_caller
from flask import Flask, jsonify

#: ``fs / phc`` must reach this (paired); the issue's floor with a thread hand-off is ~0.45.
TARGET_VS_PHC = 0.4

VALUE = {"connected": True}


class Counted:
    """The callable every variant runs once per request: returns ``VALUE``, counts its calls."""

    def __init__(self, name: str) -> None:
        self.calls = 0
        self.__name__ = name  # py-healthcheck names results after it

    def __call__(self) -> Any:
        self.calls += 1
        return VALUE


# name -> (label, builder); the order is the display order.
Builder = Callable[[Counted], "Flask | None"]


def bare_app(check: Counted) -> Flask:
    app = Flask("bare")

    @app.get("/details")
    def details() -> Any:
        return jsonify({"status": "OK", "database": check()})

    return app


def phc_app(check: Counted) -> Flask | None:
    try:
        from healthcheck import HealthCheck  # type: ignore[import-untyped]
    except ImportError:
        return None
    app = Flask("phc")
    # success_ttl=0 / failed_ttl=0: run() re-runs a check once time.time() passed its expiry,
    # which is the time it finished: every request (the call counts below prove it).
    health = HealthCheck(success_ttl=0, failed_ttl=0)

    def database() -> tuple[bool, Any]:
        return True, check()

    health.add_check(database)
    app.add_url_rule("/details", "healthcheck", view_func=health.run)
    return app


def fs_app(check: Counted) -> Flask:
    from flask_status import StatusManager

    app = Flask("fs")
    StatusManager(app).add_route("details", "/details").add_field("database", check)
    return app


def fs_inline_app(check: Counted) -> Flask:
    from flask_status import StatusManager

    app = Flask("fs_inline")
    StatusManager(app).add_route("details", "/details").add_field("database", check, inline=True)
    return app


VARIANTS: dict[str, tuple[str, Builder]] = {
    "bare": ('bare view: jsonify({"status": "OK", "database": check()})', bare_app),
    "phc": ("py-healthcheck, 1 check, success_ttl=0 failed_ttl=0", phc_app),
    "fs": ('flask-status add_field("database", check): no ttl, pool', fs_app),
    "fs_inline": ("flask-status, the same with inline=True: no timeout", fs_inline_app),
}

# (numerator, denominator, target); a target of None is reported, not judged.
COMPARISONS: list[tuple[str, str, float | None]] = [
    ("fs", "phc", TARGET_VS_PHC),
    ("fs", "bare", None),
    ("fs_inline", "phc", None),
    ("fs_inline", "bare", None),
    ("phc", "bare", None),
]


@dataclass
class Variant:
    name: str
    call: Callable[[], bytes]
    check: Counted
    per_slice: int = 1000
    requests: int = 0
    rates: list[float] = field(default_factory=list)


def time_slice(variant: Variant, n: int) -> float:
    """Requests per second over ``n`` calls."""
    call = variant.call
    started = time.perf_counter()
    for _ in range(n):
        call()
    rate = n / (time.perf_counter() - started)
    variant.requests += n
    return rate


def calibrate(variant: Variant, slice_seconds: float) -> int:
    """Warm a variant up; the number of calls that lasts about ``slice_seconds``."""
    n = 50
    while True:
        started = time.perf_counter()
        for _ in range(n):
            variant.call()
        variant.requests += n
        elapsed = time.perf_counter() - started
        if elapsed >= 0.05:
            break
        n *= 2
    return max(50, int(n * slice_seconds / elapsed))


class HandOff:
    """Times the pool hand-off alone: ``WorkerPool.submit(affine=True)`` (as the runner hands a
    quick run) of a run that lands a result on a ``Flight``, and ``Flight.wait`` for it, round
    trips with no Flask and no user code. Timed once per round beside the variants: how much a
    thread hand-off costs on this machine *now* (see benchmarks/README.md)."""

    def __init__(self) -> None:
        from flask_status.engine import affinity
        from flask_status.engine.flight import Flight
        from flask_status.engine.pool import WorkerPool
        from flask_status.results import FieldResult

        self.pool = WorkerPool(1, name="bench-handoff")
        #: How the hand-off is made here: pinned as a quick run, or not (see benchmarks/README.md).
        self.kind = "pinned as a quick run" if affinity.usable() else f"not pinned: {affinity.OPT_OUT}=0 or unsupported"
        self.flight = Flight
        self.result = FieldResult("handoff", "pass")
        self.micros: list[float] = []

    def round_trip(self) -> None:
        flight = self.flight()
        self.pool.submit(flight.set_result, self.result, affine=True)
        if not flight.wait(5.0):
            raise RuntimeError("a hand-off took more than 5 s")

    def time(self, n: int = 300) -> None:
        for _ in range(20):
            self.round_trip()
        started = time.perf_counter()
        for _ in range(n):
            self.round_trip()
        self.micros.append((time.perf_counter() - started) / n * 1e6)


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


def build(names: list[str]) -> tuple[list[Variant], list[str]]:
    """The variants that can be built here (warmed by one request each), and those that cannot."""
    variants: list[Variant] = []
    missing: list[str] = []
    for name in names:
        check = Counted("database")
        app = VARIANTS[name][1](check)
        if app is None:
            missing.append(name)
            continue
        variant = Variant(name, wsgi_caller(app, "/details"), check)
        variant.call()
        variant.requests += 1
        variants.append(variant)
    return variants, missing


def profile(requests: int) -> None:
    """cProfile of ``requests`` warm ``fs`` requests: by own time, then flask_status by cumulative."""
    (variant,), _ = build(["fs"])
    for _ in range(200):
        variant.call()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        variant.call()
    profiler.disable()
    for order, restrict, title in (("tottime", 20, "by own time"), ("cumulative", 20, "by cumulative time")):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(order)
        stats.print_stats(restrict)
        text = out.getvalue()
        start = text.find("   ncalls")
        print(f"\n--- cProfile of fs, {requests} requests, {title} ---")
        print(text[start:].rstrip() if start >= 0 else text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (default 21)")
    parser.add_argument("--slice", type=float, default=0.2, help="seconds per variant per round (default 0.2)")
    parser.add_argument("--quick", action="store_true", help="7 rounds of 0.15 s: about 5 s")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)} (default: all)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when fs / phc misses its target")
    parser.add_argument("--profile", action="store_true", help="also cProfile the fs variant")
    parser.add_argument("--profile-requests", type=int, default=20000, help="requests per profile (default 20000)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.slice = 7, 0.15
    if args.rounds < 1 or args.slice <= 0:
        parser.error("--rounds must be >= 1 and --slice > 0")
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        parser.error(f"--variants: unknown {unknown}; known: {', '.join(VARIANTS)}")

    variants, missing = build(names)
    if "phc" in missing:
        print("py-healthcheck is not installed (pip install py-healthcheck): skipping the phc row\n")
    print(
        f"python {platform.python_version()}, flask {_version('flask')}, werkzeug {_version('werkzeug')}, "
        f"py-healthcheck {_version('py-healthcheck')}, {os.cpu_count()} cores; one process, WSGI loop"
    )
    print(f"{args.rounds} interleaved rounds x {len(variants)} variants x ~{args.slice:g} s\n")

    for variant in variants:
        variant.per_slice = calibrate(variant, args.slice)
    handoff = HandOff()
    started = time.perf_counter()
    for round_index in range(args.rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            gc.collect()
            variant.rates.append(time_slice(variant, variant.per_slice))
        handoff.time()
        progress(f"round {round_index + 1}/{args.rounds}")
    clear_progress()

    print(f"{'variant':<10} {'median req/s':>12} {'min':>9} {'max':>9}   what")
    for variant in variants:
        rates = variant.rates
        print(
            f"{variant.name:<10} {statistics.median(rates):>12,.0f} {min(rates):>9,.0f} {max(rates):>9,.0f}"
            f"   {VARIANTS[variant.name][0]}"
        )

    micros = handoff.micros
    print(
        f"\npool hand-off alone (no Flask; {handoff.kind}), per round trip: "
        f"median {statistics.median(micros):.1f} us [{min(micros):.1f}-{max(micros):.1f}] over the rounds"
    )
    if "fs" in names and "fs_inline" in names:
        fs, inline = (statistics.median(v.rates) for v in variants if v.name in ("fs", "fs_inline"))
        print(f"fs - fs_inline, per request: {1e6 / fs - 1e6 / inline:.1f} us (the hand-off and what the worker does)")

    # Every variant must have run its callable once per request, or it cached something.
    uncached = True
    for variant in variants:
        if variant.check.calls != variant.requests:
            uncached = False
            print(f"warning: {variant.name} ran its callable {variant.check.calls} times in {variant.requests} calls")

    by_name = {v.name: v for v in variants}
    print(f"\n{'ratio':<18} {'of medians':>10} {'paired':>8}  {'target':<7} verdict")
    failures = 0
    for name, base, target in COMPARISONS:
        label = f"{name} / {base}"
        if name not in by_name or base not in by_name:
            print(f"{label:<18} {'skipped':>10}")
            continue
        a, b = by_name[name].rates, by_name[base].rates
        of_medians, paired = ratio_of_medians(a, b), paired_ratio(a, b)
        if target is None:
            print(f"{label:<18} {of_medians:>10.3f} {paired:>8.3f}  {'-':<7}")
            continue
        ok = paired >= target
        failures += not ok
        verdict = "met" if ok else "MISSED"
        print(f"{label:<18} {of_medians:>10.3f} {paired:>8.3f}  {'>=' + format(target, 'g'):<7} {verdict}")
    total = sum(v.requests for v in variants)
    print(
        f"\n(measured in {time.perf_counter() - started:.0f} s; paired = median of per-round ratios; "
        f"{total:,} requests, each callable ran once per request: {'yes' if uncached else 'NO'})"
    )

    if args.profile:
        profile(args.profile_requests)
    return 1 if (failures or not uncached) and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
