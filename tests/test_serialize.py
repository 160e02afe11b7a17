"""Values JSON cannot encode never make a route answer 500."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import uuid
from typing import Any

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.serialize import json_safe


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc), "2026-11-25T10:00:00+00:00"),
        (dt.date(2026, 11, 25), "2026-11-25"),
        ({3, 1, 2}, [1, 2, 3]),
        ((1, "a"), [1, "a"]),
        (decimal.Decimal("1.10"), "1.10"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (Color.RED, "red"),
        (Point(1, 2), {"x": 1, "y": 2}),
        ({1: "a"}, {"1": "a"}),
        (float("nan"), None),
        ({"nested": [{"at": dt.date(2026, 1, 1)}]}, {"nested": [{"at": "2026-01-01"}]}),
    ],
)
def test_conversions(value: Any, expected: Any) -> None:
    assert json_safe(value) == expected


def test_route_survives_unencodable_values(app: Flask) -> None:
    route = StatusManager(app).add_route("details", "/details")
    route.add_field("started", lambda: dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc))
    route.add_field("tags", lambda: {"b", "a"})
    route.add_field("client", lambda: object())
    route.add_field("raw", lambda: b"bytes")
    response = app.test_client().get("/details")
    assert response.status_code == 503
    body = response.get_json()
    assert body["started"] == "2026-11-25T00:00:00+00:00"
    assert body["tags"] == ["a", "b"]
    assert body["client"] == {"status": "fail", "error": "TypeError: value of type object is not JSON serialisable"}
    assert body["raw"]["error"] == "TypeError: value of type bytes is not JSON serialisable"


def test_deeply_nested_value_fails_cleanly(app: Flask) -> None:
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    StatusManager(app).add_route("details", "/details").add_field("deep", lambda: deep)
    response = app.test_client().get("/details")
    assert response.status_code == 503
    assert "nests deeper" in response.get_json()["deep"]["error"]


def test_check_result_with_unencodable_observed_value(app: Flask) -> None:
    from flask_status import CheckResult

    StatusManager(app).add_route("ready", "/ready").add_check("x", lambda: CheckResult.ok(observed=object()))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert "not JSON serialisable" in response.get_json()["x"]["error"]


def test_check_whose_truth_value_raises(app: Flask) -> None:
    class Ambiguous:
        def __bool__(self) -> bool:
            raise ValueError("truth value is ambiguous")

    StatusManager(app).add_route("ready", "/ready").add_check("x", Ambiguous)
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["x"]["error"] == "ValueError: truth value is ambiguous"


def test_lone_surrogates_do_not_break_the_route(app: Flask) -> None:
    route = StatusManager(app).add_route("details", "/details")
    route.add_field("path", lambda: "/data/\udcff.bin")
    route.add_field("version", "2")
    response = app.test_client().get("/details")
    assert response.status_code == 200
    assert response.get_json()["version"] == "2"
    assert response.get_json()["path"] == "/data/?.bin"
