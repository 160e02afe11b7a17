"""Every example of the documentation runs as written.

The Sphinx pages hold two kinds of Python: doctests (run by ``sphinx-build -b doctest``, see
``python3 dev.py docs``) and files under ``examples/`` that they include; this module runs those
files, as a reader would, against real servers where they need one. It also runs every
```python block of README.md, as written, in a fresh namespace.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _servers import require
from conftest import RedisServer, free_port, wait_for
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
README = ROOT / "README.md"

# The example files the pages include, each exercised by a test below.
TESTED_EXAMPLES = {
    "quickstart.py",
    "docs_async.py",
    "docs_fleet.py",
    "docs_redis_store.py",
    "docs_checks.py",
    "docs_flask_sqlalchemy.py",
    "docs_serve_drain.py",
    "docs_metrics.py",
    "docs_status_page.py",
    "gunicorn.conf.py",
    "docs_celery.py",
    "docs_services.py",
    # Not Python: shown as they are, built or applied by no test (CI runs no Docker engine).
    "Dockerfile",
    "kubernetes.yaml",
    "kubernetes-workers.yaml",
}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib takes proxies from the environment; requests to 127.0.0.1 must go straight there.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def load_example() -> Iterator[Callable[[str], ModuleType]]:
    """Import a file of examples/ by path, under its own name, as ``python examples/x.py`` would."""
    loaded: list[str] = []

    def load(filename: str) -> ModuleType:
        name = Path(filename).stem
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / filename)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


@pytest.fixture
def redis_server(start_redis: Callable[..., RedisServer]) -> RedisServer:
    return start_redis()


class _Upstream:
    """A tiny HTTP service on loopback that counts the requests it answers."""

    def __init__(self, start: Callable[[Flask], str]) -> None:
        self.hits = 0
        app = Flask("upstream")

        @app.get("/health")
        @app.get("/health/live")
        def health() -> dict[str, str]:
            self.hits += 1
            return {"status": "OK"}

        self.url = start(app)


@pytest.fixture
def upstream(serve: Callable[[Flask], str]) -> _Upstream:
    return _Upstream(serve)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the pages include only examples that run here ------------------------------------------


def _included_examples() -> set[str]:
    pattern = re.compile(r"^\s*\.\. literalinclude:: \.\./examples/(\S+)", re.MULTILINE)
    return {name for page in DOCS.glob("*.rst") for name in pattern.findall(page.read_text())}


def test_every_included_example_is_exercised_here() -> None:
    included = _included_examples()
    assert included, "docs/ includes no example: has the site moved?"
    assert included <= TESTED_EXAMPLES, f"examples included by docs/ but not run here: {included - TESTED_EXAMPLES}"
    for name in included:
        assert (EXAMPLES / name).is_file(), name


def test_pages_hold_no_python_that_does_not_run() -> None:
    # Python on a page is a doctest, a testcode block, or an included example: never a plain
    # code block, which nothing would run.
    plain = re.compile(r"^\s*\.\. (?:code-block|code|sourcecode):: (?:python|py|pycon|python3)\s*$", re.MULTILINE)
    offenders = [page.name for page in DOCS.glob("*.rst") if plain.search(page.read_text())]
    assert not offenders, f"plain Python code blocks in {offenders}: make them doctests or included examples"


# -- README.md ----------------------------------------------------------------------------------


def _readme_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)


def _routes_answer(app: Flask) -> None:
    """Every GET route without arguments answers, and none with a server error."""
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.arguments and rule.endpoint != "static":
            assert client.get(rule.rule).status_code < 500, rule.rule


@pytest.mark.parametrize("index", range(len(_readme_blocks("python"))))
def test_readme_python_block_runs_as_written(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source = _readme_blocks("python")[index]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(source, f"README.md python block {index + 1}", "exec"), namespace)
    apps = [value for value in namespace.values() if isinstance(value, Flask)]
    for app in apps:
        _routes_answer(app)


def test_readme_has_python_to_run() -> None:
    assert _readme_blocks("python"), "README.md lost its quick start"


def test_readme_quick_start_is_the_example_file() -> None:
    # The README's quick start and the docs' (examples/quickstart.py) are one text.
    assert (EXAMPLES / "quickstart.py").read_text() in _readme_blocks("python")


def test_readme_links_work_off_github() -> None:
    # The README is the long description on PyPI: relative links and images break there.
    text = README.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    assert targets, "README.md links nowhere: where are the docs?"
    relative = [target for target in targets if not target.startswith(("https://", "http://", "mailto:", "#"))]
    assert not relative, f"relative links in README.md: {relative}"


def test_readme_opens_with_the_two_commands() -> None:
    text = README.read_text()
    first = _readme_blocks("bash")[0]
    commands = [line.split("#")[0].strip() for line in first.splitlines() if line.strip()]
    assert commands[:2] == ["python3 dev.py run", "python3 dev.py test"]
    assert text.index(first) == text.index("```") + len("```bash\n"), "the two commands are the first code block"


# -- the quick start --------------------------------------------------------------------------


def test_quickstart(load_example: Callable[[str], ModuleType]) -> None:
    quickstart = load_example("quickstart.py")
    client = quickstart.app.test_client()
    assert client.get("/health/live").get_json() == {"status": "OK"}
    assert client.get("/health/ready").get_json() == {"status": "OK"}
    assert client.get("/health/details").status_code == 401
    details = client.get("/health/details", headers=_bearer("change-me"))
    assert details.get_json() == {"status": "OK", "version": "1.4.2", "database": True}


def test_quickstart_fails_with_the_reason(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    quickstart = load_example("quickstart.py")

    def database_down() -> bool:
        raise ConnectionError("connection refused")

    # Replace what the registered callable calls: the check of the file stays as written.
    monkeypatch.setattr(quickstart.database_ok, "__code__", database_down.__code__)
    client = quickstart.app.test_client()
    ready = client.get("/health/ready")
    assert (ready.status_code, ready.get_json()) == (503, {"status": "FAIL"})
    details = client.get("/health/details", headers=_bearer("change-me")).get_json()
    assert details["database"] == {"status": "fail", "error": "ConnectionError: connection refused"}


# -- fields and checks ----------------------------------------------------------------------


def test_async_example(load_example: Callable[[str], ModuleType]) -> None:
    pytest.importorskip("asgiref", reason="the async extra: pip install 'flask-status[async]'")
    example = load_example("docs_async.py")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        app = example.create_app({"BROKER_HOST": "127.0.0.1", "BROKER_PORT": port})
        assert app.test_client().get("/health/ready").get_json() == {"status": "OK"}
    down = example.create_app({"BROKER_HOST": "127.0.0.1", "BROKER_PORT": free_port()})
    response = down.test_client().get("/health/ready")
    assert (response.status_code, response.get_json()) == (503, {"status": "FAIL"})


# -- fleet-wide checks ------------------------------------------------------------------------


def test_fleet_example_runs_a_shared_check_once_for_every_process(
    load_example: Callable[[str], ModuleType], redis_server: RedisServer, upstream: _Upstream
) -> None:
    example = load_example("docs_fleet.py")
    config = {"STATUS_STORE_URL": redis_server.url(), "PAYMENTS_HEALTH_URL": f"{upstream.url}/health"}
    # Two apps stand in for two processes (or two replicas): each has its own in-process cache.
    first, second = example.create_app(config), example.create_app(config)
    assert first.test_client().get("/health/ready").get_json() == {"status": "OK"}
    assert second.test_client().get("/health/ready").get_json() == {"status": "OK"}
    assert upstream.hits == 1
    client = redis_server.client()
    try:
        keys = [key.decode() for key in client.scan_iter("billing:*")]
    finally:
        client.close()
    assert any(key.startswith("billing:result:payments_api") for key in keys), keys


def test_fleet_example_reads_the_store_from_the_environment(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    monkeypatch.setenv("STATUS_STORE_URL", redis_server.url())
    monkeypatch.setenv("STATUS_TOKENS", "t0ken")
    app = load_example("docs_fleet.py").create_app()
    state = app.extensions["flask-status"]["status"]
    assert state.shared is not None
    assert state.shared.prefix == "billing"
    details = app.test_client().get("/health/details", headers=_bearer("t0ken"))
    assert details.status_code in (200, 503)  # the periodic check may not have run yet
    assert "report_query" in details.get_json()


def test_redis_store_example(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    example = load_example("docs_redis_store.py")
    runs: list[int] = []
    stand_in = example.exchange_rates_ok

    def exchange_rates_ok() -> bool:
        runs.append(1)
        return stand_in()

    monkeypatch.setattr(example, "exchange_rates_ok", exchange_rates_ok)
    first, second = example.create_app(redis_server.url()), example.create_app(redis_server.url())
    assert first.test_client().get("/health/ready").get_json() == {"status": "OK"}
    assert second.test_client().get("/health/ready").get_json() == {"status": "OK"}
    assert runs == [1]


# -- ready-made checks ------------------------------------------------------------------------


def test_checks_example(
    load_example: Callable[[str], ModuleType], tmp_path: Path, redis_server: RedisServer, upstream: _Upstream
) -> None:
    pytest.importorskip("sqlalchemy", reason="the sqlalchemy extra: pip install 'flask-status[sqlalchemy]'")
    example = load_example("docs_checks.py")
    app = example.create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
            "REDIS_URL": redis_server.url(),
            "BILLING_URL": f"{upstream.url}/health/live",
            "DATA_DIR": str(tmp_path),
            "STATUS_TOKENS": "t0ken",
        }
    )
    client = app.test_client()
    assert client.get("/health/ready").get_json() == {"status": "OK"}
    assert upstream.hits == 1
    details = client.get("/health/details", headers=_bearer("t0ken")).get_json()
    assert details["database"]["status"] == "pass"
    assert details["disk"]["unit"] == "ratio"

    redis_server.stop()
    down = example.create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
            "REDIS_URL": redis_server.url(),
            "BILLING_URL": f"{upstream.url}/health/live",
        }
    )
    # The cache is not critical: without Redis the service is still ready, with a warning.
    response = down.test_client().get("/health/ready")
    assert (response.status_code, response.get_json()) == (200, {"status": "WARN"})


def test_flask_sqlalchemy_example(load_example: Callable[[str], ModuleType], tmp_path: Path) -> None:
    pytest.importorskip("flask_sqlalchemy", reason="Flask-SQLAlchemy is not installed")
    example = load_example("docs_flask_sqlalchemy.py")
    app = example.create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}",
            "SQLALCHEMY_BINDS": {"reports": f"sqlite:///{tmp_path / 'reports.db'}"},
        }
    )
    assert app.test_client().get("/health/ready").get_json() == {"status": "OK"}
    report = app.extensions["flask-status"]["status"].manager.evaluate("ready", app)
    assert [(result.name, result.status) for result in report.results] == [("database", "pass"), ("reports_db", "pass")]
    with app.app_context():
        example.db.engines["reports"].dispose()
        example.db.engine.dispose()


# -- drain ------------------------------------------------------------------------------------


def test_gunicorn_conf_example_names_the_hooks() -> None:
    from flask_status import gunicorn

    settings = runpy.run_path(str(EXAMPLES / "gunicorn.conf.py"))
    for hook in ("when_ready", "pre_fork", "post_worker_init", "child_exit"):
        assert settings[hook] is getattr(gunicorn, hook), hook
    assert settings["graceful_timeout"] > 0


def _get(url: str) -> int:
    # Read each body: a client that closes with data unread resets the connection, and the
    # werkzeug server then skips closing the response, so the drain counts it in flight forever.
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
            code: int = response.status
            return code
    except urllib.error.HTTPError as error:
        with error:
            error.read()
            return error.code


def test_serve_drain_example_drains_on_sigterm_then_exits_0() -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "STATUS_DRAIN_DELAY": "1.5"}
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "docs_serve_drain.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert server.poll() is None, f"the example exited with {server.returncode}"
            try:
                return _get(f"{base}/health/ready") == 200
            except OSError:
                return False

        wait_for(ready, 15, "the example did not start")
        server.send_signal(signal.SIGTERM)
        wait_for(lambda: _get(f"{base}/health/ready") == 503, 5, "readiness did not fail on SIGTERM")
        assert _get(f"{base}/health/live") == 200  # still serving during the delay
        assert server.wait(15) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(5)


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_example(load_example: Callable[[str], ModuleType]) -> None:
    pytest.importorskip("prometheus_client", reason="the prometheus extra: pip install 'flask-status[prometheus]'")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        pytest.skip("runs in prometheus_client's single-process mode")
    app = load_example("docs_metrics.py").create_app()
    client = app.test_client()
    assert client.get("/health/ready").status_code == 200
    inside = client.get("/metrics", environ_overrides={"REMOTE_ADDR": "10.0.0.7"})
    assert inside.status_code == 200
    text = inside.get_data(as_text=True)
    assert 'flask_status_route_status{manager="status",route="ready",status="pass"} 1.0' in text
    assert 'flask_status_check_runs_total{check="database",manager="status",outcome="pass"} 1.0' in text
    outside = client.get("/metrics", environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert outside.status_code == 403


# -- the status page --------------------------------------------------------------------------


def test_status_page_example_lets_people_log_in_and_monitoring_use_a_token(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATUS_PASSWORD", "correct horse battery staple")
    monkeypatch.setenv("STATUS_TOKENS", "monitoring-token")
    client = load_example("docs_status_page.py").app.test_client()
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

    anonymous = client.get("/health/details", headers=browser)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")  # the browser asks for a login

    person = client.get("/health/details", headers=browser, auth=("ops", "correct horse battery staple"))
    assert person.status_code == 200
    assert person.mimetype == "text/html"
    page = person.get_data(as_text=True)
    assert "queue" in page
    assert "disk" in page

    monitoring = client.get("/health/details", headers=_bearer("monitoring-token"))
    assert monitoring.status_code == 200
    assert monitoring.get_json()["queue"]["observed"] == 12

    assert client.get("/health/details", auth=("ops", "wrong")).status_code == 401


def test_status_page_example_needs_its_secrets(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATUS_PASSWORD", raising=False)
    monkeypatch.setenv("STATUS_TOKENS", "monitoring-token")
    with pytest.raises(KeyError, match="STATUS_PASSWORD"):
        load_example("docs_status_page.py")


def test_the_worker_manifest_probes_a_heartbeat_file_the_probe_accepts(tmp_path: Path) -> None:
    from flask_status.probe import main as probe

    text = (EXAMPLES / "kubernetes-workers.yaml").read_text()
    commands = [json.loads(found) for found in re.findall(r"^\s+command: (\[.*\])$", text, re.MULTILINE)]
    (command,) = [c for c in commands if "flask_status.probe" in c]
    assert command[:3] == ["python", "-m", "flask_status.probe"]
    args = command[3:]
    fresh = tmp_path / "celery-alive"
    fresh.touch()
    args[args.index("--file") + 1] = str(fresh)
    with contextlib.redirect_stdout(io.StringIO()):
        assert probe(args) == 0
    fresh.unlink()
    with contextlib.redirect_stdout(io.StringIO()):
        assert probe(args) == 1


def test_the_celery_example_checks_the_queue_and_waits_for_a_beat(
    load_example: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = os.environ.get("FLASK_STATUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    require(_redis_answers(url), f"no Redis at {url} (bash .ci/services.sh starts one)")
    monkeypatch.setenv("BROKER_URL", url)
    example = load_example("docs_celery.py")
    body = example.flask_app.test_client().get("/health/details").get_json()
    assert body["celery"] == {"status": "fail", "message": "no beat yet, expected every 10 s"}
    assert body["queue"]["status"] in ("pass", "warn")  # the broker answered, whatever waits
    assert body["queue"]["unit"] == "messages"


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_the_services_example_checks_real_servers(load_example: Callable[[str], ModuleType]) -> None:
    """examples/docs_services.py against the servers of .ci/services.sh (MariaDB, RabbitMQ,
    memcached); its mail server is left unreachable: a non-critical warning, not a failure."""
    rabbitmq = os.environ.get(
        "FLASK_STATUS_TEST_RABBITMQ_URL", "amqp://status:status-secret@127.0.0.1:5672/status_test"
    )
    mysql = os.environ.get(
        "FLASK_STATUS_TEST_MYSQL_URL", "mysql+pymysql://status:status-secret@127.0.0.1:3306/status_test"
    )
    memcached = os.environ.get("FLASK_STATUS_TEST_MEMCACHED", "127.0.0.1:11211")
    require(
        _tcp_answers(3306) and _tcp_answers(5672) and _tcp_answers(11211),
        "MariaDB, RabbitMQ and memcached (bash .ci/services.sh)",
    )
    example = load_example("docs_services.py")
    app = example.create_app(
        {
            "MYSQL_URL": mysql,
            "RABBITMQ_URL": rabbitmq,
            "MEMCACHED_SERVERS": [memcached],
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": 9,
            "STATUS_TOKENS": "docs-token",
        }
    )
    client = app.test_client()
    assert client.get("/health/ready").get_json() == {"status": "OK"}
    details = client.get("/health/details", headers={"Authorization": "Bearer docs-token"}).get_json()
    assert [details[name]["status"] for name in ("database", "broker", "cache")] == ["pass", "pass", "pass"]
    assert details["mail"]["status"] == "fail"  # nothing listens on port 9: non-critical
    assert details["status"] == "WARN"


def _tcp_answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
