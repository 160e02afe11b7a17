#!/usr/bin/env python3
"""Developer entry points; they create and use the virtual environment ``.venv`` themselves.

    python3 dev.py run      start the example app on http://127.0.0.1:5000
    python3 dev.py test     lint (ruff), type-check (mypy) and run the whole test suite
    python3 dev.py bench    run the benchmarks in benchmarks/

Needs only Python 3.10+ (3.11 recommended). Extra arguments after ``test`` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".flask-status-installed"


def _run(*args: str | Path) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def ensure_venv() -> None:
    """Create .venv and install the package with its dev extras, again when pyproject changes."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    steps = [
        (PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"),
        (PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]"),
    ]
    for step in steps:
        if _run(*step) != 0:
            sys.exit("dev.py: installing the development environment failed")
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "run":
        ensure_venv()
        return _run(PYTHON, "examples/app.py", *rest)
    if command == "test":
        ensure_venv()
        failures = 0
        failures += _run(BIN / "ruff", "check", ".") != 0
        failures += _run(BIN / "ruff", "format", "--check", ".") != 0
        failures += _run(BIN / "mypy") != 0
        failures += _run(PYTHON, "-m", "pytest", *rest) != 0
        if failures:
            print(f"dev.py test: {failures} step(s) failed", file=sys.stderr)
        return 1 if failures else 0
    if command == "bench":
        ensure_venv()
        status = 0
        for script in (
            "bench_overhead.py",
            "bench_burst.py",
            "bench_server.py",
            "bench_memory.py",
            "bench_rerender.py",
        ):
            status |= _run(PYTHON, f"benchmarks/{script}", *rest)
        return status
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
