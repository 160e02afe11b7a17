"""Ready-made checks: factories returning a zero-argument callable for ``route.add_check``.

Each factory validates its arguments when called and returns a check that gives a
:class:`flask_status.CheckResult` (or raises, which fails the check with the error's text):

- :func:`disk_check` (stdlib): share of a filesystem in use, warning and failing at ratios.
- :func:`http_check` (stdlib ``urllib``): a URL answers with an expected HTTP status.
- :func:`sqlalchemy_check` (extra ``sqlalchemy``): a query runs on an Engine or a
  Flask-SQLAlchemy ``db``.
- :func:`redis_check` (extra ``redis``): a Redis server answers ``PING``.

Nothing here imports an optional library until its factory is called; a factory whose library
is missing raises ``ImportError`` saying which extra to install.

>>> from flask import Flask
>>> from flask_status import StatusManager
>>> from flask_status.checks import disk_check
>>> app = Flask(__name__)
>>> ready = StatusManager(app).add_route("ready", "/health/ready")
>>> _ = ready.add_check("disk", disk_check("/", warn=1.0, fail=1.0), ttl=30)
>>> app.test_client().get("/health/ready").status_code
200

The usual setup, with real services::

    from flask_status.checks import disk_check, http_check, redis_check, sqlalchemy_check

    ready.add_check("database", sqlalchemy_check(db), ttl=10, timeout=2.0)
    ready.add_check("cache", redis_check("redis://cache:6379/0"), ttl=10, critical=False)
    ready.add_check("billing", http_check("http://billing:8000/health/live", timeout=1.0))
    ready.add_check("disk", disk_check("/var/lib/app", warn=0.85, fail=0.95), ttl=60)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .container import cpu_check as cpu_check
    from .container import memory_check as memory_check
    from .disk import disk_check as disk_check
    from .dns import dns_check as dns_check
    from .http import http_check as http_check
    from .memcached import memcached_check as memcached_check
    from .migrations import migrations_check as migrations_check
    from .rabbitmq import rabbitmq_check as rabbitmq_check
    from .redis import redis_check as redis_check
    from .smtp import smtp_check as smtp_check
    from .sqlalchemy import sqlalchemy_check as sqlalchemy_check
    from .tcp import tcp_check as tcp_check

__all__ = [
    "cpu_check",
    "disk_check",
    "dns_check",
    "http_check",
    "memcached_check",
    "memory_check",
    "migrations_check",
    "rabbitmq_check",
    "redis_check",
    "smtp_check",
    "sqlalchemy_check",
    "tcp_check",
]

# Factory name -> submodule defining it. Submodules load on first use of their factory.
_FACTORIES = {
    "cpu_check": "container",
    "disk_check": "disk",
    "dns_check": "dns",
    "http_check": "http",
    "memcached_check": "memcached",
    "memory_check": "container",
    "migrations_check": "migrations",
    "rabbitmq_check": "rabbitmq",
    "redis_check": "redis",
    "smtp_check": "smtp",
    "sqlalchemy_check": "sqlalchemy",
    "tcp_check": "tcp",
}


def __getattr__(name: str) -> Any:
    """Import a factory's submodule on first access (PEP 562)."""
    module = _FACTORIES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
