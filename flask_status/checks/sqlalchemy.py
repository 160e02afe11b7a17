"""SQL databases: a query runs on a SQLAlchemy Engine or a Flask-SQLAlchemy ``db``
(extra ``sqlalchemy``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..results import CheckResult
from ._extras import missing_extra

if TYPE_CHECKING:
    from typing import Protocol, TypeAlias

    from sqlalchemy.engine import Engine
    from sqlalchemy.sql.expression import Executable

    class FlaskSQLAlchemyLike(Protocol):
        """What the check uses of a Flask-SQLAlchemy ``db``: its engines, per bind key."""

        @property
        def engine(self) -> Engine: ...

        @property
        def engines(self) -> dict[str | None, Engine]: ...

    EngineOrDb: TypeAlias = Engine | FlaskSQLAlchemyLike

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
        from sqlalchemy.engine import Engine
        from sqlalchemy.exc import DBAPIError
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
    if bind is not None and not isinstance(bind, str):
        raise TypeError(f"sqlalchemy_check bind must be a bind key (str) or None, got {bind!r}")

    get_engine: Callable[[], Engine]
    if isinstance(engine_or_db, Engine):
        if bind is not None:
            raise ValueError("sqlalchemy_check bind applies to a Flask-SQLAlchemy db, not to an Engine")
        engine = engine_or_db

        def get_engine() -> Engine:
            return engine

        label = engine.dialect.name
    elif isinstance(getattr(type(engine_or_db), "engine", None), property):
        # Flask-SQLAlchemy: its engines belong to the current app, so look them up per run.
        db = engine_or_db

        def get_engine() -> Engine:
            return db.engine if bind is None else db.engines[bind]

        label = "db" if bind is None else f"db[{bind!r}]"
    else:
        raise TypeError(
            f"sqlalchemy_check needs a SQLAlchemy Engine or a Flask-SQLAlchemy db, got {type(engine_or_db).__name__}"
        )

    def check_sqlalchemy() -> CheckResult:
        target = get_engine()
        started = time.perf_counter()
        try:
            with target.connect() as connection:
                connection.execute(statement).close()
        except DBAPIError as exc:
            # The driver's own error says what went wrong; SQLAlchemy's wrapper adds the
            # statement, its parameters and a documentation link to every message.
            if isinstance(exc.orig, Exception):
                raise exc.orig from exc
            raise
        elapsed = round(time.perf_counter() - started, 6)
        return CheckResult.ok(observed=elapsed, unit="s")

    check_sqlalchemy.__qualname__ = f"sqlalchemy_check({label})"
    return check_sqlalchemy
