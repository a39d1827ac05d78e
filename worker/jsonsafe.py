"""JSON for JSONB: NaN and Infinity become null (Postgres rejects them), and the common
non-JSON values (Decimal, UUID, datetimes, numpy scalars) become their JSON equivalents."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


def clean(value: Any) -> Any:
    """A copy of `value` that `json.dumps(..., allow_nan=False)` accepts."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, Mapping):
        return {str(key): clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return clean(item())
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return clean(tolist())
    return str(value)


# One encoder for every call: `json.dumps` with options builds a new one each time.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON with NaN/Infinity written as null; never emits invalid JSONB."""
    try:  # the common case: plain JSON values, all finite
        return _ENCODER.encode(value)
    except (ValueError, TypeError):
        return _ENCODER.encode(clean(value))


def loads(text: str) -> Any:
    return json.loads(text)


_JSONB_VERSION = b"\x01"


def encode_json(value: Any) -> bytes:
    return dumps(value).encode()


def decode_json(data: bytes) -> Any:
    """JSON from the database; nesting too deep for Python is a ValueError, not a crash."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON value is nested too deep to decode") from None


def encode_jsonb(value: Any) -> bytes:
    """JSONB's binary form: a version byte, then the JSON text."""
    return _JSONB_VERSION + encode_json(value)


def decode_jsonb(data: bytes) -> Any:
    return decode_json(data[1:])
