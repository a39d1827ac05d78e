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

import orjson


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
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return clean(tolist())
    return str(value)


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson does not know: the rest of `clean`'s conversions."""
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)


def encode_json(value: Any, *, indent: bool = False) -> bytes:
    """Compact (or 2-space indented) JSON as UTF-8 with NaN/Infinity written as null;
    never emits invalid JSONB. Dataclasses become objects.

    orjson writes non-finite floats as null itself and is several times faster than the
    standard library on the report data and JSONB columns; values it refuses (integers
    beyond 64 bits) take the slow path through `clean`."""
    try:
        return orjson.dumps(
            value, default=_default, option=_OPTIONS | orjson.OPT_INDENT_2 if indent else _OPTIONS
        )
    except orjson.JSONEncodeError:
        return json.dumps(
            clean(value),
            allow_nan=False,
            separators=None if indent else (",", ":"),
            indent=2 if indent else None,
        ).encode()


def dumps(value: Any) -> str:
    return encode_json(value).decode()


def loads(text: str | bytes) -> Any:
    return decode_json(text)


_JSONB_VERSION = b"\x01"


def decode_json(data: str | bytes) -> Any:
    """JSON from the database; nesting too deep is a ValueError, not a crash."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # the standard library's reading and messages (it accepts NaN tokens)
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON value is nested too deep to decode") from None


def encode_jsonb(value: Any) -> bytes:
    """JSONB's binary form: a version byte, then the JSON text."""
    return _JSONB_VERSION + encode_json(value)


def decode_jsonb(data: bytes) -> Any:
    return decode_json(data[1:])
