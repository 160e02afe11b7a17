"""The app whose history tests/test_history.py reads from another process (flask status --history)."""

from __future__ import annotations

import os

from flask import Flask

from flask_status import StatusManager

app = Flask(__name__)
app.config["STATUS_STORE_URL"] = os.environ.get("STATUS_STORE_URL")
app.config["STATUS_STORE_PREFIX"] = os.environ.get("HISTORY_PREFIX", "history-test")
status = StatusManager(app)
status.add_route("details", "/details", history=True).add_check("db", lambda: True)
