"""FlaskStatus: the 1.x single-route API, kept working on top of StatusManager."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from ._validate import optional_authenticator
from .definitions import Authenticator, Field, normalize_message, normalize_url
from .extension import EXTENSION_KEY, StatusManager

__all__ = ["FlaskStatus"]


class FlaskStatus:
    """One status route, as in flask-status 1.x: ``FlaskStatus(app)`` serves ``/api/status``.

    ``url`` gets a leading slash if it lacks one; ``message`` is a dict (the JSON body) or a
    str (``{"message": str}``); ``authenticator`` is any view decorator. ``add_field(key,
    value)`` adds a constant, or a callable run on each request (or cached with ``ttl=``).

    Fixed since 1.0.1: callables run on request, not once at registration; a raising callable
    makes the route answer 503 with the error in its entry instead of breaking; instances
    share nothing (no shared default message); several instances live on one app (endpoints
    ``status_ping``, ``status_2_ping``...); any callable decorator is a valid authenticator.

    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> flask_status = FlaskStatus(app)
    >>> flask_status.add_field("error", False)
    >>> app.test_client().get("/api/status").get_json()
    {'status': 'OK', 'error': False}
    """

    def __init__(
        self,
        app: Flask | None = None,
        url: str = "/api/status",
        message: Mapping[str, Any] | str | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.url = normalize_url(url)
        self.message = normalize_message(message)
        self.authenticator = optional_authenticator(authenticator)
        self._fields: list[tuple[str, Any, dict[str, Any]]] = []
        self._managers: list[StatusManager] = []
        if app is not None:
            self.init_app(app)

    @property
    def manager(self) -> StatusManager:
        """The :class:`StatusManager` behind the last ``init_app``: add routes to it to grow."""
        if not self._managers:
            raise RuntimeError("FlaskStatus has no app yet: call init_app(app) first")
        return self._managers[-1]

    def init_app(
        self,
        app: Flask,
        url: str | None = None,
        message: Mapping[str, Any] | str | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        """Mount the status route on ``app``; arguments given here override the constructor's."""
        route_url = normalize_url(url) if url is not None else self.url
        body = normalize_message(message) if message is not None else self.message
        auth = optional_authenticator(authenticator if authenticator is not None else self.authenticator)
        taken = app.extensions.get(EXTENSION_KEY, {})
        name, n = "status", 1
        while name in taken:
            n += 1
            name = f"status_{n}"
        manager = StatusManager(name=name)
        route = manager.add_route("ping", route_url, message=body, authenticator=auth)
        for key, value, options in self._fields:
            route.add_field(key, value, **options)
        manager.init_app(app)
        self._managers.append(manager)

    def add_field(self, key: str, value: Any, *, ttl: float | None = None, timeout: float | None = None) -> None:
        """Add ``key`` to the payload: a JSON-serialisable constant, or a callable run on request.

        ``key`` must be a str and a constant JSON-serialisable (else ``TypeError``), as in 1.x.

        >>> status = FlaskStatus()
        >>> status.add_field("database", lambda: True, ttl=30)
        """
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, not {type(key).__name__}: {key!r}")
        options: dict[str, Any] = {"ttl": ttl, "timeout": timeout}
        # Validate now, even before init_app, so misuse fails where it happens.
        Field(key, value, **options)
        if key in self.message:
            raise ValueError(f"field name {key!r} is already a key of the status message")
        if any(existing == key for existing, _, _ in self._fields):
            raise ValueError(f"a field named {key!r} was already added")
        for manager in self._managers:
            manager.routes["ping"].add_field(key, value, **options)
        self._fields.append((key, value, options))
