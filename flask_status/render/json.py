"""Turning results into a JSON body: the seed-style plain body or IETF health+json.

Pure functions of their inputs: no Flask, no threads, no clock. A view, the CLI and tests
all render through here, so a route reads the same everywhere. :class:`RouteReport` is one
evaluation of a route, ready to render.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..definitions import Field, Format, StatusRoute
from ..history import Timeline
from ..results import FieldResult, Status

__all__ = [
    "MIMETYPES",
    "history_document",
    "RouteReport",
    "render",
    "render_health",
    "render_plain",
    "rfc3339",
]

MIMETYPES: dict[Format, str] = {"json": "application/json", "health+json": "application/health+json"}

_PLAIN_WORDS: dict[Status, str] = {"pass": "OK", "warn": "WARN", "fail": "FAIL"}


def rfc3339(epoch: float) -> str:
    """``epoch`` seconds as an RFC 3339 UTC timestamp: ``2026-11-25T10:00:00.123Z``."""
    moment = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain_item(result: FieldResult) -> Any:
    if result.error is not None:
        failed: dict[str, Any] = {"status": result.status, "error": result.error}
        if result.message is not None:
            failed["message"] = result.message
        return failed
    if result.message is not None or result.observed is not None or result.unit is not None:
        item: dict[str, Any] = {"status": result.status}
        if result.message is not None:
            item["message"] = result.message
        if result.observed is not None:
            item["observed"] = result.observed
        if result.unit is not None:
            item["unit"] = result.unit
        return item
    if result.value is None and result.status != "pass":
        return {"status": result.status}
    return result.value


def render_plain(
    message: Mapping[str, Any],
    fields: Sequence[Field],
    results: Sequence[FieldResult],
    status: Status,
    *,
    details: bool,
) -> dict[str, Any]:
    """The seed-compatible body: the message's keys, then one key per field or check.

    A route that does not pass says so in ``status`` (``"WARN"`` / ``"FAIL"``), so a failing
    route never answers ``{"status": "OK"}``. Without details only the message and status show.

    >>> render_plain({"status": "OK"}, [], [], "pass", details=True)
    {'status': 'OK'}
    """
    body = dict(message)
    if status != "pass":
        body["status"] = _PLAIN_WORDS[status]
    if details:
        for field, result in zip(fields, results, strict=True):
            body[field.name] = _plain_item(result)
    return body


def _health_check(field: Field, result: FieldResult, *, details: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": result.status}
    if field.component_id is not None:
        entry["componentId"] = field.component_id
    if field.component_type is not None:
        entry["componentType"] = field.component_type
    if result.observed is not None:
        entry["observedValue"] = result.observed
    elif field.kind == "field" and result.error is None:
        entry["observedValue"] = result.value
    if result.unit is not None:
        entry["observedUnit"] = result.unit
    if not field.critical:
        entry["critical"] = False
    stamp = result.reported_at if result.reported_at is not None else result.time
    if stamp:
        entry["time"] = rfc3339(stamp)
    if details and result.status != "pass":
        output = result.error or result.message
        if output:
            entry["output"] = output  # the draft: output is for warn and fail only
    return entry


def render_health(
    message: Mapping[str, Any],
    fields: Sequence[Field],
    results: Sequence[FieldResult],
    status: Status,
    *,
    details: bool,
) -> dict[str, Any]:
    """A body in the IETF "Health Check Response Format for HTTP APIs" draft.

    Top level: ``status`` (pass/warn/fail), then the message's keys (``version``,
    ``releaseId``, ``serviceId``, ``description``... as given; its own ``status`` key is
    replaced), constant fields, and ``checks`` with one entry per callable field or check.

    >>> render_health({"status": "OK", "version": "2"}, [], [], "pass", details=True)
    {'status': 'pass', 'version': '2'}
    """
    body: dict[str, Any] = {"status": status}
    body.update((k, v) for k, v in message.items() if k != "status")
    if not details:
        return body
    checks: dict[str, list[dict[str, Any]]] = {}
    for field, result in zip(fields, results, strict=True):
        if field.func is None:
            body[field.name] = field.value
        else:
            checks[field.name] = [_health_check(field, result, details=details)]
    if checks:
        body["checks"] = checks
    return body


def render(
    fmt: Format,
    message: Mapping[str, Any],
    fields: Sequence[Field],
    results: Sequence[FieldResult],
    status: Status,
    *,
    details: bool,
) -> dict[str, Any]:
    """The body of ``fmt`` for these results (``"json"`` or ``"health+json"``)."""
    renderer = render_health if fmt == "health+json" else render_plain
    return renderer(message, fields, results, status, details=details)


@dataclass(frozen=True, slots=True)
class RouteReport:
    """One evaluation of a route: its results and status, ready to render.

    ``fresh_until`` is the manager clock's time until which every result may be served again
    without a run (``-inf`` when some field runs on every request).

    >>> report = RouteReport(StatusRoute("live", "/live"), (), "pass", float("inf"))
    >>> report.body("json", details=True)
    {'status': 'OK'}
    """

    route: StatusRoute
    results: tuple[FieldResult, ...]
    status: Status
    fresh_until: float
    #: The fields the results belong to, in the same order (default: the route's, as now).
    fields: tuple[Field, ...] = ()

    def __post_init__(self) -> None:
        if not self.fields and self.results:
            object.__setattr__(self, "fields", self.route.fields[: len(self.results)])

    def body(self, fmt: Format, *, details: bool) -> dict[str, Any]:
        """The JSON body of this report in ``fmt``."""
        return render(fmt, self.route.message, self.fields, self.results, self.status, details=details)


def history_document(timelines: Mapping[str, Timeline]) -> dict[str, Any]:
    """The ``history`` of a details body: per check, its transitions and samples, oldest first,
    times in RFC 3339.

    >>> from flask_status.history import Mark, Timeline
    >>> history_document({"db": Timeline((Mark(0.0, "fail", "refused"),), ())})["db"]["transitions"]
    [{'time': '1970-01-01T00:00:00.000Z', 'status': 'fail', 'message': 'refused'}]
    """
    return {
        name: {
            "transitions": [
                {"time": rfc3339(mark.time), "status": mark.status, "message": mark.message}
                for mark in timeline.transitions
            ],
            "samples": [{"time": rfc3339(mark.time), "status": mark.status} for mark in timeline.samples],
        }
        for name, timeline in timelines.items()
    }
