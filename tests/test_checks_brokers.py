"""rabbitmq_check, memcached_check, smtp_check, and sqlalchemy_check on MariaDB / MySQL, against
real servers.

The shared servers come from ``bash .ci/services.sh`` (or anything answering at these addresses):

- ``FLASK_STATUS_TEST_RABBITMQ_URL``, default ``amqp://status:status-secret@127.0.0.1:5672/status_test``
- ``FLASK_STATUS_TEST_MEMCACHED``, default ``127.0.0.1:11211``
- ``FLASK_STATUS_TEST_MYSQL_URL``, default
  ``mysql+pymysql://status:status-secret@127.0.0.1:3306/status_test``

The SMTP server is aiosmtpd (a Python SMTP server, from the ``tests`` extra), which each test
starts on a free loopback port. Tests that stop a memcached start a private one (``memcached``
on a free port). A test whose server or library is missing is skipped with the reason, unless
``CI=true``: there it fails.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import _servers
import pytest
from _servers import HOST, SERVICES_HINT, eventually, free_port, import_or_unavailable, sql_url_answering
from _servers import redact_url as redact
from flask import Flask

from flask_status import StatusManager
from flask_status.checks import memcached_check, rabbitmq_check, smtp_check, sqlalchemy_check

RABBITMQ_URL = os.environ.get(
    "FLASK_STATUS_TEST_RABBITMQ_URL", "amqp://status:status-secret@127.0.0.1:5672/status_test"
)
MEMCACHED = os.environ.get("FLASK_STATUS_TEST_MEMCACHED", "127.0.0.1:11211")
MYSQL_URL = os.environ.get(
    "FLASK_STATUS_TEST_MYSQL_URL", "mysql+pymysql://status:status-secret@127.0.0.1:3306/status_test"
)

TEST_PACKAGES = "pika pymemcache aiosmtpd sqlalchemy pymysql"
WRONG_PASSWORD = "hunter2-wrong"  # must never reach a response body

pytestmark = pytest.mark.server


# -- skip locally, fail in CI ----------------------------------------------------------------------


def unavailable(reason: str) -> NoReturn:
    """Skip the test for a missing server or tool; in CI (``CI=true``) fail it instead."""
    _servers.unavailable(reason, hint=SERVICES_HINT)


def require(module: str) -> Any:
    """Import a client library the tests need, under the same rule as a server."""
    return import_or_unavailable(module, TEST_PACKAGES)


def with_password(url: str, password: str) -> str:
    """``url`` with another password.

    >>> with_password("amqp://status:right@127.0.0.1:5672/v", "wrong")
    'amqp://status:wrong@127.0.0.1:5672/v'
    """
    parts = urlsplit(url)
    user, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:{password}@{hostport}"))


def with_port(url: str, port: int) -> str:
    """``url`` pointing at another port of the same host.

    >>> with_port("amqp://status:pw@127.0.0.1:5672/v", 1)
    'amqp://status:pw@127.0.0.1:1/v'
    """
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.hostname}:{port}"))


# -- one Flask app per check -------------------------------------------------------------------------


def status_app(name: str, check: Callable[[], Any], **options: Any) -> Flask:
    app = Flask(__name__)
    StatusManager(app).add_route("details", "/details").add_check(name, check, **options)
    return app


def get_details(app: Flask) -> tuple[int, dict[str, Any], str]:
    response = app.test_client().get("/details")
    return response.status_code, response.get_json(), response.get_data(as_text=True)


def assert_passes(app: Flask, name: str) -> dict[str, Any]:
    """The route answers 200 with ``name`` passed and a round trip in seconds; returns the item."""
    code, body, text = get_details(app)
    assert code == 200, text
    assert body["status"] == "OK"
    item: dict[str, Any] = body[name]
    assert item["status"] == "pass", text
    assert item["unit"] == "s"
    assert 0 <= item["observed"] < 1
    return item


def assert_fails(app: Flask, name: str, *secrets: str) -> str:
    """The route answers 503 with ``name`` failed, none of ``secrets`` anywhere in the body;
    returns the check's error text."""
    code, body, text = get_details(app)
    assert code == 503, text
    assert body["status"] == "FAIL"
    assert body[name]["status"] == "fail"
    for secret in secrets:
        assert secret not in text
    error: str = body[name]["error"]
    return error


def open_fds() -> int:
    """How many file descriptors this process has open (sockets included), once garbage is
    collected (so that an object dropped earlier does not close one in between)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def assert_closes_everything(check: Callable[[], Any], runs: int = 5) -> None:
    """Running ``check`` (passing or failing) leaves no socket or other descriptor open."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to count open descriptors")
    for _ in range(2):  # warm up: lazy imports, caches
        with contextlib.suppress(Exception):
            check()
    before = open_fds()
    for _ in range(runs):
        with contextlib.suppress(Exception):
            check()
    # Fewer is fine (something of an earlier test closed meanwhile); an in-process server (aiosmtpd)
    # closes its side of each connection a moment after the client.
    assert eventually(lambda: open_fds() <= before, 2, every=0.05), f"{open_fds() - before} more open descriptors"


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.create_server((HOST, 0)) as server:
        yield server.getsockname()[1]


# -- RabbitMQ --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The shared RabbitMQ server's URL, once a connection to it opens a channel."""
    pika = require("pika")
    parameters = pika.URLParameters(RABBITMQ_URL)
    parameters.socket_timeout = parameters.stack_timeout = 3
    parameters.connection_attempts = 1
    problem = None
    try:
        connection = pika.BlockingConnection(parameters)
        try:
            connection.channel()
        finally:
            connection.close()
    except Exception as exc:
        problem = repr(exc)  # pika's connection errors keep their cause in the repr only
    if problem is not None:
        unavailable(f"no RabbitMQ server answers at {redact(RABBITMQ_URL)} ({problem})")
    return RABBITMQ_URL


@contextlib.contextmanager
def rabbitmq_queue(url: str, messages: int) -> Iterator[str]:
    """A new queue holding ``messages`` messages (each confirmed by the broker), deleted on exit."""
    pika = require("pika")
    name = f"flask-status-test-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_declare(name, auto_delete=False)
        channel.confirm_delivery()  # basic_publish returns once the broker has the message
        for number in range(messages):
            channel.basic_publish("", name, f"message {number}".encode())
        try:
            yield name
        finally:
            channel.queue_delete(name)
    finally:
        connection.close()


def test_rabbitmq_passes(rabbitmq_url: str) -> None:
    check = rabbitmq_check(rabbitmq_url, timeout=1.0)
    app = status_app("broker", check)
    item = assert_passes(app, "broker")
    assert set(item) == {"status", "observed", "unit"}
    assert_passes(app, "broker")  # a new connection on each run
    assert check.__qualname__ == f"rabbitmq_check(amqp://127.0.0.1:{urlsplit(rabbitmq_url).port})"


def test_rabbitmq_health_json(rabbitmq_url: str) -> None:
    app = status_app("broker", rabbitmq_check(rabbitmq_url, timeout=1.0), component_type="component")
    response = app.test_client().get("/details", headers={"Accept": "application/health+json"})
    assert response.status_code == 200
    (entry,) = response.get_json()["checks"]["broker"]
    assert entry["status"] == "pass"
    assert entry["observedUnit"] == "s"


def test_rabbitmq_closes_its_connections(rabbitmq_url: str) -> None:
    assert_closes_everything(rabbitmq_check(rabbitmq_url, timeout=1.0))
    assert_closes_everything(rabbitmq_check(rabbitmq_url, timeout=1.0, queue="no-such-queue"))
    assert_closes_everything(rabbitmq_check(with_password(rabbitmq_url, WRONG_PASSWORD), timeout=1.0))


def test_rabbitmq_queue_depth(rabbitmq_url: str) -> None:
    with rabbitmq_queue(rabbitmq_url, messages=3) as queue:
        app = status_app("jobs", rabbitmq_check(rabbitmq_url, timeout=1.0, queue=queue))
        item = assert_passes(app, "jobs")
        assert item["message"] == f"queue {queue!r}: 3 messages, 0 consumers"


def test_rabbitmq_missing_queue_fails(rabbitmq_url: str) -> None:
    app = status_app("jobs", rabbitmq_check(rabbitmq_url, timeout=1.0, queue="no-such-queue"))
    error = assert_fails(app, "jobs")
    assert error.startswith("ChannelClosedByBroker: (404, ")
    assert "no queue 'no-such-queue'" in error


def test_rabbitmq_wrong_password_fails_without_leaking_it(rabbitmq_url: str) -> None:
    app = status_app("broker", rabbitmq_check(with_password(rabbitmq_url, WRONG_PASSWORD), timeout=1.0))
    error = assert_fails(app, "broker", WRONG_PASSWORD, "hunter2")
    assert error.startswith("ProbableAuthenticationError: ")
    assert "ACCESS_REFUSED" in error


def test_rabbitmq_unknown_vhost_fails(rabbitmq_url: str) -> None:
    url = urlunsplit(urlsplit(rabbitmq_url)._replace(path="/no-such-vhost"))
    error = assert_fails(status_app("broker", rabbitmq_check(url, timeout=1.0)), "broker")
    assert error.startswith("ProbableAccessDeniedError: ")
    assert "vhost no-such-vhost not found" in error


def test_rabbitmq_refused_fails() -> None:
    require("pika")
    port = free_port()
    app = status_app("broker", rabbitmq_check(f"amqp://status:s3cret-pw@127.0.0.1:{port}/v", timeout=1.0))
    error = assert_fails(app, "broker", "s3cret-pw")
    refused = "ConnectionRefusedError: [Errno 111] Connection refused"
    assert error == f"ConnectionError: cannot connect to 127.0.0.1:{port}: {refused}"


def test_rabbitmq_silent_server_times_out() -> None:
    require("pika")
    with silent_server() as port:
        app = status_app("broker", rabbitmq_check(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=0.3), timeout=2.0)
        started = time.monotonic()
        error = assert_fails(app, "broker")
        assert time.monotonic() - started < 1.5
    assert error == f"TimeoutError: no AMQP handshake with 127.0.0.1:{port} within 0.3 s"


def test_rabbitmq_factory_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    require("pika")
    with pytest.raises(ValueError, match=r"amqp:// or amqps:// URL, got scheme 'http' in 'http://u:\*\*\*@h/'"):
        rabbitmq_check("http://u:s3cret@h/")
    with pytest.raises(ValueError, match="got scheme ''"):
        rabbitmq_check("rabbitmq:5672")
    with pytest.raises(ValueError, match="invalid AMQP URL") as bad_query:
        rabbitmq_check("amqp://u:s3cret@h/v?socket_timeout=s3cret")
    assert "s3cret" not in str(bad_query.value)
    with pytest.raises(TypeError, match="URL as a str"):
        rabbitmq_check(b"amqp://h/")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rabbitmq_check timeout must be positive, got 0"):
        rabbitmq_check("amqp://h/", timeout=0)
    with pytest.raises(TypeError, match="rabbitmq_check queue must be a queue name"):
        rabbitmq_check("amqp://h/", queue=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rabbitmq_check queue must not be empty"):
        rabbitmq_check("amqp://h/", queue="")
    assert rabbitmq_check("amqps://h/").__qualname__ == "rabbitmq_check(amqps://h:5671)"
    monkeypatch.setitem(sys.modules, "pika", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'flask-status[rabbitmq]'")):
        rabbitmq_check("amqp://h/")


# -- memcached -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def memcached_server() -> str:
    """The shared memcached's ``host:port``, once it answers ``version``."""
    base = require("pymemcache.client.base")
    host, _, port = MEMCACHED.rpartition(":")
    client = base.Client((host, int(port)), connect_timeout=2, timeout=2)
    problem = None
    try:
        client.version()
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    if problem is not None:
        unavailable(f"no memcached answers at {MEMCACHED} ({problem})")
    return MEMCACHED


@dataclass
class PrivateMemcached:
    """A memcached of one test alone, on a free loopback port: stop it at will."""

    binary: str
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # memcached refuses to run as root
        command = [self.binary, "-l", HOST, "-p", str(self.port), "-U", "0", "-m", "8", *user]
        self.process = process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

        def answers() -> bool:
            assert process.poll() is None, f"memcached exited with {process.returncode}"
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=1):
                return True
            return False

        assert eventually(answers, 10, every=0.02), "private memcached did not accept connections within 10 s"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(10)


@pytest.fixture
def private_memcached() -> Iterator[PrivateMemcached]:
    require("pymemcache")
    binary = shutil.which("memcached")
    if binary is None:
        unavailable("memcached is not installed (apt-get install memcached)")
    server = PrivateMemcached(binary, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_memcached_passes(memcached_server: str) -> None:
    host, _, port = memcached_server.rpartition(":")
    for servers in (memcached_server, (host, int(port)), [memcached_server]):
        check = memcached_check(servers, timeout=1.0)
        item = assert_passes(status_app("cache", check), "cache")
        assert re.fullmatch(r"memcached \d+\.\d+\.\d+", item["message"])
        assert check.__qualname__ == f"memcached_check({memcached_server})"


def test_memcached_two_servers_then_one_stops(memcached_server: str, private_memcached: PrivateMemcached) -> None:
    check = memcached_check([memcached_server, ("127.0.0.1", private_memcached.port)], timeout=1.0)
    app = status_app("cache", check)
    item = assert_passes(app, "cache")
    assert item["message"].startswith("2 servers answered, slowest 127.0.0.1:")
    private_memcached.stop()
    error = assert_fails(app, "cache")
    refused = "ConnectionRefusedError: [Errno 111] Connection refused"
    assert error == f"ConnectionError: memcached {private_memcached.address}: {refused}"
    assert memcached_server not in error  # the one that answered is not blamed


def test_memcached_names_every_server_down(memcached_server: str) -> None:
    first, second = free_port(), free_port()
    app = status_app("cache", memcached_check([f"127.0.0.1:{first}", memcached_server, f"127.0.0.1:{second}"]))
    error = assert_fails(app, "cache")
    assert error.startswith(f"ConnectionError: memcached 127.0.0.1:{first}: ConnectionRefusedError: ")
    assert f"; memcached 127.0.0.1:{second}: ConnectionRefusedError: " in error
    assert memcached_server not in error


def test_memcached_silent_server_times_out() -> None:
    require("pymemcache")
    with silent_server() as port:
        app = status_app("cache", memcached_check(f"127.0.0.1:{port}", timeout=0.3), timeout=2.0)
        started = time.monotonic()
        error = assert_fails(app, "cache")
        assert time.monotonic() - started < 1.5
    assert error == f"ConnectionError: memcached 127.0.0.1:{port}: TimeoutError: timed out"


def test_memcached_closes_its_connections(memcached_server: str) -> None:
    assert_closes_everything(memcached_check(memcached_server, timeout=1.0))
    assert_closes_everything(memcached_check([memcached_server, f"127.0.0.1:{free_port()}"], timeout=1.0))


def test_memcached_factory_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    require("pymemcache")
    with pytest.raises(ValueError, match="'cache:port' has a port that is not a number"):
        memcached_check("cache:port")
    with pytest.raises(ValueError, match="'cache:70000' has port 70000, outside 1-65535"):
        memcached_check("cache:70000")
    with pytest.raises(ValueError, match="write an IPv6 address in brackets"):
        memcached_check("::1:11211")
    with pytest.raises(ValueError, match="at least one server"):
        memcached_check([])
    with pytest.raises(ValueError, match="lists server cache:11211 twice"):
        memcached_check(["cache:11211", ("cache", 11211)])
    with pytest.raises(TypeError, match=r"needs its port as an int"):
        memcached_check(("cache", "11211"))
    with pytest.raises(TypeError, match="got int: 11211"):
        memcached_check(11211)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="memcached_check timeout must be positive"):
        memcached_check("cache:11211", timeout=-1)
    check = memcached_check(["cache", "[::1]:11212", "unix:/run/memcached.sock"])
    assert check.__qualname__ == "memcached_check(cache:11211, [::1]:11212, /run/memcached.sock)"
    monkeypatch.setitem(sys.modules, "pymemcache.client.base", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'flask-status[memcached]'")):
        memcached_check("cache:11211")


# -- SMTP: aiosmtpd --------------------------------------------------------------------------------


class Recorder:
    """An aiosmtpd handler keeping the commands it was sent (and the EHLO names)."""

    def __init__(self, *, forget_ehlo: bool = False) -> None:
        self.commands: list[str] = []
        self.forget_ehlo = forget_ehlo  # then AUTH answers "503 Error: send EHLO first"

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> Any:
        self.commands.append(f"EHLO {hostname}")
        if not self.forget_ehlo:
            session.host_name = hostname  # what aiosmtpd's own EHLO does, and AUTH needs
        return responses

    async def handle_NOOP(self, server: Any, session: Any, envelope: Any, arg: str) -> str:
        self.commands.append("NOOP")
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.commands.append("QUIT")
        return "221 Bye"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.commands.append("DATA")
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    handler: Recorder
    logins: list[str]


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers on free loopback ports (keyword arguments go to its ``Controller``;
    ``password=`` makes it accept AUTH for user ``mailer`` with that password); all are stopped
    at teardown."""
    controller_module = require("aiosmtpd.controller")
    smtp_module = require("aiosmtpd.smtp")
    controllers: list[Any] = []

    def start(*, password: str | None = None, forget_ehlo: bool = False, **options: Any) -> SmtpServer:
        handler = Recorder(forget_ehlo=forget_ehlo)
        logins: list[str] = []
        if password is not None:

            def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
                login, given = data.login.decode(), data.password.decode()  # LoginPassword: bytes
                logins.append(login)
                # handled=False: aiosmtpd answers 535 itself when success is false
                return smtp_module.AuthResult(success=(login, given) == ("mailer", password), handled=False)

            options.update(authenticator=authenticator, auth_require_tls=False)
        port = free_port()
        controller = controller_module.Controller(
            handler, hostname=HOST, port=port, server_hostname="smtp.test", ready_timeout=10, **options
        )
        controller.start()
        controllers.append(controller)
        handler.commands.clear()  # the controller's own probe of its server
        return SmtpServer(port, handler, logins)

    try:
        yield start
    finally:
        for controller in controllers:
            controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1 and its key, made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl is not installed (apt-get install openssl)")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_smtp_passes(start_smtp: Callable[..., SmtpServer]) -> None:
    server = start_smtp()
    check = smtp_check("127.0.0.1", server.port, timeout=1.0, local_hostname="app.test")
    item = assert_passes(status_app("mail", check), "mail")
    assert set(item) == {"status", "observed", "unit"}
    assert server.handler.commands == ["EHLO app.test", "NOOP", "QUIT"]  # no mail sent
    assert check.__qualname__ == f"smtp_check(127.0.0.1:{server.port}, plain)"


def test_smtp_default_ehlo_name_is_the_host_name(start_smtp: Callable[..., SmtpServer]) -> None:
    server = start_smtp()
    assert smtp_check("127.0.0.1", server.port, timeout=1.0)().status == "pass"
    assert server.handler.commands[0] == f"EHLO {socket.gethostname()}"


def test_smtp_starttls(start_smtp: Callable[..., SmtpServer], certificate: tuple[Path, Path]) -> None:
    server = start_smtp(tls_context=server_context(certificate), require_starttls=True)
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    check = smtp_check("127.0.0.1", server.port, timeout=1.0, starttls=True, ssl_context=trusting)
    assert_passes(status_app("mail", check), "mail")
    assert server.handler.commands[1:] == [f"EHLO {socket.gethostname()}", "NOOP", "QUIT"]  # EHLO again after TLS
    # The default context checks the certificate against the system's CAs: a self-signed one fails.
    error = assert_fails(status_app("mail", smtp_check("127.0.0.1", server.port, timeout=1.0, starttls=True)), "mail")
    assert error.startswith("SSLCertVerificationError: ")
    assert "self-signed certificate" in error


def test_smtp_starttls_not_offered_fails(start_smtp: Callable[..., SmtpServer]) -> None:
    server = start_smtp()
    app = status_app("mail", smtp_check("127.0.0.1", server.port, timeout=1.0, starttls=True))
    assert assert_fails(app, "mail") == "SMTPNotSupportedError: STARTTLS extension not supported by server."


def test_smtp_implicit_tls(start_smtp: Callable[..., SmtpServer], certificate: tuple[Path, Path]) -> None:
    server = start_smtp(ssl_context=server_context(certificate))
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    check = smtp_check("localhost", server.port, timeout=1.0, ssl=True, ssl_context=trusting)
    assert_passes(status_app("mail", check), "mail")
    assert server.handler.commands[-2:] == ["NOOP", "QUIT"]
    plain = status_app("mail", smtp_check("127.0.0.1", server.port, timeout=0.5))
    assert_fails(plain, "mail")  # plain SMTP to a TLS port: no greeting it can read


def test_smtp_login(start_smtp: Callable[..., SmtpServer]) -> None:
    server = start_smtp(password="right-password")
    good = smtp_check("127.0.0.1", server.port, timeout=1.0, username="mailer", password="right-password")
    assert_passes(status_app("mail", good), "mail")
    assert server.logins == ["mailer"]


def test_smtp_wrong_password_fails_without_leaking_it(start_smtp: Callable[..., SmtpServer]) -> None:
    server = start_smtp(password="right-password")
    bad = smtp_check("127.0.0.1", server.port, timeout=1.0, username="mailer", password=WRONG_PASSWORD)
    error = assert_fails(status_app("mail", bad), "mail", WRONG_PASSWORD, "right-password")
    assert error == "SMTPAuthenticationError: (535, b'5.7.8 Authentication credentials invalid')"


def test_smtp_auth_answered_503_fails(start_smtp: Callable[..., SmtpServer]) -> None:
    """smtplib's login() returns 503 ("already authenticated") as if it were a success: the check
    wants 235."""
    server = start_smtp(password="right-password", forget_ehlo=True)
    check = smtp_check("127.0.0.1", server.port, timeout=1.0, username="mailer", password="right-password")
    error = assert_fails(status_app("mail", check), "mail", "right-password")
    assert error == "SMTPAuthenticationError: (503, b'Error: send EHLO first')"
    assert server.logins == []


def test_smtp_refused_fails() -> None:
    port = free_port()
    app = status_app("mail", smtp_check("127.0.0.1", port, timeout=1.0))
    assert assert_fails(app, "mail") == "ConnectionRefusedError: [Errno 111] Connection refused"


def test_smtp_silent_server_times_out() -> None:
    with silent_server() as port:
        app = status_app("mail", smtp_check("127.0.0.1", port, timeout=0.3), timeout=2.0)
        started = time.monotonic()
        error = assert_fails(app, "mail")
        assert time.monotonic() - started < 1.5
    assert error == f"TimeoutError: 127.0.0.1:{port} did not answer within 0.3 s"


def test_smtp_closes_its_connections(start_smtp: Callable[..., SmtpServer]) -> None:
    server = start_smtp(password="right-password")
    assert_closes_everything(smtp_check("127.0.0.1", server.port, timeout=1.0))
    wrong = smtp_check("127.0.0.1", server.port, timeout=1.0, username="mailer", password=WRONG_PASSWORD)
    assert_closes_everything(wrong)


def test_smtp_factory_arguments() -> None:
    with pytest.raises(ValueError, match="without a port"):
        smtp_check("mail.internal:25")
    with pytest.raises(TypeError, match="smtp_check host must be a non-empty str"):
        smtp_check("")
    with pytest.raises(ValueError, match="smtp_check port must be an int from 1 to 65535, got 0"):
        smtp_check("mail.internal", 0)
    with pytest.raises(TypeError, match="smtp_check port must be an int"):
        smtp_check("mail.internal", "25")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        smtp_check("mail.internal", 465, ssl=True, starttls=True)
    with pytest.raises(TypeError, match="smtp_check starttls must be True or False, got 'yes'"):
        smtp_check("mail.internal", starttls="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both username and password"):
        smtp_check("mail.internal", username="mailer")
    with pytest.raises(ValueError, match="ssl_context needs ssl=True or starttls=True"):
        smtp_check("mail.internal", ssl_context=ssl.create_default_context())
    with pytest.raises(ValueError, match="smtp_check timeout must be positive"):
        smtp_check("mail.internal", timeout=0)
    with pytest.raises(ValueError, match="local_hostname"):
        smtp_check("mail.internal", local_hostname="two words")


# -- MariaDB / MySQL through sqlalchemy_check --------------------------------------------------------


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """The shared MariaDB / MySQL server's URL, once a connection to it runs ``SELECT 1``."""
    return sql_url_answering(MYSQL_URL, "pymysql", "MariaDB / MySQL")


# The recipe of docs/checks-services.rst: every network wait bounded, stale connections replaced.
MYSQL_ENGINE_OPTIONS: dict[str, Any] = {
    "connect_args": {"connect_timeout": 1, "read_timeout": 1, "write_timeout": 1},
    "pool_pre_ping": True,
    "pool_recycle": 3600,
}


@pytest.fixture
def mysql_engine(mysql_url: str) -> Iterator[Any]:
    sqlalchemy = require("sqlalchemy")
    engine = sqlalchemy.create_engine(mysql_url, **MYSQL_ENGINE_OPTIONS)
    yield engine
    engine.dispose()


def test_mysql_passes(mysql_engine: Any) -> None:
    check = sqlalchemy_check(mysql_engine)
    app = status_app("database", check)
    assert_passes(app, "database")
    assert_passes(app, "database")
    assert check.__qualname__ == "sqlalchemy_check(mysql)"


def test_mysql_custom_query(mysql_engine: Any) -> None:
    check = sqlalchemy_check(mysql_engine, query="SELECT COUNT(*) FROM information_schema.tables")
    assert_passes(status_app("database", check), "database")


def test_mysql_wrong_password_fails_without_leaking_it(mysql_url: str) -> None:
    sqlalchemy = require("sqlalchemy")
    url = sqlalchemy.engine.make_url(mysql_url).set(password=WRONG_PASSWORD)
    engine = sqlalchemy.create_engine(url, **MYSQL_ENGINE_OPTIONS)
    try:
        error = assert_fails(status_app("database", sqlalchemy_check(engine)), "database", WRONG_PASSWORD, "hunter2")
        assert error.startswith("OperationalError: (1045, \"Access denied for user 'status'@")
        # MySQL's own "(using password: YES)" reads "(using password: ***)": the redactor masks
        # anything after "password:", which costs nothing here.
        assert error.endswith('(using password: ***)")')
    finally:
        engine.dispose()


def test_mysql_refused_fails() -> None:
    sqlalchemy = require("sqlalchemy")
    require("pymysql")
    port = free_port()
    engine = sqlalchemy.create_engine(
        f"mysql+pymysql://status:s3cret-pw@127.0.0.1:{port}/status_test", **MYSQL_ENGINE_OPTIONS
    )
    try:
        error = assert_fails(status_app("database", sqlalchemy_check(engine)), "database", "s3cret-pw")
        assert error.startswith("OperationalError: (2003, \"Can't connect to MySQL server on '127.0.0.1'")
        assert "Connection refused" in error
    finally:
        engine.dispose()


def test_mysql_read_timeout_bounds_a_slow_query(mysql_url: str) -> None:
    sqlalchemy = require("sqlalchemy")
    engine = sqlalchemy.create_engine(
        mysql_url, connect_args={"connect_timeout": 1, "read_timeout": 0.3}, pool_pre_ping=True
    )
    try:
        app = status_app("database", sqlalchemy_check(engine, query="SELECT SLEEP(2)"), timeout=2.0)
        started = time.monotonic()
        error = assert_fails(app, "database")
        assert time.monotonic() - started < 1.5
        assert error.startswith("OperationalError: (2013, 'Lost connection to MySQL server during query")
    finally:
        engine.dispose()


def test_mariadb_max_statement_time_bounds_the_check_alone(mysql_engine: Any) -> None:
    sqlalchemy = require("sqlalchemy")
    with mysql_engine.connect() as connection:
        version = connection.execute(sqlalchemy.text("SELECT VERSION()")).scalar()
    if "mariadb" not in str(version).lower():
        pytest.skip(f"SET STATEMENT max_statement_time is MariaDB's; this server is {version}")
    fast = sqlalchemy_check(mysql_engine, query="SET STATEMENT max_statement_time=1 FOR SELECT 1")
    assert_passes(status_app("database", fast), "database")
    slow = sqlalchemy_check(mysql_engine, query="SET STATEMENT max_statement_time=0.2 FOR SELECT SLEEP(2)")
    app = status_app("database", slow, timeout=2.0)
    started = time.monotonic()
    error = assert_fails(app, "database")
    assert time.monotonic() - started < 1.5
    assert error == "OperationalError: (1969, 'Query execution was interrupted (max_statement_time exceeded)')"


def test_mysql_killed_connection_is_replaced_with_pre_ping(mysql_url: str) -> None:
    """A pooled connection the server dropped (``wait_timeout``, a restart, a failover): with
    ``pool_pre_ping`` the next run replaces it and passes; without, that run fails once."""
    sqlalchemy = require("sqlalchemy")
    for pre_ping in (True, False):
        engine = sqlalchemy.create_engine(
            mysql_url, connect_args={"connect_timeout": 1, "read_timeout": 1}, pool_pre_ping=pre_ping
        )
        try:
            app = status_app("database", sqlalchemy_check(engine))
            assert_passes(app, "database")  # leaves one connection in the pool
            with engine.connect() as connection:  # the pooled one: find its id, then kill it
                pooled_id = connection.execute(sqlalchemy.text("SELECT CONNECTION_ID()")).scalar()
            with contextlib.closing(
                sqlalchemy.create_engine(mysql_url, poolclass=sqlalchemy.NullPool).connect()
            ) as admin:
                admin.execute(sqlalchemy.text(f"KILL {int(pooled_id)}"))
            if pre_ping:
                assert_passes(app, "database")
            else:
                error = assert_fails(app, "database")
                assert error.startswith("OperationalError: (2013, 'Lost connection") or error.startswith(
                    "OperationalError: (4031, "
                ), error
                assert_passes(app, "database")  # the dead connection was dropped: the next run reconnects
        finally:
            engine.dispose()
