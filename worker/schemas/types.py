"""Validated field types shared by every schema (and exported to JSON Schema for Node.js)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from worker.bounds import MAX_INPUT_BYTES, MAX_INPUT_DEPTH, InputTooLarge, check_input

SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
SHA256_PATTERN = r"^[0-9a-f]{64}$"
TIMEFRAME_PATTERN = r"^[1-9][0-9]*(s|m|h|d|w|M)$"
SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9._:/-]{0,31}$"
MIME_PATTERN = (
    r"^(application|audio|font|image|model|text|video|multipart|message)"
    r"/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}(\s*;\s*[a-zA-Z0-9_-]+=[^;]+)*$"
)


def _to_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _strip_upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _strip_lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _matching(pattern: str, what: str) -> AfterValidator:
    """A validator whose error says what was expected, not which regex failed."""

    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _pattern(pattern: str, **extra: Any) -> WithJsonSchema:
    """The regex for JSON Schema users (Node.js), who get the same rule."""
    return WithJsonSchema({"type": "string", "pattern": pattern, **extra})


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
SemVer = Annotated[
    str,
    _matching(SEMVER_PATTERN, "a semantic version such as 1.2.3, 2.0.0-beta.1 or 1.0.0+build.5"),
    _pattern(SEMVER_PATTERN, examples=["1.0.0", "2.0.0-beta.1", "1.0.0+build.5"]),
]
Sha256Hex = Annotated[
    str,
    BeforeValidator(_strip_lower),
    _matching(SHA256_PATTERN, "a SHA-256 hash (64 hexadecimal digits)"),
    _pattern(SHA256_PATTERN),
]
Timeframe = Annotated[
    str,
    _matching(TIMEFRAME_PATTERN, "a timeframe: a count and a unit, like 1m, 15m, 1h, 1d or 1w"),
    _pattern(TIMEFRAME_PATTERN, examples=["1m", "15m", "1h", "1d", "1w"]),
]
Symbol = Annotated[
    str,
    BeforeValidator(_strip_upper),
    _matching(SYMBOL_PATTERN, "a symbol (letters, digits and . _ : / -, at most 32)"),
    _pattern(SYMBOL_PATTERN, examples=["AAPL", "BTC-USD"]),
]
MimeType = Annotated[
    str,
    BeforeValidator(_strip_lower),
    _matching(MIME_PATTERN, "a MIME type such as text/csv or image/png"),
    _pattern(MIME_PATTERN, examples=["text/csv", "image/png"]),
]
Money = Annotated[float, Field(gt=0, lt=1e14, description="Numeric(18,4)")]


def _within_input_bounds(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_input(value, "the JSON object")  # type: ignore[no-any-return]
    except InputTooLarge as error:
        raise ValueError(str(error)) from None


# A JSON object the worker will decode: `config` and `params` (worker/bounds.py). JSON Schema
# has no keyword for size or depth; `x-maxBytes` and `x-maxDepth` say them for Node.js.
BoundedObject = Annotated[
    dict[str, Any],
    AfterValidator(_within_input_bounds),
    Field(json_schema_extra={"x-maxBytes": MAX_INPUT_BYTES, "x-maxDepth": MAX_INPUT_DEPTH}),
]
