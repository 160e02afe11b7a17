"""What the SQL checks share: an Engine or a Flask-SQLAlchemy ``db`` resolved to the engine of
each run, and the driver's own error instead of SQLAlchemy's wrapper."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Protocol, TypeAlias

    from sqlalchemy.engine import Engine

    class FlaskSQLAlchemyLike(Protocol):
        """What the checks use of a Flask-SQLAlchemy ``db``: its engines, per bind key."""

        @property
        def engine(self) -> Engine: ...

        @property
        def engines(self) -> dict[str | None, Engine]: ...

    EngineOrDb: TypeAlias = Engine | FlaskSQLAlchemyLike

__all__ = ["driver_errors", "engine_getter"]


def engine_getter(engine_or_db: Any, bind: str | None, what: str) -> tuple[Callable[[], Engine], str]:
    """How a check named ``what`` finds its engine on each run, and a label for its name.

    An ``Engine`` is used as it is (``bind`` is then refused); a Flask-SQLAlchemy ``db``'s
    engines belong to the current app, so they are looked up per run. Anything else is a
    ``TypeError`` naming ``what``. Needs SQLAlchemy (the caller has imported it).
    """
    from sqlalchemy.engine import Engine

    if bind is not None and not isinstance(bind, str):
        raise TypeError(f"{what} bind must be a bind key (str) or None, got {bind!r}")
    if isinstance(engine_or_db, Engine):
        if bind is not None:
            raise ValueError(f"{what} bind applies to a Flask-SQLAlchemy db, not to an Engine")
        engine = engine_or_db
        return (lambda: engine), engine.dialect.name
    if isinstance(getattr(type(engine_or_db), "engine", None), property):
        db = engine_or_db

        def get_engine() -> Engine:
            return db.engine if bind is None else db.engines[bind]  # type: ignore[no-any-return]

        return get_engine, "db" if bind is None else f"db[{bind!r}]"
    raise TypeError(f"{what} needs a SQLAlchemy Engine or a Flask-SQLAlchemy db, got {type(engine_or_db).__name__}")


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    """Raise the driver's own error: SQLAlchemy's wrapper adds the statement, its parameters and
    a documentation link to every message."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        if isinstance(exc.orig, Exception):
            raise exc.orig from exc
        raise
