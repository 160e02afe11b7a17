"""Ready-made authenticators for status routes: bearer tokens, HTTP Basic, IP allowlists.

Each factory returns a Flask view decorator. Pass it as a route's ``authenticator``, or put it
on any Flask view::

    details = status.add_route("details", "/health/details", authenticator=bearer_token(env="STATUS_TOKEN"))

A denial says nothing about the route behind it: 401 ``{"status": "unauthorized"}`` with a
``WWW-Authenticate`` challenge (missing or wrong credentials), or 403 ``{"status": "forbidden"}``
(an address outside the allowlist). It is raised as :class:`~werkzeug.exceptions.Unauthorized` or
:class:`~werkzeug.exceptions.Forbidden` carrying that JSON response, so the view never runs, no
check is evaluated, and an app's own ``errorhandler(401)`` / ``errorhandler(403)`` still applies.

Secrets are compared in constant time: the SHA-256 digest of what the client sent is compared
with :func:`hmac.compare_digest` against the digest of *every* accepted secret, so neither the
length of a secret nor which one matched shows in the timing. An authenticator with no secret
configured at request time denies every request (it fails closed) and logs a warning once.

Thread-safety: the decorators hold only immutable data built at decoration time (tuples of
digests, frozen :mod:`ipaddress` networks). Values from ``app.config`` and the environment are read
afresh on every request and never stored. The only mutable state is the "warned already" flag
of each authenticator, guarded by a lock. One authenticator may be shared by any number of
routes, apps and request threads.

>>> from flask import Flask
>>> from flask_status import StatusManager
>>> app = Flask(__name__)
>>> status = StatusManager(app)
>>> details = status.add_route("details", "/health/details", authenticator=bearer_token("s3cret"))
>>> client = app.test_client()
>>> client.get("/health/details").get_json()
{'status': 'unauthorized'}
>>> client.get("/health/details", headers={"Authorization": "Bearer s3cret"}).get_json()
{'status': 'OK'}
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, NoReturn, TypeVar, cast

from flask import Response, current_app, request
from werkzeug.exceptions import Forbidden, HTTPException, Unauthorized

from .config import check_token, parse_tokens, parse_users
from .definitions import Authenticator
from .serialize import dumps

__all__ = ["all_of", "any_of", "basic_auth", "bearer_token", "ip_allowlist"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Encoded as route bodies are: compact, with a final newline.
_UNAUTHORIZED_BODY = dumps({"status": "unauthorized"})
_FORBIDDEN_BODY = dumps({"status": "forbidden"})

_REALM_RE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")  # printable ASCII but '"' and '\'


class _Default(enum.Enum):
    """A default ``config_key``: this standard key, unless the authenticator has its own secrets."""

    TOKENS = "STATUS_TOKENS"
    USERS = "STATUS_BASIC_AUTH"

    def __repr__(self) -> str:  # as the API reference shows the signature
        return f"<{self.value} unless given secrets>"


# -- denials ----------------------------------------------------------------------------------


def _unauthorized(challenge: str) -> NoReturn:
    response = current_app.response_class(
        _UNAUTHORIZED_BODY,
        status=401,
        mimetype="application/json",
        headers=[("WWW-Authenticate", challenge), ("Cache-Control", "no-store")],
    )
    raise Unauthorized(response=response)


def _forbidden() -> NoReturn:
    response = current_app.response_class(
        _FORBIDDEN_BODY, status=403, mimetype="application/json", headers=[("Cache-Control", "no-store")]
    )
    raise Forbidden(response=response)


class _WarnOnce:
    """Log a warning the first time only (per authenticator), from any thread."""

    __slots__ = ("_done", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False

    def __call__(self, message: str, *args: object) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        log.warning(message, *args)


def _decorator(check: Callable[[], None]) -> Callable[[F], F]:
    """A view decorator that runs ``check`` (which raises to deny) before the view."""

    def decorate(view: F) -> F:
        if not callable(view):
            raise TypeError(f"an authenticator decorates a view function, got {view!r}")

        @functools.wraps(view)
        def authenticated(*args: Any, **kwargs: Any) -> Any:
            check()
            return view(*args, **kwargs)

        return cast(F, authenticated)

    return decorate


# -- shared helpers ---------------------------------------------------------------------------


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def _check_realm(realm: object) -> str:
    if not isinstance(realm, str):
        raise TypeError(f"realm must be a str, not {type(realm).__name__}")
    if not _REALM_RE.fullmatch(realm):
        raise ValueError(f"realm must be non-empty printable ASCII without '\"' or '\\', got {realm!r}")
    return realm


def _check_config_key(config_key: object, *, given: bool) -> str | None:
    """The config key to read: the standard one by default, unless the authenticator was
    ``given`` secrets of its own (then none: those alone are accepted), or the one passed."""
    if isinstance(config_key, _Default):
        return None if given else config_key.value
    if config_key is not None and (not isinstance(config_key, str) or not config_key):
        raise TypeError(f"config_key must be a non-empty str or None, got {config_key!r}")
    return config_key


def _bearer_token() -> str | None:
    """The token of this request's ``Authorization: Bearer`` header, if it has one.

    Read here rather than from ``request.authorization``: Werkzeug takes a value with an ``=``
    before its end for parameters, not a token, and our tokens may hold one (``a=b``).
    """
    header = request.headers.get("Authorization")
    if not header:
        return None
    given, _, credentials = header.strip().partition(" ")
    if given.lower() != "bearer":
        return None
    return credentials.strip() or None


def _basic_credentials() -> tuple[str, str] | None:
    """The username and password of this request's HTTP Basic ``Authorization`` header.

    ``None`` for no header, another scheme, or a malformed one: not base64, or not UTF-8 once
    decoded. Werkzeug reads a header without a colon as a username with an empty password;
    a password is never empty (``parse_users``), so that one is refused too.
    """
    try:
        authorization = request.authorization
    except ValueError:  # base64 refuses non-ASCII text with a ValueError Werkzeug does not catch
        return None
    if authorization is None or authorization.type != "basic":
        return None
    user, password = authorization.username, authorization.password
    if user is None or not password:
        return None
    return user, password


# -- bearer tokens ----------------------------------------------------------------------------


def _token_digests(value: object, source: str) -> list[bytes]:
    """Digests of the tokens of a config value or environment variable (see ``parse_tokens``)."""
    return [_digest(token.encode("ascii")) for token in parse_tokens(value, source)]


def bearer_token(
    *tokens: str,
    config_key: str | _Default | None = _Default.TOKENS,
    env: str | None = None,
    realm: str = "status",
) -> Callable[[F], F]:
    """Require ``Authorization: Bearer <token>`` with one of the accepted tokens.

    The accepted tokens come from where you say. Given ``tokens`` or ``env`` (the name of an
    environment variable), the authenticator accepts those alone; given neither, it accepts the
    tokens of ``app.config["STATUS_TOKENS"]``. Pass ``config_key`` to read another key, or to add
    a key's tokens to those given; ``config_key=None`` never reads the config. The config and
    the environment are read on every request, and each may be one token, several separated by
    commas (``"old-token, new-token"``), or (config) a list of str. Several tokens let you
    rotate: accept old and new, move clients over, drop the old one. Tokens are visible ASCII
    without spaces or commas; a bad token is refused with a message that does not repeat it:
    here for ``tokens`` and a value of ``env`` already set, at ``init_app`` for
    ``STATUS_TOKENS``, and on each request (a 500) for a value that turns bad later.

    Missing token: 401 with ``WWW-Authenticate: Bearer realm="status"``. Wrong token: 401 with
    ``error="invalid_token"`` added to the challenge. No token configured anywhere at request
    time: every request is denied and a warning is logged once.

    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> app.config["STATUS_TOKENS"] = ["new-token"]
    >>> @app.get("/private")
    ... @bearer_token("old-token", config_key="STATUS_TOKENS")
    ... def private():
    ...     return {"ok": True}
    >>> @app.get("/own")
    ... @bearer_token("old-token")
    ... def own():
    ...     return {"ok": True}
    >>> client = app.test_client()
    >>> client.get("/private").headers["WWW-Authenticate"]
    'Bearer realm="status"'
    >>> client.get("/private", headers={"Authorization": "Bearer new-token"}).status_code
    200
    >>> client.get("/private", headers={"Authorization": "Bearer old-token"}).status_code
    200
    >>> client.get("/private", headers={"Authorization": "Bearer wrong"}).status_code
    401
    >>> client.get("/own", headers={"Authorization": "Bearer new-token"}).status_code
    401
    """
    static = tuple(
        _digest(check_token(token, f"bearer_token: token #{i}").encode("ascii")) for i, token in enumerate(tokens, 1)
    )
    config_key = _check_config_key(config_key, given=bool(tokens) or env is not None)
    if env is not None and (not isinstance(env, str) or not env):
        raise TypeError(f"env must be the name of an environment variable or None, got {env!r}")
    if env is not None:  # read again on each request; a bad value already set fails here, early
        parse_tokens(os.environ.get(env), f"environment variable {env}")
    if not static and config_key is None and env is None:
        raise ValueError("bearer_token needs tokens: pass some, or a config_key or env to read them from")
    challenge = f'Bearer realm="{_check_realm(realm)}"'
    invalid = f'{challenge}, error="invalid_token"'
    places = (("arguments", bool(static)), (f"app.config[{config_key!r}]", config_key), (f"${env}", env))
    sources = ", ".join(place for place, used in places if used)
    warn = _WarnOnce()

    def accepted() -> list[bytes]:
        digests = list(static)
        if config_key is not None:
            digests.extend(_token_digests(current_app.config.get(config_key), config_key))
        if env is not None:
            digests.extend(_token_digests(os.environ.get(env), f"environment variable {env}"))
        return digests

    def check() -> None:
        digests = accepted()
        if not digests:
            warn("flask-status: bearer_token has no token configured (%s): denying every request", sources)
            _unauthorized(challenge)
        presented = _bearer_token()
        if presented is None:
            _unauthorized(challenge)
        given = _digest(presented.encode("utf-8", "surrogatepass"))
        matched = False
        for digest in digests:  # every one, whatever matched: the timing tells nothing
            matched |= hmac.compare_digest(given, digest)
        if not matched:
            _unauthorized(invalid)

    return _decorator(check)


# -- HTTP Basic -------------------------------------------------------------------------------


def _user_digests(users: object, source: str) -> list[tuple[bytes, bytes]]:
    """(username digest, password digest) pairs (see ``parse_users``)."""
    return [
        (_digest(user.encode("utf-8")), _digest(password.encode("utf-8")))
        for user, password in parse_users(users, source)
    ]


def basic_auth(
    users: Mapping[str, str] | None = None,
    *,
    config_key: str | _Default | None = _Default.USERS,
    realm: str = "status",
) -> Callable[[F], F]:
    """Require HTTP Basic credentials of one of ``users`` (a mapping of username to password).

    Given ``users``, the authenticator accepts those alone; given none, it accepts the users of
    ``app.config["STATUS_BASIC_AUTH"]``, read on every request. Pass ``config_key`` to read
    another key, or to add a key's users to those given; ``config_key=None`` never reads the
    config. An empty password or a username holding ``:`` is refused here for ``users``, at
    ``init_app`` for ``STATUS_BASIC_AUTH``. Usernames and passwords are UTF-8; both are
    compared in constant time against every user, known or not, so the timing does not tell
    whether a username exists. Missing, malformed or wrong credentials: 401 with
    ``WWW-Authenticate: Basic realm="status"``. No user configured at request time: every request
    is denied and a warning is logged once.

    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> @app.get("/private")
    ... @basic_auth({"ops": "correct horse"})
    ... def private():
    ...     return {"ok": True}
    >>> client = app.test_client()
    >>> client.get("/private").headers["WWW-Authenticate"]
    'Basic realm="status"'
    >>> client.get("/private", auth=("ops", "correct horse")).status_code
    200
    >>> client.get("/private", auth=("ops", "wrong")).status_code
    401
    """
    static = tuple(_user_digests(users, "basic_auth users")) if users is not None else ()
    config_key = _check_config_key(config_key, given=users is not None)
    if not static and config_key is None:
        raise ValueError("basic_auth needs users: pass a mapping, or a config_key to read them from")
    challenge = f'Basic realm="{_check_realm(realm)}"'
    warn = _WarnOnce()

    def accepted() -> list[tuple[bytes, bytes]]:
        pairs = list(static)
        if config_key is not None:
            configured = current_app.config.get(config_key)
            if configured is not None:
                pairs.extend(_user_digests(configured, config_key))
        return pairs

    def check() -> None:
        pairs = accepted()
        if not pairs:
            where = f"arguments or app.config[{config_key!r}]" if config_key else "arguments"
            warn("flask-status: basic_auth has no user configured (%s): denying every request", where)
            _unauthorized(challenge)
        credentials = _basic_credentials()
        if credentials is None:
            _unauthorized(challenge)
        user, password = credentials
        user_digest, password_digest = _digest(user.encode("utf-8")), _digest(password.encode("utf-8"))
        matched = False
        for expected_user, expected_password in pairs:  # every user, both parts: no early exit
            matched |= hmac.compare_digest(user_digest, expected_user) & hmac.compare_digest(
                password_digest, expected_password
            )
        if not matched:
            _unauthorized(challenge)

    return _decorator(check)


# -- IP allowlist -----------------------------------------------------------------------------


def _parse_network(value: object) -> _Network:
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return ipaddress.ip_network(value)
    if not isinstance(value, str):
        raise TypeError(f"ip_allowlist: {value!r} is not an IP address or network: give a str like '10.0.0.0/8'")
    try:
        return ipaddress.ip_network(value)
    except ValueError as exc:
        try:
            meant = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"ip_allowlist: {value!r} is not an IP address or network ({exc})") from None
        raise ValueError(f"ip_allowlist: {value!r} has host bits set; did you mean {str(meant)!r}?") from None


def _remote_address() -> _Address | None:
    remote = request.remote_addr
    if not remote:
        return None
    try:
        return ipaddress.ip_address(remote)
    except ValueError:  # a unix socket, or something a server made up
        return None


def ip_allowlist(
    *networks: str | ipaddress.IPv4Network | ipaddress.IPv6Network | ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> Callable[[F], F]:
    """Allow only clients whose address is one of ``networks`` (addresses or CIDR networks).

    Networks are checked here: a bad one is a ``ValueError`` naming it. The client's address is
    ``request.remote_addr``, the peer of the connection, and ``X-Forwarded-For`` is never read:
    behind a reverse proxy, tell the app how many proxies to trust with werkzeug's
    :class:`~werkzeug.middleware.proxy_fix.ProxyFix`, which rewrites ``remote_addr``. An
    IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) matches IPv4 networks too. Any other client,
    or one without an IP address: 403 ``{"status": "forbidden"}``.

    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> @app.get("/private")
    ... @ip_allowlist("127.0.0.1", "10.0.0.0/8", "fd00::/8")
    ... def private():
    ...     return {"ok": True}
    >>> client = app.test_client()
    >>> client.get("/private", environ_overrides={"REMOTE_ADDR": "10.1.2.3"}).status_code
    200
    >>> client.get("/private", environ_overrides={"REMOTE_ADDR": "203.0.113.9"}).status_code
    403
    """
    allowed = tuple(_parse_network(network) for network in networks)
    if not allowed:
        raise ValueError("ip_allowlist needs at least one address or network")

    def check() -> None:
        address = _remote_address()
        if address is None:
            _forbidden()
        candidates: tuple[_Address, ...] = (address,)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates = (address, address.ipv4_mapped)
        if not any(candidate in network for candidate in candidates for network in allowed):
            _forbidden()

    return _decorator(check)


# -- combinations -----------------------------------------------------------------------------


def _check_authenticators(authenticators: tuple[object, ...], name: str) -> None:
    if not authenticators:
        raise ValueError(f"{name} needs at least one authenticator")
    for authenticator in authenticators:
        if not callable(authenticator):
            raise TypeError(f"{name}: {authenticator!r} is not an authenticator (a view decorator)")


def _apply(authenticator: Authenticator, view: Callable[..., Any]) -> Callable[..., Any]:
    decorated = authenticator(view)
    if not callable(decorated):
        raise TypeError(f"authenticator {authenticator!r} returned {decorated!r}, not a view function")
    return decorated


def _status_code(denial: HTTPException | Response) -> int | None:
    return denial.code if isinstance(denial, HTTPException) else denial.status_code


def any_of(*authenticators: Authenticator) -> Callable[[F], F]:
    """Let a request through when any one of ``authenticators`` would, tried in order.

    For example a token from anywhere, or no token from the internal network. When every one
    denies, the answer is the first 401 denial (its challenge tells the client what to send),
    else the first denial. The view runs once, inside the authenticator that let it through.
    Works with any view decorator, not only the ones of this module.

    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> @app.get("/private")
    ... @any_of(ip_allowlist("10.0.0.0/8"), bearer_token("s3cret"))
    ... def private():
    ...     return {"ok": True}
    >>> client = app.test_client()
    >>> client.get("/private", environ_overrides={"REMOTE_ADDR": "10.0.0.7"}).status_code
    200
    >>> client.get("/private", headers={"Authorization": "Bearer s3cret"}).status_code
    200
    >>> client.get("/private").status_code
    401
    """
    _check_authenticators(authenticators, "any_of")

    def decorate(view: F) -> F:
        # Set while one authenticator is tried: a list the view appends to when it is reached.
        reached: ContextVar[list[bool] | None] = ContextVar(f"flask_status_any_of_{id(view)}", default=None)

        @functools.wraps(view)
        def through(*args: Any, **kwargs: Any) -> Any:
            flag = reached.get()
            if flag is not None:
                flag.append(True)
            return view(*args, **kwargs)

        gates = tuple(_apply(authenticator, through) for authenticator in authenticators)

        @functools.wraps(view)
        def authenticated(*args: Any, **kwargs: Any) -> Any:
            denials: list[HTTPException | Response] = []
            for gate in gates:
                flag: list[bool] = []
                token = reached.set(flag)
                try:
                    rv = gate(*args, **kwargs)
                except HTTPException as exc:
                    if flag:  # raised by the view (or below it), not a denial
                        raise
                    denials.append(exc)
                    continue
                finally:
                    reached.reset(token)
                if flag:
                    return rv
                denials.append(current_app.make_response(rv))  # answered without the view: a denial
            chosen = next((denial for denial in denials if _status_code(denial) == 401), denials[0])
            if isinstance(chosen, HTTPException):
                raise chosen
            return chosen

        return cast(F, authenticated)

    return decorate


def all_of(*authenticators: Authenticator) -> Callable[[F], F]:
    """Let a request through only when every one of ``authenticators`` does, checked in order.

    For example a token, and only from the internal network. The first denial is the answer.

    >>> from flask import Flask
    >>> app = Flask(__name__)
    >>> @app.get("/private")
    ... @all_of(ip_allowlist("10.0.0.0/8"), bearer_token("s3cret"))
    ... def private():
    ...     return {"ok": True}
    >>> client = app.test_client()
    >>> inside = {"REMOTE_ADDR": "10.0.0.7"}
    >>> client.get("/private", environ_overrides=inside, headers={"Authorization": "Bearer s3cret"}).status_code
    200
    >>> client.get("/private", environ_overrides=inside).status_code
    401
    >>> client.get("/private", headers={"Authorization": "Bearer s3cret"}).status_code
    403
    """
    _check_authenticators(authenticators, "all_of")

    def decorate(view: F) -> F:
        wrapped: Callable[..., Any] = view
        for authenticator in reversed(authenticators):
            wrapped = _apply(authenticator, wrapped)
        return cast(F, wrapped)

    return decorate
