"""A tiny HTTP/1.0 server on one thread: the probe listener's front door.

It answers GET and HEAD from a callback that never blocks (the answers are kept ready by the
listener), so one thread serves every probe: sockets are non-blocking and watched by one
selector, and a connection that sends nothing useful is closed after :data:`READ_TIMEOUT`
seconds or :data:`MAX_HEAD` bytes. At most :data:`MAX_CONNECTIONS` are open at once; past
that the oldest is dropped. Each answer closes its connection (``Connection: close``).

The listening socket may be shared with other processes (gunicorn workers that inherited it
from the master): accepting is non-blocking, and a connection another process took first is
simply not there.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus

from ..engine import affinity

__all__ = ["Answer", "Handler", "MAX_CONNECTIONS", "MAX_HEAD", "ProbeServer", "READ_TIMEOUT", "parse_head"]

log = logging.getLogger("flask_status")

MAX_HEAD = 8192
"""The most bytes a request's line and headers may take."""

READ_TIMEOUT = 2.0
"""Seconds a connection has to send its request's head."""

MAX_CONNECTIONS = 64
"""Connections open at once; past this the oldest is closed."""

Answer = tuple[int, tuple[tuple[str, str], ...], bytes]
"""An HTTP status code, headers, and the body."""

Handler = Callable[[str, str], Answer]
"""Called with a GET's path and its ``Accept`` header (``""`` if none)."""


def parse_head(head: bytes) -> tuple[str, str, str] | None:
    """The method, path and ``Accept`` header of a request's head, or ``None`` if malformed.

    The query string is dropped: status routes take none.

    >>> parse_head(b"GET /health/live?x=1 HTTP/1.1\\r\\nHost: a\\r\\nAccept: application/json\\r\\n\\r\\n")
    ('GET', '/health/live', 'application/json')
    >>> parse_head(b"nonsense") is None
    True
    """
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return None
    lines = text.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        return None
    method, target = parts[0], parts[1]
    if not method.isalpha() or not target.isprintable():
        return None
    accept = ""
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "accept":
            accept = value.strip()
    return method, target.split("?", 1)[0], accept


def _response(code: int, headers: tuple[tuple[str, str], ...], body: bytes, *, head_only: bool) -> bytes:
    try:
        reason = HTTPStatus(code).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.0 {code} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return data if head_only else data + body


_JSON = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))
_BAD_REQUEST: Answer = (400, _JSON, b'{"status":"bad_request"}\n')
_TOO_LARGE: Answer = (431, _JSON, b'{"status":"request_header_fields_too_large"}\n')
_NOT_ALLOWED: Answer = (405, (("Allow", "GET, HEAD"), *_JSON), b'{"status":"method_not_allowed"}\n')
_ERROR: Answer = (500, _JSON, b'{"status":"FAIL","error":"internal error while answering the probe"}\n')


class _Connection:
    __slots__ = ("buffer", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""


class ProbeServer:
    """Serves ``handler``'s answers on ``sock`` (bound and listening) from one daemon thread.

    Thread-safety: only the server's thread touches the sockets and the connections; ``stop``
    may be called from any thread (it sets a flag the loop reads within :data:`_TICK`).

    >>> import urllib.request
    >>> sock = socket.create_server(("127.0.0.1", 0))
    >>> server = ProbeServer(sock, lambda path, accept: (200, (("Content-Type", "text/plain"),), path.encode()))
    >>> server.start()
    >>> urllib.request.urlopen(f"http://127.0.0.1:{server.port}/ping", timeout=5).read()
    b'/ping'
    >>> server.stop()
    >>> sock.close()
    """

    _TICK = 0.25

    def __init__(
        self,
        sock: socket.socket,
        handler: Handler,
        *,
        name: str = "flask-status-probes",
        before: Callable[[], None] | None = None,
    ) -> None:
        self.sock = sock
        #: Called in the server's thread before it accepts the first connection.
        self.before = before
        self.handler = handler
        self.name = name
        self.port: int = sock.getsockname()[1]
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set by the thread when it has ended (a test or a caller waiting for it).
        self.ended = threading.Event()
        self._warned_at = float("-inf")

    @property
    def running(self) -> bool:
        """True while the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the serving thread (once)."""
        if self._thread is not None:
            raise RuntimeError("this probe server was already started")
        self._thread = affinity.thread(self._serve, name=self.name)
        self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """Stop serving; the listening socket stays open (its owner closes it)."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        open_: dict[socket.socket, _Connection] = {}
        try:
            if self.before is not None:
                self.before()
            self.sock.setblocking(False)
            selector.register(self.sock, selectors.EVENT_READ)
            paused_until = 0.0  # accepting paused (out of file descriptors) until then
            while not self._stopped.is_set():
                now = time.monotonic()
                if paused_until and now >= paused_until:
                    paused_until = 0.0
                    selector.register(self.sock, selectors.EVENT_READ)
                wait = min([self._TICK, *(c.deadline - now for c in open_.values())])
                for key, _ in selector.select(max(wait, 0.0)):
                    try:
                        if key.fileobj is self.sock:
                            if not self._accept(selector, open_):
                                # EMFILE and friends: the socket stays readable, so stop
                                # watching it for a tick rather than spin on it.
                                selector.unregister(self.sock)
                                paused_until = time.monotonic() + self._TICK
                        else:
                            # Gone when an accept in this same batch evicted it.
                            connection = open_.get(key.fileobj)  # type: ignore[call-overload]
                            if connection is not None:
                                self._read(selector, open_, connection)
                    except Exception:  # one connection's trouble never ends the loop
                        log.exception("flask-status: the probe listener failed on a connection")
                now = time.monotonic()
                for connection in [c for c in open_.values() if c.deadline <= now]:
                    self._close(selector, open_, connection)
        except Exception:  # pragma: no cover - the loop itself failing is a bug: say so
            log.exception("flask-status: the probe listener stopped")
        finally:
            for connection in list(open_.values()):
                self._close(selector, open_, connection)
            selector.close()
            self.ended.set()

    def _accept(self, selector: selectors.BaseSelector, open_: dict[socket.socket, _Connection]) -> bool:
        """Take the connections waiting (a few per wake-up); ``False`` when accepting failed."""
        for _ in range(16):  # a burst of probes: take several per wake-up, not all forever
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return True  # none left (or another process took it)
            except OSError as error:  # EMFILE and friends: try again a tick later
                now = time.monotonic()
                if now - self._warned_at > 60:  # once a minute, not once a tick
                    self._warned_at = now
                    log.warning("flask-status: the probe listener could not accept a connection: %s", error)
                return False
            conn.setblocking(False)
            if len(open_) >= MAX_CONNECTIONS:
                oldest = min(open_.values(), key=lambda c: c.deadline)
                self._close(selector, open_, oldest)
            open_[conn] = _Connection(conn, time.monotonic() + READ_TIMEOUT)
            selector.register(conn, selectors.EVENT_READ)
        return True

    def _read(
        self, selector: selectors.BaseSelector, open_: dict[socket.socket, _Connection], connection: _Connection
    ) -> None:
        try:
            data = connection.sock.recv(MAX_HEAD + 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(selector, open_, connection)
            return
        connection.buffer += data
        end = connection.buffer.find(b"\r\n\r\n")
        if end < 0:
            end = connection.buffer.find(b"\n\n")  # a client ending lines with LF alone
        if end < 0:
            if len(connection.buffer) > MAX_HEAD:
                self._send(connection, _TOO_LARGE, head_only=False)
                self._close(selector, open_, connection)
            return
        if end > MAX_HEAD:
            answer, method = _TOO_LARGE, "GET"
        else:
            parsed = parse_head(connection.buffer[: end + 4])
            if parsed is None:
                answer, method = _BAD_REQUEST, "GET"
            else:
                method, path, accept = parsed
                if method not in ("GET", "HEAD"):
                    answer = _NOT_ALLOWED
                else:
                    try:
                        answer = self.handler(path, accept)
                    except Exception:
                        log.exception("flask-status: the probe listener failed to answer %s", path)
                        answer = _ERROR
        self._send(connection, answer, head_only=method == "HEAD")
        self._close(selector, open_, connection)

    @staticmethod
    def _send(connection: _Connection, answer: Answer, *, head_only: bool) -> None:
        code, headers, body = answer
        sock = connection.sock
        try:
            # Small answers: a blocking send with a short timeout, not a write queue.
            sock.settimeout(1.0)
            sock.sendall(_response(code, headers, body, head_only=head_only))
            # Read what the client sent beyond the head before closing: closing a socket with
            # unread data resets the connection, and the client could lose the answer.
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            for _ in range(16):
                if not sock.recv(65536):
                    break
        except OSError:
            pass  # the prober went away, or sent nothing more: nothing to tell it

    @staticmethod
    def _close(
        selector: selectors.BaseSelector, open_: dict[socket.socket, _Connection], connection: _Connection
    ) -> None:
        open_.pop(connection.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(connection.sock)
        connection.sock.close()
