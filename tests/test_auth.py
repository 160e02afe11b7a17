"""The ready-made authenticators of flask_status.auth, on real Flask apps and test clients."""

from __future__ import annotations

import base64
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, abort
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import TestResponse

from flask_status import StatusManager
from flask_status.auth import all_of, any_of, basic_auth, bearer_token, ip_allowlist

URL = "/health/details"
SECRET_VALUE = "hunter2-field-value"
FIELD_NAME = "secret_field"
CHECK_NAME = "database_check"
TOKEN = "tok-3f9a1c7e"
OTHER_TOKEN = "tok-b82d44aa"


class StatusApp:
    """A Flask app with one guarded status route holding a secret field and a counted check."""

    def __init__(
        self,
        authenticator: Callable[[Callable[..., Any]], Callable[..., Any]],
        *,
        config: dict[str, Any] | None = None,
        proxy_fix: bool = False,
    ) -> None:
        self.app = Flask(__name__)
        self.app.config.update(config or {})
        if proxy_fix:
            self.app.wsgi_app = ProxyFix(self.app.wsgi_app, x_for=1)  # type: ignore[method-assign]
        self.check_calls = 0
        status = StatusManager(self.app)
        route = status.add_route("details", URL, authenticator=authenticator)
        route.add_field(FIELD_NAME, SECRET_VALUE)
        route.add_check(CHECK_NAME, self._check)
        self.client = self.app.test_client()

    def _check(self) -> bool:
        self.check_calls += 1
        return True

    def get(self, headers: dict[str, str] | None = None, remote: str | None = None, **kwargs: Any) -> TestResponse:
        environ = {"REMOTE_ADDR": remote} if remote is not None else None
        return self.client.get(URL, headers=headers, environ_overrides=environ, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def assert_granted(response: TestResponse) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert SECRET_VALUE in response.get_data(as_text=True)


def assert_denied(response: TestResponse, code: int) -> None:
    """A denial: the right code, a tiny JSON body, and nothing about the route's contents."""
    assert response.status_code == code
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "unauthorized" if code == 401 else "forbidden"}
    text = response.get_data(as_text=True) + str(response.headers)
    for leak in (SECRET_VALUE, FIELD_NAME, CHECK_NAME, TOKEN, OTHER_TOKEN):
        assert leak not in text
    assert response.headers["Cache-Control"] == "no-store"
    if code == 401:
        assert "WWW-Authenticate" in response.headers
    else:
        assert "WWW-Authenticate" not in response.headers


def test_denials_are_compact_json_like_the_routes() -> None:
    status = StatusApp(all_of(ip_allowlist("10.0.0.0/8"), bearer_token(TOKEN)))
    granted = status.get(bearer(TOKEN), remote="10.0.0.7").data
    assert granted.startswith(b'{"status":"OK","secret_field":')  # a route body: compact
    assert granted.endswith(b"}\n")
    assert status.get(remote="10.0.0.7").data == b'{"status":"unauthorized"}\n'
    assert status.get(remote="203.0.113.9").data == b'{"status":"forbidden"}\n'


# -- bearer_token -----------------------------------------------------------------------------


def test_bearer_valid_token_is_let_through() -> None:
    status = StatusApp(bearer_token(TOKEN))
    assert_granted(status.get(bearer(TOKEN)))
    assert status.check_calls == 1


def test_bearer_missing_token_is_401_with_challenge_and_checks_do_not_run() -> None:
    status = StatusApp(bearer_token(TOKEN))
    response = status.get()
    assert_denied(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="status"'
    assert status.check_calls == 0


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong-token",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        "Bearer tök-ünicode",
    ],
)
def test_bearer_wrong_token_is_401_invalid_token(header: str) -> None:
    status = StatusApp(bearer_token(TOKEN))
    response = status.get({"Authorization": header})
    assert_denied(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="status", error="invalid_token"'
    assert status.check_calls == 0


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", f"Basic {TOKEN}", TOKEN, f"Token {TOKEN}"])
def test_bearer_absent_or_other_scheme_is_401_with_plain_challenge(header: str) -> None:
    response = StatusApp(bearer_token(TOKEN)).get({"Authorization": header})
    assert_denied(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="status"'


def test_bearer_scheme_is_case_insensitive_and_spaces_are_tolerated() -> None:
    status = StatusApp(bearer_token(TOKEN))
    assert_granted(status.get({"Authorization": f"bearer {TOKEN}"}))
    assert_granted(status.get({"Authorization": f"BEARER   {TOKEN}  "}))


def test_bearer_several_tokens_for_rotation() -> None:
    status = StatusApp(bearer_token(TOKEN, OTHER_TOKEN))
    assert_granted(status.get(bearer(TOKEN)))
    assert_granted(status.get(bearer(OTHER_TOKEN)))
    assert_denied(status.get(bearer(TOKEN + OTHER_TOKEN)), 401)


@pytest.mark.parametrize(
    "configured",
    [TOKEN, [TOKEN], (OTHER_TOKEN, TOKEN), f"{OTHER_TOKEN},{TOKEN}", f" {OTHER_TOKEN} ,\n {TOKEN} "],
)
def test_bearer_tokens_from_app_config(configured: Any) -> None:
    status = StatusApp(bearer_token(), config={"STATUS_TOKENS": configured})
    assert_granted(status.get(bearer(TOKEN)))
    assert_denied(status.get(bearer("nope")), 401)


PASSPHRASE = "correct horse battery staple"


def test_bearer_config_is_split_on_commas_only_and_a_spaced_value_is_refused_at_init_app() -> None:
    with pytest.raises(ValueError, match=r"STATUS_TOKENS: token #1 holds whitespace") as info:
        StatusApp(bearer_token(), config={"STATUS_TOKENS": PASSPHRASE})
    assert "horse" not in str(info.value)
    status = StatusApp(bearer_token(config_key="OPS_TOKENS"), config={"OPS_TOKENS": PASSPHRASE})
    response = status.get(bearer("horse"))
    assert response.status_code == 500  # a custom key is read at request time only: refused there
    assert status.check_calls == 0


def test_bearer_environment_is_split_on_commas_only(monkeypatch: pytest.MonkeyPatch) -> None:
    status = StatusApp(bearer_token(env="FLASK_STATUS_TEST_TOKEN"))
    monkeypatch.setenv("FLASK_STATUS_TEST_TOKEN", PASSPHRASE)
    for fragment in PASSPHRASE.split():
        assert status.get(bearer(fragment)).status_code != 200
    assert status.check_calls == 0


def test_bearer_environment_with_whitespace_is_refused_at_decoration_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_STATUS_TEST_TOKEN", PASSPHRASE)
    with pytest.raises(ValueError, match=r"environment variable FLASK_STATUS_TEST_TOKEN: token #1 holds whitespace"):
        bearer_token(env="FLASK_STATUS_TEST_TOKEN")


def test_bearer_config_is_read_at_request_time_and_custom_key() -> None:
    status = StatusApp(bearer_token(config_key="OPS_TOKENS"), config={"OPS_TOKENS": [TOKEN]})
    assert_granted(status.get(bearer(TOKEN)))
    status.app.config["OPS_TOKENS"] = [OTHER_TOKEN]
    assert_denied(status.get(bearer(TOKEN)), 401)
    assert_granted(status.get(bearer(OTHER_TOKEN)))


def test_bearer_config_key_none_ignores_the_config() -> None:
    status = StatusApp(bearer_token(OTHER_TOKEN, config_key=None), config={"STATUS_TOKENS": TOKEN})
    assert_denied(status.get(bearer(TOKEN)), 401)
    assert_granted(status.get(bearer(OTHER_TOKEN)))


def test_bearer_tokens_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    status = StatusApp(bearer_token(env="FLASK_STATUS_TEST_TOKEN", config_key=None))
    monkeypatch.setenv("FLASK_STATUS_TEST_TOKEN", TOKEN)
    assert_granted(status.get(bearer(TOKEN)))
    monkeypatch.setenv("FLASK_STATUS_TEST_TOKEN", f"{OTHER_TOKEN}, {TOKEN}")
    assert_granted(status.get(bearer(OTHER_TOKEN)))
    assert_granted(status.get(bearer(TOKEN)))
    monkeypatch.setenv("FLASK_STATUS_TEST_TOKEN", OTHER_TOKEN)
    assert_denied(status.get(bearer(TOKEN)), 401)


@pytest.mark.parametrize(
    ("args", "kwargs", "own"),
    [
        ((TOKEN,), {}, TOKEN),
        ((), {"env": "FLASK_STATUS_TEST_TOKEN"}, "from-env"),
        ((TOKEN,), {"env": "FLASK_STATUS_TEST_TOKEN"}, "from-env"),
    ],
)
def test_bearer_given_its_own_tokens_accepts_those_alone(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], kwargs: dict[str, Any], own: str
) -> None:
    monkeypatch.setenv("FLASK_STATUS_TEST_TOKEN", "from-env")
    status = StatusApp(bearer_token(*args, **kwargs), config={"STATUS_TOKENS": OTHER_TOKEN})
    assert_granted(status.get(bearer(own)))
    assert_denied(status.get(bearer(OTHER_TOKEN)), 401)


def test_bearer_arguments_config_and_environment_add_up_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_STATUS_TEST_TOKEN", "from-env")
    status = StatusApp(
        bearer_token("from-args", env="FLASK_STATUS_TEST_TOKEN", config_key="STATUS_TOKENS"),
        config={"STATUS_TOKENS": "from-config"},
    )
    for token in ("from-args", "from-config", "from-env"):
        assert_granted(status.get(bearer(token)))


def test_bearer_without_any_token_fails_closed_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("FLASK_STATUS_TEST_TOKEN", raising=False)
    status = StatusApp(bearer_token(env="FLASK_STATUS_TEST_TOKEN"), config={"STATUS_TOKENS": ""})
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        for header in (None, bearer(""), bearer("anything"), {"Authorization": "Bearer "}):
            assert_denied(status.get(header), 401)
    warnings = [r for r in caplog.records if "no token configured" in r.getMessage()]
    assert len(warnings) == 1
    assert "FLASK_STATUS_TEST_TOKEN" in warnings[0].getMessage()
    assert status.check_calls == 0


@pytest.mark.parametrize(
    ("configured", "error", "match"),
    [
        (5, TypeError, r"STATUS_TOKENS must be a str or a list of str, not int"),
        ([TOKEN, ""], ValueError, r"STATUS_TOKENS: token #2 is empty"),
        ([TOKEN, 42], TypeError, r"STATUS_TOKENS: token #2 must be a str, not int"),
        ({"token": TOKEN}, TypeError, r"STATUS_TOKENS must be a str or a list of str, not dict"),
        (f"{TOKEN}, {TOKEN} x", ValueError, r"STATUS_TOKENS: token #2 holds whitespace"),
    ],
)
def test_bad_token_config_is_refused_at_init_app_without_the_token(configured: Any, error: type, match: str) -> None:
    app = Flask(__name__)
    app.config["STATUS_TOKENS"] = configured
    with pytest.raises(error, match=match) as info:
        StatusManager(app)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("configured", "error", "match"),
    [
        ({"monitor": ""}, ValueError, r"STATUS_BASIC_AUTH: the password of 'monitor' is empty"),
        ({"monitor": 5}, TypeError, r"STATUS_BASIC_AUTH: the password of 'monitor' must be a str, not int"),
        ("monitor:pw", TypeError, r"STATUS_BASIC_AUTH must be a mapping of username to password, not str"),
        ({"mon:itor": "pw"}, ValueError, r"STATUS_BASIC_AUTH: username 'mon:itor'"),
    ],
)
def test_bad_basic_auth_config_is_refused_at_init_app(configured: Any, error: type, match: str) -> None:
    app = Flask(__name__)
    app.config["STATUS_BASIC_AUTH"] = configured
    with pytest.raises(error, match=match) as info:
        StatusManager(app)
    assert "pw" not in str(info.value).replace("password", "")


def test_bearer_misconfigured_custom_key_is_a_json_500_that_names_no_token(caplog: pytest.LogCaptureFixture) -> None:
    status = StatusApp(bearer_token(config_key="OPS_TOKENS"), config={"OPS_TOKENS": [TOKEN, 42]})
    with caplog.at_level(logging.ERROR, logger="flask_status"):
        response = status.get(bearer(TOKEN))
    assert response.status_code == 500
    assert response.is_json
    assert TOKEN not in response.get_data(as_text=True)
    assert TOKEN not in caplog.text
    assert "OPS_TOKENS" in caplog.text
    assert status.check_calls == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("",), {}, ValueError),
        ((b"bytes-token",), {}, TypeError),
        ((123,), {}, TypeError),
        ((None,), {}, TypeError),
        (("two words",), {}, ValueError),
        (("comma,token",), {}, ValueError),
        (("tab\ttoken",), {}, ValueError),
        (("ünicode",), {}, ValueError),
        ((), {"config_key": None}, ValueError),
        ((), {"config_key": ""}, TypeError),
        ((TOKEN,), {"env": ""}, TypeError),
        ((TOKEN,), {"realm": 'bad"realm'}, ValueError),
        ((TOKEN,), {"realm": ""}, ValueError),
    ],
)
def test_bearer_bad_arguments_fail_at_decoration_time(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        bearer_token(*args, **kwargs)


def test_bearer_errors_never_repeat_the_token() -> None:
    with pytest.raises(ValueError, match=r"token #2") as info:
        bearer_token(TOKEN, "s3cret with space")
    assert "s3cret" not in str(info.value)


def test_bearer_custom_realm() -> None:
    response = StatusApp(bearer_token(TOKEN, realm="ops area")).get()
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ops area"'


# -- basic_auth -------------------------------------------------------------------------------

USERS = {"ops": "correct horse", "monitor": "battery:staple", "zoë": "pässword"}


@pytest.mark.parametrize(("user", "password"), list(USERS.items()))
def test_basic_good_credentials(user: str, password: str) -> None:
    status = StatusApp(basic_auth(USERS))
    assert_granted(status.get(basic(f"{user}:{password}".encode())))


def test_basic_with_test_client_auth() -> None:
    assert_granted(StatusApp(basic_auth(USERS)).get(auth=("ops", "correct horse")))


def test_basic_missing_credentials_is_401_with_challenge() -> None:
    status = StatusApp(basic_auth(USERS))
    response = status.get()
    assert_denied(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="status"'
    assert status.check_calls == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"ops:wrong",
        b"ops:correct horse ",
        b"ops:",
        b"OPS:correct horse",
        b"nobody:correct horse",
        b"nobody:",
        b":correct horse",
        b"monitor:battery",
        b"z\xf6\xeb:p\xe4ssword",  # latin-1, not UTF-8
    ],
)
def test_basic_wrong_or_unknown_user_is_401(raw: bytes) -> None:
    status = StatusApp(basic_auth(USERS))
    response = status.get(basic(raw))
    assert_denied(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="status"'
    assert status.check_calls == 0


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic b3Bz",  # "ops": no colon
        "Basic " + base64.b64encode(b"opscorrect horse").decode(),  # no colon
        "Basic b3BzOmNvcnJlY3QgaG9yc2U",  # missing padding
        "Basic",
        "Basic ünïcode",
        "Bearer " + base64.b64encode(b"ops:correct horse").decode(),
    ],
)
def test_basic_malformed_header_is_401(header: str) -> None:
    response = StatusApp(basic_auth(USERS)).get({"Authorization": header})
    assert_denied(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="status"'


def test_basic_users_from_app_config_read_at_request_time() -> None:
    status = StatusApp(basic_auth(), config={"STATUS_BASIC_AUTH": {"ops": "pw-one"}})
    assert_granted(status.get(auth=("ops", "pw-one")))
    status.app.config["STATUS_BASIC_AUTH"] = {"ops": "pw-two"}
    assert_denied(status.get(auth=("ops", "pw-one")), 401)
    assert_granted(status.get(auth=("ops", "pw-two")))


def test_basic_given_its_own_users_accepts_those_alone() -> None:
    status = StatusApp(basic_auth({"a": "pa"}), config={"STATUS_BASIC_AUTH": {"b": "pb"}})
    assert_granted(status.get(auth=("a", "pa")))
    assert_denied(status.get(auth=("b", "pb")), 401)


def test_basic_arguments_and_config_add_up() -> None:
    status = StatusApp(basic_auth({"a": "pa"}, config_key="OPS_USERS"), config={"OPS_USERS": {"b": "pb"}})
    assert_granted(status.get(auth=("a", "pa")))
    assert_granted(status.get(auth=("b", "pb")))
    assert_denied(status.get(auth=("a", "pb")), 401)


def test_basic_without_users_fails_closed_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    status = StatusApp(basic_auth())
    with caplog.at_level(logging.WARNING, logger="flask_status"):
        assert_denied(status.get(), 401)
        assert_denied(status.get(auth=("ops", "x")), 401)
    assert len([r for r in caplog.records if "no user configured" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("users", "kwargs", "error"),
    [
        ({"ops": ""}, {}, ValueError),
        ({"": "pw"}, {}, TypeError),
        ({"o:ps": "pw"}, {}, ValueError),
        ({"ops\n": "pw"}, {}, ValueError),
        ({"ops": 123}, {}, TypeError),
        ({"ops": b"pw"}, {}, TypeError),
        ({1: "pw"}, {}, TypeError),
        ([("ops", "pw")], {}, TypeError),
        ("ops:pw", {}, TypeError),
        (None, {"config_key": None}, ValueError),
        ({}, {"config_key": None}, ValueError),
        ({"ops": "pw"}, {"realm": "a\\b"}, ValueError),
    ],
)
def test_basic_bad_arguments_fail_at_decoration_time(users: Any, kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        basic_auth(users, **kwargs)


def test_basic_errors_never_repeat_the_password() -> None:
    with pytest.raises(TypeError) as info:
        basic_auth({"ops": b"s3cret-pw"})  # type: ignore[dict-item]
    assert "s3cret" not in str(info.value)
    assert "'ops'" in str(info.value)


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(b"ops:correct horse").decode() + "  ",
        "basic   " + base64.b64encode(b"ops:correct horse").decode(),
        "BASIC " + base64.b64encode(b"ops:correct horse").decode(),
    ],
)
def test_basic_scheme_is_case_insensitive_and_spaces_are_tolerated(header: str) -> None:
    assert_granted(StatusApp(basic_auth(USERS)).get({"Authorization": header}))


@functools.cache
def _basic_app() -> StatusApp:
    """One app for every example of the properties below (an app per example would dominate)."""
    return StatusApp(basic_auth(USERS))


def _get_raw(header: bytes) -> TestResponse:
    """A request with this ``Authorization`` header, as a WSGI server hands it over (latin-1)."""
    return _basic_app().client.get(URL, environ_overrides={"HTTP_AUTHORIZATION": header.decode("latin-1")})


_SCHEMES = (b"", b"Basic", b"Basic ", b"basic  ", b"Basic\t", b" Basic ", b"Bearer ", b"Digest ", b"Basic =")


@settings(max_examples=400, deadline=None)
@given(scheme=st.sampled_from(_SCHEMES), rest=st.binary(max_size=64))
def test_basic_any_header_bytes_are_a_401(scheme: bytes, rest: bytes) -> None:
    """Whatever bytes the header holds (not base64, not UTF-8, control characters, other
    schemes), the answer is a 401 with the challenge: never a 500, never the route."""
    response = _get_raw(scheme + rest)
    assert_denied(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="status"'


_VALID = sorted(f"{user}:{password}".encode() for user, password in USERS.items())
_NEAR = st.one_of(
    st.tuples(st.binary(max_size=3), st.sampled_from(_VALID), st.binary(max_size=3)).map(b"".join),
    st.sampled_from(_VALID).flatmap(lambda valid: st.integers(0, len(valid)).map(lambda n: valid[:n])),
    st.sampled_from(_VALID).map(lambda valid: valid.decode().encode("latin-1", "replace")),
    st.binary(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(raw=_NEAR)
def test_basic_only_the_right_credentials_authenticate(raw: bytes) -> None:
    """Well-formed Basic credentials let the request through exactly when they are, byte for
    byte, one user's UTF-8 username, a colon and that user's password."""
    response = _get_raw(b"Basic " + base64.b64encode(raw))
    if raw in _VALID:
        assert_granted(response)
    else:
        assert_denied(response, 401)


# -- ip_allowlist -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("networks", "remote", "allowed"),
    [
        (("127.0.0.1",), "127.0.0.1", True),
        (("127.0.0.1",), "127.0.0.2", False),
        (("10.0.0.0/8",), "10.200.3.4", True),
        (("10.0.0.0/8",), "11.0.0.1", False),
        (("192.168.1.0/24", "10.0.0.5"), "10.0.0.5", True),
        (("192.168.1.0/24", "10.0.0.5"), "192.168.2.1", False),
        (("::1",), "::1", True),
        (("::1",), "127.0.0.1", False),
        (("fd00::/8",), "fd12:3456::1", True),
        (("fd00::/8",), "fe80::1", False),
        (("2001:db8::/32",), "2001:db8:0:0::42", True),
        (("10.0.0.0/8",), "::ffff:10.1.2.3", True),  # IPv4-mapped, as on a dual-stack socket
        (("10.0.0.0/8",), "::ffff:11.1.2.3", False),
        (("fe80::/10",), "fe80::1%eth0", True),
        (("10.0.0.0/8",), "", False),
        (("10.0.0.0/8",), "not-an-ip", False),
    ],
)
def test_ip_allowlist(networks: tuple[str, ...], remote: str, allowed: bool) -> None:
    status = StatusApp(ip_allowlist(*networks))
    response = status.get(remote=remote)
    if allowed:
        assert_granted(response)
    else:
        assert_denied(response, 403)
        assert status.check_calls == 0


def test_ip_allowlist_accepts_ipaddress_objects() -> None:
    import ipaddress

    authenticator = ip_allowlist(ipaddress.ip_address("10.0.0.1"), ipaddress.ip_network("2001:db8::/32"))
    status = StatusApp(authenticator)
    assert_granted(status.get(remote="10.0.0.1"))
    assert_granted(status.get(remote="2001:db8::1"))
    assert_denied(status.get(remote="10.0.0.2"), 403)


def test_ip_allowlist_ignores_x_forwarded_for_without_proxy_fix() -> None:
    status = StatusApp(ip_allowlist("10.0.0.0/8"))
    forwarded = {"X-Forwarded-For": "10.0.0.1", "X-Real-IP": "10.0.0.1", "Forwarded": "for=10.0.0.1"}
    assert_denied(status.get(forwarded, remote="203.0.113.7"), 403)


def test_ip_allowlist_follows_proxy_fix() -> None:
    status = StatusApp(ip_allowlist("10.0.0.0/8"), proxy_fix=True)
    # The proxy (127.0.0.1) is not in the allowlist; the client it forwards for is.
    assert_granted(status.get({"X-Forwarded-For": "10.9.8.7"}, remote="127.0.0.1"))
    assert_denied(status.get({"X-Forwarded-For": "203.0.113.7"}, remote="127.0.0.1"), 403)
    # ProxyFix(x_for=1) trusts only the last hop: a spoofed first entry does not help.
    assert_denied(status.get({"X-Forwarded-For": "10.0.0.1, 203.0.113.7"}, remote="127.0.0.1"), 403)


@pytest.mark.parametrize("bad", ["10.0.0.300", "10.0.0.0/33", "localhost", "", "10.0.0.0/8 "])
def test_ip_allowlist_bad_network_is_a_value_error_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="ip_allowlist") as info:
        ip_allowlist("127.0.0.1", bad)
    assert repr(bad) in str(info.value)


def test_ip_allowlist_host_bits_set_suggests_the_network() -> None:
    with pytest.raises(ValueError, match=r"'10\.1\.2\.3/8' has host bits set; did you mean '10\.0\.0\.0/8'"):
        ip_allowlist("10.1.2.3/8")


@pytest.mark.parametrize("bad", [167772161, None, b"10.0.0.1", ["10.0.0.1"]])
def test_ip_allowlist_non_str_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="ip_allowlist"):
        ip_allowlist(bad)


def test_ip_allowlist_needs_a_network() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ip_allowlist()


# -- any_of / all_of --------------------------------------------------------------------------


def test_any_of_token_or_internal_ip() -> None:
    status = StatusApp(any_of(ip_allowlist("10.0.0.0/8"), bearer_token(TOKEN)))
    assert_granted(status.get(remote="10.0.0.3"))
    assert_granted(status.get(bearer(TOKEN), remote="203.0.113.7"))
    assert status.check_calls == 2  # the view ran once per request
    response = status.get(bearer("wrong"), remote="203.0.113.7")
    assert_denied(response, 401)  # the 401 wins over the 403: it says what to send
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="status", error="invalid_token"'
    assert status.check_calls == 2


def test_any_of_all_forbidden_gives_the_first_denial() -> None:
    status = StatusApp(any_of(ip_allowlist("10.0.0.0/8"), ip_allowlist("192.168.0.0/16")))
    assert_granted(status.get(remote="192.168.1.1"))
    assert_denied(status.get(remote="203.0.113.7"), 403)


def test_any_of_does_not_retry_when_the_view_itself_aborts() -> None:
    app = Flask(__name__)
    calls: list[int] = []

    @app.get("/thing")
    @any_of(bearer_token(TOKEN), bearer_token(OTHER_TOKEN, config_key=None))
    def thing() -> Any:
        calls.append(1)
        abort(404)

    response = app.test_client().get("/thing", headers=bearer(TOKEN))
    assert response.status_code == 404
    assert calls == [1]


def test_any_of_treats_a_returned_response_as_a_denial() -> None:
    def refuse(view: Callable[..., Any]) -> Callable[..., Any]:
        def refused(*args: Any, **kwargs: Any) -> Any:
            return {"status": "go away"}, 418

        return refused

    def decorate_response(view: Callable[..., Any]) -> Callable[..., Any]:
        def decorated(*args: Any, **kwargs: Any) -> Any:
            response = view(*args, **kwargs)
            response.headers["X-Checked"] = "yes"
            return response

        return decorated

    status = StatusApp(any_of(refuse, decorate_response))
    response = status.get()
    assert_granted(response)
    assert response.headers["X-Checked"] == "yes"  # the granting authenticator's wrapping applies

    only_refuse = StatusApp(any_of(refuse))
    response = only_refuse.get()
    assert response.status_code == 418
    assert only_refuse.check_calls == 0


def test_nested_any_of() -> None:
    authenticator = any_of(any_of(ip_allowlist("10.0.0.0/8"), bearer_token(TOKEN)), basic_auth({"ops": "pw"}))
    status = StatusApp(authenticator)
    assert_granted(status.get(remote="10.0.0.1"))
    assert_granted(status.get(bearer(TOKEN), remote="203.0.113.7"))
    assert_granted(status.get(auth=("ops", "pw"), remote="203.0.113.7"))
    assert_denied(status.get(remote="203.0.113.7"), 401)
    assert status.check_calls == 3


def test_all_of_token_and_internal_ip() -> None:
    status = StatusApp(all_of(ip_allowlist("10.0.0.0/8"), bearer_token(TOKEN)))
    assert_granted(status.get(bearer(TOKEN), remote="10.0.0.3"))
    assert_denied(status.get(remote="10.0.0.3"), 401)
    assert_denied(status.get(bearer(TOKEN), remote="203.0.113.7"), 403)
    assert status.check_calls == 1


@pytest.mark.parametrize("combine", [any_of, all_of])
def test_combinations_refuse_bad_arguments(combine: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="at least one"):
        combine()
    with pytest.raises(TypeError, match="not an authenticator"):
        combine(bearer_token(TOKEN), "bearer")
    with pytest.raises(TypeError, match="not a view function"):
        combine(lambda view: None)(lambda: "x")


# -- on plain Flask views, and with the app's error handlers ----------------------------------


@pytest.mark.parametrize(
    "authenticator",
    [
        bearer_token(TOKEN, config_key=None),
        basic_auth(USERS),
        ip_allowlist("127.0.0.1"),
        any_of(bearer_token(TOKEN, config_key=None)),
        all_of(ip_allowlist("127.0.0.1")),
    ],
)
def test_decorators_keep_the_view_name_and_work_on_plain_views(
    authenticator: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    app = Flask(__name__)

    @app.get("/plain")
    @authenticator
    def plain_view() -> dict[str, bool]:
        """Docs."""
        return {"ok": True}

    assert plain_view.__name__ == "plain_view"
    assert plain_view.__doc__ == "Docs."
    assert app.test_client().get("/plain", environ_overrides={"REMOTE_ADDR": "203.0.113.7"}).status_code in (401, 403)


def test_app_error_handlers_still_apply() -> None:
    status = StatusApp(bearer_token(TOKEN))
    status.app.register_error_handler(401, lambda error: ({"custom": "denied"}, 401))
    response = status.get()
    assert response.status_code == 401
    assert response.get_json() == {"custom": "denied"}


def test_one_authenticator_shared_by_threads() -> None:
    status = StatusApp(any_of(bearer_token(TOKEN, OTHER_TOKEN), ip_allowlist("10.0.0.0/8")))
    failures: list[str] = []

    def worker(n: int) -> None:
        client = status.app.test_client()
        for i in range(30):
            good = (n + i) % 2 == 0
            response = client.get(URL, headers=bearer(TOKEN if good else "wrong"))
            if response.status_code != (200 if good else 401):
                failures.append(f"{n}/{i}: {response.status_code}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
