"""Quiet logs: successful probes of public status routes stay out of the access logs of the
werkzeug dev server and of gunicorn; failures, other views and private routes do not;
``STATUS_QUIET_PROBES = False`` puts them all back. Real servers, real access logs."""

from __future__ import annotations

import http.client
import logging
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import flask
import pytest
from _servers import HOST, eventually, gunicorn
from conftest import threaded_servers
from flask import Blueprint, Flask, Response

from flask_status import StatusManager
from flask_status.auth import bearer_token
from flask_status.gunicorn import PROBE_FLAG, quiet_access
from flask_status.quiet import QuietProbes, quiet_filter

TOKEN = "quiet-logs-token"


def request(base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    """One request on a new connection; its status."""
    port = int(base.rpartition(":")[2])
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class Switch:
    """A check that passes until told to fail."""

    def __init__(self) -> None:
        self.passing = True

    def __call__(self) -> bool:
        return self.passing


def make_status_app(name: str, prefix: str = "", **config: object) -> tuple[Flask, Switch]:
    """A public liveness and readiness route, a private details route, and a plain view."""
    app = Flask(name)
    app.config.update(STATUS_TOKENS=TOKEN, **config)
    switch = Switch()
    status = StatusManager(app, url_prefix=prefix)
    status.add_route("live", "/health/live")
    status.add_route("ready", "/health/ready").add_check("dependency", switch)
    status.add_route("details", "/health/details", authenticator=bearer_token())

    @app.get(f"{prefix}/work")
    def work() -> str:
        return "done"

    return app, switch


# -- the view marks the probes --------------------------------------------------------------------


def flags(app: Flask) -> list[object]:
    """What the view left in each request's environ under :data:`PROBE_FLAG` (absent: ``None``)."""
    seen: list[object] = []

    @app.after_request
    def note(response: Response) -> Response:
        seen.append(flask.request.environ.get(PROBE_FLAG))
        return response

    return seen


def test_the_view_flags_a_probe_of_a_public_route_only() -> None:
    app, _ = make_status_app("flags")
    seen = flags(app)
    client = app.test_client()
    assert client.get("/health/live").status_code == 200
    assert client.head("/health/ready").status_code == 200
    assert client.get("/health/details", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/work").status_code == 200
    assert seen == [True, True, False, None]


def test_with_the_switch_off_the_view_flags_nothing() -> None:
    app, _ = make_status_app("flags_off", STATUS_QUIET_PROBES=False)
    seen = flags(app)
    assert app.test_client().get("/health/live").status_code == 200
    assert seen == [False]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_switch_must_be_a_bool(value: object) -> None:
    app = Flask("bad_switch")
    app.config["STATUS_QUIET_PROBES"] = value
    with pytest.raises(TypeError, match=rf"STATUS_QUIET_PROBES must be a bool, got {value!r}"):
        StatusManager(app)


def test_the_switch_is_on_by_default() -> None:
    app = Flask("default_switch")
    StatusManager(app)
    assert app.config["STATUS_QUIET_PROBES"] is True


# -- werkzeug's dev server --------------------------------------------------------------------------


@pytest.fixture
def werkzeug_log() -> Iterator[list[str]]:
    """Every line the "werkzeug" logger lets through while the test runs (after its filters)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("werkzeug")
    handler = Collect(logging.INFO)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def serve_logged() -> Iterator[Callable[[Flask], str]]:
    """Apps on real threaded werkzeug servers whose request handler logs every request, as
    ``app.run()`` does."""
    with threaded_servers(access_log=True) as start:
        yield start


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lines_with(lines: list[str], text: str) -> list[str]:
    """The lines holding ``text``, without werkzeug's terminal colours."""
    return [plain for plain in (ANSI.sub("", line) for line in lines) if text in plain]


def test_the_dev_server_logs_no_successful_probe(serve_logged: Callable[[Flask], str], werkzeug_log: list[str]) -> None:
    app, switch = make_status_app("dev_quiet", prefix="/dev-quiet")
    base = serve_logged(app)
    for _ in range(5):
        assert request(base, "/dev-quiet/health/live") == 200
        assert request(base, "/dev-quiet/health/ready?probe=kube") == 200
    assert request(base, "/dev-quiet/health/live", method="HEAD") == 200
    # Everything else is logged: a failing probe, another view, a private route, a 405.
    switch.passing = False
    assert request(base, "/dev-quiet/health/ready") == 503
    assert request(base, "/dev-quiet/work") == 200
    assert request(base, "/dev-quiet/health/details", headers={"Authorization": f"Bearer {TOKEN}"}) == 200
    assert request(base, "/dev-quiet/health/details") == 401
    assert request(base, "/dev-quiet/health/live", method="POST") == 405

    assert eventually(lambda: len(lines_with(werkzeug_log, "/dev-quiet/")) >= 5), werkzeug_log
    assert lines_with(werkzeug_log, '"GET /dev-quiet/health/ready HTTP/1.1" 503')
    assert lines_with(werkzeug_log, '"GET /dev-quiet/work HTTP/1.1" 200')
    assert lines_with(werkzeug_log, '"GET /dev-quiet/health/details HTTP/1.1" 200')
    assert lines_with(werkzeug_log, '"GET /dev-quiet/health/details HTTP/1.1" 401')
    assert lines_with(werkzeug_log, '"POST /dev-quiet/health/live HTTP/1.1" 405')
    # Not one of the eleven successful probes.
    assert lines_with(werkzeug_log, "/dev-quiet/health/live") == lines_with(werkzeug_log, "POST /dev-quiet/health/live")
    assert lines_with(werkzeug_log, "/dev-quiet/health/ready") == lines_with(werkzeug_log, " 503 ")


def test_the_dev_server_logs_every_probe_with_the_switch_off(
    serve_logged: Callable[[Flask], str], werkzeug_log: list[str]
) -> None:
    app, _ = make_status_app("dev_loud", prefix="/dev-loud", STATUS_QUIET_PROBES=False)
    base = serve_logged(app)
    for _ in range(3):
        assert request(base, "/dev-loud/health/live") == 200
    assert eventually(lambda: len(lines_with(werkzeug_log, '"GET /dev-loud/health/live HTTP/1.1" 200')) == 3)


def test_routes_added_later_and_through_a_blueprint_are_quiet(
    serve_logged: Callable[[Flask], str], werkzeug_log: list[str]
) -> None:
    app = Flask("dev_blueprint")
    blueprint = Blueprint("ops", __name__, url_prefix="/dev-bp")
    status = StatusManager(blueprint)
    status.add_route("live", "/live")
    app.register_blueprint(blueprint)
    status.add_route("late", "/late")  # after init_app: mounted, and quiet too
    base = serve_logged(app)
    assert request(base, "/dev-bp/live") == 200
    assert request(base, "/dev-bp/late") == 200
    assert request(base, "/dev-bp/nothing") == 404
    assert eventually(lambda: lines_with(werkzeug_log, "/dev-bp/nothing")), werkzeug_log
    assert lines_with(werkzeug_log, "/dev-bp/") == lines_with(werkzeug_log, "/dev-bp/nothing")


def test_one_filter_per_process_however_many_apps_and_managers() -> None:
    for index in range(3):
        app = Flask(f"many_{index}")
        StatusManager(app)
        StatusManager(app, name="ops")
    filters = [f for f in logging.getLogger("werkzeug").filters if isinstance(f, QuietProbes)]
    assert filters == [quiet_filter]


@pytest.mark.parametrize(
    ("line", "code", "kept"),
    [
        ("GET /filter/health/live HTTP/1.1", "200", False),
        ("HEAD /filter/health/live HTTP/1.1", "200", False),
        ("GET /filter/health/live?x=1 HTTP/1.1", "200", False),
        ("\x1b[35m\x1b[1mGET /filter/health/live HTTP/1.1\x1b[0m", "204", False),  # styled for a terminal
        ("\x1b[32mGET /filter/health/live HTTP/1.1\x1b[0m", "302", False),
        ("\x1b[35m\x1b[1mGET /filter/health/live HTTP/1.1\x1b[0m", "503", True),
        ("GET /filter/health/details HTTP/1.1", "200", True),  # has an authenticator
        ("GET /filter/health/livelier HTTP/1.1", "200", True),
        ("POST /filter/health/live HTTP/1.1", "200", True),
    ],
)
def test_the_filter_reads_werkzeugs_access_line(line: str, code: str, kept: bool) -> None:
    app, _ = make_status_app("filter_lines", prefix="/filter")
    message = '127.0.0.1 - - [01/Jan/2026 00:00:00] "%s" %s %s'
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, message, (line, code, "-"), None)
    assert quiet_filter.filter(record) is kept
    other = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, " * Running on %s", ("http://x",), None)
    assert quiet_filter.filter(other) is True
    del app


# -- gunicorn -------------------------------------------------------------------------------------

APP = """
import os

from flask import Flask

from flask_status import StatusManager
from flask_status.auth import bearer_token

app = Flask(__name__)
app.config["STATUS_TOKENS"] = "{token}"
app.config["STATUS_QUIET_PROBES"] = os.environ["QUIET_PROBES"] == "1"
status = StatusManager(app)
status.add_route("live", "/health/live")
status.add_route("broken", "/health/broken").add_check("dependency", lambda: False)
status.add_route("details", "/health/details", authenticator=bearer_token())


@app.get("/ping")
def ping():
    return "pong"


@app.get("/work")
def work():
    return "done"
"""

CONFIG = """
from flask_status.gunicorn import *  # noqa: F403

accesslog = "-"
"""


@pytest.fixture
def gunicorn_files(tmp_path: Path) -> Path:
    (tmp_path / "quiet_app.py").write_text(textwrap.dedent(APP).replace("{token}", TOKEN))
    (tmp_path / "quiet_gunicorn.py").write_text(textwrap.dedent(CONFIG))
    return tmp_path


def access_lines(output: str, path: str) -> list[str]:
    return [line for line in output.splitlines() if f" {path} HTTP/1.1" in line or f" {path}?" in line]


@pytest.mark.server
@pytest.mark.parametrize("worker", ["sync", "gthread"])
def test_gunicorn_logs_no_successful_probe(gunicorn_files: Path, worker: str) -> None:
    options = ("-c", str(gunicorn_files / "quiet_gunicorn.py"), "--pythonpath", str(gunicorn_files))
    with gunicorn(
        "quiet_app:app", *options, "-k", worker, log=gunicorn_files / "gunicorn.log", env={"QUIET_PROBES": "1"}
    ) as server:
        for _ in range(5):
            assert request(server.url, "/health/live") == 200
        assert request(server.url, "/health/live?probe=kube") == 200
        assert request(server.url, "/health/live", method="HEAD") == 200
        assert request(server.url, "/health/broken") == 503
        assert request(server.url, "/health/details", headers={"Authorization": f"Bearer {TOKEN}"}) == 200
        assert request(server.url, "/health/details") == 401
        assert request(server.url, "/work") == 200
        # The access line is written after the answer: wait for the last request's.
        assert eventually(lambda: access_lines(server.output(50_000), "/work"), 10), server.output()
        output = server.output(50_000)
    assert access_lines(output, "/health/live") == [], output
    assert len(access_lines(output, "/health/broken")) == 1, output
    assert '"GET /health/broken HTTP/1.1" 503' in output
    assert '"GET /health/details HTTP/1.1" 200' in output
    assert '"GET /health/details HTTP/1.1" 401' in output
    assert '"GET /work HTTP/1.1" 200' in output


@pytest.mark.server
def test_gunicorn_logs_every_probe_with_the_switch_off(gunicorn_files: Path) -> None:
    options = ("-c", str(gunicorn_files / "quiet_gunicorn.py"), "--pythonpath", str(gunicorn_files))
    with gunicorn("quiet_app:app", *options, log=gunicorn_files / "gunicorn.log", env={"QUIET_PROBES": "0"}) as server:
        for _ in range(3):
            assert request(server.url, "/health/live") == 200
        assert request(server.url, "/work") == 200
        assert eventually(lambda: access_lines(server.output(50_000), "/work"), 10), server.output()
        output = server.output(50_000)
    assert len(access_lines(output, "/health/live")) == 3, output


def test_the_logger_class_needs_gunicorn_only_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import flask_status.gunicorn as hooks

    monkeypatch.setitem(sys.modules, "gunicorn", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "gunicorn.glogging", None)
    namespace: dict[str, object] = {}
    exec("from flask_status.gunicorn import *", namespace)
    assert namespace["logger_class"] == "flask_status.gunicorn.ProbeQuietLogger"
    with pytest.raises(ImportError, match="needs gunicorn: pip install gunicorn"):
        hooks._probe_quiet_logger()


def test_the_logger_class_is_what_gunicorn_loads() -> None:
    pytest.importorskip("gunicorn")
    from gunicorn.glogging import Logger  # type: ignore[import-untyped,unused-ignore]
    from gunicorn.util import load_class  # type: ignore[import-untyped,unused-ignore]

    import flask_status.gunicorn as hooks

    loaded = load_class(hooks.logger_class)
    assert issubclass(loaded, Logger)
    assert loaded is hooks.ProbeQuietLogger
    assert loaded.__module__ == "flask_status.gunicorn"


@pytest.mark.parametrize(
    ("environ", "status", "quiet"),
    [
        ({PROBE_FLAG: True}, 200, True),
        ({PROBE_FLAG: True}, 304, True),
        ({PROBE_FLAG: True}, 400, False),
        ({PROBE_FLAG: True}, 503, False),
        ({PROBE_FLAG: True}, None, False),
        ({PROBE_FLAG: False}, 200, False),
        ({PROBE_FLAG: "yes"}, 200, False),
        ({}, 200, False),
    ],
)
def test_which_access_lines_stay_out(environ: dict[str, object], status: object, quiet: bool) -> None:
    assert quiet_access(environ, status) is quiet


def test_the_filter_never_breaks_the_request_that_logs() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s" %s %s', (Unprintable(), "200", "-"), None)
    assert quiet_filter.filter(record) is True
