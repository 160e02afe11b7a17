"""Sphinx configuration of the flask-status documentation.

Build it with ``python3 dev.py docs``, or by hand::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

Every Python example on these pages runs: ``testcode`` / ``doctest`` blocks run with the
doctest builder, and files included from ``examples/`` run in ``tests/test_docs.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import flask_status

ROOT = Path(__file__).resolve().parent.parent

project = "flask-status"
author = "flask-status contributors"
copyright = "flask-status contributors"
release = flask_status.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "make_screenshot.py"]

# -- autodoc: the API reference documents the names users import --------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"undoc-members": False}

# -- doctest ---------------------------------------------------------------------------------
# Only the explicit ``doctest`` / ``testcode`` blocks of these pages run here. Docstrings pulled
# in by autodoc hold doctests of their own, which pytest runs (``--doctest-modules``).
doctest_test_doctest_blocks = ""
# Examples call Flask(__name__), as a module of yours would; doctests run in a namespace whose
# __name__ is "builtins", which Flask cannot find a root path for.
doctest_global_setup = '__name__ = "example"'
# The quick start page imports examples/quickstart.py as its reader would: ``import quickstart``.
doctest_path = [str(ROOT / "examples")]
# Status changes are logged on the "flask_status" logger at WARNING; keep them out of the
# build output (examples that care about them show them with on_change).
logging.getLogger("flask_status").addHandler(logging.NullHandler())

# -- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"flask-status {release}"
html_static_path: list[str] = []

# -- MyST (CHANGELOG.md) ---------------------------------------------------------------------
myst_heading_anchors = 3
