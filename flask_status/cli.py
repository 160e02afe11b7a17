"""``flask status``: evaluate the status routes inside the app, for container health checks.

Runs every field and check of the chosen routes through the same runner the views use (with
its caching, single flight and timeouts), without an HTTP server and without authenticators,
prints a table or a JSON body, and exits 0 when no route fails, 1 when one does. This is what a
Dockerfile ``HEALTHCHECK`` or a Kubernetes ``exec`` probe runs.

The table shows what checks say without letting it act on the terminal: control and other
unprintable characters are escaped as ``repr`` writes them (``\\r``, ``\\n``, ``\\x1b``), so a
message cannot forge a line, move the cursor or change colours. Text too long for the terminal
is cut between characters (never inside an escape) and ends with ``…``; ``--json`` shows it whole.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from .definitions import FORMATS, Format
from .history import Timeline
from .render.json import RouteReport, history_document, rfc3339
from .state import EXTENSION_KEY, StatusState, heartbeats_of

__all__ = ["status_command"]

_COLUMNS = ("NAME", "KIND", "STATUS", "DURATION", "AGE", "VALUE / ERROR")


def _states() -> dict[str, StatusState]:
    registry: dict[str, StatusState] = current_app.extensions.get(EXTENSION_KEY, {})
    if not registry:
        raise click.UsageError("this app has no flask-status manager: create StatusManager(app) first")
    return registry


def _select(route: str | None) -> list[tuple[StatusState, str]]:
    """The (state, route name) pairs to evaluate: all of them, or the one ``--route`` names."""
    chosen = [(state, name) for state in _states().values() for name in state.manager.routes]
    if route is None:
        return chosen
    manager_name, _, route_name = route.rpartition(":")
    matches = [
        (state, name)
        for state, name in chosen
        if name == route_name and (not manager_name or state.manager.name == manager_name)
    ]
    if not matches:
        known = ", ".join(f"{s.manager.name}:{n}" for s, n in chosen) or "none"
        raise click.BadParameter(f"no route named {route!r}; routes: {known}", param_hint="--route")
    if len(matches) > 1:
        names = ", ".join(f"{s.manager.name}:{n}" for s, n in matches)
        raise click.BadParameter(f"{route!r} is ambiguous; say which: {names}", param_hint="--route")
    return matches


_MORE = "…"


def _escaped(text: str) -> list[str]:
    """``text`` as printable pieces: one per character, the unprintable ones escaped by ``repr``."""
    return [char if char.isprintable() else repr(char)[1:-1] for char in text]


def _cell(text: str, width: int | None = None) -> str:
    r"""``text`` escaped for one table cell, cut to ``width`` with a final ``…`` when longer.

    >>> print(_cell("ok\r\nPASS"))
    ok\r\nPASS
    >>> print(_cell("ok\x1b\x1b", 8))  # never cut inside an escape
    ok\x1b…
    """
    pieces = _escaped(text)
    if width is None or sum(map(len, pieces)) <= width:
        return "".join(pieces)
    kept: list[str] = []
    room = max(width - len(_MORE), 1)
    for piece in pieces:
        room -= len(piece)
        if room < 0:
            break
        kept.append(piece)
    return "".join(kept) + _MORE


def _table(state: StatusState, report: RouteReport) -> str:
    route = report.route
    url = state.urls.get(route.name, route.url)
    lines = [_cell(f"{state.manager.name}:{route.name}  {url}  {report.status.upper()}")]
    now = state.clock.now()
    rows: list[tuple[str, ...]] = []
    for field, result in zip(report.fields, report.results, strict=True):
        if field.func is None:
            duration = age = "-"
        else:
            duration = f"{result.duration * 1000:.0f} ms"
            age = f"{max(now - result.observed_at, 0.0):.0f} s"
        shown = result.error or result.message
        if shown is None:
            shown = json.dumps(result.observed if result.observed is not None else result.value, ensure_ascii=False)
        status = result.status if field.critical or result.status != "fail" else "fail (non-critical)"
        rows.append((_cell(field.name), field.kind, status, duration, age, shown))
    if not rows:
        lines.append("  (no fields or checks)")
        return "\n".join(lines)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS[:-1])]
    room = max(shutil.get_terminal_size((100, 20)).columns - sum(widths) - 2 * len(widths) - 2, 20)
    header = [c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=False)] + [_COLUMNS[-1]]
    lines.append("  " + "  ".join(header))
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [_cell(row[-1], room)]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


@click.group("status", invoke_without_command=True)
@click.option("--route", "route", metavar="NAME", help="Evaluate one route: NAME or MANAGER:NAME.")
@click.option("--json", "as_json", is_flag=True, help="Print the route's JSON body instead of a table.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Body format for --json (default: each route's own). Implies --json.",
)
@click.option(
    "--history",
    "show_history",
    is_flag=True,
    help="Also print each check's recent transitions and sampled results (fleet-wide with a shared store).",
)
@click.pass_context
@with_appcontext
def status_command(
    ctx: click.Context, route: str | None, as_json: bool, fmt: Format | None, show_history: bool
) -> None:
    """Evaluate the status routes; exit 0 on pass or warn, 1 on fail.

    In the table, control characters of check text are escaped (\\r, \\n, \\x1b) and text cut
    to fit the terminal ends with "…"; --json shows it whole. "flask status beat NAME" records
    a heartbeat's beat instead.
    """
    if ctx.invoked_subcommand is not None:
        if route is not None or as_json or fmt is not None or show_history:
            raise click.UsageError(
                f"--route, --json, --format and --history do not apply to {ctx.invoked_subcommand!r}"
            )
        return
    selected = _select(route)
    failed = False
    bodies: dict[str, Any] = {}
    for state, name in selected:
        route_obj = state.manager.routes[name]
        report = state.evaluate(route_obj, run_periodic=True)
        failed = failed or report.status == "fail"
        if as_json or fmt is not None:
            body_format: Format = fmt or route_obj.format or state.settings.default_format
            body = report.body(body_format, details=True)
            if show_history:
                body["history"] = history_document(state.timelines(route_obj))
            bodies[f"{state.manager.name}:{name}"] = body
        else:
            click.echo(_table(state, report))
            if show_history:
                click.echo(_history(state.timelines(route_obj)))
    if bodies:
        shown = next(iter(bodies.values())) if len(bodies) == 1 else bodies
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    raise SystemExit(1 if failed else 0)


def _history(timelines: dict[str, Timeline]) -> str:
    """Each check's transitions (newest first) and its sampled statuses, as text."""
    lines = []
    for name, timeline in timelines.items():
        lines.append(f"  history of {_cell(name)}:")
        if not timeline.transitions:
            lines.append("    no change recorded")
        for mark in reversed(timeline.transitions):
            text = f"    {rfc3339(mark.time)}  {mark.status.upper():4}"
            if mark.message:
                text += f"  {_cell(mark.message)}"
            lines.append(text)
        if timeline.samples:
            words = " ".join(mark.status.upper() for mark in timeline.samples)
            lines.append(f"    samples, oldest first: {words}")
    return "\n".join(lines)


@status_command.command("beat")
@click.argument("name")
@click.option(
    "--payload", metavar="JSON", default=None, help="A short JSON payload shown with the beat: '{\"rows\": 1200}'."
)
@click.option(
    "--manager", "manager_name", metavar="NAME", default=None, help="The status manager, when the app has several."
)
@with_appcontext
def beat_command(name: str, payload: str | None, manager_name: str | None) -> None:
    """Record a beat of heartbeat NAME (a cron job's last line: ... && flask status beat NAME).

    With a shared store (STATUS_STORE_URL) every process and host serving the app sees it.
    """
    data: Any = None
    if payload is not None:
        try:
            data = json.loads(payload)
        except ValueError as error:
            raise click.BadParameter(f"not JSON: {error}", param_hint="--payload") from None
    states = [state for state in _states().values() if manager_name in (None, state.manager.name)]
    owners = [state for state in states if name in heartbeats_of(state.manager.routes.values())]
    if not owners:
        known = ", ".join(sorted(n for state in states for n in heartbeats_of(state.manager.routes.values()))) or "none"
        raise click.BadParameter(f"no heartbeat named {name!r}; heartbeats: {known}", param_hint="NAME")
    if len(owners) > 1:
        names = ", ".join(state.manager.name for state in owners)
        raise click.BadParameter(f"heartbeat {name!r} is in several managers ({names}): say which with --manager")
    state = owners[0]
    try:
        state.beat(name, data)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--payload") from None
    if state.shared is not None and not getattr(state.shared, "available", True):
        raise click.ClickException(
            f"beat {name!r} was not recorded in the shared store, which could not be reached: "
            "the server's processes will not see it"
        )
    if state.shared is None:
        click.echo(
            f"beat {name!r} recorded in this process only: without a shared store (STATUS_STORE_URL) "
            "the server's processes do not see it",
            err=True,
        )
    else:
        click.echo(f"beat {name!r} recorded")
