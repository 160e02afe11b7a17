"""dev.py: a Python below the floor gets a message and leaves nothing behind; a ``.venv`` that is
broken or was made by another Python is rebuilt, not reused.

dev.py is loaded from the checkout by path and its helpers are pointed at environments made in
``tmp_path``; the real ``.venv`` is never touched.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from types import ModuleType

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
DEV_PY = CHECKOUT / "dev.py"
THIS = f"{sys.version_info[0]}.{sys.version_info[1]}"

posix_only = pytest.mark.skipif(os.name == "nt", reason="fake interpreters are shell scripts")


@pytest.fixture(scope="module")
def dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_status_dev_py", DEV_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def old_pythons() -> list[str]:
    """Interpreters below 3.10 that run here (pyenv's, the system's), newest first."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(9, 5, -1)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted((str(p) for p in pyenv.glob("3.[6-9].*/bin/python3")), reverse=True)
    found: dict[str, str] = {}
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        version = probe.stdout.strip()
        if probe.returncode == 0 and version not in found:
            found[version] = candidate
    return list(found.values())


def fake_python(env: Path, script: str) -> Path:
    """``env`` with a ``bin/python`` that is the shell ``script``."""
    python = env / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\n{script}\n")
    python.chmod(0o755)
    return python


def working_venv(env: Path) -> Path:
    """A real virtual environment of this Python, with a stand-in for pip (ensurepip takes seconds)."""
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / ("Scripts" if os.name == "nt" else "bin") / "python"
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "pip").mkdir(parents=True, exist_ok=True)
    (Path(purelib) / "pip" / "__init__.py").write_text("")
    return python


# -- the floor --------------------------------------------------------------------------------------


def test_refuses_a_python_below_the_floor(dev: ModuleType) -> None:
    with pytest.raises(SystemExit, match=r"needs Python 3\.10 or newer; this is Python 3\.9 \(/opt/python3\.9\)"):
        dev.refuse_old_python((3, 9, 18), "/opt/python3.9")
    dev.refuse_old_python((3, 10, 0), "/opt/python3.10")
    dev.refuse_old_python((4, 0), "/opt/python4")


@pytest.mark.parametrize("python", old_pythons() or [None])
def test_old_python_gets_a_message_and_creates_nothing(python: str | None, tmp_path: Path) -> None:
    if python is None:
        pytest.skip("no Python below 3.10 on this machine")
    shutil.copy(DEV_PY, tmp_path / "dev.py")
    shutil.copy(CHECKOUT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run(
        [python, "dev.py", "test"], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dev.py needs Python 3.10 or newer" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.py", "pyproject.toml"]


# -- what makes a .venv unusable --------------------------------------------------------------------


def test_a_missing_venv_is_made(dev: ModuleType, tmp_path: Path) -> None:
    assert dev.venv_problem(tmp_path / "absent") == "it does not exist"


def test_a_venv_without_python_is_broken(dev: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    assert "has no working" in dev.venv_problem(tmp_path / "env")


@posix_only
def test_a_venv_whose_interpreter_is_gone_is_broken(dev: ModuleType, tmp_path: Path) -> None:
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(tmp_path / "removed-python3.9")
    assert "has no working" in dev.venv_problem(tmp_path / "env")


@posix_only
def test_a_venv_whose_python_fails_is_broken(dev: ModuleType, tmp_path: Path) -> None:
    fake_python(tmp_path / "env", "echo 'error while loading shared libraries' >&2; exit 127")
    problem = dev.venv_problem(tmp_path / "env")
    assert problem == "its python does not run (error while loading shared libraries)"


@posix_only
def test_a_venv_made_by_another_python_is_not_reused(dev: ModuleType, tmp_path: Path) -> None:
    env = tmp_path / "env"
    report = json.dumps({"version": "3.9", "prefix": str(env), "pip": True})
    fake_python(env, f"echo '{report}'")
    assert dev.venv_problem(env) == f"it was made by Python 3.9, and this is Python {THIS}"


def test_a_working_venv_of_this_python_is_reused(dev: ModuleType, tmp_path: Path) -> None:
    working_venv(tmp_path / "env")
    assert dev.venv_problem(tmp_path / "env") is None
    assert dev.venv_problem(tmp_path / "env", (3, 99)) == f"it was made by Python {THIS}, and this is Python 3.99"


def test_a_venv_without_pip_is_broken(dev: ModuleType, tmp_path: Path) -> None:
    venv.EnvBuilder(with_pip=False).create(tmp_path / "env")
    assert dev.venv_problem(tmp_path / "env") == "it has no pip"


@posix_only
def test_an_interpreter_outside_a_venv_is_not_a_venv(dev: ModuleType, tmp_path: Path) -> None:
    """A bin/python without pyvenv.cfg beside it runs as the base installation."""
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(Path(getattr(sys, "_base_executable", sys.executable)).resolve())
    assert "is not a virtual environment's" in dev.venv_problem(tmp_path / "env")


# -- ensure_venv: rebuild what is broken, reinstall what is stale, reuse what is good ---------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    return root


@pytest.fixture
def installs(dev: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The pip commands ensure_venv runs, recorded instead of run."""
    ran: list[tuple[str, ...]] = []

    def record(*args: object, **kwargs: object) -> int:
        ran.append(tuple(str(a) for a in args))
        return 0

    monkeypatch.setattr(dev, "_run", record)
    return ran


@posix_only
def test_ensure_venv_rebuilds_a_venv_left_by_an_older_python(
    dev: ModuleType, project: Path, installs: list[tuple[str, ...]]
) -> None:
    env = project / ".venv"
    report = json.dumps({"version": "3.9", "prefix": str(env), "pip": False})
    fake_python(env, f"echo '{report}'")
    (env / "left-over").write_text("from the failed run")

    python = dev.ensure_venv(env, project)

    assert not (env / "left-over").exists()
    assert dev.venv_problem(env) is None
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == str(sys.version_info[:2])
    assert [step[-1] for step in installs] == ["pip", ".[dev]"]
    assert json.loads((env / dev.STAMP_NAME).read_text())["python"] == THIS

    installs.clear()
    assert dev.ensure_venv(env, project) == python
    assert installs == [], "a working, installed .venv is reused as it is"

    (project / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    (env / "kept").write_text("")
    dev.ensure_venv(env, project)
    assert [step[-1] for step in installs] == ["pip", ".[dev]"]
    assert (env / "kept").exists(), "a changed pyproject.toml reinstalls; it does not rebuild"


def test_a_failed_install_is_redone_next_time(dev: ModuleType, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = project / ".venv"
    working_venv(env)
    (env / dev.STAMP_NAME).write_text("an older install")
    monkeypatch.setattr(dev, "_run", lambda *args, **kwargs: 1)
    with pytest.raises(SystemExit, match="installing the development environment failed"):
        dev.ensure_venv(env, project)
    assert not (env / dev.STAMP_NAME).exists()


# -- pytest's arguments when run outside the checkout ----------------------------------------------


def test_pytest_runs_the_tests_and_the_installed_doctests_by_default(dev: ModuleType, tmp_path: Path) -> None:
    assert dev.pytest_targets(["-x", "-k", "cli"], tmp_path) == [
        "-x",
        "-k",
        "cli",
        str(CHECKOUT / "tests"),
        "--pyargs",
        "flask_status",
    ]


def test_pytest_paths_are_made_absolute(dev: ModuleType) -> None:
    args = dev.pytest_targets(["tests/test_cli.py::test_table", "-q"], CHECKOUT)
    assert args == [f"{CHECKOUT / 'tests' / 'test_cli.py'}::test_table", "-q"]
