#!/usr/bin/env python3
"""Make docs/status-page.png: the HTML page of a details route, as headless Chromium shows it.

    .venv/bin/python docs/make_screenshot.py     # needs Debian's chromium (apt-get install chromium)

Starts an app like examples/app.py (without its token, with fixed values so the picture does
not depend on the machine) on a real server on loopback, asks once for JSON so that the results
are a few seconds old, then has Chromium load the page (it sends a browser's Accept header).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from flask_status import CheckResult, StatusManager, __version__

OUTPUT = Path(__file__).resolve().parent / "status-page.png"


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: object) -> None:
        pass


def database() -> bool:
    time.sleep(0.04)  # a round trip
    return True


def queue() -> CheckResult:
    return CheckResult.warn("112 jobs waiting", observed=112, unit="jobs")


def disk() -> CheckResult:
    return CheckResult.ok("disk 41% full, 18.2 GiB free", observed=0.41, unit="ratio")


def cache() -> bool:
    raise ConnectionError("redis://cache:6379: connection refused")


def create_app() -> Flask:
    app = Flask(__name__)
    status = StatusManager(app)
    details = status.add_route("details", "/health/details", message={"service": "billing", "version": __version__})
    details.add_field("release", "2026.11.25")
    details.add_check("database", database, ttl=30, timeout=2.0)
    details.add_check("queue", queue, ttl=30, critical=False)
    details.add_check("disk", disk, ttl=60, critical=False)
    details.add_check("cache", cache, ttl=30, critical=False)
    details.add_field("workers", lambda: {"busy": 3, "idle": 5}, ttl=30)
    return app


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("make_screenshot.py: chromium not found (apt-get install chromium)", file=sys.stderr)
        return 1
    logging.getLogger("flask_status").setLevel(logging.ERROR)  # the warnings are the point here
    server = make_server("127.0.0.1", 0, create_app(), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/health/details"
    try:
        with contextlib.suppress(urllib.error.HTTPError):  # a 503 is an answer too
            urllib.request.urlopen(url, timeout=10).close()  # JSON: runs the checks once
        time.sleep(3.2)  # so the page shows ages
        with tempfile.TemporaryDirectory() as profile:
            command = [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--no-proxy-server",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={OUTPUT}",
                "--window-size=1000,700",
                url,
            ]
            env = {**os.environ, "HOME": profile}
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    finally:
        server.shutdown()
        server.server_close()
    if done.returncode != 0 or not OUTPUT.exists():
        print(done.stderr, file=sys.stderr)
        return 1
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
