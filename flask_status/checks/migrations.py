"""Database migrations: the database is not behind the code's Alembic / Flask-Migrate revisions
(extra ``migrations``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..results import CheckResult
from ._engines import driver_errors, engine_getter
from ._extras import missing_extra

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

    from ._engines import EngineOrDb

__all__ = ["migrations_check"]

#: How many pending revisions a failing message lists before "... and N more".
_SHOWN = 10


def migrations_check(
    db_or_engine: EngineOrDb,
    directory: str | os.PathLike[str] = "migrations",
    *,
    bind: str | None = None,
    version_table: str = "alembic_version",
    version_table_schema: str | None = None,
) -> Callable[[], CheckResult]:
    """A check that the database is not behind the code's migrations: every revision of the
    Alembic script directory ``directory`` is applied, or the database is on a revision this
    code does not know. ``observed`` is the database's current revision (a str), a sorted list
    of them when it has several heads (unmerged branches), or ``None`` when it has none.

    - Fails when a revision of ``directory`` is not applied, naming them in the order
      ``upgrade heads`` would apply them (at most 10): ``"1 migration not applied:
      a1b2c3d4e5f6 -> c3d4e5f6a7b8 (add users.email)"``. A database without a version table,
      or with an empty one, is behind any script directory that has revisions.
    - Passes when the database is at the code's head(s): ``"database at head c3d4e5f6a7b8"``.
    - Passes when the database is at a revision ``directory`` does not hold:
      ``"database at 9f8e7d6c5b4a, unknown to this code: a newer release migrated it?"``. During
      a rolling deploy the new release migrates while the old one still serves; failing the old
      pods' check then would take them out of rotation for nothing.

    Branches count as Alembic counts them: what is pending is what ``upgrade heads`` would run,
    every revision of the code that is neither applied nor an ancestor of an applied one
    (through ``down_revision``, merges included, or ``depends_on``). A database on two heads
    whose merge revision is not applied is behind.

    ``db_or_engine`` is a SQLAlchemy ``Engine``, or a Flask-SQLAlchemy ``db`` whose engine is
    looked up on each run, inside the app context the runner provides (``db.engine``, or
    ``db.engines[bind]`` for another bind key). A run takes one connection from it, reads the
    version table (two small queries: whether the table exists, then its rows), and returns the
    connection; it never migrates, stamps nor writes. ``version_table`` and
    ``version_table_schema`` name the version table when ``env.py`` configures another one.

    ``directory`` is the script directory (Flask-Migrate's ``migrations``, holding ``env.py``
    and ``versions/``). A relative path is resolved when the factory is called: against the
    app's ``root_path`` inside an app context, else against the current working directory
    (where ``flask db upgrade`` resolves it); pass an absolute path to be sure. Its revisions
    are read once, here, and kept: they are the code's and do not change while it runs. Only
    ``versions/`` is read (``version_locations`` of ``alembic.ini`` are not), and ``env.py``
    is never run.

    Raises ``TypeError`` / ``ValueError`` for bad arguments, a missing directory or one that is
    not an Alembic environment, and ``ImportError`` without Alembic:
    ``pip install 'flask-status[migrations]'``. A database error raises on a run, failing the
    check with the driver's own exception (as :func:`~flask_status.checks.sqlalchemy_check`); so
    does a version table Alembic itself would refuse (a revision beside its own ancestor), with
    Alembic's ``RevisionError``.

    >>> import sqlalchemy, tempfile
    >>> from pathlib import Path
    >>> from alembic import command
    >>> from alembic.config import Config
    >>> tmp = Path(tempfile.mkdtemp())
    >>> versions = tmp / "migrations" / "versions"
    >>> versions.mkdir(parents=True)
    >>> _ = (tmp / "migrations" / "env.py").write_text(
    ...     "from alembic import context\\n"
    ...     "context.configure(connection=context.config.attributes['connection'])\\n"
    ...     "with context.begin_transaction():\\n"
    ...     "    context.run_migrations()\\n"
    ... )
    >>> revisions = [("a1b2c3d4e5f6", None, "create users"), ("c3d4e5f6a7b8", "a1b2c3d4e5f6", "add users.email")]
    >>> for revision, down, doc in revisions:
    ...     _ = (versions / f"{revision}.py").write_text(
    ...         f"{doc!r}\\nrevision = {revision!r}\\ndown_revision = {down!r}\\n"
    ...         "def upgrade(): pass\\ndef downgrade(): pass\\n"
    ...     )
    >>> engine = sqlalchemy.create_engine(f"sqlite:///{tmp / 'app.db'}")
    >>> check = migrations_check(engine, tmp / "migrations")
    >>> print(check().message.replace(", ", ",\\n"))
    2 migrations not applied (no revision in the database): <base> -> a1b2c3d4e5f6 (create users),
    a1b2c3d4e5f6 -> c3d4e5f6a7b8 (add users.email)
    >>> config = Config()
    >>> config.set_main_option("script_location", str(tmp / "migrations"))
    >>> def upgrade(revision):
    ...     with engine.begin() as connection:
    ...         config.attributes["connection"] = connection
    ...         command.upgrade(config, revision)
    >>> upgrade("a1b2c3d4e5f6")
    >>> result = check()
    >>> result.status, result.message, result.observed
    ('fail', '1 migration not applied: a1b2c3d4e5f6 -> c3d4e5f6a7b8 (add users.email)', 'a1b2c3d4e5f6')
    >>> upgrade("head")
    >>> check()
    CheckResult(status='pass', message='database at head c3d4e5f6a7b8', observed='c3d4e5f6a7b8', unit=None, time=None)

    The code of the release before, which knows only the first revision, passes too:

    >>> (versions / "c3d4e5f6a7b8.py").unlink()
    >>> migrations_check(engine, tmp / "migrations")().message
    'database at c3d4e5f6a7b8, unknown to this code: a newer release migrated it?'

    >>> migrations_check(engine, tmp / "nowhere")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: migrations_check directory '.../nowhere' does not exist
    >>> engine.dispose()
    >>> import shutil; shutil.rmtree(tmp)

    With Flask-Migrate, as a startup check (see the docs page "Database migrations")::

        status.add_route("startup", "/health/startup").add_check("migrations", migrations_check(db), once=True)
    """
    try:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError
    except ImportError as exc:
        raise missing_extra(__name__, "Alembic", "migrations") from exc

    if not isinstance(version_table, str) or not version_table:
        raise TypeError(f"migrations_check version_table must be a non-empty str, got {version_table!r}")
    if version_table_schema is not None and (not isinstance(version_table_schema, str) or not version_table_schema):
        raise TypeError(
            f"migrations_check version_table_schema must be a non-empty str or None, got {version_table_schema!r}"
        )

    get_engine, label = engine_getter(db_or_engine, bind, "migrations_check")

    path = _script_path(directory)
    try:
        script = ScriptDirectory(str(path))
        # Loads every revision file now, once: the check itself touches no file.
        known = frozenset(revision.revision for revision in script.walk_revisions())
    except (CommandError, RevisionError) as exc:
        raise ValueError(f"migrations_check directory {str(path)!r}: {exc}") from exc
    except KeyError as exc:  # a down_revision or depends_on naming a revision no file holds
        raise ValueError(
            f"migrations_check directory {str(path)!r}: revision {exc.args[0]!r} is referred to, but no file holds it"
        ) from exc

    opts: dict[str, Any] = {"version_table": version_table, "version_table_schema": version_table_schema}

    def check_migrations() -> CheckResult:
        target = get_engine()
        with driver_errors(), target.connect() as connection:
            current = MigrationContext.configure(connection, opts=opts).get_current_heads()
        return _verdict(script, known, tuple(sorted(set(current))))

    check_migrations.__qualname__ = f"migrations_check({label}, {str(path)!r})"
    return check_migrations


def _script_path(directory: str | os.PathLike[str]) -> Path:
    """``directory`` made absolute (the app's root_path in an app context, else the working
    directory), checked to be an Alembic environment: a directory holding ``env.py``."""
    try:
        given = os.fspath(directory)
    except TypeError:
        given = None
    if not isinstance(given, str) or not given:
        raise TypeError(f"migrations_check directory must be a non-empty str or os.PathLike, got {directory!r}")
    path = Path(given)
    if not path.is_absolute():
        from flask import current_app, has_app_context

        base = current_app.root_path if has_app_context() else os.getcwd()
        path = Path(base, path)
    if not path.exists():
        raise ValueError(f"migrations_check directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"migrations_check directory {str(path)!r} is not a directory")
    if not (path / "env.py").is_file():
        raise ValueError(
            f"migrations_check directory {str(path)!r} is not an Alembic environment: it has no env.py "
            "(create one with 'flask db init' or 'alembic init')"
        )
    return path


def _verdict(script: ScriptDirectory, known: frozenset[str], current: tuple[str, ...]) -> CheckResult:
    """The result for a database at revisions ``current`` (sorted), given the code's revisions."""
    observed: str | list[str] | None = None if not current else current[0] if len(current) == 1 else list(current)
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        # Ahead of this code (a newer release migrated first) or on a branch it never had:
        # whether this code's revisions are applied cannot be told, and failing would take a
        # release out of rotation in the middle of a rolling deploy.
        where = ", ".join(current)
        if len(unknown) == len(current):
            message = f"database at {where}, unknown to this code: a newer release migrated it?"
        else:
            message = f"database at {where}; {', '.join(unknown)} unknown to this code: a newer release migrated it?"
        return CheckResult.ok(message, observed=observed)
    # What "upgrade heads" would run from here, oldest first: Alembic's own computation.
    pending: Sequence[Script] = list(script.iterate_revisions("heads", current, implicit_base=True))[::-1]
    if pending:
        count = f"{len(pending)} migration{'s' if len(pending) != 1 else ''} not applied"
        if not current:
            count += " (no revision in the database)"
        shown = ", ".join(_describe(revision) for revision in pending[:_SHOWN])
        more = f", ... and {len(pending) - _SHOWN} more" if len(pending) > _SHOWN else ""
        return CheckResult.fail(f"{count}: {shown}{more}", observed=observed)
    if not current:
        return CheckResult.ok("no migrations in this code, none applied", observed=observed)
    # Nothing to apply: at the code's heads, less those that are the depends_on of another
    # revision (Alembic keeps only the latter in the version table).
    at = "head" if len(current) == 1 else "heads"
    return CheckResult.ok(f"database at {at} {', '.join(current)}", observed=observed)


def _describe(revision: Script) -> str:
    """``"a1b2 -> c3d4 (add users.email)"``; ``<base>`` for a first revision, ``(a, b)`` for a merge."""
    down = revision.down_revision
    if not down:
        parent = "<base>"
    elif isinstance(down, str):
        parent = down
    else:
        parent = f"({', '.join(down)})"
    doc = " ".join(revision.doc.split())
    return f"{parent} -> {revision.revision} ({doc})" if doc else f"{parent} -> {revision.revision}"
