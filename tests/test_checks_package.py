"""flask_status.checks as a package: lazy imports, clear errors for missing extras."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

import flask_status.checks
from flask_status import CheckResult

OPTIONAL = ("sqlalchemy", "redis", "flask_sqlalchemy", "psycopg", "alembic", "pika", "pymemcache", "pymysql")


def run_python(code: str) -> Any:
    """Run ``code`` in a fresh interpreter and return the JSON it prints last."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_loads_no_optional_library() -> None:
    loaded = run_python(
        f"""
        import json, sys
        import flask_status.checks
        from flask_status.checks import (
            cpu_check, disk_check, dns_check, http_check, memcached_check, memory_check,
            migrations_check, rabbitmq_check, redis_check, smtp_check, sqlalchemy_check, tcp_check,
        )
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {OPTIONAL!r})))
        """
    )
    assert loaded == []


def test_factories_load_their_submodule_on_first_use() -> None:
    loaded = run_python(
        """
        import json, sys
        import flask_status.checks as checks
        before = sorted(m for m in sys.modules if m.startswith("flask_status.checks."))
        checks.disk_check
        after = sorted(m for m in sys.modules if m.startswith("flask_status.checks."))
        print(json.dumps([before, after]))
        """
    )
    assert loaded == [[], ["flask_status.checks.disk"]]


def test_public_names() -> None:
    names = [
        "cpu_check",
        "disk_check",
        "dns_check",
        "http_check",
        "memcached_check",
        "memory_check",
        "migrations_check",
        "rabbitmq_check",
        "redis_check",
        "smtp_check",
        "sqlalchemy_check",
        "tcp_check",
    ]
    assert flask_status.checks.__all__ == names
    listed = dir(flask_status.checks)
    assert set(names) <= set(listed)
    assert "importlib" not in listed
    for name in names:
        factory = getattr(flask_status.checks, name)
        assert callable(factory)
        assert factory.__doc__
        assert factory.__module__ == f"flask_status.checks.{flask_status.checks._FACTORIES[name]}"


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'kafka_check'"):
        flask_status.checks.kafka_check  # noqa: B018


@pytest.mark.parametrize(
    ("blocked", "factory", "message"),
    [
        (
            ("redis",),
            lambda: flask_status.checks.redis_check("redis://127.0.0.1:6379/0"),
            "flask_status.checks.redis needs redis-py: pip install 'flask-status[redis]'",
        ),
        (
            ("sqlalchemy",),
            lambda: flask_status.checks.sqlalchemy_check(object()),  # type: ignore[arg-type]
            "flask_status.checks.sqlalchemy needs SQLAlchemy: pip install 'flask-status[sqlalchemy]'",
        ),
    ],
)
def test_missing_extra_raises_at_factory_call(
    monkeypatch: pytest.MonkeyPatch, blocked: tuple[str, ...], factory: Callable[[], Any], message: str
) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in blocked:
            monkeypatch.delitem(sys.modules, name)
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)  # "import name" raises ImportError
    with pytest.raises(ImportError) as info:
        factory()
    assert str(info.value) == message
    assert isinstance(info.value.__cause__, ImportError)


def test_missing_extra_in_a_clean_interpreter() -> None:
    """The same without monkeypatching: an import hook hides the libraries from the start."""
    messages = run_python(
        """
        import json, sys

        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("redis", "sqlalchemy"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Hide())
        from flask_status.checks import redis_check, sqlalchemy_check
        messages = []
        for call in (lambda: redis_check("redis://127.0.0.1/0"), lambda: sqlalchemy_check(None)):
            try:
                call()
            except ImportError as exc:
                messages.append(str(exc))
        print(json.dumps(messages))
        """
    )
    assert messages == [
        "flask_status.checks.redis needs redis-py: pip install 'flask-status[redis]'",
        "flask_status.checks.sqlalchemy needs SQLAlchemy: pip install 'flask-status[sqlalchemy]'",
    ]


def test_stdlib_checks_return_check_results(tmp_path: Any) -> None:
    result = flask_status.checks.disk_check(tmp_path, warn=1.0, fail=1.0)()
    assert isinstance(result, CheckResult)
    assert repr(flask_status.checks.http_check("http://127.0.0.1:1/x")).startswith("<function http_check(GET http://")
