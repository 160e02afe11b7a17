"""gunicorn config of tests/test_drain.py: what a user writes to drain on SIGTERM."""

from flask_status.gunicorn import *  # noqa: F403

graceful_timeout = 10
