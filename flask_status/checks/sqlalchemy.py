"""SQL databases: a query runs on a SQLAlchemy Engine or a Flask-SQLAlchemy ``db``
(extra ``sqlalchemy``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..results import CheckResult
from ._engines import driver_errors, engine_getter
from ._extras import missing_extra

if TYPE_CHECKING:
    from sqlalchemy.sql.expression import Executable

    from ._engines import EngineOrDb

__all__ = ["sqlalchemy_check"]


def sqlalchemy_check(
    engine_or_db: EngineOrDb, *, query: str | Executable = "SELECT 1", bind: str | None = None
) -> Callable[[], CheckResult]:
    """A check that ``query`` runs on a database: ``observed`` is the round trip in seconds.

    ``engine_or_db`` is a SQLAlchemy ``Engine``, or a Flask-SQLAlchemy ``db`` whose engine is
    looked up on each run, inside the app context the runner provides (``db.engine``, or
    ``db.engines[bind]`` for another bind key, with Flask-SQLAlchemy 3). The round trip
    counts checking a connection out of the pool (connecting, when the pool has none),
    running ``query`` and returning the connection; nothing is committed. ``query`` is SQL
    text (``"SELECT 1"``) or a SQLAlchemy statement (``sqlalchemy.select(1)``).

    An error (unreachable server, bad credentials, a failing query) raises, so the check fails
    with the error's text: the driver's own exception for database errors (SQLAlchemy's
    ``DBAPIError`` is unwrapped, e.g. ``OperationalError: connection failed: ...`` from
    psycopg, without the statement and parameters SQLAlchemy appends).

    The runner's timeout only stops the request waiting: bound the query itself too, e.g.
    ``create_engine(url, connect_args={"connect_timeout": 2})`` and a ``statement_timeout``
    for PostgreSQL, or ``pool_timeout``. Needs SQLAlchemy:
    ``pip install 'flask-status[sqlalchemy]'`` (``ImportError`` saying so otherwise).

    Examples (not run as doctests: SQLAlchemy is optional)::

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
        ready.add_check("database", sqlalchemy_check(engine), ttl=10, timeout=2.0)

        db = SQLAlchemy(app)  # Flask-SQLAlchemy
        ready.add_check("database", sqlalchemy_check(db), ttl=10)
        ready.add_check("reports", sqlalchemy_check(db, bind="reports", query="SELECT 1 FROM jobs LIMIT 1"))
    """
    try:
        import sqlalchemy
        from sqlalchemy.sql.expression import Executable
    except ImportError as exc:
        raise missing_extra(__name__, "SQLAlchemy", "sqlalchemy") from exc

    if isinstance(query, str):
        if not query.strip():
            raise ValueError("sqlalchemy_check query must not be empty")
        statement: Executable = sqlalchemy.text(query)
    elif isinstance(query, Executable):
        statement = query
    else:
        raise TypeError(f"sqlalchemy_check query must be SQL text or a statement, got {type(query).__name__}")
    get_engine, label = engine_getter(engine_or_db, bind, "sqlalchemy_check")

    def check_sqlalchemy() -> CheckResult:
        target = get_engine()
        started = time.perf_counter()
        with driver_errors(), target.connect() as connection:
            connection.execute(statement).close()
        elapsed = round(time.perf_counter() - started, 6)
        return CheckResult.ok(observed=elapsed, unit="s")

    check_sqlalchemy.__qualname__ = f"sqlalchemy_check({label})"
    return check_sqlalchemy
