"""flask_status.checks.migrations_check against a real Alembic environment, tests/apps/migrations,
on real SQLite (a file of the test) and PostgreSQL (a schema of the test, dropped after it).

The environment's revisions, each creating or altering tables::

    1f0c5a8e2b7d create users
     ├── 6d2e9b4c1a30 add users.email
     └── 9a7b3c2d1e0f create orders        (written on a branch at the same time)
    c4e8f1a2b3d5 merge users.email and orders

"The code of another release" is a copy of it with revisions left out (an older release) or
added (a newer one). PostgreSQL is the shared server of ``bash .ci/services.sh``
(``FLASK_STATUS_TEST_POSTGRES_URL``); without it the PostgreSQL cases skip, or fail under CI=true.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _servers
import pytest
from _servers import sql_url_answering


def _require(module: str) -> Any:
    """Import a test dependency: skip the module without it, but fail in CI (CI=true)."""
    if _servers.IN_CI:
        return importlib.import_module(module)
    return pytest.importorskip(
        module, reason=f"{module} is not installed: pip install 'flask-status[migrations]' flask-sqlalchemy"
    )


sqlalchemy = _require("sqlalchemy")
_require("alembic")
flask_sqlalchemy = _require("flask_sqlalchemy")

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from flask import Flask  # noqa: E402

from flask_status import CheckResult, StatusManager  # noqa: E402
from flask_status.checks import migrations_check, sqlalchemy_check  # noqa: E402

POSTGRES_URL = os.environ.get(
    "FLASK_STATUS_TEST_POSTGRES_URL", "postgresql+psycopg://status:status-secret@127.0.0.1:5432/status_test"
)

MIGRATIONS = Path(__file__).resolve().parent / "apps" / "migrations"
USERS, EMAIL, ORDERS, MERGE = "1f0c5a8e2b7d", "6d2e9b4c1a30", "9a7b3c2d1e0f", "c4e8f1a2b3d5"
UNKNOWN = "0badc0ffee00"
STEP = {  # how a failing message names each revision
    USERS: f"<base> -> {USERS} (create users)",
    EMAIL: f"{USERS} -> {EMAIL} (add users.email)",
    ORDERS: f"{USERS} -> {ORDERS} (create orders)",
    MERGE: f"({EMAIL}, {ORDERS}) -> {MERGE} (merge users.email and orders)",
}
FILES = {
    USERS: "1f0c5a8e2b7d_create_users.py",
    EMAIL: "6d2e9b4c1a30_add_users_email.py",
    ORDERS: "9a7b3c2d1e0f_create_orders.py",
    MERGE: "c4e8f1a2b3d5_merge_users_email_and_orders.py",
}


# -- helpers ---------------------------------------------------------------------------------------


def release(tmp_path: Path, *, without: tuple[str, ...] = (), name: str = "release") -> Path:
    """A copy of the environment with the revisions ``without`` left out: the code of another release."""
    directory = tmp_path / name / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__", "conftest.py"))
    for revision in without:
        (directory / "versions" / FILES[revision]).unlink()
    return directory


def write_revision(directory: Path, revision: str, down: str | None, doc: str, extra: str = "") -> None:
    """A revision file as ``alembic revision`` writes them (an empty one: no schema change)."""
    (directory / "versions" / f"{revision}_{doc.replace(' ', '_')}.py").write_text(
        f'"""{doc}\n\nRevision ID: {revision}\n"""\n\n'
        f"revision = {revision!r}\ndown_revision = {down!r}\n{extra}\n\n"
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )


def config(directory: Path = MIGRATIONS, **attributes: Any) -> Config:
    alembic_config = Config()
    alembic_config.set_main_option("script_location", str(directory))
    alembic_config.attributes.update(attributes)
    return alembic_config


def upgrade(engine: Any, revision: str, directory: Path = MIGRATIONS, **attributes: Any) -> None:
    """``alembic upgrade revision`` on ``engine``'s database, committed."""
    with engine.begin() as connection:
        command.upgrade(config(directory, connection=connection, **attributes), revision)


def downgrade(engine: Any, revision: str, directory: Path = MIGRATIONS) -> None:
    with engine.begin() as connection:
        command.downgrade(config(directory, connection=connection), revision)


def set_versions(engine: Any, *revisions: str) -> None:
    """Write ``revisions`` into alembic_version by hand, as another release's migration would."""
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        )
        connection.execute(sqlalchemy.text("DELETE FROM alembic_version"))
        for revision in revisions:
            connection.execute(sqlalchemy.text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})


def versions_in(engine: Any) -> list[str]:
    with engine.connect() as connection:
        return sorted(row[0] for row in connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")))


def tables(engine: Any) -> set[str]:
    return set(sqlalchemy.inspect(engine).get_table_names())


# -- databases -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The shared PostgreSQL server's URL, once a connection to it runs ``SELECT 1``."""
    return sql_url_answering(POSTGRES_URL, "psycopg", "PostgreSQL")


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema of this test alone in the shared database, dropped with everything in it after."""
    schema = f"flask_status_migrations_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_url, connect_args={"connect_timeout": 3}, poolclass=sqlalchemy.NullPool)
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgres_engine(url: str, schema: str | None) -> Any:
    """An engine whose connections see ``schema`` only (tables and alembic_version land there)."""
    connect_args: dict[str, Any] = {"connect_timeout": 2}
    if schema is not None:
        connect_args["options"] = f"-csearch_path={schema}"
    return sqlalchemy.create_engine(url, connect_args=connect_args)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.server)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty database, SQLite or PostgreSQL; every connection a check took is back at the end."""
    if request.param == "sqlite":
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    else:
        engine = postgres_engine(request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_schema"))
    try:
        yield engine
        assert engine.pool.checkedout() == 0, "a connection was not returned"
    finally:
        engine.dispose()


# -- behind fails ----------------------------------------------------------------------------------


def test_empty_database_fails_and_is_left_alone(engine: Any) -> None:
    result = migrations_check(engine, MIGRATIONS)()
    assert result == CheckResult.fail(
        "4 migrations not applied (no revision in the database): "
        f"{STEP[USERS]}, {STEP[ORDERS]}, {STEP[EMAIL]}, {STEP[MERGE]}"
    )
    assert result.observed is None
    assert tables(engine) == set()  # only read: no version table created


def test_emptied_version_table_fails(engine: Any) -> None:
    """Downgraded to base: the version table is there, with no row."""
    upgrade(engine, "heads")
    downgrade(engine, "base")
    assert tables(engine) == {"alembic_version"}
    result = migrations_check(engine, MIGRATIONS)()
    assert result.status == "fail"
    assert result.message is not None
    assert result.message.startswith(f"4 migrations not applied (no revision in the database): {STEP[USERS]}, ")


def test_one_behind_fails_naming_the_pending_revision(engine: Any, tmp_path: Path) -> None:
    code = release(tmp_path, without=(ORDERS, MERGE))  # a linear release: users, then users.email
    upgrade(engine, USERS, code)
    result = migrations_check(engine, code)()
    assert result == CheckResult.fail(f"1 migration not applied: {USERS} -> {EMAIL} (add users.email)", observed=USERS)


def test_behind_on_a_branch_fails_with_what_upgrade_would_run(engine: Any) -> None:
    upgrade(engine, EMAIL)
    result = migrations_check(engine, MIGRATIONS)()
    assert result == CheckResult.fail(f"2 migrations not applied: {STEP[ORDERS]}, {STEP[MERGE]}", observed=EMAIL)
    assert tables(engine) == {"alembic_version", "users"}


def test_both_branches_applied_merge_pending_fails(engine: Any) -> None:
    upgrade(engine, EMAIL)
    upgrade(engine, ORDERS)
    assert versions_in(engine) == [EMAIL, ORDERS]  # two heads in the version table
    result = migrations_check(engine, MIGRATIONS)()
    assert result == CheckResult.fail(f"1 migration not applied: {STEP[MERGE]}", observed=[EMAIL, ORDERS])


# -- equal passes ----------------------------------------------------------------------------------


def test_upgraded_to_head_passes(engine: Any) -> None:
    upgrade(engine, "heads")
    check = migrations_check(engine, MIGRATIONS)
    expected = CheckResult.ok(f"database at head {MERGE}", observed=MERGE)
    assert check() == expected
    assert check() == expected
    assert tables(engine) == {"alembic_version", "users", "orders"}


def test_code_with_two_heads(engine: Any, tmp_path: Path) -> None:
    """Before the merge: both heads must be applied."""
    code = release(tmp_path, without=(MERGE,))
    check = migrations_check(engine, code)
    upgrade(engine, EMAIL, code)
    assert check() == CheckResult.fail(f"1 migration not applied: {STEP[ORDERS]}", observed=EMAIL)
    upgrade(engine, "heads", code)
    assert check() == CheckResult.ok(f"database at heads {EMAIL}, {ORDERS}", observed=[EMAIL, ORDERS])


def test_depends_on_heads_count_as_alembic_counts_them(engine: Any, tmp_path: Path) -> None:
    """A head another revision depends on is not kept in the version table once both are applied."""
    code = release(tmp_path)
    write_revision(code, "a0d17a0d17a0", None, "create audit branch", "branch_labels = ('audit',)")
    write_revision(code, "f5e4d3c2b1a0", MERGE, "use audit", "depends_on = 'a0d17a0d17a0'")
    check = migrations_check(engine, code)
    upgrade(engine, MERGE, code)
    assert check() == CheckResult.fail(
        f"2 migrations not applied: <base> -> a0d17a0d17a0 (create audit branch), {MERGE} -> f5e4d3c2b1a0 (use audit)",
        observed=MERGE,
    )
    upgrade(engine, "heads", code)
    assert versions_in(engine) == ["f5e4d3c2b1a0"]  # not the audit head: it is f5e4's dependency
    assert check() == CheckResult.ok("database at head f5e4d3c2b1a0", observed="f5e4d3c2b1a0")


# -- ahead or unknown passes -----------------------------------------------------------------------


def test_newer_release_migrated_first_passes(engine: Any, tmp_path: Path) -> None:
    """A rolling deploy: the new release (the whole environment) migrated; the old pods still run."""
    upgrade(engine, "heads")
    before_merge = migrations_check(engine, release(tmp_path, without=(MERGE,), name="before-merge"))
    first = migrations_check(engine, release(tmp_path, without=(EMAIL, ORDERS, MERGE), name="first"))
    expected = CheckResult.ok(
        f"database at {MERGE}, unknown to this code: a newer release migrated it?", observed=MERGE
    )
    assert before_merge() == expected
    assert first() == expected


def test_unknown_revision_passes(engine: Any) -> None:
    upgrade(engine, "heads")
    set_versions(engine, UNKNOWN)
    assert migrations_check(engine, MIGRATIONS)() == CheckResult.ok(
        f"database at {UNKNOWN}, unknown to this code: a newer release migrated it?", observed=UNKNOWN
    )


def test_unknown_revision_beside_a_known_one_passes(engine: Any) -> None:
    """What this code lacks may descend from what it has: it cannot tell it is behind."""
    set_versions(engine, EMAIL, UNKNOWN)
    assert migrations_check(engine, MIGRATIONS)() == CheckResult.ok(
        f"database at {UNKNOWN}, {EMAIL}; {UNKNOWN} unknown to this code: a newer release migrated it?",
        observed=[UNKNOWN, EMAIL],
    )


def test_code_without_revisions(engine: Any, tmp_path: Path) -> None:
    code = release(tmp_path, without=(USERS, EMAIL, ORDERS, MERGE))
    check = migrations_check(engine, code)
    assert check() == CheckResult.ok("no migrations in this code, none applied")
    set_versions(engine, USERS)
    assert check() == CheckResult.ok(
        f"database at {USERS}, unknown to this code: a newer release migrated it?", observed=USERS
    )


# -- the script directory is read once -------------------------------------------------------------


def test_script_directory_is_read_once(engine: Any, tmp_path: Path) -> None:
    code = release(tmp_path)
    check = migrations_check(engine, code)
    upgrade(engine, "heads")
    write_revision(code, "e7f8a9b0c1d2", MERGE, "add orders.note")
    # The running code is the one the factory read: the new file is the next release's.
    assert check() == CheckResult.ok(f"database at head {MERGE}", observed=MERGE)
    assert migrations_check(engine, code)() == CheckResult.fail(
        f"1 migration not applied: {MERGE} -> e7f8a9b0c1d2 (add orders.note)", observed=MERGE
    )
    shutil.rmtree(code)
    assert check() == CheckResult.ok(f"database at head {MERGE}", observed=MERGE)  # no file is read


def test_concurrent_runs_share_the_script_directory(engine: Any) -> None:
    upgrade(engine, EMAIL)
    check = migrations_check(engine, MIGRATIONS)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: check(), range(64)))
    assert (
        results == [CheckResult.fail(f"2 migrations not applied: {STEP[ORDERS]}, {STEP[MERGE]}", observed=EMAIL)] * 64
    )


def test_pending_list_is_cut_at_ten(tmp_path: Path) -> None:
    code = release(tmp_path, without=(USERS, EMAIL, ORDERS, MERGE))
    revisions = [f"{index:012x}" for index in range(1, 14)]
    for down, revision in zip([None, *revisions], revisions, strict=False):
        write_revision(code, revision, down, f"step {int(revision, 16)}")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        message = migrations_check(engine, code)().message
    finally:
        engine.dispose()
    assert message is not None
    assert message.startswith(
        "13 migrations not applied (no revision in the database): <base> -> 000000000001 (step 1), "
    )
    assert message.endswith(", 000000000009 -> 00000000000a (step 10), ... and 3 more")


# -- version table options -------------------------------------------------------------------------


def test_version_table_elsewhere(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        upgrade(engine, "heads", version_table="schema_versions")
        assert tables(engine) == {"schema_versions", "users", "orders"}
        assert migrations_check(engine, MIGRATIONS)().status == "fail"
        assert migrations_check(engine, MIGRATIONS, version_table="schema_versions")() == CheckResult.ok(
            f"database at head {MERGE}", observed=MERGE
        )
    finally:
        engine.dispose()


@pytest.mark.server
def test_postgres_version_table_schema(postgres_url: str, postgres_schema: str) -> None:
    """The version table in a schema off the search path, as ``version_table_schema`` in env.py puts it."""
    migrate = postgres_engine(postgres_url, postgres_schema)
    engine = postgres_engine(postgres_url, None)  # the default search path: not the test's schema
    try:
        upgrade(migrate, "heads", version_table_schema=postgres_schema)
        check = migrations_check(engine, MIGRATIONS, version_table_schema=postgres_schema)
        assert check() == CheckResult.ok(f"database at head {MERGE}", observed=MERGE)
        assert engine.pool.checkedout() == 0
    finally:
        migrate.dispose()
        engine.dispose()


# -- Flask-SQLAlchemy, through a real route ---------------------------------------------------------


def sqlalchemy_app(tmp_path: Path, **config: Any) -> tuple[Flask, Any]:
    app = Flask(__name__, root_path=str(tmp_path))
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    app.config.update(config)
    return app, flask_sqlalchemy.SQLAlchemy(app)


def test_flask_sqlalchemy_startup_route_runs_until_it_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The setup docs/checks-migrations.rst recommends, its lines as they are there: Flask-Migrate's
    layout, the check on a startup route with ``once=True``, the database on readiness."""
    shutil.copytree(MIGRATIONS, tmp_path / "migrations", ignore=shutil.ignore_patterns("__pycache__", "conftest.py"))
    monkeypatch.chdir(tmp_path)  # where `flask db upgrade` runs, next to migrations/
    # A failure is looked at again after STATUS_FAILURE_TTL (5 s): at once, for the test.
    app, db = sqlalchemy_app(tmp_path, STATUS_FAILURE_TTL=0)

    status = StatusManager(app)
    status.add_route("startup", "/health/startup").add_check("migrations", migrations_check(db), once=True)
    ready = status.add_route("ready", "/health/ready", readiness=True)
    ready.add_check("database", sqlalchemy_check(db), ttl=10, timeout=2.0)
    status.add_route("live", "/health/live")

    client = app.test_client()
    try:
        response = client.get("/health/startup")
        assert response.status_code == 503
        assert response.get_json() == {
            "status": "FAIL",
            "migrations": {
                "status": "fail",
                "message": "4 migrations not applied (no revision in the database): "
                f"{STEP[USERS]}, {STEP[ORDERS]}, {STEP[EMAIL]}, {STEP[MERGE]}",
            },
        }
        assert client.get("/health/ready").status_code == 200  # the database answers: not migrated
        assert client.get("/health/live").status_code == 200

        # flask db upgrade, by URL: env.py makes its own engine.
        alembic_config = config(tmp_path / "migrations")
        alembic_config.set_main_option("sqlalchemy.url", app.config["SQLALCHEMY_DATABASE_URI"])
        command.upgrade(alembic_config, "heads")

        response = client.get("/health/startup")
        assert response.status_code == 200
        passed = {
            "status": "OK",
            "migrations": {"status": "pass", "message": f"database at head {MERGE}", "observed": MERGE},
        }
        assert response.get_json() == passed

        # Passed once: never run again, even when the database goes back.
        command.downgrade(alembic_config, USERS)
        assert client.get("/health/startup").get_json() == passed
        with app.app_context():
            assert migrations_check(db)().status == "fail"
            assert db.engine.pool.checkedout() == 0
    finally:
        with app.app_context():
            db.engine.dispose()


def test_flask_sqlalchemy_bind(tmp_path: Path) -> None:
    reports = f"sqlite:///{tmp_path / 'reports.db'}"
    app, db = sqlalchemy_app(tmp_path, SQLALCHEMY_BINDS={"reports": reports})
    try:
        with app.app_context():
            upgrade(db.engines["reports"], "heads")
            assert migrations_check(db, MIGRATIONS, bind="reports")() == CheckResult.ok(
                f"database at head {MERGE}", observed=MERGE
            )
            assert migrations_check(db, MIGRATIONS)().status == "fail"  # the default bind is empty
    finally:
        with app.app_context():
            for bound in db.engines.values():
                bound.dispose()


def test_relative_directory_against_cwd_or_app_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = release(tmp_path, without=(MERGE,), name="cwd").parent
    root = release(tmp_path, name="root").parent
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        upgrade(engine, "heads")
        monkeypatch.chdir(cwd)
        outside = migrations_check(engine)
        with Flask(__name__, root_path=str(root)).app_context():
            inside = migrations_check(engine, "migrations")
        assert outside.__qualname__ == f"migrations_check(sqlite, {str(cwd / 'migrations')!r})"
        assert outside().message == f"database at {MERGE}, unknown to this code: a newer release migrated it?"
        assert inside.__qualname__ == f"migrations_check(sqlite, {str(root / 'migrations')!r})"
        assert inside().message == f"database at head {MERGE}"
        with (
            Flask(__name__, root_path=str(tmp_path)).app_context(),
            pytest.raises(ValueError, match=re.escape(f"directory {str(tmp_path / 'migrations')!r} does not exist")),
        ):
            migrations_check(engine)
    finally:
        engine.dispose()


# -- errors ----------------------------------------------------------------------------------------


def test_database_error_fails_with_the_drivers_error(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    app = Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check("migrations", migrations_check(engine, MIGRATIONS))
    try:
        response = app.test_client().get("/ready")
    finally:
        engine.dispose()
    assert response.status_code == 503
    assert response.get_json()["migrations"]["error"] == "OperationalError: unable to open database file"


def test_version_table_alembic_would_refuse_fails(engine: Any) -> None:
    """A revision beside its own ancestor: ``flask db upgrade`` would fail on it too."""
    set_versions(engine, USERS, EMAIL)
    app = Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check("migrations", migrations_check(engine, MIGRATIONS))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["migrations"]["error"] == (
        f"RevisionError: Requested revision {EMAIL} overlaps with other requested revisions {USERS}"
    )


@pytest.mark.server
def test_postgres_unreachable_fails_without_the_password(postgres_url: str) -> None:
    url = sqlalchemy.engine.make_url(postgres_url).set(port=_servers.free_port(), password="hunter2-secret")
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
    app = Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check("migrations", migrations_check(engine, MIGRATIONS))
    try:
        response = app.test_client().get("/ready")
    finally:
        engine.dispose()
    assert response.status_code == 503
    error = response.get_json()["migrations"]["error"]
    assert error.startswith("OperationalError: connection failed: ")
    assert "[SQL:" not in error
    assert "hunter2" not in response.get_data(as_text=True)


BAD_ARGUMENTS: list[tuple[Callable[[Any, Path], object], type[Exception], str]] = [
    (
        lambda engine, tmp: migrations_check(object(), MIGRATIONS),  # type: ignore[arg-type]
        TypeError,
        "migrations_check needs a SQLAlchemy Engine or a Flask-SQLAlchemy db, got object",
    ),
    (lambda engine, tmp: migrations_check("sqlite://", MIGRATIONS), TypeError, "db, got str"),  # type: ignore[arg-type]
    (
        lambda engine, tmp: migrations_check(engine, 42),  # type: ignore[arg-type]
        TypeError,
        "migrations_check directory must be a non-empty str or os.PathLike, got 42",
    ),
    (
        lambda engine, tmp: migrations_check(engine, ""),
        TypeError,
        "migrations_check directory must be a non-empty str or os.PathLike, got ''",
    ),
    (
        lambda engine, tmp: migrations_check(engine, tmp / "nowhere"),
        ValueError,
        "migrations_check directory '{tmp}/nowhere' does not exist",
    ),
    (
        lambda engine, tmp: migrations_check(engine, tmp / "file.txt"),
        ValueError,
        "migrations_check directory '{tmp}/file.txt' is not a directory",
    ),
    (
        lambda engine, tmp: migrations_check(engine, tmp / "empty"),
        ValueError,
        "migrations_check directory '{tmp}/empty' is not an Alembic environment: it has no env.py "
        "(create one with 'flask db init' or 'alembic init')",
    ),
    (
        lambda engine, tmp: migrations_check(engine, MIGRATIONS / "versions"),
        ValueError,
        f"migrations_check directory '{MIGRATIONS / 'versions'}' is not an Alembic environment",
    ),
    (
        lambda engine, tmp: migrations_check(engine, MIGRATIONS, bind="reports"),
        ValueError,
        "migrations_check bind applies to a Flask-SQLAlchemy db, not to an Engine",
    ),
    (
        lambda engine, tmp: migrations_check(engine, MIGRATIONS, bind=1),  # type: ignore[arg-type]
        TypeError,
        "migrations_check bind must be a bind key (str) or None, got 1",
    ),
    (
        lambda engine, tmp: migrations_check(engine, MIGRATIONS, version_table=""),
        TypeError,
        "migrations_check version_table must be a non-empty str, got ''",
    ),
    (
        lambda engine, tmp: migrations_check(engine, MIGRATIONS, version_table_schema=""),
        TypeError,
        "migrations_check version_table_schema must be a non-empty str or None, got ''",
    ),
]


@pytest.mark.parametrize(("call", "error", "text"), BAD_ARGUMENTS)
def test_bad_arguments(tmp_path: Path, call: Callable[[Any, Path], object], error: type[Exception], text: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("")
    engine = sqlalchemy.create_engine("sqlite://")
    try:
        with pytest.raises(error, match=re.escape(text.replace("{tmp}", str(tmp_path)))):
            call(engine, tmp_path)
    finally:
        engine.dispose()


def test_broken_revision_file(tmp_path: Path) -> None:
    code = release(tmp_path)
    (code / "versions" / "0000_notes.py").write_text("# no revision here\n")
    engine = sqlalchemy.create_engine("sqlite://")
    with pytest.raises(ValueError, match=re.escape(f"migrations_check directory {str(code)!r}: Could not determine")):
        migrations_check(engine, code)
    engine.dispose()


def test_revision_referred_to_but_missing(tmp_path: Path) -> None:
    code = release(tmp_path)
    (code / "versions" / FILES[USERS]).unlink()
    engine = sqlalchemy.create_engine("sqlite://")
    expected = f"migrations_check directory {str(code)!r}: revision {USERS!r} is referred to, but no file holds it"
    with (
        pytest.warns(UserWarning, match=f"Revision {USERS} referenced from"),  # Alembic's own warning
        pytest.raises(ValueError, match=re.escape(expected)),
    ):
        migrations_check(engine, code)
    engine.dispose()


def test_missing_alembic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] == "alembic":
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "alembic", None)  # "import alembic" raises ImportError
    with pytest.raises(ImportError) as info:
        migrations_check(object(), MIGRATIONS)  # type: ignore[arg-type]
    assert str(info.value) == "flask_status.checks.migrations needs Alembic: pip install 'flask-status[migrations]'"
    assert isinstance(info.value.__cause__, ImportError)
