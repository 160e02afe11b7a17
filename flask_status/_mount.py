"""How routes reach an app: URL rules on the app itself or through a blueprint, and URL checks.

A manager registered on an app adds its routes with :class:`AppMount`; one registered on a
blueprint adds them, for each app the blueprint is registered on, with :class:`BlueprintMount`
(which adds the blueprint's prefix and endpoint name). Both add the same two rules per route:
the GET view, and a JSON 405 for every other method.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.blueprints import BlueprintSetupState

from .web.views import OTHER_METHODS, method_not_allowed

__all__ = ["AppMount", "BlueprintMount", "Mount", "check_url_free", "join"]


def check_url_free(app: Flask, rule: str) -> None:
    """Refuse ``rule`` when ``app`` already answers GET there, naming the endpoint that does.

    >>> app = Flask(__name__)
    >>> check_url_free(app, "/health")
    """
    for existing in app.url_map.iter_rules():
        if existing.rule == rule and "GET" in (existing.methods or ()):
            raise ValueError(f"url {rule!r} is already routed on app {app.name!r} (endpoint {existing.endpoint!r})")


def join(prefix: str, url: str) -> str:
    """``url`` under ``prefix``.

    >>> join("/ops/", "/live"), join("/ops", "/"), join("", "/live")
    ('/ops/live', '/ops', '/live')
    """
    if not prefix:
        return url
    prefix = prefix.rstrip("/")
    return prefix if url == "/" else prefix + url


def _add_rules(add_url_rule: Callable[..., Any], rule: str, endpoint: str, view: Callable[..., Any]) -> None:
    add_url_rule(rule, endpoint, view, methods=["GET"], provide_automatic_options=False)
    # "-" is in no route's name, so this never takes a status route's endpoint.
    add_url_rule(
        rule, f"{endpoint}-not-allowed", method_not_allowed, methods=OTHER_METHODS, provide_automatic_options=False
    )


class Mount:
    """How routes reach one app: the final URL rule of a route's URL, and adding its view."""

    def rule(self, url: str) -> str:
        """The rule ``url`` is served at on the app, prefixes included."""
        raise NotImplementedError

    def add(self, url: str, endpoint: str, view: Callable[..., Any]) -> None:
        """Serve ``view`` at ``url`` under ``endpoint``."""
        raise NotImplementedError


class AppMount(Mount):
    """Routes added to the app itself, under the manager's ``url_prefix``. Holds the app weakly."""

    def __init__(self, app: Flask, prefix: str) -> None:
        self.app = weakref.ref(app)
        self.prefix = prefix

    def rule(self, url: str) -> str:
        return join(self.prefix, url)

    def add(self, url: str, endpoint: str, view: Callable[..., Any]) -> None:
        app = self.app()
        if app is not None:
            _add_rules(app.add_url_rule, self.rule(url), endpoint, view)


class BlueprintMount(Mount):
    """Routes added through a blueprint: its ``url_prefix`` and ``"<bp>.<endpoint>"`` names."""

    def __init__(self, setup: BlueprintSetupState, prefix: str) -> None:
        self.setup = setup
        self.prefix = prefix

    def rule(self, url: str) -> str:
        return join(self.setup.url_prefix or "", join(self.prefix, url))

    def add(self, url: str, endpoint: str, view: Callable[..., Any]) -> None:
        # BlueprintSetupState adds the blueprint's url_prefix and names the endpoint "<bp>.<endpoint>".
        _add_rules(self.setup.add_url_rule, join(self.prefix, url), endpoint, view)
