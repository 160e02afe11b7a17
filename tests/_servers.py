"""What the tests share to run and reach real servers: free ports, one wait helper, one HTTP GET,
a private redis-server, and a server process (gunicorn or any other) in a process group of its own.

Test modules import them as ``from _servers import ...``; ``conftest.py`` re-exports the names
that modules used to import from it (``free_port``, ``eventually``, ``RedisServer``...).
A missing server, tool or library skips a test when run by hand and fails it under ``CI=true``
(:func:`unavailable`).
"""

from __future__ import annotations

import functools
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

HOST = "127.0.0.1"  # every server a test starts listens on loopback only
TESTS = Path(__file__).resolve().parent
APPS = TESTS / "apps"  # the apps the server processes load
ROOT = TESTS.parent

IN_CI = os.environ.get("CI", "").lower() == "true"


# -- skip by hand, fail in CI ----------------------------------------------------------------------


def unavailable(reason: str, hint: str = "") -> NoReturn:
    """Skip a test for a missing server, tool or library when run by hand; fail it under ``CI=true``.

    ``hint`` (how to provide what is missing) is added to the reason.
    """
    import pytest

    more = f"; {hint}" if hint else ""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing server is a failure, not a skip{more})", pytrace=False)
    pytest.skip(f"{reason}{more}")


def require(available: bool, reason: str) -> None:
    """Skip a test that needs a missing server when run by hand; fail it under ``CI=true``."""
    if not available:
        unavailable(reason)


#: How to start the servers the service tests need (the hint of their skip reasons).
SERVICES_HINT = "start the servers with: bash .ci/services.sh"


def import_or_unavailable(module: str, packages: str) -> Any:
    """Import a client library a test needs; missing, it is :func:`unavailable` (``pip install
    packages`` in the reason)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        problem = str(exc)
    unavailable(f"{module} is not installed ({problem}): pip install {packages}")


def redact_url(url: str) -> str:
    """``url`` with its password masked, for skip and failure reasons.

    >>> redact_url("redis://:secret@host:6379/0"), redact_url("amqp://status:secret@host:5672/vhost")
    ('redis://:***@host:6379/0', 'amqp://status:***@host:5672/vhost')
    """
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def sql_url_answering(url: str, driver: str, what: str) -> str:
    """``url`` once a connection to it runs ``SELECT 1`` (through SQLAlchemy and ``driver``);
    otherwise the test is skipped, or failed under ``CI=true``, saying why."""
    try:
        import sqlalchemy

        importlib.import_module(driver)
    except ImportError as exc:
        unavailable(f"{exc.name} is not installed ({exc})", hint="pip install 'flask-status[tests]'")
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sqlalchemy.NullPool)
    problem = None
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    if problem is not None:
        shown = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
        unavailable(
            f"no {what} server answers at {shown} ({problem})", hint="start the servers with: bash .ci/services.sh"
        )
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


# -- waiting ---------------------------------------------------------------------------------------


def in_a_forked_child(child: Callable[[], int]) -> int:
    """Run ``child`` in a ``fork()``-ed copy of this process; the code it returned (255: it raised).

    The one way the tests look at a child after fork: what gunicorn ``--preload`` and Celery's
    prefork pool do to an app built in the parent.
    """
    import warnings

    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() with threads alive in pytest
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 255
        try:
            code = child()
        finally:
            os.write(write_fd, bytes([code]))
            os._exit(code)
    os.close(write_fd)
    try:
        answer = os.read(read_fd, 1)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    return answer[0] if answer else 255


def eventually(condition: Callable[[], object], seconds: float = 5.0, *, every: float = 0.01) -> bool:
    """Whether ``condition`` became true within ``seconds``, tried every ``every`` seconds.

    The one way the tests wait for something: ``assert eventually(lambda: ...), "what did not happen"``.
    An exception ``condition`` raises (a failed ``assert`` in it, say) ends the wait at once.

    >>> eventually(lambda: True), eventually(lambda: False, 0.02)
    (True, False)
    """
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


# -- HTTP ------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What one GET got: the status, headers and body, or the error instead (status ``None``)."""

    path: str
    start: float  # time.monotonic() as the request was sent
    end: float  # ... and once the body was read, or the error came
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes = b""
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def pid(self) -> int | None:
        """The ``X-Worker-Pid`` header of the test apps: which process answered."""
        pid = self.headers.get("X-Worker-Pid")
        return int(pid) if pid else None

    def json(self) -> Any:
        return json.loads(self.body)


def get(
    base: int | str,
    path: str = "/",
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
    connected: Callable[[], object] | None = None,
) -> Answer:
    """One GET on a new connection (``Connection: close``), as a load balancer's probe sends it.

    ``base`` is a port on 127.0.0.1 or a URL such as ``http://127.0.0.1:8000``. Never raises for
    a network or protocol error (nor for one ``connected`` raises): the answer has it in ``error``.
    ``connected``, if given, is called once the connection is open and before the request is
    sent (a barrier, so that many clients send at once); the timing starts after it.
    """
    if isinstance(base, int):
        host, port = HOST, base
    else:
        parts = urlsplit(base)
        host, port = parts.hostname or HOST, parts.port or 80
    start = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if connected is not None:
            conn.connect()
            connected()
            start = time.monotonic()
        conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        body = response.read()
        return Answer(path, start, time.monotonic(), response.status, response.headers, body)
    except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as error:
        return Answer(path, start, time.monotonic(), None, error=f"{type(error).__name__}: {error}")
    finally:
        conn.close()


class Poller(threading.Thread):
    """GETs each of ``paths`` every ``every`` seconds (a new connection each) until stopped,
    keeping every answer in order."""

    def __init__(self, base: int | str, *paths: str, every: float = 0.05, timeout: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.base, self.paths, self.every, self.timeout = base, paths, every, timeout
        self.answers: list[Answer] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for path in self.paths:
                self.answers.append(get(self.base, path, timeout=self.timeout))
            self.halt.wait(self.every)

    def stop(self) -> list[Answer]:
        self.halt.set()
        self.join(len(self.paths) * self.timeout + 5)
        return self.answers


# -- a private redis-server ------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server of one test (or module) alone: stop, kill, pause, and start it again on the
    same port. Nothing is saved to disk."""

    binary: str
    port: int
    args: tuple[str, ...] = ()
    password: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, password: str | None = None) -> str:
        """Its URL, with ``password`` (by default the server's own, if any; ``""`` for none)."""
        secret = password if password is not None else self.password
        auth = f":{secret}@" if secret else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(
            host=HOST, port=self.port, password=self.password, socket_timeout=2, socket_connect_timeout=2, protocol=2
        )

    def start(self) -> None:
        """Start it and wait until it answers PING."""
        command = [
            self.binary,
            *("--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"),
            *self.args,
        ]
        self.process = process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        probe = self.client()

        def answers() -> bool:
            assert process.poll() is None, f"redis-server exited with {process.returncode}"
            try:
                return bool(probe.ping())
            except Exception:
                return False

        try:
            assert eventually(answers, 10, every=0.02), "private redis-server did not answer PING within 10 s"
        finally:
            probe.close()

    def stop(self) -> None:
        """SIGTERM (a paused server is woken first) and wait: the port refuses connections afterwards."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, never answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def redis_binary() -> str:
    """The redis-server binary, once redis-py is importable too (else skip, or fail in CI)."""
    try:
        import redis  # noqa: F401
    except ImportError:
        unavailable("redis-py is not installed: pip install 'flask-status[redis]'")
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    return binary


@contextmanager
def private_redis(*args: str, password: str | None = None) -> Iterator[RedisServer]:
    """A running :class:`RedisServer` on a free port (``args`` go to redis-server), stopped on exit."""
    if password is not None:
        args = (*args, "--requirepass", password)
    server = RedisServer(redis_binary(), free_port(), args, password)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- a server process: gunicorn, or any command serving HTTP --------------------------------------


@dataclass
class ServerProcess:
    """A server started by :func:`launch`, leading its own process group, its output in ``log``."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self, tail: int = 6000) -> str:
        """The last ``tail`` characters of its stdout and stderr, for failure messages."""
        return self.log.read_text(errors="replace")[-tail:]

    def stop(self, grace: float = 0.0) -> None:
        """End it and every process of its group (gunicorn's workers too, even once the master has
        exited): with ``grace``, SIGTERM and up to that long to exit first; then SIGKILL."""
        if grace and self.process.poll() is None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


Ready = str | Callable[[ServerProcess], bool]


@contextmanager
def launch(
    command: Sequence[str],
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    ready: Ready = "/ping",
    boot_seconds: float = 15.0,
    grace: float = 0.0,
) -> Iterator[ServerProcess]:
    """Run ``command`` (serving on ``port``) in a new process group until it is ready, and stop
    it (:meth:`ServerProcess.stop` with ``grace``) on exit.

    ``env`` is added to this process's environment (with ``PYTHONUNBUFFERED=1``, without
    ``SERVER_SOFTWARE``). Ready means: ``ready`` answers 200 to a GET if it is a path, or returns
    true if it is a callable. A server that exits or is not ready within ``boot_seconds`` fails
    the test with its output.
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("SERVER_SOFTWARE", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = ServerProcess(process, port, log)
    try:

        def up() -> bool:
            assert process.poll() is None, f"server exited with {process.returncode}:\n{server.output()}"
            if isinstance(ready, str):
                return get(port, ready, timeout=1).status == 200
            return ready(server)

        assert eventually(up, boot_seconds, every=0.05), f"server not ready within {boot_seconds} s:\n{server.output()}"
        yield server
    finally:
        server.stop(grace)


@functools.cache
def _gunicorn_has_control_socket() -> bool:
    """Whether this gunicorn has a control socket (newer versions), which the tests turn off."""
    from gunicorn.config import Config  # type: ignore[import-untyped,unused-ignore]

    return "control_socket_disable" in Config().settings


def gunicorn(
    app: str,
    *options: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    ready: Ready = "/ping",
    boot_seconds: float = 15.0,
    grace: float = 0.0,
) -> AbstractContextManager[ServerProcess]:
    """``gunicorn [options] app`` serving an app of ``tests/apps`` on a free loopback port, as
    :func:`launch` runs it (``with gunicorn("drain_app:app", "--workers", "2", log=...) as server``)."""
    require(importlib.util.find_spec("gunicorn") is not None, "gunicorn is not installed: pip install gunicorn")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--chdir", str(APPS), "--bind", f"{HOST}:{port}", *options]
    if _gunicorn_has_control_socket():
        command.append("--no-control-socket")  # else it takes ~/.gunicorn/gunicorn.ctl
    command.append(app)
    return launch(command, port=port, log=log, env=env, cwd=APPS, ready=ready, boot_seconds=boot_seconds, grace=grace)
