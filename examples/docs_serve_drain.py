"""Drain on SIGTERM with a single-process server (``app.run()``, waitress).

python examples/docs_serve_drain.py     # then: kill -TERM <pid>
"""

import os

from flask import Flask

from flask_status import StatusManager
from flask_status.drain import install_sigterm_drain

app = Flask(__name__)
app.config["STATUS_DRAIN_DELAY"] = float(os.environ.get("STATUS_DRAIN_DELAY", "10"))
status = StatusManager(app)
status.add_route("live", "/health/live")
ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
ready.add_check("database", lambda: True, ttl=30)  # stands in for your real checks

if __name__ == "__main__":
    install_sigterm_drain(app)  # from the main thread, before serving
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
