#!/usr/bin/env python3
"""Developer entry points; they create and use the virtual environment ``.venv`` themselves.

    python3 dev.py run      start the example app on http://127.0.0.1:5000
    python3 dev.py test     everything CI does: lint (ruff), type-check (mypy), build the docs,
                            build the sdist and the wheel and check them (twine), install the
                            wheel into a fresh virtual environment outside the checkout, and run
                            the whole test suite against that installed wheel
    python3 dev.py docs     build the Sphinx site (docs/_build/html) and run its doctests
    python3 dev.py dist     build the sdist and the wheel into dist/ and check them
    python3 dev.py bench    run the benchmarks in benchmarks/

Needs only Python 3.10+ (3.11 recommended). Extra arguments after ``test`` go to pytest, e.g.
``python3 dev.py test tests/test_cli.py -k table``.

An older Python gets a message, not a traceback, and nothing is created: the whole file is
compiled before the version check runs, so it holds no syntax newer than Python 3.6, and the
annotations evaluated before the check are strings.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

MINIMUM_PYTHON = (3, 10)


def dotted(version: "tuple[int, ...]") -> str:
    return ".".join(str(part) for part in version[:2])


def refuse_old_python(version: "tuple[int, ...]" = sys.version_info[:2], executable: str = sys.executable) -> None:
    """Exit with a message, before anything is created, when ``version`` is below the floor."""
    if tuple(version[:2]) < MINIMUM_PYTHON:
        sys.exit(
            f"dev.py needs Python {dotted(MINIMUM_PYTHON)} or newer; this is Python {dotted(version)} ({executable}).\n"
            f"Run it with a newer one, e.g. python3.11 dev.py test (nothing was created or changed)."
        )


refuse_old_python()

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP_NAME = ".flask-status-installed"
DOCS = ROOT / "docs"
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
# The extra the test suite needs besides the package itself (see pyproject.toml).
TEST_EXTRA = "tests"
IN_CI = os.environ.get("CI", "").lower() == "true"


def venv_bin(env: Path) -> Path:
    return env / SCRIPTS


def venv_python(env: Path) -> Path:
    return venv_bin(env) / ("python.exe" if os.name == "nt" else "python")


def _run(*args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=cwd, env=env)


# -- the development environment .venv ------------------------------------------------------------

_PROBE = (
    "import importlib.util, json, sys;"
    "print(json.dumps({'version': '%d.%d' % sys.version_info[:2], 'prefix': sys.prefix,"
    " 'pip': importlib.util.find_spec('pip') is not None}))"
)


def venv_problem(env: Path, version: tuple[int, ...] = sys.version_info[:2]) -> str | None:
    """Why the virtual environment ``env`` cannot be reused by a Python of ``version``; None if it can.

    A previous run may have left it half made (a Python below the floor, an interrupted
    ``venv``), or it may have been made by another Python, whose interpreter was since removed.
    """
    python = venv_python(env)
    if not env.exists():
        return "it does not exist"
    if not python.exists():  # also a symlink whose interpreter is gone
        return f"it has no working {python.relative_to(env)}"
    try:
        probe = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return f"its python does not run ({error})"
    try:
        found = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 else None
    except (ValueError, IndexError):
        found = None
    if not isinstance(found, dict):
        detail = (probe.stderr.strip() or probe.stdout.strip()).splitlines()[-1:] or [f"exit {probe.returncode}"]
        return f"its python does not run ({detail[0]})"
    wanted = dotted(version)
    if found["version"] != wanted:
        return f"it was made by Python {found['version']}, and this is Python {wanted}"
    if Path(found["prefix"]).resolve() != env.resolve():
        return f"its python is not a virtual environment's (sys.prefix is {found['prefix']})"
    if not found["pip"]:
        return "it has no pip"
    return None


def stamp_for(root: Path = ROOT, version: tuple[int, ...] = sys.version_info[:2]) -> str:
    """What .venv's stamp holds once installed: the project's requirements and the Python."""
    requirements = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    return json.dumps({"pyproject": requirements, "python": dotted(version)})


def ensure_venv(env: Path = VENV, root: Path = ROOT) -> Path:
    """Make ``env`` a working environment of this Python with the package installed editable with its
    dev extras; rebuild it when it is broken or was made by another Python, reinstall when
    pyproject.toml changed. Returns its python."""
    python = venv_python(env)
    stamp = env / STAMP_NAME
    wanted = stamp_for(root)
    problem = venv_problem(env)
    if problem is None and stamp.exists() and stamp.read_text() == wanted:
        return python
    if problem is not None:
        if env.exists():
            print(f"dev.py: rebuilding {env}: {problem}", flush=True)
        else:
            print(f"dev.py: creating virtual environment in {env}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        problem = venv_problem(env)
        if problem is not None:
            sys.exit(f"dev.py: the new virtual environment {env} is not usable: {problem}")
    stamp.unlink(missing_ok=True)  # an install that fails half way is redone next time
    # Left by the former setuptools backend; on sys.path (the checkout) it would shadow the metadata.
    shutil.rmtree(root / "flask_status.egg-info", ignore_errors=True)
    steps = [
        (python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"),
        (python, "-m", "pip", "install", "--quiet", "-e", ".[dev]"),
    ]
    for step in steps:
        if _run(*step, cwd=root) != 0:
            sys.exit("dev.py: installing the development environment failed")
    stamp.write_text(wanted)
    return python


# -- the steps of `test` ----------------------------------------------------------------------------


class Steps:
    """The steps of a command: each one timed; a failed step is counted and does not stop the others."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, bool]] = []
        self.started = time.monotonic()

    def record(self, name: str, since: float, ok: bool) -> bool:
        self.rows.append((name, time.monotonic() - since, ok))
        return ok

    def command(self, name: str, *args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> bool:
        since = time.monotonic()
        return self.record(name, since, _run(*args, cwd=cwd, env=env) == 0)

    def summary(self, title: str) -> int:
        """Print what each step took; 1 if one failed."""
        failed = [name for name, _, ok in self.rows if not ok]
        print(f"\n{title}:", flush=True)
        for name, seconds, ok in self.rows:
            print(f"  {name:<32}{seconds:7.1f} s  {'ok' if ok else 'FAILED'}")
        print(f"  {'total':<32}{time.monotonic() - self.started:7.1f} s", flush=True)
        if failed:
            print(f"{title}: {len(failed)} step(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0


def lint(python: Path, steps: Steps) -> None:
    tools = python.parent
    steps.command("ruff check", tools / "ruff", "check", ".")
    steps.command("ruff format --check", tools / "ruff", "format", "--check", ".")
    steps.command("mypy", tools / "mypy")
    if "[tool.importlinter]" in (ROOT / "pyproject.toml").read_text():
        steps.command("lint-imports", tools / "lint-imports")


def build_docs(python: Path, steps: Steps) -> None:
    """Build the Sphinx site with warnings as errors, then run the doctests of its pages."""
    if not (DOCS / "conf.py").exists():
        print(f"dev.py: {DOCS / 'conf.py'} does not exist, so there is no site to build", file=sys.stderr)
        steps.record("docs (no docs/conf.py)", time.monotonic(), False)
        return
    for builder in ("html", "doctest"):
        command = (
            python.parent / "sphinx-build",
            "-W",
            "--keep-going",
            "-b",
            builder,
            "docs",
            f"docs/_build/{builder}",
        )
        steps.command(f"docs: sphinx-build -b {builder}", *command)


def build_dists(python: Path, outdir: Path, steps: Steps) -> tuple[Path, Path] | None:
    """Build the sdist and, from it, the wheel into ``outdir``; check both with twine."""
    if not steps.command("build sdist and wheel", python, "-m", "build", "--outdir", outdir, ROOT):
        return None
    sdists, wheels = sorted(outdir.glob("*.tar.gz")), sorted(outdir.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        print(f"dev.py: expected one sdist and one wheel in {outdir}, found {sdists + wheels}", file=sys.stderr)
        steps.record("one sdist and one wheel", time.monotonic(), False)
        return None
    if not steps.command("twine check", python, "-m", "twine", "check", "--strict", sdists[0], wheels[0]):
        return None
    return sdists[0], wheels[0]


def install_wheel(python: Path, wheel: Path, env: Path, steps: Steps) -> Path | None:
    """A fresh virtual environment ``env`` holding ``wheel`` with the test extra; returns its python.

    .venv's pip installs into it (``pip --python``), so the new environment needs no pip of its
    own; pip's cache makes this a matter of seconds after the first run.
    """
    since = time.monotonic()
    venv.EnvBuilder(with_pip=False, clear=True).create(env)
    target = venv_python(env)
    command = (python, "-m", "pip", "--python", target, "install", "--quiet", f"{wheel}[{TEST_EXTRA}]")
    ok = steps.record("install the wheel in a new venv", since, _run(*command) == 0)
    return target if ok else None


def pytest_targets(rest: list[str], cwd: Path) -> list[str]:
    """pytest's arguments for a run from outside the checkout: paths given relative to the caller's
    directory ``cwd`` made absolute; without any path, the tests and the installed package's doctests."""
    args, paths = [], False
    for arg in rest:
        path, sep, node = arg.partition("::")
        if not arg.startswith("-") and path and (cwd / path).exists():
            arg, paths = str((cwd / path).resolve()) + sep + node, True
        args.append(arg)
    return args if paths else [*args, str(ROOT / "tests"), "--pyargs", "flask_status"]


def suite_on_wheel(python: Path, rest: list[str], steps: Steps) -> None:
    """Build, check and install the wheel outside the checkout, then run pytest against it there.

    pytest runs from a directory outside the checkout, with the checkout's configuration: neither
    the working directory nor (PYTHONSAFEPATH) a ``python -m`` started by a test puts the checkout
    on sys.path, so ``import flask_status`` can only find the installed wheel.
    """
    with tempfile.TemporaryDirectory(prefix="flask-status-test-") as scratch:
        work = Path(scratch).resolve()
        if ROOT in work.parents:
            sys.exit(f"dev.py: the temporary directory {work} is inside the checkout; set TMPDIR elsewhere")
        dists = build_dists(python, work / "dist", steps)
        if dists is None:
            return
        test_python = install_wheel(python, dists[1], work / "venv", steps)
        if test_python is None:
            return
        cwd = work / "run"
        cwd.mkdir()
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(
            FLASK_STATUS_TEST_INSTALLED=dists[1].name,
            VIRTUAL_ENV=str(work / "venv"),
            PATH=os.pathsep.join([str(test_python.parent), env.get("PATH", "")]),
            PYTHONSAFEPATH="1",
        )
        config = ("-c", ROOT / "pyproject.toml", "--rootdir", ROOT, "-p", "no:cacheprovider")
        targets = pytest_targets(rest, Path.cwd())
        steps.command("pytest against the wheel", test_python, "-m", "pytest", *config, *targets, cwd=cwd, env=env)


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "run":
        python = ensure_venv()
        return _run(python, "examples/app.py", *rest)
    if command == "test":
        steps = Steps()
        since = time.monotonic()
        python = ensure_venv()
        steps.record("environment .venv", since, True)
        lint(python, steps)
        if (DOCS / "conf.py").exists() or IN_CI:
            build_docs(python, steps)
        else:
            print("dev.py test: no docs/conf.py yet, no docs to build (under CI=true this fails)", flush=True)
        suite_on_wheel(python, rest, steps)
        return steps.summary("dev.py test")
    if command == "docs":
        steps = Steps()
        build_docs(ensure_venv(), steps)
        return steps.summary("dev.py docs")
    if command == "dist":
        steps = Steps()
        python = ensure_venv()
        shutil.rmtree(ROOT / "dist", ignore_errors=True)
        build_dists(python, ROOT / "dist", steps)
        return steps.summary("dev.py dist")
    if command == "bench":
        python = ensure_venv()
        status = 0
        for script in (
            "bench_overhead.py",
            "bench_uncached.py",
            "bench_burst.py",
            "bench_server.py",
            "bench_memory.py",
            "bench_rerender.py",
            "bench_redact.py",
            "bench_probe.py",
        ):
            status |= _run(python, f"benchmarks/{script}", *rest)
        return status
    print(__doc__)
    return 0 if command in ("help", "-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
