"""The package as a user installs it.

``python3 dev.py test`` builds the wheel, installs it into a fresh virtual environment outside the
checkout and runs the whole suite there from a directory outside the checkout, with
``FLASK_STATUS_TEST_INSTALLED`` naming the wheel. These tests prove that run used the wheel, and
that the installed package works from outside the source tree: every module imports, the example
app answers, ``flask status`` runs, and the metadata is a release's.

Run from a plain checkout, the tests that need the wheel skip (and fail under ``CI=true``, where
dev.py always runs against the wheel); the others test the checkout the same way.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import unavailable
from flask import Flask
from flask.cli import ScriptInfo

import flask_status

CHECKOUT = Path(__file__).resolve().parent.parent
EXAMPLE = CHECKOUT / "examples" / "app.py"
INSTALLED_WHEEL = os.environ.get("FLASK_STATUS_TEST_INSTALLED", "")
PACKAGE = Path(flask_status.__file__).resolve().parent
SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]


def require_wheel() -> None:
    if not INSTALLED_WHEEL:
        unavailable(
            "this run imports flask_status from the checkout, not from an installed wheel",
            "python3 dev.py test runs the suite against the built wheel",
        )


def files_of(package: Path) -> set[str]:
    return {
        path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def module_names(package: Path) -> list[str]:
    """Every module of the package, found from its files (subpackages included)."""
    names = []
    for relative in sorted(files_of(package)):
        if relative.endswith(".py"):
            parts = [package.name, *relative[: -len(".py")].split("/")]
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# -- it came from the wheel -------------------------------------------------------------------------


def test_flask_status_comes_from_the_installed_wheel() -> None:
    require_wheel()
    site_packages = {Path(sysconfig.get_path(name)).resolve() for name in ("purelib", "platlib")}
    assert PACKAGE.parent in site_packages, f"flask_status imported from {PACKAGE}"
    assert CHECKOUT not in PACKAGE.parents
    assert CHECKOUT not in Path(sys.prefix).resolve().parents, "the test environment is inside the checkout"
    assert CHECKOUT not in {Path(entry or os.curdir).resolve() for entry in sys.path}
    assert CHECKOUT not in Path.cwd().resolve().parents
    assert Path.cwd().resolve() != CHECKOUT

    distribution = importlib.metadata.distribution("flask-status")
    assert f"flask_status-{distribution.version}-" in INSTALLED_WHEEL
    assert distribution.read_text("direct_url.json") is None or '"editable": true' not in str(
        distribution.read_text("direct_url.json")
    )
    recorded = {str(file) for file in distribution.files or ()}
    assert "flask_status/checks/__init__.py" in recorded
    assert "flask_status/py.typed" in recorded


def test_the_wheel_holds_every_file_of_the_package() -> None:
    """Subpackages, py.typed and data files (templates) alike: nothing in the source is left out."""
    require_wheel()
    missing = files_of(CHECKOUT / "flask_status") - files_of(PACKAGE)
    assert not missing, f"in the checkout but not in the installed wheel: {sorted(missing)}"


# -- it works from outside the source tree ---------------------------------------------------------


@pytest.mark.parametrize("name", module_names(PACKAGE))
def test_every_module_imports(name: str) -> None:
    """With every optional dependency installed (the ``tests`` extra), each module imports."""
    module = importlib.import_module(name)
    assert Path(str(module.__file__)).resolve().is_relative_to(PACKAGE)


@pytest.fixture
def example_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The example app loaded by path, as ``flask --app examples/app.py`` loads it."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # flask puts examples/ on it
    monkeypatch.delitem(sys.modules, "app", raising=False)
    monkeypatch.delenv("STATUS_TOKEN", raising=False)
    app = ScriptInfo(app_import_path=str(EXAMPLE)).load_app()
    app.config["TESTING"] = True
    yield app
    sys.modules.pop("app", None)


def test_example_app_answers_its_routes(example_app: Flask) -> None:
    client = example_app.test_client()
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert client.get("/health/details").status_code == 401


def test_flask_status_command_from_outside_the_checkout(tmp_path: Path) -> None:
    """``flask --app .../examples/app.py status`` with the environment's own ``flask`` script."""
    flask = Path(sysconfig.get_path("scripts")) / ("flask.exe" if os.name == "nt" else "flask")
    env = {k: v for k, v in os.environ.items() if k not in ("FLASK_APP", "PYTHONPATH", "STATUS_TOKEN")}
    result = subprocess.run(
        [flask, "--app", EXAMPLE, "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/health/ready" in result.stdout
    assert "/health/details" in result.stdout
    assert re.search(r"^\s+NAME\s+KIND\s+STATUS\b", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^\s+database\b", result.stdout, re.MULTILINE), result.stdout


# -- the metadata of a release ----------------------------------------------------------------------


def test_version_is_the_distributions() -> None:
    assert flask_status.__version__ == importlib.metadata.version("flask-status")


def test_release_metadata() -> None:
    metadata = importlib.metadata.metadata("flask-status")
    assert metadata["Requires-Python"] == f">={SUPPORTED[0]}"
    classifiers = metadata.get_all("Classifier") or []
    versions = [
        c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions == SUPPORTED
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Changes", "Source", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values()), urls
    assert metadata["License-Expression"] == "MIT"


LINK = re.compile(
    r"!?\[[^\]]*\]\(\s*<?(?P<inline>[^)\s>]+)"  # [text](target) and ![alt](target)
    r"|^\s{0,3}\[[^\]]+\]:\s*<?(?P<reference>[^\s>]+)"  # [label]: target
    r"|\b(?:src|href)\s*=\s*[\"'](?P<html>[^\"']+)",  # <img src="..."> and <a href="...">
    re.MULTILINE,
)


def relative_links(markdown: str) -> list[str]:
    """Link targets in ``markdown`` that only work beside the repository's files.

    >>> relative_links("![page](docs/page.png) [docs](https://x.io) [up](#install) `[a](b)`")
    ['docs/page.png']
    """
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    targets = (m.group("inline") or m.group("reference") or m.group("html") for m in LINK.finditer(prose))
    return [t for t in targets if not re.match(r"(https?:|mailto:|#)", t)]


def test_long_description_links_work_off_github() -> None:
    """PyPI shows the README away from the repository: a relative image or file link breaks there."""
    description = importlib.metadata.metadata("flask-status").get_payload()
    assert description, "the distribution has no long description"
    assert relative_links(str(description)) == []
