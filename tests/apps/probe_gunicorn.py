"""gunicorn config of tests/test_listener.py: what a user writes for the probe listener."""

from flask_status.gunicorn import *  # noqa: F403

graceful_timeout = 5
