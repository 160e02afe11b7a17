"""Disk space: how full the filesystem holding a path is (standard library only)."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable

from ..results import CheckResult

__all__ = ["disk_check"]


def disk_check(
    path: str | os.PathLike[str] = "/", *, warn: float = 0.90, fail: float = 0.95
) -> Callable[[], CheckResult]:
    """A check of the share of ``path``'s filesystem in use: warns at ``warn``, fails at ``fail``.

    The ratio is the one ``df`` shows as ``Use%``: used space over the space an unprivileged
    user could have (used + available), so blocks reserved for root count as unavailable. The
    result's ``observed`` is that ratio (``unit="ratio"``) and its message reads
    ``"disk 91% full, 4.2 GiB free"``. A missing path fails with the ``OSError``'s text.

    ``0 < warn <= fail <= 1`` is checked here (``ValueError`` otherwise); ``warn == fail``
    never warns, ``fail=1`` fails only on a full disk.

    >>> check = disk_check("/", warn=1.0, fail=1.0)
    >>> check().status
    'pass'
    >>> disk_check("/", warn=0.95, fail=0.90)
    Traceback (most recent call last):
    ...
    ValueError: disk_check needs 0 < warn <= fail <= 1, got warn=0.95, fail=0.9
    """
    target = os.fspath(path)
    if not isinstance(target, str) or not target:
        raise TypeError(f"disk_check needs a path as a non-empty str or os.PathLike, got {path!r}")
    for label, value in (("warn", warn), ("fail", fail)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise TypeError(f"disk_check {label} must be a ratio (a number from 0 to 1), got {value!r}")
    if not 0 < warn <= fail <= 1:
        raise ValueError(f"disk_check needs 0 < warn <= fail <= 1, got warn={warn!r}, fail={fail!r}")
    warn_at = float(warn)
    fail_at = float(fail)

    def check_disk() -> CheckResult:
        usage = shutil.disk_usage(target)
        usable = usage.used + usage.free
        ratio = usage.used / usable if usable > 0 else 0.0
        message = f"disk {math.floor(ratio * 100)}% full, {_size(usage.free)} free"
        observed = round(ratio, 4)
        if ratio >= fail_at:
            return CheckResult.fail(message, observed=observed, unit="ratio")
        if ratio >= warn_at:
            return CheckResult.warn(message, observed=observed, unit="ratio")
        return CheckResult.ok(message, observed=observed, unit="ratio")

    check_disk.__qualname__ = f"disk_check({target!r})"
    return check_disk


def _size(size: int) -> str:
    """A byte count for people, in binary units.

    >>> _size(512), _size(4_509_715_660)
    ('512 B', '4.2 GiB')
    """
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
