"""Removing credentials from error text before anyone sees it.

Driver errors carry what they were given: a connection URL with its password, a DSN with
``password=``, a header. Every error text a run produces passes through the app's redactor
once, when the result is made, so details bodies, health+json ``output``, the ``flask status``
table and the status-change logs all show the same, redacted, text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["DEFAULT_PATTERNS", "MASK", "Redactor"]

MASK = "***"

# Matched inside longer names too (db_password, PGPASSWORD, X-Api-Key, aws_secret_access_key).
_SECRET_WORDS = r"password|passwd|pwd|pass|token|secret|api[_-]?key|apikey|credentials?|private[_-]?key"

DEFAULT_PATTERNS: tuple[re.Pattern[str], ...] = (
    # scheme://user:PASSWORD@host -> scheme://user:***@host (up to the last @: passwords hold @ too)
    re.compile(r"(?P<keep>\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s/]*(?=@)", re.IGNORECASE),
    # Authorization: Bearer abc / Proxy-Authorization: Basic xyz
    re.compile(
        r"(?P<keep>\b(?:proxy-)?authorization\s*[:=]\s*)(?:(?:bearer|basic|token|digest)\s+)?[^\s,;'\"]+",
        re.IGNORECASE,
    ),
    # a bare bearer token: "Bearer eyJhbGciOi..."
    re.compile(r"(?P<keep>\bbearer\s+)[a-z0-9._~+/=-]{8,}", re.IGNORECASE),
    # password=..., DB_PASS: '...', "secret": "...", X-Api-Key: ... (quoted values masked whole)
    re.compile(
        rf"(?P<keep>[\"']?\b[\w.-]*?(?:{_SECRET_WORDS})[\w-]*[\"']?\s*[:=]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s,;&)}}\]]+)",
        re.IGNORECASE,
    ),
)
"""URL credentials, ``Authorization`` values, and ``password=`` / ``token=`` / ``secret=``-like
pairs (also ``key: value`` and JSON-ish ``"key": "value"``)."""


class Redactor:
    """Replaces secrets in text with ``***``: the defaults plus patterns the app adds.

    A pattern with a group named ``keep`` keeps that group and masks the rest of the match;
    any other pattern is masked whole. Immutable once built: safe to share between threads.

    >>> redact = Redactor([r"sk_live_[0-9a-z]+"])
    >>> redact("connect to postgresql://billing:hunter2@db:5432/billing failed")
    'connect to postgresql://billing:***@db:5432/billing failed'
    >>> redact("password=hunter2 host=db, key sk_live_abc123")
    'password=*** host=db, key ***'
    """

    __slots__ = ("_patterns",)

    def __init__(self, patterns: Iterable[str | re.Pattern[str]] = (), *, defaults: bool = True) -> None:
        if isinstance(patterns, (str, re.Pattern)):
            raise TypeError("patterns must be an iterable of regular expressions, not a single one")
        compiled: list[re.Pattern[str]] = list(DEFAULT_PATTERNS) if defaults else []
        for pattern in patterns:
            if isinstance(pattern, re.Pattern):
                compiled.append(pattern)
            elif isinstance(pattern, str):
                try:
                    compiled.append(re.compile(pattern))
                except re.error as exc:
                    raise ValueError(f"redaction pattern {pattern!r} is not a valid regex: {exc}") from None
            else:
                raise TypeError(f"redaction patterns must be str or re.Pattern, got {pattern!r}")
        self._patterns = tuple(compiled)

    def __call__(self, text: str) -> str:
        """``text`` with every match masked."""
        for pattern in self._patterns:
            text = pattern.sub(_mask, text)
        return text

    def __bool__(self) -> bool:
        return bool(self._patterns)


def _mask(match: re.Match[str]) -> str:
    keep = match.groupdict().get("keep")
    return f"{keep}{MASK}" if keep is not None else MASK
