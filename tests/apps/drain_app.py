"""The app tests/test_drain.py serves with gunicorn and with a single-process server.

gunicorn: ``gunicorn -c tests/apps/drain_gunicorn.py --chdir tests/apps drain_app:app``.
Plain: ``python tests/apps/drain_app.py werkzeug|waitress PORT``. ``DRAIN_DELAY`` (seconds)
sets ``STATUS_DRAIN_DELAY``.
"""

from __future__ import annotations

import os
import sys
import time

from flask import Flask, request

from flask_status import StatusManager

app = Flask(__name__)
app.config["STATUS_DRAIN_DELAY"] = float(os.environ.get("DRAIN_DELAY", "1.5"))
status = StatusManager(app)
status.add_route("live", "/health/live")
status.add_route("ready", "/health/ready", readiness=True).add_check("always", lambda: True)


@app.get("/slow")
def slow() -> str:
    time.sleep(float(request.args.get("seconds", "1")))
    return f"done by {os.getpid()}"


@app.get("/whoami")
def whoami() -> dict[str, object]:
    return {"pid": os.getpid(), "draining": status.draining}


def main(server: str, port: int) -> None:
    from flask_status.drain import install_sigterm_drain

    install_sigterm_drain(app)
    if server == "waitress":
        import waitress

        waitress.serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)
    else:
        app.run(host="127.0.0.1", port=port, threaded=True)
    print("server returned", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
