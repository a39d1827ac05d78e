"""Parameters and settings as one short line (report titles, the CLI's tables)."""

from __future__ import annotations

import json
from typing import Any

#: Settings that tell runs apart beside the parameters: window, costs, sizing, execution.
KEY_CONFIG = (
    "start",
    "end",
    "symbols",
    "commission",
    "commission_fixed",
    "slippage_bps",
    "position_size",
    "units",
    "direction",
    "fill",
    "stop_loss",
    "take_profit",
    "trailing_stop",
    "max_volume_share",
)


def compact(values: dict[str, Any], *, skip: tuple[str, ...] = ("kind",)) -> str:
    """`fast_period=10 slow_period=200`: scalars as they are, nested values as `{…}`/`[…]`."""
    parts = []
    for key, value in values.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            shown = "{…}"
        elif isinstance(value, list):
            flat = len(value) <= 8 and not any(isinstance(v, dict | list) for v in value)
            shown = ",".join(_scalar(v) for v in value) if flat else "[…]"
        else:
            shown = _scalar(value)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def config_text(config: dict[str, Any]) -> str:
    """Key settings in one line: the window as dates, then costs and sizing."""
    shown = {key: config[key] for key in KEY_CONFIG if config.get(key) is not None}
    start, end = shown.pop("start", None), shown.pop("end", None)
    window = f"{_day(start)}→{_day(end)}" if start or end else ""
    rest = compact(shown, skip=())
    return " ".join(part for part in (window, rest) if part)


def _day(value: Any) -> str:
    return "" if value is None else str(value)[:10]
