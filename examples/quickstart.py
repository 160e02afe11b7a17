from flask import Flask

from flask_status import StatusManager, bearer_token

app = Flask(__name__)
app.config["STATUS_TOKENS"] = "change-me"  # config first: StatusManager(app) reads it
status = StatusManager(app)


def database_ok() -> bool:
    return True  # stands in for a real round trip to your database, such as SELECT 1


# Liveness: no checks, so a database outage never gets the process restarted.
status.add_route("live", "/health/live")
# Readiness, for the load balancer: it answers with its status alone.
ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
ready.add_check("database", database_ok, ttl=30, timeout=2.0)
# Details, for people and monitoring, behind a bearer token.
details = status.add_route("details", "/health/details", authenticator=bearer_token())
details.add_field("version", "1.4.2")
details.add_check("database", database_ok, ttl=30, timeout=2.0)  # shares ready's cached result
