"""When does a warm route render its body again? Per-request cost of each case, in one process.

A warm route serves the body it rendered last, until one of its own results changes (a run
of one of its fields lands: a per-route change counter) or expires. Until commit 383e470 a
store-wide ``generation``, bumped by every ``put`` into the results store for any field of
any route, voided every route's body. This script checks that what is left is per route:

* ``quiet``: warm requests, nothing else happening;
* ``store_put``: a ``store.put`` of an unrelated key before each request (the old worst
  case: every request rendered again);
* ``other_run``: before each request, a run of a field of *another* route lands (the
  runner's ``on_run`` callbacks are called with it, as after a real run);
* ``own_run``: before each request, a run of one of *this* route's fields lands: the body
  must be rendered again, so this is the cost of a render (``/details`` only; ``/live`` has
  no fields).

Each case is timed as microseconds per request with direct WSGI calls (as in
``bench_overhead.py``), interleaved over rounds with rotating order; the number of renders
is counted (by wrapping ``RouteViews.render``) and must be 0 for ``store_put`` and
``other_run``, one per request for ``own_run``. ``op`` is the cost of the extra operation
alone, included in its case's figure.

Run: ``.venv/bin/python benchmarks/bench_rerender.py`` (about 15 s); ``--rounds 61``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import FIVE_VALUES, clear_progress, getter, paired_ratio, progress, wsgi_caller
from flask import Flask

from flask_status import FieldResult, StatusManager
from flask_status.extension import EXTENSION_KEY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=31, help="interleaved rounds (default 31)")
    parser.add_argument("--requests", type=int, default=500, help="requests per case per round (default 500)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.requests < 1:
        parser.error("--rounds and --requests must be >= 1")

    app = Flask("rerender")
    status = StatusManager(app)
    status.add_route("live", "/live")
    details = status.add_route("details", "/details")
    own = [details.add_field(name, getter(value), ttl=60) for name, value in FIVE_VALUES.items()]
    other = status.add_route("other", "/other").add_field("elsewhere", lambda: 1, ttl=60)
    state = app.extensions[EXTENSION_KEY]["status"]

    renders = [0]
    render = state.views.render

    def counting_render(*a: Any, **k: Any) -> Any:
        renders[0] += 1
        return render(*a, **k)

    state.views.render = counting_render  # type: ignore[method-assign]  # respond() calls self.render

    own_result = FieldResult(own[0].name, "pass", value=FIVE_VALUES[own[0].name])
    other_result = FieldResult(other.name, "pass", value=1)
    filler = FieldResult("unrelated", "pass", value=0)

    def put() -> None:
        state.store.put("unrelated#0", filler, 60)

    def land(field: Any, result: FieldResult) -> Callable[[], None]:
        def ran() -> None:
            for callback in state.runner.on_run:  # what the runner does after a run
                callback(field, result)

        return ran

    ops: dict[str, Callable[[], None] | None] = {
        "quiet": None,
        "store_put": put,
        "other_run": land(other, other_result),
        "own_run": land(own[0], own_result),
    }
    cases: list[tuple[str, str]] = [(path, op) for path in ("/details", "/live") for op in ops]
    cases.remove(("/live", "own_run"))
    calls = {path: wsgi_caller(app, path) for path in ("/details", "/live", "/other")}
    for call in calls.values():  # warm: every field has run, every body is rendered
        for _ in range(50):
            call()

    def timed(path: str, op_name: str) -> tuple[float, int]:
        call, op = calls[path], ops[op_name]
        before = renders[0]
        started = time.perf_counter()
        if op is None:
            for _ in range(args.requests):
                call()
        else:
            for _ in range(args.requests):
                op()
                call()
        elapsed = time.perf_counter() - started
        return elapsed / args.requests * 1e6, renders[0] - before

    def op_alone(op_name: str) -> float:
        op = ops[op_name]
        assert op is not None
        started = time.perf_counter()
        for _ in range(args.requests):
            op()
        return (time.perf_counter() - started) / args.requests * 1e6

    times: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    counts: dict[tuple[str, str], int] = dict.fromkeys(cases, 0)
    op_times: dict[str, list[float]] = {name: [] for name, op in ops.items() if op is not None}
    started = time.perf_counter()
    for round_index in range(args.rounds):
        shift = round_index % len(cases)
        for case in cases[shift:] + cases[:shift]:
            gc.collect()
            micros, rendered = timed(*case)
            times[case].append(micros)
            counts[case] += rendered
        for name in op_times:
            op_times[name].append(op_alone(name))
        calls["/details"]()  # own_run may leave /details to render once more; settle it
        progress(f"round {round_index + 1}/{args.rounds}")
    clear_progress()

    total = args.rounds * args.requests
    print(f"{args.rounds} rounds x {args.requests} requests per case; µs per request (median over rounds)\n")
    print(f"{'route':<9} {'case':<10} {'µs/req':>7} {'vs quiet':>9} {'op alone':>9} {'renders':>9}")
    failures = 0
    for path, op_name in cases:
        median = statistics.median(times[(path, op_name)])
        paired = paired_ratio(times[(path, op_name)], times[(path, "quiet")])
        alone = f"{statistics.median(op_times[op_name]):.1f}" if op_name in op_times else "-"
        rendered = counts[(path, op_name)]
        print(f"{path:<9} {op_name:<10} {median:>7.1f} {paired:>8.2f}x {alone:>9} {rendered:>5}/{total}")
        expected_none = op_name in ("quiet", "store_put", "other_run")
        if (expected_none and rendered) or (op_name == "own_run" and rendered < total):
            failures += 1
            print("  ^ MISSED: unexpected number of renders")
    print(f"\n(vs quiet: paired median of per-round ratios; measured in {time.perf_counter() - started:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
