"""The sizes the worker accepts and writes, in one place.

Input: a run's `config` and a strategy's `params` are JSON of at most `MAX_INPUT_BYTES`
bytes (UTF-8, written compactly as `JSON.stringify` does) and `MAX_INPUT_DEPTH` levels of
nesting; PostgreSQL's text form of a JSONB value is longer (a space after `:` and `,`), so
the database sends at most `MAX_TRANSPORT_BYTES` of it before the exact check; the worker
decodes nothing larger (docs/contract.md; the JSON Schemas and the Node client carry the
same numbers, exported by `worker.schemas.export`).

Output: an error's message and detail (runs.error, the `error` event, log lines) and every
string in a log line are clipped, so no row can make the worker write a megabyte back.
"""

from __future__ import annotations

import json
from typing import Any

from worker import jsonsafe

MAX_INPUT_BYTES = 262_144
# Above the rule language's own limit (rules.MAX_DEPTH = 32 rule levels, two JSON levels each).
MAX_INPUT_DEPTH = 100
MAX_TRANSPORT_BYTES = 2 * MAX_INPUT_BYTES

MAX_ERROR_MESSAGE = 2_000
MAX_ERROR_DETAIL = 8_000
MAX_LOG_STRING = 4_000
_DETAIL_STRING = 500
_DETAIL_ITEMS = 50


class InputTooLarge(ValueError):
    """JSON over the worker's bounds; the message says which bound."""


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def depth(value: Any) -> int:
    """Nesting depth of decoded JSON (a scalar is 0, `[]` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children)
    return deepest


def check_input(value: Any, what: str) -> Any:
    """`value` if it is within the input bounds, else InputTooLarge."""
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_INPUT_BYTES:
        raise InputTooLarge(f"{what} is {size} bytes of JSON, more than {MAX_INPUT_BYTES}")
    levels = depth(value)
    if levels > MAX_INPUT_DEPTH:
        raise InputTooLarge(f"{what} is nested {levels} levels deep, more than {MAX_INPUT_DEPTH}")
    return value


def loads_input(text: str | bytes, what: str) -> Any:
    """Decode JSON the worker was given (a row's config or params) within the bounds."""
    if len(text) > MAX_TRANSPORT_BYTES:
        raise InputTooLarge(f"{what} is {len(text)} bytes of JSON, more than {MAX_INPUT_BYTES}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputTooLarge(f"{what} is nested more than {MAX_INPUT_DEPTH} levels deep") from None
    return check_input(value, what)


def _shrink(value: Any) -> Any:
    if isinstance(value, str):
        return clip(value, _DETAIL_STRING)
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k)[:_DETAIL_STRING]: _shrink(v) for k, v in items[:_DETAIL_ITEMS]}
        if len(items) > _DETAIL_ITEMS:
            out["…"] = f"{len(items) - _DETAIL_ITEMS} more keys"
        return out
    if isinstance(value, list | tuple):
        out_list = [_shrink(v) for v in value[:_DETAIL_ITEMS]]
        if len(value) > _DETAIL_ITEMS:
            out_list.append(f"… {len(value) - _DETAIL_ITEMS} more items")
        return out_list
    return value


def bound_error(error: dict[str, Any]) -> dict[str, Any]:
    """An error `{type, message, detail}` within the output bounds (unchanged if it is)."""
    kind = clip(str(error.get("type", "error")), 64)
    message = clip(str(error.get("message", "")), MAX_ERROR_MESSAGE)
    detail = error.get("detail") or {}
    if len(jsonsafe.dumps(detail)) > MAX_ERROR_DETAIL:
        detail = _shrink(detail)
        if len(jsonsafe.dumps(detail)) > MAX_ERROR_DETAIL:
            detail = {"truncated": True}
    bounded = {"type": kind, "message": message, "detail": detail}
    return error if bounded == error else bounded
