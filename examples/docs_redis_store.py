"""A shared store built from a Redis client of your own (needs the redis extra)."""

import os

import redis
from flask import Flask

from flask_status import RedisStore, StatusManager


def exchange_rates_ok() -> bool:
    return True  # stands in for a call to a third-party API


def create_app(redis_url: str | None = None) -> Flask:
    url = redis_url or os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    # Your client, your timeouts: keep every call short, so Redis can never hold a probe for long.
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    store = RedisStore(client, prefix="billing")

    app = Flask(__name__)
    status = StatusManager(app, store=store)
    ready = status.add_route("ready", "/health/ready", details=False)
    ready.add_check("exchange_rates", exchange_rates_ok, ttl=60, shared=True)
    return app
