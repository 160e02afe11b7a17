"""Requests per second of flask-status routes against bare Flask views, in one process.

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
  ``success_ttl=60`` (its cache on), mounted as a Flask view (skipped if not installed).

The machine is shared and noisy, so the variants are interleaved: each round times one
slice of every variant, the order rotating from round to round (ABCDE, BCDEA, ...), with a
``gc.collect()`` between slices. Reported: the median req/s per variant over the rounds, and
each ratio both as ratio of medians and as the median of the per-round (paired) ratios.

Run: ``.venv/bin/python benchmarks/bench_overhead.py`` (about 35 s);
``--rounds 40 --slice 0.5`` runs longer; ``--profile`` prints where flask-status spends
its time on the warm path (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify
from werkzeug.test import EnvironBuilder

from flask_status import StatusManager

# What a Kubernetes probe sends.
PROBE_HEADERS = {"User-Agent": "kube-probe/1.30", "Accept": "*/*"}

# The five values of the "five cached fields" route, as a check would return them.
FIVE_VALUES: dict[str, Any] = {
    "version": "2.0.0",
    "database": {"connected": True, "latency_ms": 3},
    "queue_depth": 12,
    "cache": True,
    "replicas": ["eu-west-1a", "eu-west-1b"],
}

TARGET_PLAIN = 0.95
TARGET_FIVE = 0.90


@dataclass
class Variant:
    name: str
    label: str
    app: Flask
    path: str
    call: Callable[[], bytes] = field(init=False)
    per_slice: int = 1000
    rates: list[float] = field(default_factory=list)


# -- the apps -----------------------------------------------------------------------------------


def _getter(value: Any) -> Callable[[], Any]:
    def get() -> Any:
        return value

    return get


def bare_plain_app() -> Flask:
    app = Flask("bare_plain")

    @app.get("/live")
    def live() -> Any:
        return jsonify({"status": "OK"})

    return app


def fs_plain_app() -> Flask:
    app = Flask("fs_plain")
    StatusManager(app).add_route("live", "/live")
    return app


def bare_five_app() -> Flask:
    app = Flask("bare_five")
    body = {"status": "OK", **{name: _getter(value)() for name, value in FIVE_VALUES.items()}}

    @app.get("/details")
    def details() -> Any:
        return jsonify(body)

    return app


def fs_five_app() -> Flask:
    app = Flask("fs_five")
    route = StatusManager(app).add_route("details", "/details")
    for name, value in FIVE_VALUES.items():
        route.add_field(name, _getter(value), ttl=60)
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


# -- calling them -------------------------------------------------------------------------------


def wsgi_caller(app: Flask, path: str) -> Callable[[], bytes]:
    """One request per call, straight into ``app.wsgi_app``; returns the body."""
    environ = EnvironBuilder(path=path, method="GET", headers=PROBE_HEADERS).get_environ()
    wsgi = app.wsgi_app
    status_seen: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        status_seen.append(status)
        return None

    def call() -> bytes:
        status_seen.clear()
        result = wsgi(environ.copy(), start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not status_seen or not status_seen[0].startswith("200"):
            raise RuntimeError(f"{path} answered {status_seen}")
        return body

    return call


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


def calibrate(variant: Variant, slice_seconds: float) -> None:
    """Warm the variant up and size its slice to last about ``slice_seconds``."""
    n = 50
    while True:
        started = time.perf_counter()
        for _ in range(n):
            variant.call()
        elapsed = time.perf_counter() - started
        if elapsed >= 0.05:
            break
        n *= 2
    variant.per_slice = max(50, int(n * slice_seconds / elapsed))


def profile(variants: list[Variant], requests: int) -> None:
    for variant in variants:
        if not variant.name.startswith("fs_"):
            continue
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            variant.call()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
        stats.print_stats(18)
        print(f"\n--- cProfile of {variant.name} ({variant.label}), {requests} warm requests, by own time ---")
        text = out.getvalue()
        start = text.find("   ncalls")
        print(text[start:].rstrip() if start >= 0 else text)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats("flask_status", 12)
        text = out.getvalue()
        start = text.find("   ncalls")
        print(f"\n--- flask_status functions of {variant.name}, by cumulative time ---")
        print(text[start:].rstrip() if start >= 0 else text)


# -- main ---------------------------------------------------------------------------------------


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
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", action="store_true", help="also cProfile the flask-status variants")
    parser.add_argument("--profile-requests", type=int, default=20000, help="requests per profile (default 20000)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.slice <= 0:
        parser.error("--rounds must be >= 1 and --slice > 0")

    make_call = wsgi_caller if args.client == "wsgi" else client_caller
    variants = [
        Variant("bare_plain", 'bare view, jsonify({"status": "OK"})', bare_plain_app(), "/live"),
        Variant("fs_plain", 'flask-status add_route("live")', fs_plain_app(), "/live"),
        Variant("bare_five", "bare view, jsonify(5 values computed once)", bare_five_app(), "/details"),
        Variant("fs_five", "flask-status, 5 callable fields ttl=60", fs_five_app(), "/details"),
    ]
    phc = phc_five_app()
    if phc is None:
        print("py-healthcheck is not installed (pip install py-healthcheck): skipping the phc_five row\n")
    else:
        variants.append(Variant("phc_five", "py-healthcheck, 5 checks success_ttl=60", phc, "/details"))
    for variant in variants:
        variant.call = make_call(variant.app, variant.path)

    # The bodies must agree, or the comparison is meaningless.
    bodies = {v.name: json.loads(v.call()) for v in variants}
    if bodies["bare_plain"] != bodies["fs_plain"]:
        raise SystemExit(f"plain bodies differ: {bodies['bare_plain']} vs {bodies['fs_plain']}")
    if bodies["bare_five"] != bodies["fs_five"]:
        raise SystemExit(f"five-field bodies differ: {bodies['bare_five']} vs {bodies['fs_five']}")

    cores = os.cpu_count()
    print(
        f"python {platform.python_version()}, flask {_version('flask')}, werkzeug {_version('werkzeug')}, "
        f"py-healthcheck {_version('py-healthcheck')}, {cores} cores, client: {args.client}"
    )
    print(f"{args.rounds} interleaved rounds x {len(variants)} variants x ~{args.slice:g} s\n")

    for variant in variants:
        calibrate(variant, args.slice)

    started = time.perf_counter()
    for round_index in range(args.rounds):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            gc.collect()
            variant.rates.append(time_slice(variant.call, variant.per_slice))
        print(f"\rround {round_index + 1}/{args.rounds}", end="", file=sys.stderr, flush=True)
    print(f"\r{' ' * 30}\r", end="", file=sys.stderr)

    by_name = {v.name: v for v in variants}
    print(f"{'variant':<11} {'median req/s':>12} {'min':>9} {'max':>9}   what")
    for variant in variants:
        rates = variant.rates
        print(
            f"{variant.name:<11} {statistics.median(rates):>12,.0f} {min(rates):>9,.0f} {max(rates):>9,.0f}"
            f"   {variant.label}"
        )

    print(f"\n{'ratio':<22} {'of medians':>10} {'paired':>8}  {'target':<8} verdict")
    failures = 0
    comparisons = [
        ("fs_plain", "bare_plain", TARGET_PLAIN, ">="),
        ("fs_five", "bare_five", TARGET_FIVE, ">="),
        ("fs_five", "phc_five", 1.0, ">"),
    ]
    for name, base, target, op in comparisons:
        if name not in by_name or base not in by_name:
            print(f"{name + ' / ' + base:<22} {'skipped':>10}")
            continue
        a, b = by_name[name].rates, by_name[base].rates
        of_medians = statistics.median(a) / statistics.median(b)
        paired = statistics.median(x / y for x, y in zip(a, b, strict=True))
        ok = paired >= target if op == ">=" else paired > target
        failures += not ok
        verdict = "met" if ok else "MISSED"
        print(f"{name + ' / ' + base:<22} {of_medians:>10.3f} {paired:>8.3f}  {op + format(target, 'g'):<8} {verdict}")
    print(f"\n(measured in {time.perf_counter() - started:.0f} s; paired = median of per-round ratios)")

    if args.profile:
        profile(variants, args.profile_requests)
    return 1 if failures and args.strict else 0


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


if __name__ == "__main__":
    sys.exit(main())
