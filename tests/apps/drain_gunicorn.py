"""gunicorn config of tests/test_drain.py: what a user writes to drain on SIGTERM."""

from flask_status.drain import post_worker_init, when_ready  # noqa: F401

graceful_timeout = 10
