"""The HTML page of a details route: for people with a browser; JSON stays for everyone else.

Three layers: :func:`render_page` on reports of real routes, the page through the views (a
browser's ``Accept``), and a real browser (headless Chromium) loading it from a live server.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock, require
from flask import Flask, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_status import CheckResult, RouteReport, StatusManager, StatusRoute
from flask_status.clock import SYSTEM, Clock
from flask_status.render.page import render_page
from flask_status.results import FieldResult

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# What a script in the page would do if it ran: the test reads the title back.
PWN = "<script>document.title='pwned'</script>"


class Page(HTMLParser):
    """A parsed page: title, visible text, table rows (cell texts), elements and attributes."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.words: list[str] = []
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.style = ""
        self._stack: list[str] = []
        self.feed(text)
        self.close()

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.words).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self.rows[-1].append("")
        if tag not in ("meta", "br", "link", "img", "input"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "title" in self._stack:
            self.title += data
        elif "style" in self._stack:
            self.style += data
        elif "body" in self._stack:
            self.words.append(data)
            if ("td" in self._stack or "th" in self._stack) and self.rows and self.rows[-1]:
                self.rows[-1][-1] = " ".join(f"{self.rows[-1][-1]} {data}".split())

    def row(self, name: str) -> list[str]:
        return next(r for r in self.rows if r and r[0] == name)


def _details_app(app: Flask, *, clock: Clock = SYSTEM, **route: Any) -> StatusManager:
    """A details route with one of everything: a constant, a passing check, a measured warning,
    a non-critical failure and a value field."""

    def cache() -> bool:
        raise ConnectionError("redis://cache:6379 refused")

    status = StatusManager(app, clock=clock)
    details = status.add_route(
        "details", "/health/details", message={"service": "billing", "version": "2.0.0"}, **route
    )
    details.add_field("release", "2026.11")
    details.add_check("database", lambda: True, ttl=30)
    details.add_check("queue", lambda: CheckResult.warn("112 jobs waiting", observed=112, unit="jobs"), ttl=30)
    details.add_check("cache", cache, critical=False)
    details.add_field("workers", lambda: {"busy": 3, "idle": 5}, ttl=30)
    return status


# -- render_page ------------------------------------------------------------------------------


def test_page_shows_every_item_with_status_words(app: Flask) -> None:
    status = _details_app(app)
    page = Page(render_page(status.evaluate("details", app), now=status.clock.now()).decode())
    assert page.title == "details: WARN"
    assert "details: WARN" in page.text  # the heading
    assert page.rows[0] == ["Name", "Kind", "Status", "Value or message", "Duration (ms)", "Age (s)"]
    assert page.row("release")[:4] == ["release", "field", "PASS", '"2026.11"']
    assert page.row("release")[4:] == ["-", "-"]  # a constant has no duration or age
    assert page.row("database")[:4] == ["database", "check", "PASS", "true"]
    assert page.row("queue")[:4] == ["queue", "check", "WARN", "112 jobs waiting 112 jobs"]
    assert page.row("cache")[:4] == [
        "cache",
        "check",
        "FAIL (non-critical: counts as WARN)",
        "ConnectionError: redis://cache:6379 refused",
    ]
    assert page.row("workers")[:4] == ["workers", "field", "PASS", '{"busy": 3, "idle": 5}']
    # The message's keys, but not its "status": "OK", which the heading contradicts.
    assert "service billing" in page.text
    assert "version 2.0.0" in page.text
    assert "OK" not in page.text.split()


def test_page_of_a_failing_route(app: Flask) -> None:
    status = StatusManager(app)
    ready = status.add_route("ready", "/ready")
    ready.add_check("database", lambda: False)
    page = Page(render_page(status.evaluate("ready", app), now=status.clock.now()).decode())
    assert page.title == "ready: FAIL"
    assert "ready: FAIL" in page.text
    assert page.row("database")[:3] == ["database", "check", "FAIL"]


def test_page_of_a_route_without_items(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("live", "/live", message="Running")
    page = Page(render_page(status.evaluate("live", app), now=status.clock.now(), title="Billing").decode())
    assert page.title == "Billing: PASS"
    assert "message Running" in page.text
    assert "no fields or checks" in page.text
    assert "table" not in page.tags


def test_page_escapes_everything(app: Flask) -> None:
    def broken() -> bool:
        raise ValueError('<img src=x onerror="alert(2)">')

    status = StatusManager(app)
    route = status.add_route("details", "/details", message={SCRIPT: SCRIPT, "note": {"html": SCRIPT}})
    route.add_check("message", lambda: CheckResult.fail(SCRIPT, observed=SCRIPT, unit=SCRIPT))
    route.add_field("value", lambda: SCRIPT)
    route.add_field("constant", SCRIPT)
    route.add_check("error", broken)
    raw = render_page(status.evaluate("details", app), now=status.clock.now(), title=SCRIPT)
    text = raw.decode()
    assert "<script" not in text.lower()
    assert "<img" not in text.lower()
    assert ESCAPED in text
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in text  # Jinja2's (MarkupSafe's) entity for '"'
    page = Page(text)
    assert "script" not in page.tags
    assert "img" not in page.tags
    assert not [name for name, _ in page.attrs if name.startswith("on")]
    assert page.title == f"{SCRIPT}: FAIL"
    assert page.text.count(SCRIPT) >= 9  # as text: heading, message key and value, the items
    assert page.row("message")[3] == f"{SCRIPT} {json.dumps(SCRIPT)} {SCRIPT}"
    assert page.row("value")[3] == json.dumps(SCRIPT)


def test_page_ages_and_durations(app: Flask, clock: FakeClock, probe: Any) -> None:
    status = StatusManager(app, clock=clock)
    route = status.add_route("details", "/details")
    route.add_check("slow", probe(sleep=0.05), ttl=60)
    route.add_field("version", "1.0")
    report = status.evaluate("details", app)
    clock.advance(12.5)
    page = Page(render_page(report, now=clock()).decode())
    duration, age = page.row("slow")[4:]
    assert 50.0 <= float(duration) < 5000.0
    assert age == "12.5"
    assert page.row("version")[4:] == ["-", "-"]


def test_page_numbers_are_formatted_and_ages_never_negative() -> None:
    route = StatusRoute("details", "/details")
    route.add_check("db", lambda: True)
    route.add_check("queue", lambda: True)
    results = (
        FieldResult("db", "pass", value=True, duration=0.01234, observed_at=990.0),
        FieldResult("queue", "pass", value=True, duration=2.0, observed_at=1001.0),  # another thread's clock
    )
    page = Page(render_page(RouteReport(route, results, "pass", 0.0), now=1000.0).decode())
    assert page.row("db")[4:] == ["12.3", "10.0"]
    assert page.row("queue")[4:] == ["2000.0", "0.0"]


def test_page_is_self_contained_and_accessible(app: Flask) -> None:
    status = _details_app(app)
    before = time.time()
    raw = render_page(status.evaluate("details", app), now=status.clock.now())
    text = raw.decode("utf-8")
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    page = Page(text)
    assert not {"script", "link", "img", "iframe", "object", "embed", "form", "base"} & set(page.tags)
    assert not [name for name, _ in page.attrs if name in ("src", "href", "style") or name.startswith("on")]
    for external in ("http://", "https://", "//", "@import", "url("):
        assert external not in page.style
    assert ("name", "robots") in page.attrs
    assert ("content", "noindex") in page.attrs
    assert text.count('<th scope="col">') == 6
    # The page's own policy allows exactly its stylesheet, and nothing that runs or fetches.
    policy = next(value for name, value in page.attrs if name == "content" and value and "default-src" in value)
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    # When it was rendered, in UTC.
    stamp = re.search(r"Rendered (\S+Z) \(UTC\)", page.text)
    assert stamp is not None
    rendered = time.mktime(time.strptime(stamp.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert before - 2 <= rendered <= time.time() + 1


def test_page_is_utf8(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("details", "/details").add_field("greeting", "café ✓ 日本")
    raw = render_page(status.evaluate("details", app), now=status.clock.now())
    assert b'<meta charset="utf-8">' in raw
    assert Page(raw.decode("utf-8")).row("greeting")[3] == '"café ✓ 日本"'


def test_page_is_a_template_that_ships_with_the_package() -> None:
    templates = importlib.resources.files("flask_status.render") / "templates"
    assert (templates / "status.html").is_file()
    stylesheet = (templates / "status.css").read_text("utf-8")
    route = StatusRoute("live", "/live")
    page = Page(render_page(RouteReport(route, (), "pass", 0.0), now=0.0).decode())
    assert page.style == stylesheet  # the one the policy's hash allows (test above)


def test_page_ignores_the_apps_templates_and_jinja_settings(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """The page has a Jinja2 environment of its own: an app's templates and filters cannot change
    it, nor can switching the app's autoescaping off."""
    (tmp_path / "status.html").write_text("HIJACKED {{ name|safe }}")
    (tmp_path / "status.css").write_text("body{background:url(https://example.invalid/x)}")
    app = make_app()
    app.template_folder = str(tmp_path)
    app.jinja_env.autoescape = False
    app.jinja_env.filters["upper"] = lambda value: "HIJACKED"
    status = StatusManager(app)
    status.add_route("details", "/details").add_check("evil", lambda: CheckResult.warn(SCRIPT))
    with app.test_request_context():
        assert "HIJACKED" in app.jinja_env.get_template("status.html").render(name="x")  # the app's own
    response = app.test_client().get("/details", headers={"Accept": BROWSER_ACCEPT})
    text = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "HIJACKED" not in text
    assert "example.invalid" not in text
    assert "<script" not in text
    assert Page(text).row("evil")[2:4] == ["WARN", SCRIPT]


def _page_of(message: str, observed: str, unit: str, error: str, key: str, value: str, title: str) -> str:
    route = StatusRoute("details", "/details", message={key: value})
    route.add_check("said", lambda: True)
    route.add_check("broke", lambda: True)
    results = (
        FieldResult("said", "warn", message=message, observed=observed, unit=unit),
        FieldResult("broke", "fail", error=error),
    )
    return render_page(RouteReport(route, results, "fail", 0.0), now=0.0, title=title).decode("utf-8")


def _words(text: str) -> str:
    return " ".join(text.split())


# Any text, with pieces of markup mixed in often: plain st.text() seldom writes "<b".
_MARKUP = ("<", ">", "&", '"', "'", "<b>", "</td>", "</table>", "<!--", "-->", "<script>", "&amp;", "&#60;", "=")
_TEXT = st.lists(st.one_of(st.sampled_from(_MARKUP), st.text()), max_size=8).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=_TEXT,
    observed=_TEXT,
    unit=_TEXT.filter(bool),
    error=_TEXT,
    key=_TEXT.filter(lambda key: key not in ("", "status")),
    value=_TEXT,
    title=_TEXT,
)
def test_no_text_from_the_app_ever_becomes_markup(
    message: str, observed: str, unit: str, error: str, key: str, value: str, title: str
) -> None:
    """Whatever a check says (message, observed value, unit, error), and whatever the route's
    message and title hold, it is text on the page: the same elements and attributes as a page of
    plain words, and each cell reads exactly what was given."""
    page = Page(_page_of(message, observed, unit, error, key, value, title))
    benign = Page(_page_of(*"abcdefg"))
    assert page.tags == benign.tags
    assert page.attrs == benign.attrs
    assert page.style == benign.style
    assert page.title == f"{title}: FAIL"
    assert page.row("said")[3] == _words(f"{message} {json.dumps(observed, ensure_ascii=False)} {unit}")
    assert page.row("broke")[3] == _words(error)
    assert _words(f"{key} {value}") in page.text


# -- through the views: text/html for browsers on details routes, JSON for everyone else ------


def test_browser_gets_the_page(app: Flask) -> None:
    _details_app(app)
    response = app.test_client().get("/health/details", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"<!DOCTYPE html>")
    page = Page(response.get_data(as_text=True))
    assert page.title == "details: WARN"
    assert page.row("queue")[2] == "WARN"


def test_browser_gets_the_page_with_the_failing_code(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("ready", "/ready").add_check("database", lambda: False)
    response = app.test_client().get("/ready", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert Page(response.get_data(as_text=True)).title == "ready: FAIL"


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/json, text/plain, */*",
        "text/html;q=0.5, application/json",
        "text/plain",
    ],
)
def test_everyone_else_gets_json(app: Flask, accept: str | None) -> None:
    _details_app(app)
    headers = {"Accept": accept} if accept is not None else {}
    response = app.test_client().get("/health/details", headers=headers)
    assert response.mimetype == "application/json"
    assert response.get_json()["status"] == "WARN"


def test_html_only_when_preferred_to_json(app: Flask) -> None:
    _details_app(app)
    response = app.test_client().get("/health/details", headers={"Accept": "application/json;q=0.5, text/html"})
    assert response.mimetype == "text/html"


def test_health_json_accept_still_gets_health_json(app: Flask) -> None:
    _details_app(app)
    response = app.test_client().get("/health/details", headers={"Accept": "application/health+json"})
    assert response.mimetype == "application/health+json"
    assert response.get_json(force=True)["status"] == "warn"


def test_route_without_details_never_answers_html(app: Flask) -> None:
    status = StatusManager(app)
    ready = status.add_route("ready", "/ready", details=False)
    ready.add_check("database", lambda: True)
    response = app.test_client().get("/ready", headers={"Accept": BROWSER_ACCEPT})
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "OK"}
    assert b"database" not in response.data


def test_details_decided_per_request_decides_the_page(app: Flask) -> None:
    _details_app(app, details=lambda: request.headers.get("X-Operator") == "yes")
    client = app.test_client()
    operator = client.get("/health/details", headers={"Accept": BROWSER_ACCEPT, "X-Operator": "yes"})
    assert operator.mimetype == "text/html"
    assert "database" in Page(operator.get_data(as_text=True)).text
    anonymous = client.get("/health/details", headers={"Accept": BROWSER_ACCEPT})
    assert anonymous.mimetype == "application/json"
    assert anonymous.get_json() == {"service": "billing", "version": "2.0.0", "status": "WARN"}


def test_page_and_json_alternate_on_cached_results(app: Flask, probe: Any) -> None:
    status = StatusManager(app)
    check = probe(True)
    status.add_route("details", "/details").add_check("database", check, ttl=60)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/details").get_json() == {"status": "OK", "database": True}
        page = client.get("/details", headers={"Accept": BROWSER_ACCEPT})
        assert page.mimetype == "text/html"
        assert Page(page.get_data(as_text=True)).row("database")[2] == "PASS"
    assert check.calls == 1  # one cached result behind both answers


def test_page_ages_move_while_results_stay_cached(make_app: Callable[..., Flask], clock: FakeClock) -> None:
    app = make_app()
    status = StatusManager(app, clock=clock)
    status.add_route("details", "/details").add_check("database", lambda: True, ttl=60)
    client = app.test_client()
    first = Page(client.get("/details", headers={"Accept": BROWSER_ACCEPT}).get_data(as_text=True))
    assert first.row("database")[5] == "0.0"
    clock.advance(25)
    again = Page(client.get("/details", headers={"Accept": BROWSER_ACCEPT}).get_data(as_text=True))
    assert again.row("database")[5] == "25.0"  # the same result, 25 s older: the page says so


def test_page_through_the_view_escapes(app: Flask) -> None:
    status = StatusManager(app)
    status.add_route("details", "/details").add_check("evil", lambda: CheckResult.warn(SCRIPT))
    response = app.test_client().get("/details", headers={"Accept": BROWSER_ACCEPT})
    assert response.mimetype == "text/html"
    assert b"<script" not in response.data
    assert ESCAPED.encode() in response.data


# -- in a real browser ------------------------------------------------------------------------


def _chromium() -> str:
    """Debian's chromium, or the test is skipped (by hand) or failed (CI=true)."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    require(found is not None, "headless Chromium not found: apt-get install chromium (Debian's package)")
    assert found is not None
    return found


def _dump_dom(url: str, profile: Path) -> tuple[str, str]:
    """Load ``url`` in headless Chromium: (the DOM after load, the browser's log)."""
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
    ]
    env = {**os.environ, "HOME": str(profile)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout, done.stderr


@pytest.mark.server
def test_real_browser_renders_the_page(app: Flask, serve: Callable[[Flask], str], tmp_path: Path) -> None:
    status = _details_app(app)
    status.routes["details"].add_check("evil", lambda: CheckResult.fail(PWN), critical=False)
    status.routes["details"].add_field("note", PWN)
    dom, log = _dump_dom(serve(app) + "/health/details", tmp_path / "profile")
    page = Page(dom)
    assert page.title == "details: WARN"  # a script that ran would have changed it
    assert "pwned" not in page.title
    assert "script" not in page.tags
    for name in ("release", "database", "queue", "cache", "workers", "evil", "note"):
        assert name in page.text
    assert page.row("database")[2] == "PASS"
    assert page.row("queue")[2:4] == ["WARN", "112 jobs waiting 112 jobs"]
    assert page.row("cache")[2] == "FAIL (non-critical: counts as WARN)"
    assert page.row("evil")[2:4] == ["FAIL (non-critical: counts as WARN)", PWN]  # shown as text
    assert page.row("note")[3] == json.dumps(PWN)
    assert "details: WARN" in page.text
    assert html.escape(PWN, quote=False) in dom  # the browser holds it as a text node
    # The page's policy allowed its stylesheet: a wrong hash would be reported in the log.
    assert "Content Security Policy" not in log
    assert "Content-Security-Policy" not in log


@pytest.mark.server
def test_real_browser_gets_json_where_there_are_no_details(
    app: Flask, serve: Callable[[Flask], str], tmp_path: Path
) -> None:
    status = StatusManager(app)
    status.add_route("ready", "/ready", details=False).add_check("database", lambda: True)
    dom, _ = _dump_dom(serve(app) + "/ready", tmp_path / "profile")
    assert json.loads(Page(dom).text) == {"status": "OK"}
