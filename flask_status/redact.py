"""Removing credentials from error text before anyone sees it.

Driver errors carry what they were given: a connection URL with its password, a DSN with
``password=``, a header, a key. Every error text a run produces passes through the app's
redactor once, when the result is made, so details bodies, health+json ``output``, the ``flask
status`` table and the status-change logs all show the same, redacted, text.

The redactor is bounded: a text longer than :data:`MAX_CHARS` is cut (with a marker saying how
much) before any pattern sees it, and every default pattern runs in time linear in the text
(no nested or overlapping quantifiers that backtrack on long runs of names, dots, dashes or
base64), so no error text can hold the process for long. Python's regular expressions hold
the GIL while they run: a slow pattern stalls every thread, not only its caller.

The shapes the defaults mask are listed, each with the text it becomes, in
``docs/redaction.rst``; ``tests/test_redact_properties.py`` runs that table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["DEFAULT_PATTERNS", "MASK", "MAX_CHARS", "Redactor"]

MASK = "***"

MAX_CHARS = 4096
"""Texts longer than this are cut to at most this many characters, and a marker
``" … [cut N chars]"`` is appended, before any pattern runs."""

# A cut falls on the last whitespace within this many characters before MAX_CHARS, so that a
# secret is not split (a split URL or quoted value could show its start); else on MAX_CHARS.
_CUT_BACKOFF = 256
_MARKER = re.compile(r" … \[cut (\d{1,18}) chars\]\Z")
_MARKER_MAX = 40  # longer than any marker: where to look for one at the end of a text
_PASSES = 4  # the patterns run again while a run of them changes the text, at most this often

# Matched inside longer names too (db_password, PGPASSWORD, X-Api-Key, aws_secret_access_key).
_SECRET_WORDS = r"password|passwd|pwd|pass|token|secret|api[_-]?key|apikey|credentials?|private[_-]?key"

# A quoted value, masked whole; escapes are honoured ("hun\"ter2"), and a quote left open runs
# to the end of the text (as after a cut). Each branch always matches once its quote does.
_QUOTED = (
    r"\"(?:[^\"\\]|\\[\s\S]?)*(?:\"|\Z)"
    r"|'(?:[^'\\]|\\[\s\S]?)*(?:'|\Z)"
    # JSON inside a string: \"password\": \"hun\\\"ter2\"
    r"|\\\"(?:[^\\]|\\\\\\\"|\\[^\"])*(?:\\\"|\\?\Z)"
)

DEFAULT_PATTERNS: tuple[re.Pattern[str], ...] = (
    # scheme://user:PASSWORD@host -> scheme://user:***@host. The password runs to the last @
    # before the word ends or another scheme:// starts (passwords hold @ and / too), or to the
    # last @ of one of the next two words (redis://:p ss@host); a text that ends in it (a cut)
    # ends it, unless it is a port (redis://cache:6379/0). Those two runs hold no mask (*), so
    # that a mask does not make the URL before it match the next time. No run goes past the
    # next "://", so a run of scheme-like words is scanned a bounded number of times.
    re.compile(
        r"(?P<keep>\b[a-z][a-z0-9+.\-]{0,31}://[^\s:/@\[\]]{0,256}:)(?P<secret>"
        r"(?:(?!://)\S)+(?=@)"
        r"|(?:(?:(?!://)[^\s@*])+[ \t]){1,2}(?:(?!://)[^\s*])+(?=@)"
        r"|(?!\d+(?![\w@])(?:(?!://)[^\s@])*\Z)(?:(?!://)[^\s@*])+\Z)",
        re.IGNORECASE,
    ),
    # A Go MySQL DSN: user:PASSWORD@tcp(db:3306)/name, user:PASSWORD@/name
    re.compile(
        r"(?P<keep>(?<![\w.+:/\-])[\w.+\-]{1,64}:)(?:(?P<secret>\S+)(?=@(?:\w{1,16}\(|/))|\S*)",
        re.IGNORECASE,
    ),
    # PEM private keys: the body between the BEGIN and END lines (to the end of a cut text).
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
        r"(?P<secret>[\s\S]*?)(?:-----END |\Z)",
    ),
    # Authorization: Bearer abc / Proxy-Authorization: Basic xyz / 'Authorization': 'Basic xyz'
    re.compile(
        r"(?P<keep>(?<![\w\-])(?:proxy-)?authorization[\"']?\s*[:=]\s*)"
        rf"(?:(?:{_QUOTED})[^\s,;'\")}}\]]*|(?:(?:bearer|basic|token|digest|negotiate)\s+)?[^\s,;'\")}}\]]+)",
        re.IGNORECASE,
    ),
    # a bare bearer token: "Bearer eyJhbGciOi..."
    re.compile(r"(?P<keep>\bbearer\s+)[a-z0-9._~+/=\-]{8,}", re.IGNORECASE),
    # Cookie: a=1; b=2 (every pair) / Set-Cookie: a=1; Path=/ (the cookie; its attributes stay)
    re.compile(
        r"(?P<keep>(?<![\w\-])cookie[\"']?\s*[:=]\s*)"
        rf"(?:(?:{_QUOTED})[^\s;,)}}\]]*|[^\s;,)}}\]]+(?:;[ \t]*[^\s;,=)}}\]]+=[^\s;,)}}\]]*)*)",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?P<keep>(?<![\w\-])set-cookie[\"']?\s*[:=]\s*)(?:(?:{_QUOTED})[^\s;,)}}\]]*|[^\s;,)}}\]]+)",
        re.IGNORECASE,
    ),
    # password=..., DB_PASS: '...', "secret": "...", X-Api-Key: ..., password => ... (quoted
    # values masked whole). The name is a whole word of [\w.-] holding a secret word, found by
    # a bounded look-ahead, and not an exception class (NoCredentialsError: Unable to ...).
    re.compile(
        r"(?P<keep>(?<![\w.\-])"
        r"(?![\w.\-]{0,64}(?-i:Error|Exception|Warning)(?![\w.\-]))"
        rf"(?=[\w.\-]{{0,64}}?(?:{_SECRET_WORDS}))"
        r"[\w.\-]{1,64}(?:\\?[\"'])?\s*(?:=>|[:=])\s*)"
        rf"(?:(?:{_QUOTED})[^\s,;&)}}\]]*|[^\s,;&)}}\]]+)",
        re.IGNORECASE,
    ),
)
"""URL credentials, Go MySQL DSNs, PEM private-key bodies, ``Authorization`` values, bearer
tokens, ``Cookie`` / ``Set-Cookie`` values, and ``password=`` / ``token=`` / ``secret=``-like
pairs (also ``key: value``, ``key => value`` and JSON-ish ``"key": "value"``). Each runs in
time linear in the text."""


class Redactor:
    """Replaces secrets in text with ``***``: the defaults plus patterns the app adds.

    A pattern with a group named ``secret`` masks that group only, and leaves a match in which
    it took no part as it is; else a pattern with a group named ``keep`` keeps that group and
    masks the rest of the match; any other pattern is masked whole. Texts longer than
    :data:`MAX_CHARS` are cut first, so every pattern, the app's too, sees at most that much.
    Immutable once built: safe to share between threads.

    >>> redact = Redactor([r"sk_live_[0-9a-z]+"])
    >>> redact("connect to postgresql://billing:hunter2@db:5432/billing failed")
    'connect to postgresql://billing:***@db:5432/billing failed'
    >>> redact("password=hunter2 host=db, key sk_live_abc123")
    'password=*** host=db, key ***'
    >>> redact("upstream said: " + "x" * 5000)[-30:]
    'xxxxxxxxxxxx … [cut 919 chars]'
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
        """``text`` cut to :data:`MAX_CHARS`, with every match masked.

        A text that already ends with a cut marker (a redacted text, redacted again) keeps it,
        and its count grows by what is cut now: redacting twice gives what redacting once gave.
        """
        body, marker, previously_cut = _split_marker(text)
        limit, step = MAX_CHARS, 16
        while True:
            head = _cut(body, limit)
            cleaned = self._clean(head)
            # A mask can be longer than what it hides ("p" -> "***"): cut a little more until
            # the result fits, so that redacting it again cuts nothing more.
            if len(cleaned) <= MAX_CHARS:
                break
            limit = max(0, len(head) - max(len(cleaned) - MAX_CHARS, step))
            step *= 2
        if len(head) == len(body):
            return cleaned + marker
        return f"{cleaned} … [cut {previously_cut + len(body) - len(head)} chars]"

    def _clean(self, text: str) -> str:
        """Every pattern applied to ``text``, whatever its length, until the text stays as it is.

        One mask can let another pattern match where it did not before (a masked value that
        held a ``://`` no longer ends a URL password), so the patterns run again, at most
        ``_PASSES`` times; a text without secrets is read once, a usual one twice.
        """
        for _ in range(_PASSES):
            before = text
            for pattern in self._patterns:
                text = pattern.sub(_mask, text)
            if text == before:
                break
        return text

    def __bool__(self) -> bool:
        return bool(self._patterns)


def _split_marker(text: str) -> tuple[str, str, int]:
    """``(body, marker, count)``: a cut marker at the end of ``text`` split off, or ``(text, "", 0)``."""
    found = _MARKER.search(text, max(0, len(text) - _MARKER_MAX))
    if found is None:
        return text, "", 0
    return text[: found.start()], found.group(), int(found.group(1))


def _cut(text: str, limit: int) -> str:
    """The start of ``text``, at most ``limit`` characters, ending at whitespace when there is
    some in the last ``_CUT_BACKOFF`` characters before the limit."""
    if len(text) <= limit:
        return text
    if text[limit].isspace():
        return text[:limit]
    start = max(0, limit - _CUT_BACKOFF)
    for index in range(limit - 1, start - 1, -1):
        if text[index].isspace():
            return text[:index]
    return text[:limit]


def _mask(match: re.Match[str]) -> str:
    if "secret" in match.re.groupindex:
        start, end = match.span("secret")
        if start < 0:
            return match.group()
        whole = match.start()
        text = match.group()
        return f"{text[: start - whole]}{MASK}{text[end - whole :]}"
    keep = match.groupdict().get("keep")
    return f"{keep}{MASK}" if keep is not None else MASK
