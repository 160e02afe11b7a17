"""Heartbeats: a dead man's switch for work that has no HTTP server (workers, cron jobs).

A heartbeat is a check that passes while beats arrive and fails when none came for ``every +
grace`` seconds. A beat is :meth:`StatusManager.beat <flask_status.StatusManager.beat>` from
Python or ``flask status beat NAME`` from a shell. :class:`Heartbeat` is the definition and its
verdict, a pure function of the last beat and the time; where beats are kept is
:mod:`flask_status.stores.beats`.

>>> beat = Heartbeat("import", every=3600, grace=300)
>>> beat.verdict(None, now=1000.0).message
'no beat yet, expected every 1 h'
>>> from flask_status.results import FieldResult
>>> last = FieldResult("import", "pass", time=0.0)
>>> beat.verdict(last, now=7380.0).message
'no beat for 2 h 3 min, expected every 1 h'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._validate import require_seconds, validate_name
from .results import CheckResult, FieldResult
from .serialize import json_safe

__all__ = ["MAX_PAYLOAD", "Heartbeat", "check_payload", "human_duration"]

MAX_PAYLOAD = 1024
"""The most characters a beat's payload may take, as compact JSON."""


def human_duration(seconds: float) -> str:
    """``seconds`` as people read it: the two largest units.

    >>> human_duration(7380), human_duration(45.2), human_duration(90061), human_duration(0.4)
    ('2 h 3 min', '45 s', '1 d 1 h', '0 s')
    """
    whole = int(max(seconds, 0.0))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2]) or "0 s"


def check_payload(payload: object) -> Any:
    """``payload`` made JSON-safe, refused when it is longer than :data:`MAX_PAYLOAD` as JSON.

    >>> check_payload({"rows": 1200})
    {'rows': 1200}
    >>> check_payload("x" * 2000)
    Traceback (most recent call last):
    ...
    ValueError: payload must be at most 1024 characters as JSON, got 2002
    """
    safe = json_safe(payload)
    size = len(json.dumps(safe, separators=(",", ":"), ensure_ascii=False))
    if size > MAX_PAYLOAD:
        raise ValueError(f"payload must be at most {MAX_PAYLOAD} characters as JSON, got {size}")
    return safe


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A heartbeat's definition: beats expected every ``every`` seconds, ``grace`` seconds late
    at most. The check's callable: its app's status manager runs it with the last beat (it is
    never called directly).
    """

    name: str
    every: float
    grace: float

    def __post_init__(self) -> None:
        validate_name(self.name, "heartbeat name")
        object.__setattr__(self, "every", require_seconds(self.every, "every", allow_zero=False))
        object.__setattr__(self, "grace", require_seconds(self.grace, "grace", allow_zero=True))

    @property
    def __name__(self) -> str:  # a check's callable has a name (logs, the CLI)
        return f"heartbeat {self.name}"

    def __call__(self) -> Any:
        raise RuntimeError(f"heartbeat {self.name!r} is checked by its app's status manager, not called")

    def verdict(self, last: FieldResult | None, now: float) -> CheckResult:
        """The check's result from the ``last`` beat (``None``: never) at wall-clock ``now``.

        Passes while the last beat is at most ``every + grace`` seconds old; the observed value
        is its age in seconds and the result's time is the beat's. A heartbeat that never beat
        fails: a job that never ran is not healthy.
        """
        expected = f"expected every {human_duration(self.every)}"
        if last is None:
            return CheckResult.fail(f"no beat yet, {expected}")
        age = max(now - last.time, 0.0)
        observed = round(age, 3)
        if age > self.every + self.grace:
            return CheckResult.fail(
                f"no beat for {human_duration(age)}, {expected}", observed=observed, unit="s", time=last.time
            )
        message = f"last beat {human_duration(age)} ago"
        if last.value is not None:
            message += f": {json.dumps(last.value, separators=(',', ':'), ensure_ascii=False)}"
        return CheckResult.ok(message, observed=observed, unit="s", time=last.time)
