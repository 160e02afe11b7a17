"""A small, self-contained HTML page of a route's report, for people opening it in a browser.

The page needs nothing else: no scripts at all, no external CSS, fonts or images, one inline
``<style>`` whose hash the page's own Content-Security-Policy allows (so a script that got in
anyway would not run). Every status is a word (PASS / WARN / FAIL); colour only repeats it.
Everything that comes from the app (names, values, messages, errors, message keys) is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from typing import TYPE_CHECKING, Any

from ..results import item_status
from .json import rfc3339

if TYPE_CHECKING:
    from ..definitions import Field
    from ..results import FieldResult
    from .json import RouteReport

__all__ = ["render_page"]

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.5rem;margin:0 0 .75rem}
table{border-collapse:collapse;width:100%;max-width:70rem}
th,td{border:1px solid #c9ced6;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#eef1f5}
thead th{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.value{white-space:pre-wrap;overflow-wrap:anywhere}
code{font:13px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;margin:0 0 1rem}
dt{font-weight:600}
dd{margin:0}
.status{font-weight:700;padding:.05rem .4rem;border-radius:.25rem;border:1px solid}
.pass{color:#0b5d1e;background:#dcf5e3}
.warn{color:#6b4700;background:#fff1c9}
.fail{color:#8b1111;background:#fde0e0}
footer{margin-top:1rem;color:#57606a;font-size:.85rem}
"""

# The page's policy allows exactly this stylesheet and nothing else: no script, no request.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_CSP = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'"

_COLUMNS = ("Name", "Kind", "Status", "Value or message", "Duration (ms)", "Age (s)")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _badge(status: str) -> str:
    return f'<span class="status {_e(status)}">{_e(status.upper())}</span>'


def _shown(result: FieldResult) -> str:
    """The value cell: the error, else the message, observed value and unit, else the value."""
    if result.error is not None:
        return _e(result.error)
    parts: list[str] = []
    if result.message is not None:
        parts.append(_e(result.message))
    if result.observed is not None:
        unit = f" {_e(result.unit)}" if result.unit else ""
        parts.append(f"<code>{_e(_json(result.observed))}</code>{unit}")
    elif result.message is None and result.value is not None:
        parts.append(f"<code>{_e(_json(result.value))}</code>")
    return " ".join(parts)


def _row(field: Field, result: FieldResult, now: float) -> str:
    status = _badge(result.status)
    if not field.critical:
        counts = item_status(field, result)
        status += " (non-critical)" if counts == result.status else f" (non-critical: counts as {counts.upper()})"
    if field.constant:
        duration = age = "-"
    else:
        duration = f"{result.duration * 1000:.1f}"
        age = f"{max(now - result.observed_at, 0.0):.1f}"
    cells = (
        f'<th scope="row">{_e(field.name)}</th><td>{_e(field.kind)}</td><td>{status}</td>'
        f'<td class="value">{_shown(result)}</td><td class="num">{duration}</td><td class="num">{age}</td>'
    )
    return f"<tr>{cells}</tr>"


def render_page(report: RouteReport, *, now: float, title: str | None = None) -> bytes:
    """A complete UTF-8 HTML5 page of ``report``: overall status, message, one row per item.

    ``now`` is on the clock of ``FieldResult.observed_at`` (the manager's clock), so a row's
    age is ``now - observed_at``; constants have no age or duration. ``title`` replaces the
    route's name in the title and heading. The message's ``status`` key is left out: the
    heading says the route's status (as the JSON body replaces ``"OK"`` when it does not pass).

    >>> from flask_status import RouteReport, StatusRoute
    >>> route = StatusRoute("details", "/details", message={"service": "<billing>"})
    >>> version = route.add_field("version", "2.0.0")
    >>> report = RouteReport(route, (version.constant_result,), "pass", float("inf"))
    >>> page = render_page(report, now=0.0)
    >>> page.startswith(b"<!DOCTYPE html>"), b"PASS" in page, b"&lt;billing&gt;" in page
    (True, True, True)
    """
    name = title if title is not None else report.route.name
    word = report.status.upper()
    message = "".join(
        f"<dt>{_e(key)}</dt><dd>{_e(value if isinstance(value, str) else _json(value))}</dd>"
        for key, value in report.route.message.items()
        if key != "status"
    )
    head = "".join(f'<th scope="col">{column}</th>' for column in _COLUMNS)
    rows = "\n".join(_row(f, r, now) for f, r in zip(report.fields, report.results, strict=True))
    table = (
        f"<table>\n<caption>Fields and checks of route {_e(report.route.name)}</caption>\n"
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
        if rows
        else "<p>This route has no fields or checks.</p>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="referrer" content="no-referrer">
<title>{_e(name)}: {word}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>{_e(name)}: {_badge(report.status)}</h1>
{f"<dl>{message}</dl>" if message else ""}
{table}
</main>
<footer>Rendered {rfc3339(time.time())} (UTC) by flask-status. Send <code>Accept: application/json</code>
for the JSON body.</footer>
</body>
</html>
"""
    return page.encode("utf-8")
