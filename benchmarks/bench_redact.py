"""The redactor on hostile text: time per 64 KB for each shape, new against old and a baseline.

Each shape is one unit repeated to 64 KB (dotted names, dashes, base64, ``@`` / ``:`` / ``/``
mixes, quotes and backslashes, ...): the inputs that made the 2.0 patterns backtrack. For each:

* ``replace``: ``text.replace("password", "***")`` over the same 64 KB, the baseline: one
  linear pass in C, measured in the same run;
* ``new``: ``Redactor()(text)``, what a run's error text goes through (the text is cut to
  ``MAX_CHARS`` first); the target is under 10 ms;
* ``uncut 16K`` / ``uncut 64K``: the default patterns alone, on the whole 16 KB and 64 KB (no
  cut); ``x`` is their ratio: about 4 when the patterns are linear, 16 when quadratic;
* ``old 4K`` / ``old 64K``: the redactor of the last commit before the cut (read with ``git
  show``, imported from a temporary file), in a subprocess stopped after ``--old-cap`` seconds.

Timings are medians over interleaved rounds (the order rotates), each after ``gc.collect()``.

Run: ``.venv/bin/python benchmarks/bench_redact.py`` (about a minute, most of it the old
redactor hitting its cap); ``--no-old``, ``--old-rev REV``, ``--old-cap SECONDS``,
``--rounds N``, ``--strict`` (exit 1 when a shape misses the 10 ms target).
"""

from __future__ import annotations

import argparse
import base64
import gc
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import clear_progress, progress

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64 * 1024
TARGET = 0.010  # seconds per 64 KB


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _random_b64(size: int, urlsafe: bool) -> str:
    raw = random.Random(size).randbytes(size)
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(raw).decode()[:size]


def _plain(size: int) -> str:
    rnd = random.Random(size)
    words = ["the", "connection", "was", "refused", "by", "upstream", "host", "after", "retry", "timeout"]
    return " ".join(rnd.choice(words) for _ in range(size // 5))[:size]


SHAPES: dict[str, Callable[[int], str]] = {
    "dotted names": lambda n: _repeat("at.com.example.", n),
    "dashes": lambda n: _repeat("a-b-", n),
    "dashes only": lambda n: "-" * n,
    "base64 url-safe": lambda n: _random_b64(n, urlsafe=True),
    "base64": lambda n: _random_b64(n, urlsafe=False),
    "plain text": _plain,
    "@ : / mix": lambda n: _repeat("a:b@c/", n),
    "scheme-like": lambda n: _repeat("a://b:c d ", n),
    "quotes, backslashes": lambda n: _repeat("\"'\\", n),
    'password: "\\': lambda n: _repeat('password: "\\', n),
    "secret names": lambda n: _repeat("a.password.b ", n),
    "PEM begins": lambda n: _repeat("-----BEGIN PRIVATE KEY-----", n),
    "cookie pairs": lambda n: _repeat("Cookie: a;", n),
    "64-char names": lambda n: _repeat("x" * 63 + "/", n),
}


def _load(path: Path, name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def old_revision() -> str | None:
    """The last commit whose redact.py has no cut: the parent of the commit that added
    ``MAX_CHARS``, or HEAD while that change is not committed yet."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout

    try:
        added = git("log", "--format=%H", "-S", "MAX_CHARS", "--", "flask_status/redact.py").split()
        if added:
            return f"{added[-1]}~1"
        return "HEAD" if "MAX_CHARS" not in git("show", "HEAD:flask_status/redact.py") else None
    except (OSError, subprocess.CalledProcessError):
        return None


def time_old(source: Path, shape: str, size: int, cap: float) -> float | None:
    """Seconds the old redactor takes on ``shape`` of ``size``, in a subprocess; None past ``cap``."""
    command = [sys.executable, __file__, "--old-worker", str(source), shape, str(size)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=cap, check=True)
    except subprocess.TimeoutExpired:  # subprocess.run kills the worker
        return None
    return float(done.stdout.strip())


def old_worker(source: str, shape: str, size: int) -> int:
    module = _load(Path(source), "flask_status_redact_old")
    redact = module.Redactor()  # type: ignore[attr-defined]
    text = SHAPES[shape](size)
    started = time.perf_counter()
    redact(text)
    print(time.perf_counter() - started)
    return 0


def best_of(call: Callable[[], object], repeat: int = 1) -> float:
    gc.collect()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def fmt(seconds: float | None, cap: float = 0.0) -> str:
    if seconds is None:
        return f"> {cap:g} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--no-old", action="store_true", help="do not time the old redactor")
    parser.add_argument("--old-rev", help="git revision of the old redact.py (default: the last one without a cut)")
    parser.add_argument("--old-cap", type=float, default=2.0, help="seconds before an old run is stopped (default 2)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a shape misses the 10 ms target")
    parser.add_argument("--old-worker", nargs=3, metavar=("SOURCE", "SHAPE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.old_worker:
        source, shape, size = args.old_worker
        return old_worker(source, shape, int(size))
    if args.rounds < 1 or args.old_cap <= 0:
        parser.error("--rounds must be >= 1 and --old-cap > 0")

    from flask_status.redact import MAX_CHARS, Redactor

    redact = Redactor()
    texts = {name: make(SIZE) for name, make in SHAPES.items()}
    quarter = {name: make(SIZE // 4) for name, make in SHAPES.items()}
    names = list(SHAPES)
    new: dict[str, list[float]] = {name: [] for name in names}
    base: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            text = texts[name]
            base[name].append(best_of(lambda text=text: text.replace("password", "***")))
            new[name].append(best_of(lambda text=text: redact(text)))
        progress(f"round {round_index + 1}/{args.rounds}")
    uncut16 = {name: best_of(lambda name=name: redact._clean(quarter[name]), 3) for name in names}
    uncut64 = {name: best_of(lambda name=name: redact._clean(texts[name]), 3) for name in names}

    old4: dict[str, float | None] = {}
    old64: dict[str, float | None] = {}
    revision = None if args.no_old else (args.old_rev or old_revision())
    if revision is not None:
        source = subprocess.run(
            ["git", "show", f"{revision}:flask_status/redact.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        with tempfile.TemporaryDirectory(prefix="bench-redact-") as scratch:
            path = Path(scratch) / "redact_old.py"
            path.write_text(source, encoding="utf-8")
            for index, name in enumerate(names):
                progress(f"old redactor: {index + 1}/{len(names)} {name}")
                old4[name] = time_old(path, name, MAX_CHARS, args.old_cap)
                old64[name] = time_old(path, name, SIZE, args.old_cap)
    clear_progress(60)

    print(f"Python {sys.version.split()[0]}; {SIZE // 1024} KB per shape; MAX_CHARS = {MAX_CHARS}")
    print(f"median of {args.rounds} rounds (replace, new); best of 3 (uncut); one run (old, in a subprocess)")
    if revision is None:
        print("old redactor: not timed (--no-old, or no git history to read it from)")
    else:
        print(f"old redactor: flask_status/redact.py at {revision}, stopped after {args.old_cap:g} s")
    header = (
        f"\n{'shape':<20} {'replace':>8} {'new':>9} {'new/repl':>8} {'uncut 16K':>10} {'uncut 64K':>10} {'x':>5}"
        f" {'old 4K':>9} {'old 64K':>9}  target"
    )
    print(header)
    missed = 0
    for name in names:
        replace_s = statistics.median(base[name])
        new_s = statistics.median(new[name])
        growth = uncut64[name] / uncut16[name] if uncut16[name] > 0 else float("nan")
        met = new_s < TARGET
        missed += not met
        old_cells = (
            f" {fmt(old4[name], args.old_cap):>9} {fmt(old64[name], args.old_cap):>9}"
            if revision
            else f" {'-':>9} {'-':>9}"
        )
        print(
            f"{name:<20} {fmt(replace_s):>8} {fmt(new_s):>9} {new_s / replace_s:>8.1f} {fmt(uncut16[name]):>10}"
            f" {fmt(uncut64[name]):>10} {growth:>5.1f}{old_cells}  {'met' if met else 'MISSED'}"
        )
    worst = max(names, key=lambda name: statistics.median(new[name]))
    print(
        f"\nworst shape for the new redactor: {worst}, {fmt(statistics.median(new[worst]))} per 64 KB"
        f" (target < {TARGET * 1e3:g} ms): {'met' if not missed else f'{missed} shape(s) missed'}"
    )
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
