"""flask-status: health and status routes for Flask, with cached, bounded, parallel checks.

The names users write are here; building blocks (the engine, the stores, the renderers) are
importable from their own modules. Imports are lazy (PEP 562): ``import flask_status`` loads
no Flask until a name that needs it is used, so ``python -m flask_status.probe`` stays cheap.

>>> from flask import Flask
>>> from flask_status import StatusManager
>>> app = Flask(__name__)
>>> status = StatusManager(app)
>>> ready = status.add_route("ready", "/health/ready")
>>> _ = ready.add_check("database", lambda: True, ttl=30)
>>> app.test_client().get("/health/ready").status_code
200
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth import all_of, any_of, basic_auth, bearer_token, ip_allowlist
    from .compat import FlaskStatus
    from .definitions import StatusRoute
    from .extension import StatusManager
    from .render.json import RouteReport
    from .results import CheckResult, FieldResult, Status
    from .stores.redis import RedisStore
    from .web.events import StatusEvent

__version__ = "2.0.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "StatusManager": ".extension",
    "StatusRoute": ".definitions",
    "CheckResult": ".results",
    "FieldResult": ".results",
    "Status": ".results",
    "RouteReport": ".render.json",
    "StatusEvent": ".web.events",
    "FlaskStatus": ".compat",
    "RedisStore": ".stores.redis",
    "all_of": ".auth",
    "any_of": ".auth",
    "basic_auth": ".auth",
    "bearer_token": ".auth",
    "ip_allowlist": ".auth",
}

__all__ = [
    "CheckResult",
    "FieldResult",
    "FlaskStatus",
    "RedisStore",
    "RouteReport",
    "Status",
    "StatusEvent",
    "StatusManager",
    "StatusRoute",
    "__version__",
    "all_of",
    "any_of",
    "basic_auth",
    "bearer_token",
    "ip_allowlist",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flask_status' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
