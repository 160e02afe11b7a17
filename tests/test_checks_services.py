"""redis_check and sqlalchemy_check against real servers: Redis and PostgreSQL.

The shared servers come from ``bash .ci/services.sh`` (or anything answering at the URLs):

- ``FLASK_STATUS_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``
- ``FLASK_STATUS_TEST_POSTGRES_URL``, default
  ``postgresql+psycopg://status:status-secret@127.0.0.1:5432/status_test``

A test whose server does not answer is skipped with the reason, unless ``CI=true``: there a
missing server fails the test. Tests that stop, pause or restart a server start their own
private one (``redis-server`` / ``initdb`` + ``pg_ctl`` on a free port) and never touch the
shared servers.
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import _servers
import pytest
from _servers import SERVICES_HINT, RedisServer, eventually, free_port, import_or_unavailable, sql_url_answering
from _servers import redact_url as redact
from flask import Flask

from flask_status import StatusManager
from flask_status.checks import redis_check, sqlalchemy_check

REDIS_URL = os.environ.get("FLASK_STATUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "FLASK_STATUS_TEST_POSTGRES_URL", "postgresql+psycopg://status:status-secret@127.0.0.1:5432/status_test"
)

TEST_PACKAGES = "sqlalchemy 'psycopg[binary]' flask-sqlalchemy redis"

pytestmark = pytest.mark.server


# -- skip locally, fail in CI ----------------------------------------------------------------------


def unavailable(reason: str) -> NoReturn:
    """Skip the test for a missing server or tool; in CI (``CI=true``) fail it instead."""
    _servers.unavailable(reason, hint=SERVICES_HINT)


def require(module: str) -> Any:
    """Import a client library the tests need, under the same rule as a server."""
    return import_or_unavailable(module, TEST_PACKAGES)


def status_app(name: str, check: Callable[[], Any], app: Flask | None = None, **options: Any) -> Flask:
    app = app or Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check(name, check, **options)
    return app


def get_ready(app: Flask) -> tuple[int, dict[str, Any], str]:
    response = app.test_client().get("/ready")
    return response.status_code, response.get_json(), response.get_data(as_text=True)


def assert_passes(app: Flask, name: str) -> dict[str, Any]:
    code, body, text = get_ready(app)
    assert code == 200, text
    assert body["status"] == "OK"
    item: dict[str, Any] = body[name]
    assert item["status"] == "pass"
    assert item["unit"] == "s"
    assert 0 <= item["observed"] < 2
    return item


def assert_fails(app: Flask, name: str) -> str:
    """The route answers 503 with ``name`` failed; returns the check's error text."""
    code, body, text = get_ready(app)
    assert code == 503, text
    assert body["status"] == "FAIL"
    assert body[name]["status"] == "fail"
    error: str = body[name]["error"]
    return error


# -- Redis -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis server's URL, once it answers PING."""
    redis = require("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    problem = None
    try:
        client.ping()
    except redis.RedisError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    if problem is not None:
        unavailable(f"no Redis server answers at {redact(REDIS_URL)} ({problem})")
    return REDIS_URL


def test_redis_url_passes(redis_url: str) -> None:
    app = status_app("cache", redis_check(redis_url))
    assert_passes(app, "cache")
    assert_passes(app, "cache")  # the client built on the first run is reused


def test_redis_client_passes(redis_url: str) -> None:
    redis = require("redis")
    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    try:
        app = status_app("cache", redis_check(client))
        item = assert_passes(app, "cache")
        assert set(item) == {"status", "observed", "unit"}
    finally:
        client.close()


def test_redis_health_json(redis_url: str) -> None:
    app = status_app("cache", redis_check(redis_url), component_type="datastore")
    response = app.test_client().get("/ready", headers={"Accept": "application/health+json"})
    assert response.status_code == 200
    (entry,) = response.get_json()["checks"]["cache"]
    assert entry["status"] == "pass"
    assert entry["componentType"] == "datastore"
    assert entry["observedUnit"] == "s"


def test_redis_password(start_redis: Callable[..., RedisServer]) -> None:
    server = start_redis(password="right-secret")
    good = status_app("cache", redis_check(f"redis://:right-secret@127.0.0.1:{server.port}/0"))
    assert_passes(good, "cache")
    bad = status_app("cache", redis_check(f"redis://:hunter2-secret@127.0.0.1:{server.port}/0"))
    error = assert_fails(bad, "cache")
    assert error.startswith("AuthenticationError: ")
    text = bad.test_client().get("/ready").get_data(as_text=True)
    assert "hunter2" not in text
    assert "right-secret" not in text
    none = status_app("cache", redis_check(f"redis://127.0.0.1:{server.port}/0"))
    assert assert_fails(none, "cache").startswith("AuthenticationError: ")


def test_redis_unreachable_fails() -> None:
    require("redis")
    port = free_port()
    app = status_app("cache", redis_check(f"redis://:s3cret@127.0.0.1:{port}/0", timeout=1.0))
    error = assert_fails(app, "cache")
    assert error.startswith("ConnectionError: ")
    assert "Connection refused" in error
    assert "s3cret" not in error


def test_redis_server_stopped_mid_test(redis_server: RedisServer) -> None:
    app = status_app("cache", redis_check(redis_server.url(), timeout=1.0))
    assert_passes(app, "cache")
    redis_server.stop()
    error = assert_fails(app, "cache")
    assert error.startswith("ConnectionError: ")
    assert str(redis_server.port) in error


def test_redis_hung_server_hits_socket_timeout(redis_server: RedisServer) -> None:
    app = status_app("cache", redis_check(redis_server.url(), timeout=0.3), timeout=2.0)
    assert_passes(app, "cache")
    redis_server.pause()
    try:
        started = time.monotonic()
        error = assert_fails(app, "cache")
        assert time.monotonic() - started < 1.5
        assert error.startswith("TimeoutError: ")
        assert error != "TimeoutError: no result within 2 s"
    finally:
        redis_server.resume()
    assert_passes(app, "cache")  # the server is back: so is the check


def test_redis_hung_server_hits_route_timeout(redis_server: RedisServer) -> None:
    redis = require("redis")
    client = redis.Redis(port=redis_server.port, socket_timeout=3, socket_connect_timeout=3)
    app = status_app("cache", redis_check(client), timeout=0.3)
    try:
        assert_passes(app, "cache")
        redis_server.pause()
        started = time.monotonic()
        assert assert_fails(app, "cache") == "TimeoutError: no result within 0.3 s"
        assert time.monotonic() - started < 1.5
    finally:
        redis_server.resume()
        client.close()


def test_redis_factory_arguments() -> None:
    redis = require("redis")
    importlib.import_module("redis.asyncio")
    with pytest.raises(ValueError, match="got scheme 'http'"):
        redis_check("http://user:s3cret@127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="got scheme ''"):
        redis_check("127.0.0.1:6379")
    with pytest.raises(TypeError, match=r"not redis\.asyncio\.Redis"):
        redis_check(redis.asyncio.Redis())
    with pytest.raises(TypeError, match=r"redis\.Redis client or a redis:// URL"):
        redis_check(6379)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        redis_check("redis://127.0.0.1:6379/0", timeout=0)


# -- PostgreSQL ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The shared PostgreSQL server's URL, once a connection to it runs ``SELECT 1``."""
    return sql_url_answering(POSTGRES_URL, "psycopg", "PostgreSQL")


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Any]:
    sqlalchemy = require("sqlalchemy")
    engine = sqlalchemy.create_engine(postgres_url, connect_args={"connect_timeout": 2})
    yield engine
    engine.dispose()


def test_postgres_engine_passes(postgres_engine: Any) -> None:
    app = status_app("database", sqlalchemy_check(postgres_engine))
    assert_passes(app, "database")
    assert_passes(app, "database")


def test_postgres_custom_query(postgres_engine: Any) -> None:
    check = sqlalchemy_check(postgres_engine, query="SELECT count(*) FROM pg_catalog.pg_tables")
    assert_passes(status_app("database", check), "database")


def test_postgres_flask_sqlalchemy(postgres_url: str) -> None:
    flask_sqlalchemy = require("flask_sqlalchemy")
    db = flask_sqlalchemy.SQLAlchemy()
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = postgres_url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"connect_timeout": 2}}
    db.init_app(app)
    status_app("database", sqlalchemy_check(db), app)
    try:
        assert_passes(app, "database")
    finally:
        with app.app_context():
            db.engine.dispose()


def test_postgres_failing_query(postgres_engine: Any) -> None:
    app = status_app("database", sqlalchemy_check(postgres_engine, query="SELECT * FROM no_such_table"))
    error = assert_fails(app, "database")
    assert error.startswith('UndefinedTable: relation "no_such_table" does not exist')
    assert "[SQL:" not in error  # the driver's error, not SQLAlchemy's wrapper


def test_postgres_wrong_password_fails_without_leaking_it(postgres_url: str) -> None:
    sqlalchemy = require("sqlalchemy")
    url = sqlalchemy.engine.make_url(postgres_url).set(password="hunter2-wrong")
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
    try:
        app = status_app("database", sqlalchemy_check(engine))
        error = assert_fails(app, "database")
        assert error.startswith("OperationalError: connection failed: ")
        assert "password authentication failed" in error
        assert "hunter2" not in app.test_client().get("/ready").get_data(as_text=True)
    finally:
        engine.dispose()


def test_postgres_unreachable_fails() -> None:
    sqlalchemy = require("sqlalchemy")
    require("psycopg")
    port = free_port()
    engine = sqlalchemy.create_engine(
        f"postgresql+psycopg://status:s3cret@127.0.0.1:{port}/status_test", connect_args={"connect_timeout": 2}
    )
    try:
        app = status_app("database", sqlalchemy_check(engine))
        error = assert_fails(app, "database")
        assert error.startswith("OperationalError: connection failed: ")
        assert "Connection refused" in error
        assert "s3cret" not in error
    finally:
        engine.dispose()


def test_postgres_statement_timeout_fails(postgres_url: str) -> None:
    sqlalchemy = require("sqlalchemy")
    engine = sqlalchemy.create_engine(
        postgres_url, connect_args={"connect_timeout": 2, "options": "-c statement_timeout=200"}
    )
    try:
        app = status_app("database", sqlalchemy_check(engine, query="SELECT pg_sleep(3)"), timeout=2.0)
        started = time.monotonic()
        error = assert_fails(app, "database")
        assert time.monotonic() - started < 1.5
        assert error == "QueryCanceled: canceling statement due to statement timeout"
    finally:
        engine.dispose()


def test_postgres_slow_query_hits_route_timeout(postgres_url: str) -> None:
    sqlalchemy = require("sqlalchemy")
    engine = sqlalchemy.create_engine(postgres_url, connect_args={"connect_timeout": 2})
    try:
        check = sqlalchemy_check(engine, query="SELECT pg_sleep(1)")
        app = status_app("database", check, timeout=0.3)
        started = time.monotonic()
        assert assert_fails(app, "database") == "TimeoutError: no result within 0.3 s"
        assert time.monotonic() - started < 0.9
        # The run that timed out still finishes on its own and returns its connection.
        assert eventually(lambda: engine.pool.checkedout() == 0, 5), "the timed-out run did not return its connection"
    finally:
        engine.dispose()


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of this test alone (initdb in a temporary directory, a free port)."""

    bindir: str
    datadir: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        command = [*self.as_user, f"{self.bindir}/pg_ctl", "-D", str(self.datadir), *args]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.datadir} -c fsync=off"
        self.pg_ctl("-w", "-t", "30", "-l", str(self.datadir / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        self.pg_ctl("-w", "-m", "fast", "stop")


def _pg_bindir() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return str(Path(found).resolve().parent)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(candidates[-1]).parent) if candidates else None


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    require("sqlalchemy")
    require("psycopg")
    bindir = _pg_bindir()
    if bindir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)")
    as_user: list[str] = []
    datadir = Path(tempfile.mkdtemp(prefix="flask-status-pg-"))
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the postgres user, in a directory it owns.
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            shutil.rmtree(datadir)
            unavailable("running a private PostgreSQL as root needs the postgres user and runuser")
        shutil.chown(datadir, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PrivatePostgres(bindir, datadir / "data", free_port(), as_user)
    try:
        subprocess.run(
            [*as_user, f"{bindir}/initdb", "-D", str(server.datadir), "-U", "postgres", "--auth=trust", "-N"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )
        server.start()
        yield server
    finally:
        if (server.datadir / "postmaster.pid").exists():
            server.stop()
        shutil.rmtree(datadir, ignore_errors=True)


def test_postgres_server_stopped_then_restarted(private_postgres: PrivatePostgres) -> None:
    sqlalchemy = require("sqlalchemy")
    engine = sqlalchemy.create_engine(private_postgres.url, connect_args={"connect_timeout": 2})
    try:
        app = status_app("database", sqlalchemy_check(engine))
        assert_passes(app, "database")  # leaves a pooled connection to the server
        private_postgres.stop()
        error = assert_fails(app, "database")
        assert error == "AdminShutdown: terminating connection due to administrator command"
        # The pool dropped its dead connection; a new one is refused until the server is back.
        error = assert_fails(app, "database")
        assert "Connection refused" in error
        private_postgres.start()
        assert_passes(app, "database")
    finally:
        engine.dispose()
