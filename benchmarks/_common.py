"""What the benchmark scripts share: servers in their own process groups, HTTP load, bursts,
in-process WSGI callers, ratios of medians and the progress line.

The scripts run as ``python benchmarks/bench_X.py`` (from the repository root or from
``benchmarks/``): Python puts the script's directory first on ``sys.path``, so they import
this module as ``from _common import ...``. It is not a benchmark itself (the leading
underscore) and pytest does not collect it.

Only the standard library is imported at module level: ``bench_overhead.py`` also runs as a
worker inside the flask-status 1.0.1 venv, where ``flask_status`` is the old release, so
nothing here may import ``flask_status``; werkzeug is imported when :func:`wsgi_caller` is
called.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from flask import Flask

HERE = Path(__file__).resolve().parent  # benchmarks/: the apps the servers load live here
HOST = "127.0.0.1"  # every server listens on loopback only

# What a Kubernetes probe sends.
PROBE_HEADERS = {"User-Agent": "kube-probe/1.30", "Accept": "*/*"}

# The five values of the "five cached fields" routes, as a check would return them.
FIVE_VALUES: dict[str, Any] = {
    "version": "2.0.0",
    "database": {"connected": True, "latency_ms": 3},
    "queue_depth": 12,
    "cache": True,
    "replicas": ["eu-west-1a", "eu-west-1b"],
}


def getter(value: Any) -> Callable[[], Any]:
    """A field callable that returns ``value``."""

    def get() -> Any:
        return value

    return get


# -- server processes ---------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def find_gunicorn(explicit: str | None = None) -> str:
    """``explicit`` (``--gunicorn``), else the gunicorn next to this python, else the one on
    the PATH; ``""`` when there is none."""
    executable = explicit or str(Path(sys.executable).parent / "gunicorn")
    if Path(executable).exists():
        return executable
    return shutil.which("gunicorn") or ""


def no_control_socket(gunicorn: str) -> list[str]:
    """``--no-control-socket`` when this gunicorn has it (25+ opens a control socket by default)."""
    try:
        text = subprocess.run([gunicorn, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["--no-control-socket"] if "--no-control-socket" in text else []


def gunicorn_command(
    executable: str, port: int, app: str, *, threads: int, workers: int = 1, extra: Sequence[str] = ()
) -> list[str]:
    """``gunicorn -k gthread --threads T -w W`` serving ``app`` (``module:attr`` in this
    directory) on ``HOST:port``, warnings only, with ``extra`` options before the app."""
    return [
        executable, "-k", "gthread", "--threads", str(threads), "-w", str(workers),
        "-b", f"{HOST}:{port}", "--chdir", str(HERE),
        "--timeout", "60", "--graceful-timeout", "2", "--log-level", "warning",
        *extra, app,
    ]  # fmt: skip


def stop_group(process: subprocess.Popen[bytes], what: str) -> None:
    """SIGTERM ``process``, then SIGKILL the process group it leads if anything is left.

    Only the group this script started (``start_new_session=True``) is signalled: a
    gunicorn master and its workers, a waitress, a redis-server. Every wait is bounded;
    a process that still does not exit is reported on stderr as ``what``.
    """
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        print(f"warning: {what} pid {process.pid} did not exit", file=sys.stderr)


class ServerProcess:
    """A server subprocess listening on ``HOST:port``, in its own process group.

    ``name`` is what its messages call it (``gunicorn``, ``waitress``, ``server``). Its
    output goes to ``log`` (a file, or ``subprocess.DEVNULL``); ``env`` is added to this
    process's environment; it starts in ``cwd`` (this directory; ``None``: ours).
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        log: IO[Any] | int,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = HERE,
    ) -> None:
        self.name = name
        self.port = port
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env} if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.info: Any = {}  # what /ping answered

    def wait_ready(self, timeout: float) -> None:
        """Until the app answers ``GET /ping`` (kept in ``info``); raises when the server
        exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode} before serving")
            try:
                self.info = get_json(self.port, "/ping", timeout=1.0)
                return
            except (OSError, RuntimeError, http.client.HTTPException):
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer /ping within {timeout:g} s")

    def stop(self) -> None:
        """:func:`stop_group` on the server."""
        stop_group(self.process, self.name)


def dump_log(log: IO[Any], tail: int | None = None) -> None:
    """Copy what a server wrote to ``log`` (text or bytes) to stderr; only the last ``tail``
    characters when given."""
    log.seek(0)
    text = log.read()
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    sys.stderr.write(text if tail is None else text[-tail:])


ServerT = TypeVar("ServerT", bound=ServerProcess)


@contextlib.contextmanager
def serving(server: ServerT, log: IO[Any] | None = None, tail: int | None = None) -> Iterator[ServerT]:
    """Use a started server; on an exception, :func:`dump_log` its log first; stop it in
    every case."""
    try:
        yield server
    except Exception:
        if log is not None:
            dump_log(log, tail)
        raise
    finally:
        server.stop()


# -- HTTP clients -------------------------------------------------------------------------------


def get_json(port: int, path: str, timeout: float = 5.0) -> Any:
    """``GET path`` on a new connection; the JSON body; ``RuntimeError`` unless it is a 200."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


Sample = tuple[float, float, int]  # (start, from the window's start; latency; HTTP status), seconds


def closed_loop(
    port: int, path: str, clients: int, seconds: float, *, timeout: float, grace: float
) -> tuple[list[Sample], int, float]:
    """``clients`` threads, one keep-alive connection each, each sending its next ``GET path``
    as soon as the last one answered, until ``seconds`` have passed.

    Returns every response as a :data:`Sample`, the requests that failed (connection errors,
    timeouts after ``timeout`` seconds: the connection is opened again) and the seconds from
    the start to the end of the last client. Raises when a client is still busy ``grace``
    seconds after the window ended.
    """
    samples: list[list[Sample]] = [[] for _ in range(clients)]
    errors = [0] * clients
    begin = time.perf_counter()
    end = begin + seconds

    def client(index: int) -> None:
        mine = samples[index]
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            while True:
                start = time.perf_counter()
                if start >= end:
                    break
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    mine.append((start - begin, time.perf_counter() - start, response.status))
                except (OSError, http.client.HTTPException):
                    errors[index] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, end + grace - time.perf_counter()))
    elapsed = time.perf_counter() - begin
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"GET {path}: clients still busy {grace:g} s after the window ended")
    return [sample for mine in samples for sample in mine], sum(errors), elapsed


@dataclass
class Fired:
    """What one :func:`fire_burst` saw, one entry per client."""

    wall: float  # from the barrier's release to the last response
    codes: list[int]  # HTTP status, -1 when the request failed
    starts: list[float]  # perf_counter when the request went out (0.0: it never did)
    ends: list[float]  # perf_counter when the client was done
    pids: list[int | None]  # the X-Worker-Pid header, if the app sends one

    def latencies(self) -> list[float]:
        """Each client's own request time (clients that sent their request)."""
        return [end - start for start, end in zip(self.starts, self.ends, strict=True) if start]

    def statuses(self) -> dict[int, int]:
        """How many clients got each HTTP status (-1: failed)."""
        return count_codes(self.codes)

    def worker_pids(self) -> set[int]:
        """The worker processes that answered."""
        return {pid for pid in self.pids if pid is not None}


def fire_burst(port: int, path: str, clients: int, timeout: float, *, report_errors: bool = False) -> Fired:
    """``clients`` threads each open a connection, wait at a barrier, then all ``GET path`` at
    once (gunicorn has spread the connections over its workers by then).

    Every wait is bounded by ``timeout``; a failed request counts as -1, and is described on
    stderr when ``report_errors``.
    """
    barrier = threading.Barrier(clients + 1, timeout=timeout)
    starts: list[float] = [0.0] * clients
    ends: list[float] = [0.0] * clients
    codes: list[int] = [0] * clients
    pids: list[int | None] = [None] * clients

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            conn.connect()
            barrier.wait()
            starts[index] = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            codes[index] = response.status
            pid = response.getheader("X-Worker-Pid")
            pids[index] = int(pid) if pid else None
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            codes[index] = -1
            if report_errors:
                print(f"client {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            ends[index] = time.perf_counter()
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    released = time.perf_counter()
    deadline = released + timeout + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"GET {path}: clients still waiting after {timeout:g} s")
    return Fired(max(ends) - released, codes, starts, ends, pids)


def count_codes(codes: Iterable[int]) -> dict[int, int]:
    """``{status: how many}``."""
    counts: dict[int, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    return counts


def add_counts(counts: Iterable[dict[int, int]]) -> dict[int, int]:
    """Several ``{status: how many}`` added up."""
    total: dict[int, int] = {}
    for one in counts:
        for code, n in one.items():
            total[code] = total.get(code, 0) + n
    return total


def fmt_codes(statuses: dict[int, int]) -> str:
    """``200x16 503x2``."""
    return " ".join(f"{code}x{n}" for code, n in sorted(statuses.items()))


# -- in-process WSGI calls ----------------------------------------------------------------------


def wsgi_caller(app: Flask, path: str) -> Callable[[], bytes]:
    """One ``GET path`` per call, straight into ``app.wsgi_app`` (no sockets, no test client),
    as a probe sends it; the body is iterated and closed as a server would; returns it.

    The environ is built once by werkzeug's ``EnvironBuilder`` and shallow-copied per call;
    ``RuntimeError`` unless the answer is a 200. One caller serves one thread at a time.
    """
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, method="GET", headers=PROBE_HEADERS).get_environ()
    wsgi = app.wsgi_app
    status_seen: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        status_seen.append(status)
        return None

    def call() -> bytes:
        status_seen.clear()
        result = wsgi(environ.copy(), start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not status_seen or not status_seen[0].startswith("200"):
            raise RuntimeError(f"{path} answered {status_seen}")
        return body

    return call


# -- figures and the progress line --------------------------------------------------------------


def ratio_of_medians(a: Iterable[float], b: Iterable[float]) -> float:
    """``median(a) / median(b)``."""
    return statistics.median(a) / statistics.median(b)


def paired_ratio(a: Iterable[float], b: Iterable[float]) -> float:
    """The median of the per-round ratios ``a[i] / b[i]`` (both measured in round i)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def progress(text: str, end: str = "") -> None:
    """Overwrite the progress line on stderr with ``text``."""
    print(f"\r{text}", end=end, file=sys.stderr, flush=True)


def clear_progress(width: int = 30) -> None:
    """Blank the progress line (``width`` characters) before the results are printed."""
    print(f"\r{' ' * width}\r", end="", file=sys.stderr)
