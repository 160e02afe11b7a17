"""What an exec probe costs: ``python -m flask_status.probe`` against a bare interpreter and ``flask status``.

A container's HEALTHCHECK or a Kubernetes exec probe starts a process every few seconds; its
cost is the interpreter's start plus what it imports. Timed, each a fresh process, ``--runs``
times (default 20), interleaved (one run of each per round, the order rotating):

* ``baseline``: ``python -c "import http.client"``, the floor: an interpreter that could send
  one HTTP request;
* ``probe``: ``python -m flask_status.probe URL`` against a live example app (``/health/ready``,
  warm), which must exit 0;
* ``flask status``: ``flask --app examples/app.py status``, what the Dockerfile ran before: it
  imports Flask and the app and evaluates every route (its database check sleeps 0.5 s, once);
* ``flask status --route live``: the same with a route without checks: the import cost alone.

The example app (``examples/app.py``) is served in this process by werkzeug's ``make_server``
on a free loopback port, from a thread, without an access log; its CPU is not counted. Per
run: wall time (``time.perf_counter`` around ``subprocess.run``) and CPU time (user + system of
the child, from ``resource.getrusage(RUSAGE_CHILDREN)`` before and after). Reported: median
and min of each, and each median over the baseline's.

Run: ``.venv/bin/python benchmarks/bench_probe.py`` (about 30 s); ``--runs 50``,
``--no-flask`` (the first two rows only), ``--strict`` (exit 1 when the probe's median CPU time
is over 1.5x the baseline's).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _common import HOST, clear_progress, get_json, progress

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5  # the probe's CPU time over the baseline's, at most


@dataclass
class Command:
    name: str
    argv: list[str]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def run(self) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(self.argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name}: exit {result.returncode}\n{result.stdout}{result.stderr}")
        self.walls.append(wall)
        self.cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


@contextmanager
def example_app() -> Iterator[str]:
    """The example app on a werkzeug server in this process; yields its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Silent(WSGIRequestHandler):
        def log(self, type: str, message: str, *args: object) -> None:
            pass

    spec = importlib.util.spec_from_file_location("bench_probe_example", ROOT / "examples" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = make_server(HOST, 0, module.create_app(), threaded=True, request_handler=Silent)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        get_json(server.server_port, "/health/ready", timeout=10)  # warm: the 0.5 s check runs now
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def flask_command() -> list[str]:
    script = Path(sys.executable).parent / "flask"
    found = str(script) if script.exists() else shutil.which("flask")
    return [found] if found else [sys.executable, "-m", "flask"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--no-flask", action="store_true", help="time the baseline and the probe only")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 when the probe's CPU is over {TARGET}x")
    args = parser.parse_args()

    with example_app() as base:
        url = f"{base}/health/ready"
        commands = [
            Command("baseline: python -c 'import http.client'", [sys.executable, "-c", "import http.client"]),
            Command("probe: python -m flask_status.probe URL", [sys.executable, "-m", "flask_status.probe", url]),
        ]
        if not args.no_flask:
            flask = [*flask_command(), "--app", "examples/app.py", "status"]
            commands += [
                Command("flask --app examples/app.py status", flask),
                Command("flask ... status --route live", [*flask, "--route", "live"]),
            ]
        env_note = f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs each, interleaved"
        for command in commands:  # once each, not timed: bytecode caches and the page cache warm
            command.run()
            command.walls.clear()
            command.cpus.clear()
        for round_ in range(args.runs):
            progress(f"round {round_ + 1}/{args.runs}")
            shift = round_ % len(commands)
            for command in commands[shift:] + commands[:shift]:
                command.run()
        clear_progress()

    baseline = commands[0]
    base_wall, base_cpu = statistics.median(baseline.walls), statistics.median(baseline.cpus)
    print(f"\nWhat one exec probe costs ({env_note}); times in ms\n")
    print(f"{'command':<44}{'wall med':>9}{'min':>7}{'CPU med':>9}{'min':>7}{'wall x':>8}{'CPU x':>7}")
    for command in commands:
        wall, cpu = statistics.median(command.walls), statistics.median(command.cpus)
        print(
            f"{command.name:<44}{wall * 1000:>9.1f}{min(command.walls) * 1000:>7.1f}"
            f"{cpu * 1000:>9.1f}{min(command.cpus) * 1000:>7.1f}{wall / base_wall:>8.2f}{cpu / base_cpu:>7.2f}"
        )
    probe_cpu = statistics.median(commands[1].cpus) / base_cpu
    verdict = "met" if probe_cpu <= TARGET else "MISSED"
    print(f"\nprobe CPU / baseline CPU = {probe_cpu:.2f} (target <= {TARGET}): {verdict}")
    return 1 if args.strict and probe_cpu > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
