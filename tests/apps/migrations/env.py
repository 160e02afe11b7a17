"""The Alembic environment of tests/test_checks_migrations.py: a real one, as ``alembic init``
or ``flask db init`` would leave it, with the database given by the test.

The test gives either an open connection, ``config.attributes["connection"]`` (its transaction
is the test's to commit), or a URL, ``sqlalchemy.url``, for which an engine is made and disposed
of here. ``config.attributes["version_table"]`` and ``["version_table_schema"]`` move the version
table, as an env.py may. Offline mode (``alembic upgrade --sql``) prints the SQL.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

config = context.config

# No models: the revisions spell out their tables (autogenerate is not used by the tests).
target_metadata = None


def options() -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "version_table": config.attributes.get("version_table", "alembic_version"),
        "version_table_schema": config.attributes.get("version_table_schema"),
        # SQLite alters tables by copying them: batch mode, as Flask-Migrate sets it up for SQLite.
        "render_as_batch": True,
    }


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options())
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, **options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("tests/apps/migrations/env.py needs config.attributes['connection'] or sqlalchemy.url")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
