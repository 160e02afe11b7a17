"""An ``async def`` check (needs the async extra: pip install "flask-status[async]")."""

import asyncio

from flask import Flask, current_app

from flask_status import StatusManager


def create_app(test_config: dict[str, object] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["BROKER_HOST"] = "broker.internal"
    app.config["BROKER_PORT"] = 5672
    app.config.update(test_config or {})
    status = StatusManager(app)
    ready = status.add_route("ready", "/health/ready", details=False)

    @ready.check("broker", ttl=10, timeout=2.0)
    async def broker() -> bool:
        # Checks run inside the app context: current_app works, request does not.
        host, port = current_app.config["BROKER_HOST"], current_app.config["BROKER_PORT"]
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()
        return True

    return app
