"""``python -m flask_status.probe``: the exec probe for images without curl.

One line out, exit 0 (healthy) or 1 (not), 2 for wrong arguments; the standard library only,
never Flask. Real servers on loopback: a werkzeug server for the answers, raw sockets for the
ones that never come.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _servers import HOST, free_port, unavailable
from conftest import QuietHandler, threaded_servers
from flask import Flask, request
from werkzeug.serving import make_server

from flask_status import StatusManager
from flask_status.probe import FUTURE_SKEW, check_file, check_url, main

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(ok|fail) (\S+) (\S+) (\d+) ms$")


def run_probe(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m flask_status.probe args`` as a container runs it (from outside the checkout)."""
    return subprocess.run(
        [sys.executable, "-m", "flask_status.probe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def served() -> Iterator[str]:
    """A real threaded werkzeug server with a flask-status app: /health/live passes, /health/ready
    fails (503), /teapot answers 418, /query passes only with ?x=1 (and the path is kept)."""
    app = Flask("probed")
    status = StatusManager(app)
    status.add_route("live", "/health/live")
    status.add_route("ready", "/health/ready").add_check("database", lambda: False)

    @app.get("/teapot")
    def teapot() -> tuple[str, int]:
        return "short and stout", 418

    @app.get("/query/path")
    def query() -> tuple[str, int]:
        return ("yes", 200) if request.args.get("x") == "1" else ("no", 400)

    with threaded_servers() as start:
        yield start(app)


# -- a URL --------------------------------------------------------------------------------------


def test_a_passing_route_exits_0_with_one_line(served: str) -> None:
    result = run_probe(f"{served}/health/live")
    assert result.returncode == 0, result
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    match = LINE.match(lines[0])
    assert match is not None, lines
    assert match.groups()[:3] == ("ok", "200", f"{served}/health/live")


def test_a_failing_route_exits_1_with_its_status(served: str) -> None:
    result = run_probe(f"{served}/health/ready", "--timeout", "3")
    assert result.returncode == 1
    match = LINE.match(result.stdout.strip())
    assert match is not None, result.stdout
    assert match.groups()[:3] == ("fail", "503", f"{served}/health/ready")


@pytest.mark.parametrize(("path", "code"), [("/teapot", 418), ("/nowhere", 404), ("/query/path?x=2", 400)])
def test_any_answer_but_2xx_fails(served: str, path: str, code: int) -> None:
    ok, line = check_url(served + path, 3)
    assert not ok
    assert line.startswith(f"fail {code} {served}{path} ")


def test_the_query_string_is_sent(served: str) -> None:
    assert check_url(f"{served}/query/path?x=1", 3)[0]


def test_a_refused_connection_fails() -> None:
    url = f"http://{HOST}:{free_port()}/health/live"
    result = run_probe(url)
    assert result.returncode == 1
    assert re.fullmatch(rf"fail refused {re.escape(url)} \d+ ms\n", result.stdout), result.stdout


@pytest.fixture
def silent() -> Iterator[Callable[[bytes], str]]:
    """``start(first) -> base URL``: a server that accepts, reads the request, sends ``first``
    and then nothing more, holding the connection open until the test ends."""
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(first: bytes) -> str:
        listener = socket.socket()
        listener.bind((HOST, 0))
        listener.listen(8)
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    if first:
                        conn.sendall(first)
                    stop.wait(30)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://{HOST}:{listener.getsockname()[1]}"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def test_no_answer_within_the_timeout_fails(silent: Callable[[bytes], str]) -> None:
    url = silent(b"") + "/health/live"
    started = time.monotonic()
    result = run_probe(url, "--timeout", "0.5")
    assert result.returncode == 1
    assert re.fullmatch(rf"fail timeout {re.escape(url)} \d+ ms\n", result.stdout), result.stdout
    assert time.monotonic() - started < 10


def test_the_timeout_covers_the_whole_exchange_not_each_read(silent: Callable[[bytes], str]) -> None:
    # Headers at once, then a body that never ends: the deadline still holds.
    url = silent(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc") + "/health/live"
    started = time.monotonic()
    ok, line = check_url(url, 0.4)
    assert time.monotonic() - started < 3
    assert not ok
    assert line.startswith(f"fail timeout {url} ")


def test_a_broken_answer_fails(silent: Callable[[bytes], str]) -> None:
    url = silent(b"not http at all\r\n\r\n") + "/"
    ok, line = check_url(url, 3)
    assert not ok
    assert line.startswith(f"fail bad-answer {url} ")


def test_an_ipv6_literal_host() -> None:
    if not socket.has_ipv6:
        unavailable("this machine has no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        unavailable("::1 is not available on this machine")
    app = Flask("ipv6")
    StatusManager(app).add_route("live", "/health/live")
    server = make_server("::1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://[::1]:{server.server_port}/health/live?probe=1"
        ok, line = check_url(url, 3)
        assert ok, line
        assert line.startswith(f"ok 200 {url} ")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/health", "the scheme must be http or https"),
        ("127.0.0.1:8000/health", "the scheme must be http or https"),
        ("http:///health", "no host"),
        ("http://127.0.0.1:http/health", "Port could not be cast to integer value"),
        ("http://127.0.0.1/a b", "percent-encode"),
        ("", "the scheme must be http or https"),
    ],
)
def test_a_bad_url_fails_with_exit_1(url: str, reason: str) -> None:
    ok, line = check_url(url, 3)
    assert not ok
    assert line.startswith(f"fail bad-url {url}: ")
    assert reason in line


def test_a_password_in_the_url_is_refused_and_never_printed() -> None:
    result = run_probe("http://monitor:s3cret@127.0.0.1:9/health")
    assert result.returncode == 1
    assert "s3cret" not in result.stdout + result.stderr
    assert (
        result.stdout
        == "fail bad-url http://monitor:***@127.0.0.1:9/health: credentials in the URL are not supported\n"
    )


def test_a_name_that_does_not_resolve_fails() -> None:
    ok, line = check_url("http://flask-status-probe.invalid/health", 5)
    assert not ok
    assert line.startswith("fail dns http://flask-status-probe.invalid/health ")


# -- https --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl is not installed (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}"]
    subprocess.run(
        [openssl, *request, "-addext", f"subjectAltName=IP:{HOST}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def served_tls(certificate: tuple[Path, Path]) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    app = Flask("tls")
    StatusManager(app).add_route("live", "/health/live")
    server = make_server(HOST, 0, app, threaded=True, request_handler=QuietHandler, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_https_with_a_trusted_certificate_passes(served_tls: str, certificate: tuple[Path, Path]) -> None:
    # The probe verifies certificates against the default trust store; SSL_CERT_FILE names it.
    result = run_probe(f"{served_tls}/health/live", env={"SSL_CERT_FILE": str(certificate[0])})
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"ok 200 {served_tls}/health/live ")


def test_https_with_an_untrusted_certificate_fails(served_tls: str) -> None:
    ok, line = check_url(f"{served_tls}/health/live", 5)
    assert not ok
    assert line.startswith(f"fail tls {served_tls}/health/live ")
    assert "CERTIFICATE_VERIFY_FAILED" in line


# -- a heartbeat file ---------------------------------------------------------------------------


@pytest.fixture
def heartbeat(tmp_path: Path) -> Path:
    path = tmp_path / "heartbeat"
    path.touch()
    return path


def test_a_fresh_heartbeat_file_exits_0(heartbeat: Path) -> None:
    result = run_probe("--file", str(heartbeat), "--max-age", "60")
    assert result.returncode == 0, result
    assert re.fullmatch(rf"ok age \d+\.\d s {re.escape(str(heartbeat))} \(max-age 60 s\)\n", result.stdout)


def test_an_old_heartbeat_file_exits_1(heartbeat: Path) -> None:
    old = time.time() - 120
    os.utime(heartbeat, (old, old))
    result = run_probe("--file", str(heartbeat), "--max-age", "60")
    assert result.returncode == 1
    assert re.fullmatch(rf"fail age 1[12]\d\.\d s {re.escape(str(heartbeat))} \(max-age 60 s\)\n", result.stdout)


def test_a_missing_heartbeat_file_exits_1(tmp_path: Path) -> None:
    result = run_probe("--file", str(tmp_path / "never-written"), "--max-age", "60")
    assert result.returncode == 1
    assert result.stdout == f"fail missing {tmp_path / 'never-written'}\n"


def test_the_age_is_measured_on_the_wall_clock(heartbeat: Path) -> None:
    mtime = 1_700_000_000.0
    os.utime(heartbeat, (mtime, mtime))
    assert check_file(str(heartbeat), 60, now=mtime + 60)[0]
    assert not check_file(str(heartbeat), 60, now=mtime + 60.5)[0]
    # A little in the future is clock granularity or skew; far in the future is a clock that jumped.
    assert check_file(str(heartbeat), 60, now=mtime - FUTURE_SKEW / 2)[0]
    ok, line = check_file(str(heartbeat), 60, now=mtime - 3600)
    assert not ok
    assert line == f"fail future {heartbeat}: modified 3600.0 s from now (has the clock jumped?)"


def test_a_heartbeat_file_that_cannot_be_read_fails(tmp_path: Path) -> None:
    (tmp_path / "a-file").touch()
    path = tmp_path / "a-file" / "under-a-file"  # NotADirectoryError, not "missing"
    ok, line = check_file(str(path), 60)
    assert not ok
    assert line.startswith(f"fail error {path}: ")


# -- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give the URL to GET"),
        (["http://127.0.0.1/", "--file", "/tmp/beat", "--max-age", "5"], "give a URL or --file PATH, not both"),
        (["--file", "/tmp/beat"], "--file needs --max-age S"),
        (["http://127.0.0.1/", "--max-age", "5"], "--max-age applies to --file PATH"),
        (["--file", "/tmp/beat", "--max-age", "5", "--timeout", "1"], "--timeout applies to a URL"),
        (["http://127.0.0.1/", "--timeout", "soon"], "argument --timeout: expected a number of seconds, got 'soon'"),
        (["http://127.0.0.1/", "--timeout", "0"], "argument --timeout: must be a positive number of seconds"),
        (["http://127.0.0.1/", "--timeout", "nan"], "argument --timeout: must be a positive number of seconds"),
        (["http://127.0.0.1/", "--timeout", "1e9"], "argument --timeout: must be at most 86400 seconds"),
        (["--file", "/tmp/beat", "--max-age", "-3"], "argument --max-age: must be a positive number of seconds"),
    ],
)
def test_wrong_arguments_exit_2_naming_the_argument(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert "usage: python -m flask_status.probe" in err


def test_wrong_arguments_exit_2_from_the_command_line() -> None:
    result = run_probe("--timeout", "soon", "http://127.0.0.1/")
    assert result.returncode == 2
    assert "argument --timeout" in result.stderr


# -- what it imports ----------------------------------------------------------------------------

HEAVY = ("flask", "werkzeug", "jinja2", "click", "markupsafe", "itsdangerous", "blinker", "cachetools")

_IMPORTED = """
import json, runpy, sys
before = set(sys.modules)
sys.argv = ["flask_status.probe", *sys.argv[1:]]
try:
    runpy.run_module("flask_status.probe", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "new": sorted(set(sys.modules) - before)}))
"""


def test_the_probe_imports_the_standard_library_only(served: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTED, f"{served}/health/live"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["code"] == 0
    ours = {name for name in found["new"] if name.split(".")[0] == "flask_status"}
    assert ours <= {"flask_status", "flask_status.probe"}, ours
    others = {name for name in found["new"] if name.split(".")[0] not in sys.stdlib_module_names}
    assert others <= ours, f"not from the standard library: {sorted(others - ours)}"


def test_python_m_probe_imports_no_flask(served: str) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flask_status.probe", f"{served}/health/live"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    imported = [
        line.rpartition("|")[2].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    ]
    assert "http.client" in imported
    assert "flask_status" in imported
    heavy = [name for name in imported if name.split(".")[0] in HEAVY]
    assert heavy == [], heavy


# -- the examples use it as written -------------------------------------------------------------


@pytest.fixture
def example_app_served(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("flask_status_example_probe", ROOT / "examples" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "database", lambda: True)  # the real one sleeps 0.5 s
    with threaded_servers() as start:
        yield start(module.create_app())


def _probe_arguments(command: list[str]) -> list[str]:
    assert command[:3] == ["python", "-m", "flask_status.probe"], command
    return command[3:]


def _on(base: str, args: list[str]) -> list[str]:
    """``args`` with the URL's scheme and host moved to ``base`` (the path and query kept)."""
    moved = []
    for arg in args:
        parts = urlsplit(arg)
        if parts.scheme in ("http", "https"):
            arg = base + parts.path + (f"?{parts.query}" if parts.query else "")
        moved.append(arg)
    return moved


def test_the_dockerfile_healthcheck_runs_the_probe(example_app_served: str) -> None:
    text = (ROOT / "examples" / "Dockerfile").read_text()
    healthcheck = re.search(r"^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$", text, re.MULTILINE)
    assert healthcheck is not None, "examples/Dockerfile has no exec-form HEALTHCHECK"
    args = _probe_arguments(json.loads(healthcheck.group(1)))
    assert main(_on(example_app_served, args)) == 0


def test_the_kubernetes_exec_probe_runs_the_probe(example_app_served: str) -> None:
    text = (ROOT / "examples" / "kubernetes.yaml").read_text()
    commands = [json.loads(found) for found in re.findall(r"^\s+command: (\[.*\])$", text, re.MULTILINE)]
    probes = [command for command in commands if "flask_status.probe" in command]
    assert probes, "examples/kubernetes.yaml has no exec probe running flask_status.probe"
    for command in probes:
        assert main(_on(example_app_served, _probe_arguments(command))) == 0
