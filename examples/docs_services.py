"""Brokers, caches, mail and MySQL (needs the rabbitmq, memcached and mysql extras).

flask --app "examples.docs_services:create_app()" status

Building the app connects to nothing: each factory only reads its arguments; the checks
connect when a route runs them.
"""

import logging
import os

from flask import Flask
from sqlalchemy import create_engine

from flask_status import StatusManager, bearer_token
from flask_status.checks import memcached_check, rabbitmq_check, smtp_check, sqlalchemy_check

# pika logs every failed connection at ERROR, with a traceback: the check reports it already.
logging.getLogger("pika").setLevel(logging.CRITICAL)


def create_app(test_config: dict[str, object] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MYSQL_URL"] = os.environ.get("MYSQL_URL", "mysql+pymysql://app:secret@mariadb:3306/app")
    app.config["RABBITMQ_URL"] = os.environ.get("RABBITMQ_URL", "amqp://app:secret@rabbitmq:5672/app")
    app.config["MEMCACHED_SERVERS"] = ["memcached-a:11211", "memcached-b:11211"]
    app.config["SMTP_HOST"], app.config["SMTP_PORT"] = "smtp.example.com", 587
    app.config["SMTP_USER"], app.config["SMTP_PASSWORD"] = "mailer", os.environ.get("SMTP_PASSWORD", "")
    app.config["JOBS_QUEUE"] = "jobs"
    app.config["STATUS_TOKENS"] = os.environ.get("STATUS_TOKENS")
    app.config.update(test_config or {})

    # MariaDB / MySQL: sqlalchemy_check on an engine whose every wait is bounded, and whose
    # pooled connections the server dropped (wait_timeout, a restart) are replaced, not failed on.
    engine = create_engine(
        app.config["MYSQL_URL"],
        connect_args={"connect_timeout": 2, "read_timeout": 2, "write_timeout": 2},
        pool_pre_ping=True,
        pool_recycle=3600,
    )
    database = sqlalchemy_check(engine)  # SELECT 1
    broker = rabbitmq_check(app.config["RABBITMQ_URL"], timeout=1.0)  # login, vhost, a channel

    status = StatusManager(app)
    ready = status.add_route("ready", "/health/ready", details=False, readiness=True)
    ready.add_check("database", database, ttl=10, timeout=2.0)
    ready.add_check("broker", broker, ttl=15, timeout=2.0)

    details = status.add_route("details", "/health/details", authenticator=bearer_token())
    details.add_check("database", database, ttl=10, timeout=2.0)  # shares ready's result
    details.add_check("broker", broker, ttl=15, timeout=2.0)
    details.add_check(
        "jobs",  # the queue exists; its depth goes in the message
        rabbitmq_check(app.config["RABBITMQ_URL"], timeout=1.0, queue=app.config["JOBS_QUEUE"]),
        ttl=30,
        timeout=2.0,
        critical=False,
    )
    details.add_check(
        "cache",  # every server answers "version", each within 0.5 s
        memcached_check(app.config["MEMCACHED_SERVERS"], timeout=0.5),
        ttl=10,
        timeout=2.0,
        critical=False,
    )
    details.add_check(
        "mail",  # greeting, EHLO, STARTTLS (certificate verified), AUTH, NOOP, QUIT: no mail sent
        smtp_check(
            app.config["SMTP_HOST"],
            app.config["SMTP_PORT"],
            starttls=True,
            username=app.config["SMTP_USER"],
            password=app.config["SMTP_PASSWORD"],
            timeout=5.0,
        ),
        ttl=60,
        timeout=10.0,
        critical=False,
    )
    return app
