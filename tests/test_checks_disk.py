"""flask_status.checks.disk_check on the real filesystem holding tmp_path."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_status import StatusManager
from flask_status.checks import disk_check

MESSAGE = re.compile(r"disk \d{1,3}% full, \d+(\.\d)? (B|KiB|MiB|GiB|TiB) free")


def status_app(check: Callable[[], Any], **options: Any) -> Flask:
    app = Flask(__name__)
    StatusManager(app).add_route("ready", "/ready").add_check("disk", check, **options)
    return app


def used_ratio(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return usage.used / (usage.used + usage.free)


def test_passes_below_warn(tmp_path: Path) -> None:
    response = status_app(disk_check(tmp_path, warn=1.0, fail=1.0)).test_client().get("/ready")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "OK"
    item = body["disk"]
    assert item["status"] == "pass"
    assert item["unit"] == "ratio"
    assert item["observed"] == pytest.approx(used_ratio(tmp_path), abs=0.01)
    assert MESSAGE.fullmatch(item["message"])


def test_warns_between_warn_and_fail(tmp_path: Path) -> None:
    ratio = used_ratio(tmp_path)
    assert 0.0001 < ratio < 0.9999, "the test needs a filesystem neither empty nor full"
    response = status_app(disk_check(str(tmp_path), warn=0.0001, fail=1.0)).test_client().get("/ready")
    assert response.status_code == 200  # a warning keeps the route up
    body = response.get_json()
    assert body["status"] == "WARN"
    assert body["disk"]["status"] == "warn"
    assert body["disk"]["message"].startswith("disk ")


def test_fails_at_fail_ratio(tmp_path: Path) -> None:
    response = status_app(disk_check(tmp_path, warn=0.0001, fail=0.0001)).test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "FAIL"
    assert body["disk"]["status"] == "fail"
    assert MESSAGE.fullmatch(body["disk"]["message"])
    # The message floors the exact ratio, observed is rounded: 0.22996 reads "22%" and 0.23.
    shown = int(body["disk"]["message"].split()[1].rstrip("%"))
    assert math.floor(body["disk"]["observed"] * 100) - 1 <= shown <= math.floor(body["disk"]["observed"] * 100)


def test_non_critical_failure_only_warns(tmp_path: Path) -> None:
    app = status_app(disk_check(tmp_path, warn=0.0001, fail=0.0001), critical=False)
    response = app.test_client().get("/ready")
    assert response.status_code == 200
    assert response.get_json()["disk"]["status"] == "fail"


def test_missing_path_fails_with_the_error(tmp_path: Path) -> None:
    response = status_app(disk_check(tmp_path / "gone")).test_client().get("/ready")
    assert response.status_code == 503
    error = response.get_json()["disk"]["error"]
    assert error.startswith("FileNotFoundError: ")


def test_health_json_shows_observed_ratio(tmp_path: Path) -> None:
    app = status_app(disk_check(tmp_path, warn=0.0001, fail=1.0))
    response = app.test_client().get("/ready", headers={"Accept": "application/health+json"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "warn"
    (entry,) = body["checks"]["disk"]
    assert entry["observedUnit"] == "ratio"
    assert 0 < entry["observedValue"] < 1
    assert entry["output"].startswith("disk ")


def test_disk_check_cached_by_ttl(tmp_path: Path) -> None:
    app = status_app(disk_check(tmp_path, warn=1.0, fail=1.0), ttl=60)
    client = app.test_client()
    first = client.get("/ready").get_json()["disk"]
    (tmp_path / "blob").write_bytes(b"x" * 4096)
    assert client.get("/ready").get_json()["disk"] == first


@pytest.mark.parametrize(
    ("warn", "fail"),
    [(0.95, 0.90), (0, 0.5), (0.5, 1.5), (-0.1, 0.5), (float("nan"), 0.5)],
)
def test_rejects_bad_ratios(warn: float, fail: float) -> None:
    with pytest.raises((ValueError, TypeError), match="disk_check"):
        disk_check("/", warn=warn, fail=fail)


def test_rejects_bad_types() -> None:
    with pytest.raises(TypeError, match="ratio"):
        disk_check("/", warn=True)
    with pytest.raises(TypeError, match="ratio"):
        disk_check("/", fail="0.9")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path"):
        disk_check("")


def test_equal_warn_and_fail_allowed(tmp_path: Path) -> None:
    assert disk_check(tmp_path, warn=0.5, fail=0.5)().status in ("pass", "fail")
