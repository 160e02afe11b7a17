"""flask-status: health and status routes for Flask, with cached, bounded, parallel checks.

>>> from flask import Flask
>>> from flask_status import StatusManager
>>> app = Flask(__name__)
>>> status = StatusManager(app)
>>> ready = status.add_route("ready", "/health/ready")
>>> _ = ready.add_check("database", lambda: True, ttl=30)
>>> app.test_client().get("/health/ready").status_code
200
"""

from .auth import all_of, any_of, basic_auth, bearer_token, ip_allowlist
from .cache import MemoryStore, ResultStore, SharedStore, StoreUnavailable
from .compat import FlaskStatus
from .field import CheckOptions, CheckResult, Field, FieldOptions, FieldResult, Status
from .manager import StatusManager
from .route import StatusRoute
from .runner import Runner
from .state import RouteReport, StatusEvent, StatusState

__version__ = "2.0.0.dev0"

__all__ = [
    "CheckOptions",
    "CheckResult",
    "Field",
    "FieldOptions",
    "FieldResult",
    "FlaskStatus",
    "MemoryStore",
    "ResultStore",
    "SharedStore",
    "StoreUnavailable",
    "RouteReport",
    "Runner",
    "Status",
    "StatusEvent",
    "StatusManager",
    "StatusRoute",
    "StatusState",
    "__version__",
    "all_of",
    "any_of",
    "basic_auth",
    "bearer_token",
    "ip_allowlist",
]
