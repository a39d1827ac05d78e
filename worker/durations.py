"""Durations as people write them on a command line: `30d`, `12h`, `90m`, `2w`, `45s`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """`30d` → 30 days. Raises ValueError naming the accepted forms."""
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration such as 30d, 12h, 90m, 2w or 45s "
            "(a number and one of s, m, h, d, w)"
        )
    value, unit = match.groups()
    duration = timedelta(**{_UNITS[unit]: float(value)})
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return duration
