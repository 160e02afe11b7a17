"""Helpers shared by the check factories: the message for a missing optional dependency."""

from __future__ import annotations

__all__ = ["missing_extra"]


def missing_extra(module: str, library: str, extra: str) -> ImportError:
    """The ``ImportError`` a factory raises when its optional dependency is not installed.

    >>> str(missing_extra("flask_status.checks.redis", "redis-py", "redis"))
    "flask_status.checks.redis needs redis-py: pip install 'flask-status[redis]'"
    """
    return ImportError(f"{module} needs {library}: pip install 'flask-status[{extra}]'")
