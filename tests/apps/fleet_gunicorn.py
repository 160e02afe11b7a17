"""gunicorn config of tests/test_fleet.py: each worker appends its pid to ``FLEET_BOOTED`` once
its app is loaded, just before it starts serving, so the test knows when every worker is up."""

from __future__ import annotations

import os
from typing import Any


def post_worker_init(worker: Any) -> None:
    path = os.environ.get("FLEET_BOOTED")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)
