"""flask_status.checks.sqlalchemy_check on SQLite (file and memory), with and without Flask-SQLAlchemy.

PostgreSQL, a real server, is in tests/test_checks_services.py.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _servers import eventually


def _require(module: str) -> Any:
    """Import a test dependency: skip the module without it, but fail in CI (CI=true)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} is not installed: pip install sqlalchemy flask-sqlalchemy")


sqlalchemy = _require("sqlalchemy")
flask_sqlalchemy = _require("flask_sqlalchemy")

from flask import Flask  # noqa: E402

from flask_status import StatusManager  # noqa: E402
from flask_status.checks import sqlalchemy_check  # noqa: E402


def status_app(check: Callable[[], Any], app: Flask | None = None, **options: Any) -> Flask:
    app = app or Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check("database", check, **options)
    return app


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (1)")
    connection.close()
    return path


def assert_passes(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert body["status"] == "OK"
    item: dict[str, Any] = body["database"]
    assert item["status"] == "pass"
    assert item["unit"] == "s"
    assert 0 <= item["observed"] < 2
    return item


def test_engine_sqlite_file(sqlite_file: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{sqlite_file}")
    try:
        assert_passes(status_app(sqlalchemy_check(engine)).test_client().get("/ready"))
    finally:
        engine.dispose()


def test_engine_sqlite_memory_with_statement() -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    try:
        check = sqlalchemy_check(engine, query=sqlalchemy.select(sqlalchemy.literal(1)))
        assert_passes(status_app(check).test_client().get("/ready"))
    finally:
        engine.dispose()


def test_custom_query(sqlite_file: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{sqlite_file}")
    try:
        check = sqlalchemy_check(engine, query="SELECT count(*) FROM t")
        assert_passes(status_app(check).test_client().get("/ready"))
    finally:
        engine.dispose()


def test_failing_query_fails_with_error(sqlite_file: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{sqlite_file}")
    try:
        check = sqlalchemy_check(engine, query="SELECT * FROM missing_table")
        response = status_app(check).test_client().get("/ready")
    finally:
        engine.dispose()
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "FAIL"
    error = body["database"]["error"]
    assert error == "OperationalError: no such table: missing_table"


def test_unopenable_database_fails(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        response = status_app(sqlalchemy_check(engine)).test_client().get("/ready")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert "unable to open database file" in response.get_json()["database"]["error"]


def test_locked_database_times_out(sqlite_file: Path) -> None:
    """A writer holds an exclusive lock: the query waits on it and the route stops waiting."""
    locker = sqlite3.connect(sqlite_file, isolation_level=None)
    engine = sqlalchemy.create_engine(f"sqlite:///{sqlite_file}", connect_args={"timeout": 3})
    try:
        locker.execute("BEGIN EXCLUSIVE")
        app = status_app(sqlalchemy_check(engine, query="SELECT count(*) FROM t"), timeout=0.3)
        started = time.monotonic()
        response = app.test_client().get("/ready")
        assert time.monotonic() - started < 2
        assert response.status_code == 503
        assert response.get_json()["database"]["error"] == "TimeoutError: no result within 0.3 s"
        locker.execute("ROLLBACK")
        # The run that timed out finishes once the lock is gone; the next request passes.
        assert eventually(lambda: app.test_client().get("/ready").status_code == 200, 5, every=0.05)
        assert_passes(app.test_client().get("/ready"))
    finally:
        locker.close()
        engine.dispose()


def test_flask_sqlalchemy_db(sqlite_file: Path) -> None:
    db = flask_sqlalchemy.SQLAlchemy()
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{sqlite_file}"
    db.init_app(app)
    check = sqlalchemy_check(db, query="SELECT x FROM t")  # no app context needed here
    try:
        assert_passes(status_app(check, app).test_client().get("/ready"))
    finally:
        with app.app_context():
            db.engine.dispose()


def test_flask_sqlalchemy_db_per_app_and_bind(tmp_path: Path, sqlite_file: Path) -> None:
    """One db, one check, two apps: each run uses the engine of the app it runs for."""
    db = flask_sqlalchemy.SQLAlchemy()
    good = Flask("good")
    good.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{sqlite_file}"
    good.config["SQLALCHEMY_BINDS"] = {"reports": f"sqlite:///{tmp_path / 'missing' / 'reports.db'}"}
    bad = Flask("bad")
    bad.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'missing' / 'app.db'}"
    for app in (good, bad):
        db.init_app(app)
    manager = StatusManager()
    route = manager.add_route("ready", "/ready")
    route.add_check("database", sqlalchemy_check(db, query="SELECT x FROM t"))
    route.add_check("reports", sqlalchemy_check(db, bind="reports"), critical=False)
    manager.init_app(good)
    manager.init_app(bad)
    try:
        response = good.test_client().get("/ready")
        assert response.status_code == 200
        body = response.get_json()
        assert body["status"] == "WARN"
        assert body["database"]["status"] == "pass"
        assert "unable to open database file" in body["reports"]["error"]
        response = bad.test_client().get("/ready")
        assert response.status_code == 503
        assert "unable to open database file" in response.get_json()["database"]["error"]
    finally:
        for app in (good, bad):
            with app.app_context():
                for engine in db.engines.values():
                    engine.dispose()


def test_health_json(sqlite_file: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{sqlite_file}")
    try:
        app = status_app(sqlalchemy_check(engine))
        response = app.test_client().get("/ready", headers={"Accept": "application/health+json"})
    finally:
        engine.dispose()
    assert response.status_code == 200
    (entry,) = response.get_json()["checks"]["database"]
    assert entry["status"] == "pass"
    assert entry["observedUnit"] == "s"
    assert entry["observedValue"] >= 0


def test_rejects_bad_arguments() -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    with pytest.raises(TypeError, match="Engine or a Flask-SQLAlchemy db"):
        sqlalchemy_check("sqlite://")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        sqlalchemy_check(engine, query="  ")
    with pytest.raises(TypeError, match="SQL text or a statement"):
        sqlalchemy_check(engine, query=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bind applies to a Flask-SQLAlchemy db"):
        sqlalchemy_check(engine, bind="reports")
    with pytest.raises(TypeError, match="bind key"):
        sqlalchemy_check(flask_sqlalchemy.SQLAlchemy(), bind=1)  # type: ignore[arg-type]
