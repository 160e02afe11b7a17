"""Every default in one place, and reading them from ``app.config``.

``init_app`` writes these keys with ``app.config.setdefault``; arguments given to
``StatusManager(...)`` win over the config, and a field's or route's own options win over both.
Bad values raise ``ValueError``/``TypeError`` at ``init_app``, naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ._validate import positive_int, require_seconds, validate_seconds
from .definitions import FORMATS, Format, validate_status_codes
from .engine.runner import RunnerSettings
from .redact import Redactor

__all__ = [
    "DEFAULTS",
    "PROBE_HOST_ENV",
    "PROBE_PORT_ENV",
    "ProbeSettings",
    "Settings",
    "parse_port",
    "probe_settings",
    "check_token",
    "parse_tokens",
    "parse_users",
    "resolve_settings",
]

DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        # Callables registered without ttl: None runs them on every request.
        "STATUS_DEFAULT_TTL": None,
        # How long a request waits for a field without its own timeout. Keep it below the
        # probe's own timeout (Kubernetes: timeoutSeconds, 1 s by default).
        "STATUS_DEFAULT_TIMEOUT": 5.0,
        # The longest a failure is cached, so a recovered dependency shows within this time.
        "STATUS_FAILURE_TTL": 5.0,
        # Threads evaluating callables, per manager and app.
        "STATUS_MAX_WORKERS": 8,
        # "json" (seed-style body) or "health+json".
        "STATUS_DEFAULT_FORMAT": "json",
        # HTTP code per route status.
        "STATUS_HTTP_CODES": {"pass": 200, "warn": 200, "fail": 503},
        # Results kept in the in-process cache, per manager and app.
        "STATUS_CACHE_SIZE": 1024,
        # Extra regular expressions whose matches are masked in error text (bodies, CLI, logs).
        "STATUS_REDACT": (),
        # Mask URL credentials, Authorization values, password=/token=/secret= pairs.
        "STATUS_REDACT_DEFAULTS": True,
        # Seconds readiness fails on SIGTERM before the server stops (see flask_status.drain).
        "STATUS_DRAIN_DELAY": 10.0,
        # A store shared by every process and replica, for checks registered with shared=True:
        # a redis:// URL (needs the redis extra). None: every process keeps its own results.
        "STATUS_STORE_URL": None,
        # Namespace of the shared store's keys.
        "STATUS_STORE_PREFIX": "flask-status",
        # Accepted bearer tokens of flask_status.auth.bearer_token(): a str ("a, b": split on
        # commas only) or a list.
        # None: no token is accepted until one is configured (the authenticator fails closed).
        "STATUS_TOKENS": None,
        # Users of flask_status.auth.basic_auth(): {"username": "password"}; None: nobody.
        "STATUS_BASIC_AUTH": None,
        # Keep successful probes (GET/HEAD of a public status route answering < 400) out of the
        # access logs of the werkzeug dev server and of gunicorn (with flask_status.gunicorn's
        # logger_class); failures are always logged. Read when a probe is answered and logged.
        "STATUS_QUIET_PROBES": True,
        # The probe listener (see docs/probes.rst): a port serving the public status routes off
        # the app's request queue. None: the environment variable STATUS_PROBE_PORT, else off.
        "STATUS_PROBE_PORT": None,
        # The address it listens on: every interface, as a kubelet probes the pod's IP.
        "STATUS_PROBE_HOST": "0.0.0.0",
        # Seconds between background runs of the served checks that have no ttl of their own.
        "STATUS_PROBE_REFRESH": 5.0,
        # On the listener, liveness routes fail while a worker has requests in flight and none
        # finished for this many seconds (set it above your slowest request).
        "STATUS_STUCK_AFTER": 60.0,
        # On the listener, readiness routes fail while every worker thread has been busy for
        # this many seconds. None: off.
        "STATUS_SATURATED_AFTER": None,
        # Threads per worker process, for STATUS_SATURATED_AFTER where the server cannot tell
        # (waitress: its threads setting). gunicorn's is read from its config.
        "STATUS_WORKER_THREADS": None,
    }
)

PROBE_PORT_ENV = "STATUS_PROBE_PORT"
"""The environment variable read when ``STATUS_PROBE_PORT`` is not configured: the one a gunicorn
master, which has not loaded the app, reads to open the port before it forks its workers."""

PROBE_HOST_ENV = "STATUS_PROBE_HOST"
"""The environment variable giving the gunicorn master the probe listener's address."""


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """The probe listener's settings on one app (see :doc:`/probes`).

    >>> ProbeSettings(port=9000).stuck_after
    60.0
    """

    port: int
    host: str = "0.0.0.0"
    refresh: float = 5.0
    stuck_after: float = 60.0
    saturated_after: float | None = None
    worker_threads: int | None = None
    #: True when the port came from the environment rather than the app's config.
    from_environment: bool = False


def parse_port(value: object, what: str) -> int:
    """A TCP port (0 asks the system for a free one), from an int or a str of digits.

    >>> parse_port("9000", "STATUS_PROBE_PORT")
    9000
    >>> parse_port("nine", "STATUS_PROBE_PORT")
    Traceback (most recent call last):
    ...
    ValueError: STATUS_PROBE_PORT must be a port number from 0 to 65535, got 'nine'
    """
    port: object = value
    if isinstance(value, str) and value.strip().isdigit():
        port = int(value.strip())
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what} must be a port number from 0 to 65535, got {value!r}")
    return port


def probe_settings(config: Mapping[str, Any], environ: Mapping[str, str]) -> ProbeSettings | None:
    """The probe listener's settings from ``config`` (the environment for the port and host when
    the config leaves them unset), or ``None`` when no port is set.

    >>> probe_settings({}, {}) is None
    True
    >>> probe_settings({}, {"STATUS_PROBE_PORT": "9000"}).port
    9000
    >>> probe_settings({"STATUS_PROBE_PORT": 9001, "STATUS_SATURATED_AFTER": 5}, {}).saturated_after
    5.0
    """

    def get(key: str) -> Any:
        return config.get(key, DEFAULTS[key])

    raw = get("STATUS_PROBE_PORT")
    from_environment = raw is None
    if raw is None:
        raw = environ.get(PROBE_PORT_ENV) or None
        if raw is None:
            return None
        port = parse_port(raw, f"the environment variable {PROBE_PORT_ENV}")
    else:
        port = parse_port(raw, "STATUS_PROBE_PORT")
    host = get("STATUS_PROBE_HOST")
    if config.get("STATUS_PROBE_HOST") is None and environ.get(PROBE_HOST_ENV):
        host = environ[PROBE_HOST_ENV]
    if not isinstance(host, str) or not host:
        raise ValueError(f"STATUS_PROBE_HOST must be a non-empty str, got {host!r}")
    threads = get("STATUS_WORKER_THREADS")
    return ProbeSettings(
        port=port,
        host=host,
        refresh=require_seconds(get("STATUS_PROBE_REFRESH"), "STATUS_PROBE_REFRESH", allow_zero=False),
        stuck_after=require_seconds(get("STATUS_STUCK_AFTER"), "STATUS_STUCK_AFTER", allow_zero=False),
        saturated_after=validate_seconds(get("STATUS_SATURATED_AFTER"), "STATUS_SATURATED_AFTER", allow_zero=True),
        worker_threads=None if threads is None else positive_int(threads, "STATUS_WORKER_THREADS"),
        from_environment=from_environment,
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved settings of one manager on one app.

    >>> Settings(RunnerSettings(), "json", {"pass": 200, "warn": 200, "fail": 503}, 1024).default_format
    'json'
    """

    runner: RunnerSettings
    default_format: Format
    http_codes: Mapping[str, int]
    cache_size: int
    store_url: str | None = None
    store_prefix: str = "flask-status"


# A bearer token: visible ASCII without commas (RFC 6750's b64token is a subset), so that a
# list of tokens can be written as one string, "old-token, new-token", in config or environment.
_TOKEN_RE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")


def check_token(token: object, what: str) -> str:
    """Return ``token`` if it is a usable bearer token, else raise naming ``what``.

    A token is visible ASCII without spaces or commas. The message never repeats the token (it
    is a secret): it says what is wrong, e.g. ``"STATUS_TOKENS: token #2 is empty"``.

    >>> check_token("tok-3f9a1c7e", "token #1")
    'tok-3f9a1c7e'
    >>> check_token("correct horse", "STATUS_TOKENS: token #1")
    Traceback (most recent call last):
    ...
    ValueError: STATUS_TOKENS: token #1 holds whitespace: separate tokens with commas ("old-token, new-token")
    """
    if not isinstance(token, str):
        raise TypeError(f"{what} must be a str, not {type(token).__name__}")
    if not token:
        raise ValueError(f"{what} is empty")
    if any(character.isspace() for character in token):
        raise ValueError(f'{what} holds whitespace: separate tokens with commas ("old-token, new-token")')
    if not _TOKEN_RE.fullmatch(token):
        raise ValueError(
            f"{what} must be visible ASCII without spaces or commas (secrets.token_urlsafe() makes good tokens)"
        )
    return token


def parse_tokens(value: object, source: str) -> tuple[str, ...]:
    """The bearer tokens of a config value or environment variable named ``source``.

    ``None`` is no token; a str is split on commas only, with the whitespace around each token
    stripped and empty pieces skipped (a fragment of a token is never a token: a piece holding
    whitespace is refused); a list, tuple or set holds one token per item. Errors name
    ``source`` and the token's position, never the token.

    >>> parse_tokens(" old-token, new-token ", "STATUS_TOKENS")
    ('old-token', 'new-token')
    >>> parse_tokens(["ok", ""], "STATUS_TOKENS")
    Traceback (most recent call last):
    ...
    ValueError: STATUS_TOKENS: token #2 is empty
    """
    if value is None:
        return ()
    if isinstance(value, str):
        pieces = [(i, piece.strip()) for i, piece in enumerate(value.split(","), 1)]
        items: list[tuple[int, object]] = [(i, piece) for i, piece in pieces if piece]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(enumerate(value, 1))
    else:
        raise TypeError(f"{source} must be a str or a list of str, not {type(value).__name__}")
    return tuple(check_token(token, f"{source}: token #{i}") for i, token in items)


def parse_users(value: object, source: str) -> tuple[tuple[str, str], ...]:
    """The (username, password) pairs of a Basic auth mapping named ``source``.

    Usernames are non-empty, printable and hold no ``:``; passwords are non-empty str. Errors
    name ``source`` and the user, never a password.

    >>> parse_users({"monitor": "pw"}, "STATUS_BASIC_AUTH")
    (('monitor', 'pw'),)
    >>> parse_users({"monitor": ""}, "STATUS_BASIC_AUTH")
    Traceback (most recent call last):
    ...
    ValueError: STATUS_BASIC_AUTH: the password of 'monitor' is empty
    """
    if not isinstance(value, Mapping):
        raise TypeError(f"{source} must be a mapping of username to password, not {type(value).__name__}")
    pairs: list[tuple[str, str]] = []
    for user, password in value.items():
        if not isinstance(user, str) or not user:
            raise TypeError(f"{source}: usernames must be non-empty str, got {user!r}")
        if ":" in user or not user.isprintable():
            raise ValueError(f"{source}: username {user!r} must be printable and contain no ':'")
        if not isinstance(password, str):
            raise TypeError(f"{source}: the password of {user!r} must be a str, not {type(password).__name__}")
        if not password:
            raise ValueError(f"{source}: the password of {user!r} is empty")
        pairs.append((user, password))
    return tuple(pairs)


def resolve_settings(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> Settings:
    """Merge ``overrides`` (non-``None`` constructor arguments, by config key) over ``config``."""

    def get(key: str) -> Any:
        value = overrides.get(key)
        return value if value is not None else config.get(key, DEFAULTS[key])

    default_ttl = validate_seconds(get("STATUS_DEFAULT_TTL"), "STATUS_DEFAULT_TTL", allow_zero=True)
    timeout = validate_seconds(get("STATUS_DEFAULT_TIMEOUT"), "STATUS_DEFAULT_TIMEOUT", allow_zero=False)
    failure_ttl = validate_seconds(get("STATUS_FAILURE_TTL"), "STATUS_FAILURE_TTL", allow_zero=True)
    if timeout is None or failure_ttl is None:
        raise ValueError("STATUS_DEFAULT_TIMEOUT and STATUS_FAILURE_TTL must be numbers of seconds, not None")
    workers = positive_int(get("STATUS_MAX_WORKERS"), "STATUS_MAX_WORKERS")
    fmt = get("STATUS_DEFAULT_FORMAT")
    if fmt not in FORMATS:
        raise ValueError(f"STATUS_DEFAULT_FORMAT must be one of {FORMATS}, got {fmt!r}")
    codes = dict(DEFAULTS["STATUS_HTTP_CODES"])
    codes.update(validate_status_codes(get("STATUS_HTTP_CODES"), "STATUS_HTTP_CODES"))
    validate_seconds(get("STATUS_DRAIN_DELAY"), "STATUS_DRAIN_DELAY", allow_zero=True)
    quiet = get("STATUS_QUIET_PROBES")
    if not isinstance(quiet, bool):
        raise TypeError(f"STATUS_QUIET_PROBES must be a bool, got {quiet!r}")
    defaults = get("STATUS_REDACT_DEFAULTS")
    if not isinstance(defaults, bool):
        raise TypeError(f"STATUS_REDACT_DEFAULTS must be a bool, got {defaults!r}")
    try:
        redactor = Redactor(get("STATUS_REDACT") or (), defaults=defaults)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"STATUS_REDACT: {exc}") from None
    # Read by the authenticators on each request; checked here too, so a bad value fails at
    # startup instead of answering every request with a 500.
    parse_tokens(get("STATUS_TOKENS"), "STATUS_TOKENS")
    if get("STATUS_BASIC_AUTH") is not None:
        parse_users(get("STATUS_BASIC_AUTH"), "STATUS_BASIC_AUTH")
    return Settings(
        runner=RunnerSettings(
            default_ttl=default_ttl,
            default_timeout=timeout,
            failure_ttl=failure_ttl,
            max_workers=workers,
            redact=redactor,
        ),
        default_format=fmt,
        http_codes=MappingProxyType(codes),
        cache_size=positive_int(get("STATUS_CACHE_SIZE"), "STATUS_CACHE_SIZE"),
        store_url=_optional_str(get("STATUS_STORE_URL"), "STATUS_STORE_URL"),
        store_prefix=_optional_str(get("STATUS_STORE_PREFIX"), "STATUS_STORE_PREFIX") or "flask-status",
    )


def _optional_str(value: Any, key: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{key} must be a non-empty str or None, got {value!r}")
    return value
