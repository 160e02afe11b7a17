"""flask_status.checks.http_check against a real HTTP server on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.checks import http_check


class Handler(BaseHTTPRequestHandler):
    """``/ok``, ``/status/<code>``, ``/slow``, ``/redirect``, ``/auth`` (Basic user:s3cret)."""

    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.server.seen.append((self.command, self.path, dict(self.headers.items())))
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"{}")

    def _route(self) -> None:
        if self.path == "/ok":
            self._answer(200)
        elif self.path.startswith("/status/"):
            self._answer(int(self.path.rsplit("/", 1)[1]))
        elif self.path == "/slow":
            time.sleep(1.5)
            self._answer(200)
        elif self.path == "/redirect":
            self._answer(302, {"Location": "/ok"})
        elif self.path == "/auth":
            wanted = "Basic " + base64.b64encode(b"user:s3cret").decode()
            self._answer(200 if self.headers.get("Authorization") == wanted else 401)
        elif self.path == "/token":
            self._answer(200 if self.headers.get("X-Token") == "abc" else 403)
        else:
            self._answer(404)

    do_GET = do_HEAD = do_POST = _route


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    seen: list[tuple[str, str, dict[str, str]]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on /slow: nothing to report


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib takes proxies from the environment; requests to 127.0.0.1 must go straight there.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def base(server: Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def status_app(check: Callable[[], Any], **options: Any) -> Flask:
    app = Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check("upstream", check, **options)
    return app


def test_passes_on_200(server: Server) -> None:
    response = status_app(http_check(base(server) + "/ok")).test_client().get("/ready")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "OK"
    item = body["upstream"]
    assert item["status"] == "pass"
    assert item["message"] == "HTTP 200"
    assert item["unit"] == "s"
    assert 0 <= item["observed"] < 2
    assert server.seen[0][:2] == ("GET", "/ok")
    assert server.seen[0][2]["User-Agent"] == "flask-status"


def test_unexpected_status_fails(server: Server) -> None:
    response = status_app(http_check(base(server) + "/status/500")).test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "FAIL"
    assert body["upstream"]["status"] == "fail"
    assert body["upstream"]["message"] == "HTTP 500, expected 200"


@pytest.mark.parametrize(
    ("path", "expect", "code"),
    [
        ("/status/204", {200, 204}, 200),
        ("/status/404", 404, 200),
        ("/status/503", range(200, 300), 503),
        ("/status/201", [200], 503),
    ],
)
def test_expect_int_or_collection(server: Server, path: str, expect: Any, code: int) -> None:
    response = status_app(http_check(base(server) + path, expect=expect)).test_client().get("/ready")
    assert response.status_code == code


def test_message_names_expected_range(server: Server) -> None:
    check = http_check(base(server) + "/status/503", expect=range(200, 300))
    assert check().message == "HTTP 503, expected 200-299"


def test_method_and_headers(server: Server) -> None:
    ok = http_check(base(server) + "/token", method="head", headers={"X-Token": "abc"})
    assert status_app(ok).test_client().get("/ready").status_code == 200
    assert server.seen[-1][:2] == ("HEAD", "/token")
    wrong = http_check(base(server) + "/token", method="POST", headers={"X-Token": "nope"})
    response = status_app(wrong).test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["upstream"]["message"] == "HTTP 403, expected 200"
    assert server.seen[-1][:2] == ("POST", "/token")


def test_redirects_followed_or_not(server: Server) -> None:
    assert http_check(base(server) + "/redirect")().message == "HTTP 200"
    assert [path for _, path, _ in server.seen] == ["/redirect", "/ok"]
    result = http_check(base(server) + "/redirect", follow_redirects=False)()
    assert (result.status, result.message) == ("fail", "HTTP 302, expected 200")
    assert http_check(base(server) + "/redirect", expect=302, follow_redirects=False)().status == "pass"


def test_credentials_in_url_sent_as_basic_auth(server: Server) -> None:
    host, port = server.server_address[:2]
    good = http_check(f"http://user:s3cret@{host!s}:{port}/auth")
    assert status_app(good).test_client().get("/ready").status_code == 200
    bad = http_check(f"http://user:wrong@{host!s}:{port}/auth")
    response = status_app(bad).test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["upstream"]["message"] == "HTTP 401, expected 200"
    assert "wrong" not in response.get_data(as_text=True)


def test_refused_connection_fails_with_error() -> None:
    port = free_port()
    response = status_app(http_check(f"http://user:s3cret@127.0.0.1:{port}/ok")).test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "FAIL"
    error = body["upstream"]["error"]
    assert error.startswith("URLError: ")
    assert "Connection refused" in error
    assert "s3cret" not in response.get_data(as_text=True)


def test_server_stopped_mid_test(server: Server) -> None:
    url = base(server) + "/ok"
    app = status_app(http_check(url))
    client = app.test_client()
    assert client.get("/ready").status_code == 200
    server.shutdown()
    server.server_close()
    response = client.get("/ready")
    assert response.status_code == 503
    assert "Connection refused" in response.get_json()["upstream"]["error"]


def test_own_timeout_fails_with_error(server: Server) -> None:
    app = status_app(http_check(base(server) + "/slow", timeout=0.3), timeout=2.0)
    started = time.monotonic()
    response = app.test_client().get("/ready")
    assert time.monotonic() - started < 1.4
    assert response.status_code == 503
    error = response.get_json()["upstream"]["error"]
    assert "timed out" in error
    assert error.startswith(("TimeoutError: ", "URLError: "))


def test_runner_timeout_stops_waiting(server: Server) -> None:
    app = status_app(http_check(base(server) + "/slow", timeout=5.0), timeout=0.3)
    started = time.monotonic()
    response = app.test_client().get("/ready")
    assert time.monotonic() - started < 1.4
    assert response.status_code == 503
    assert response.get_json()["upstream"]["error"] == "TimeoutError: no result within 0.3 s"


def test_health_json(server: Server) -> None:
    app = status_app(http_check(base(server) + "/status/502"))
    response = app.test_client().get("/ready", headers={"Accept": "application/health+json"})
    assert response.status_code == 503
    (entry,) = response.get_json()["checks"]["upstream"]
    assert entry["status"] == "fail"
    assert entry["output"] == "HTTP 502, expected 200"
    assert entry["observedUnit"] == "s"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.invalid/", "file:///etc/passwd", "127.0.0.1:8000/health", "http:///nohost", "http://h:99999/"],
)
def test_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="http_check"):
        http_check(url)


def test_rejected_url_never_echoes_credentials() -> None:
    with pytest.raises(ValueError, match="http_check") as info:
        http_check("ftp://user:s3cret@example.invalid/")
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"expect": 99}, ValueError),
        ({"expect": [200, 600]}, ValueError),
        ({"expect": []}, ValueError),
        ({"expect": "200"}, TypeError),
        ({"expect": True}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"timeout": "1"}, TypeError),
        ({"method": "BREW"}, ValueError),
        ({"headers": {"X-Token": 1}}, TypeError),
        ({"headers": [("X-Token", "abc")]}, TypeError),
    ],
)
def test_rejects_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        http_check("http://127.0.0.1/", **options)
