"""Turning what callables return into values JSON can encode, once per evaluation.

Conversions (documented in the README): ``datetime``/``date``/``time`` to ISO 8601 strings,
``set``/``frozenset``/``tuple`` to lists (sets sorted when their items allow it), ``Decimal``
and ``UUID`` to strings, ``Enum`` to its value, dataclasses to dicts, dict keys to strings,
NaN and infinities to ``null``. Anything else raises ``TypeError`` naming the type, which the
runner turns into a failed entry instead of a 500.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import decimal
import enum
import json
import math
import uuid
from typing import Any

__all__ = ["dumps", "json_safe"]

_MAX_DEPTH = 64
_MAX_INT_BITS = 4000 * 3  # about 3600 decimal digits: under any int-to-str limit CPython sets


def json_safe(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` converted to plain JSON types, or raise ``TypeError``.

    >>> json_safe({"at": _dt.date(2026, 1, 2), "tags": {"b", "a"}})
    {'at': '2026-01-02', 'tags': ['a', 'b']}
    """
    if _depth > _MAX_DEPTH:
        raise ValueError(f"value nests deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        # json.dumps refuses integers longer than sys.get_int_max_str_digits() (4300 digits).
        if value.bit_length() > _MAX_INT_BITS:
            raise ValueError(f"integer of {value.bit_length()} bits is too large to encode")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [json_safe(v, _depth + 1) for v in value]
        with contextlib.suppress(TypeError):  # mixed types: keep them, in arbitrary order
            items.sort()
        return items
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return json_safe(value.value, _depth + 1)
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value), _depth + 1)
    raise TypeError(f"value of type {type(value).__name__} is not JSON serialisable")


def dumps(body: Any) -> bytes:
    """Encode an already JSON-safe body compactly, as Flask's ``jsonify`` does, with a newline."""
    # errors="replace": a lone surrogate (os.fsdecode of a non-UTF-8 name) becomes "?" instead of
    # turning the whole route into a 500.
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", errors="replace") + b"\n"
