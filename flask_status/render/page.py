"""A small, self-contained HTML page of a route's report, for people opening it in a browser.

The page needs nothing else: no scripts at all, no external CSS, fonts or images, one inline
``<style>`` whose hash the page's own Content-Security-Policy allows (so a script that got in
anyway would not run). Every status is a word (PASS / WARN / FAIL); colour only repeats it.

It is the Jinja2 template ``templates/status.html`` with its stylesheet ``templates/status.css``,
rendered with autoescaping on: everything that comes from the app (names, values, messages,
errors, message keys, the title) is text. This module turns a report into plain values for
the template (statuses, formatted numbers, JSON), so the template holds markup and no policy.

The template has an environment of its own, not the app's ``jinja_env``: an app's template
folders, filters or globals cannot change the page, and it renders outside a request. It is
built once, at the first page, and is safe to share between threads (Jinja2 templates are).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from ..history import Timeline
from ..results import Status, item_status
from .json import rfc3339

if TYPE_CHECKING:
    from ..definitions import Field
    from ..results import FieldResult
    from .json import RouteReport

__all__ = ["render_page"]


class _Row(NamedTuple):
    """One row of the page's table, as the template shows it."""

    name: str
    kind: str
    status: Status
    counts_as: Status | None  # a non-critical item: what it counts as in the route's status
    duration: str  # milliseconds, or "-" for a constant
    age: str  # seconds, or "-" for a constant
    error: str | None  # shown alone when set
    message: str | None
    code: str | None  # as JSON: the observed value, else the value when there is no message
    unit: str | None


@functools.cache
def _template() -> Template:
    """The page's template, given its stylesheet and the hash its policy allows it by.

    Built at the first page, then kept (two threads racing there build equal copies).
    """
    loader = PackageLoader("flask_status.render", "templates")
    environment = Environment(
        loader=loader,
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name in the template fails, not renders blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    style, _, _ = loader.get_source(environment, "status.css")
    # The policy allows exactly this stylesheet, as served, and nothing else: no script, no request.
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return environment.get_template("status.html", globals={"style": Markup(style), "style_hash": digest})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _row(field: Field, result: FieldResult, now: float) -> _Row:
    if field.constant:
        duration = age = "-"
    else:
        duration = f"{result.duration * 1000:.1f}"
        age = f"{max(now - result.observed_at, 0.0):.1f}"
    code = unit = None
    if result.observed is not None:
        code, unit = _json(result.observed), result.unit
    elif result.message is None and result.value is not None:
        code = _json(result.value)
    return _Row(
        name=field.name,
        kind=field.kind,
        status=result.status,
        counts_as=None if field.critical else item_status(field, result),
        duration=duration,
        age=age,
        error=result.error,
        message=result.message,
        code=code,
        unit=unit,
    )


def _timeline(name: str, timeline: Timeline) -> dict[str, Any]:
    """A check's history for the page: its samples as cells (status words and times, newest
    last) and its transitions, newest first."""
    return {
        "name": name,
        "samples": [{"status": m.status, "when": _clock_time(m.time)} for m in timeline.samples],
        "transitions": [
            {"status": m.status, "when": rfc3339(m.time), "message": m.message} for m in reversed(timeline.transitions)
        ],
    }


def _clock_time(epoch: float) -> str:
    return time.strftime("%H:%M", time.gmtime(epoch))


def render_page(
    report: RouteReport, *, now: float, title: str | None = None, timelines: Mapping[str, Timeline] | None = None
) -> bytes:
    """A complete UTF-8 HTML5 page of ``report``: overall status, message, one row per item.

    ``now`` is on the clock of ``FieldResult.observed_at`` (the manager's clock), so a row's
    age is ``now - observed_at``; constants have no age or duration. ``title`` replaces the
    route's name in the title and heading. ``timelines`` (a route with ``history=True``) adds
    each check's history: its sampled statuses as a row of cells, in words (times in UTC), and
    its transitions. The message's ``status`` key is left out: the
    heading says the route's status (as the JSON body replaces ``"OK"`` when it does not pass).

    >>> from flask_status import RouteReport, StatusRoute
    >>> route = StatusRoute("details", "/details", message={"service": "<billing>"})
    >>> version = route.add_field("version", "2.0.0")
    >>> report = RouteReport(route, (version.constant_result,), "pass", float("inf"))
    >>> page = render_page(report, now=0.0)
    >>> page.startswith(b"<!DOCTYPE html>"), b"PASS" in page, b"&lt;billing&gt;" in page
    (True, True, True)
    """
    message = [
        (key, value if isinstance(value, str) else _json(value))
        for key, value in report.route.message.items()
        if key != "status"
    ]
    page = _template().render(
        name=title if title is not None else report.route.name,
        route=report.route.name,
        status=report.status,
        message=message,
        rows=[_row(f, r, now) for f, r in zip(report.fields, report.results, strict=True)],
        timelines=[_timeline(name, timeline) for name, timeline in (timelines or {}).items()],
        rendered=rfc3339(time.time()),
    )
    return page.encode("utf-8")
