"""Timeframe strings and the annualisation factor (periods per year).

Timeframes: ``<n><unit>`` with unit ``s``, ``m`` (minutes), ``h``, ``d``, ``w``, ``M`` or
``mo`` (months), e.g. ``1m``, ``15m``, ``1h``, ``1d``, ``1w``, ``1M``.

Equity calendar (default): 252 trading days a year; 52 weeks; 12 months; intraday bars
count only the 6.5-hour (390-minute) regular session, so ``ppy = 252 * 390 / minutes``
(1h -> 1638, 5m -> 19656). Crypto calendar (24/7): ``ppy = 365 * 1440 / minutes`` for
intraday and daily bars, 52 for weekly, 12 for monthly.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from worker.engine.errors import EngineInputError

Calendar = Literal["equity", "crypto"]
_PATTERN = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d|w|M|mo|mon)\s*$")
_MINUTES = {"s": 1 / 60, "sec": 1 / 60, "m": 1, "min": 1, "h": 60, "d": 1440, "w": 10080}


_WORDS = {
    "minute": "1m",
    "minutely": "1m",
    "hourly": "1h",
    "hour": "1h",
    "daily": "1d",
    "day": "1d",
    "weekly": "1w",
    "week": "1w",
    "monthly": "1M",
    "month": "1M",
}


def parse_timeframe(timeframe: str) -> tuple[int, str]:
    """Return (count, unit) with unit one of s, m, h, d, w, M.

    Accepts ``15m``, ``1h``, ``1d``, ``1w``, ``1M``/``1mo``, upper-case ``H``/``D``/``W``
    (``M`` alone is months, ``m`` minutes) and the words daily, weekly, monthly, hourly.
    """
    text = _WORDS.get(timeframe.strip().lower(), timeframe.strip())
    text = re.sub(r"(?<=\d)([HDW]|MIN|SEC)$", lambda m: m.group(1).lower(), text)
    match = _PATTERN.match(text)
    if not match or int(match.group(1)) < 1:
        raise EngineInputError(
            f"unknown timeframe {timeframe!r}; use e.g. 1m, 15m, 1h, 1d, 1w or 1M",
            type="invalid_config",
            detail={"timeframe": timeframe},
        )
    n, unit = int(match.group(1)), match.group(2)
    unit = {"sec": "s", "min": "m", "mo": "M", "mon": "M"}.get(unit, unit)
    return n, unit


def timeframe_delta(timeframe: str) -> timedelta | None:
    """Fixed bar length, or None for months."""
    n, unit = parse_timeframe(timeframe)
    if unit == "M":
        return None
    return timedelta(minutes=n * _MINUTES[unit])


def periods_per_year(timeframe: str, calendar: Calendar = "equity") -> float:
    n, unit = parse_timeframe(timeframe)
    if unit == "M":
        return 12.0 / n
    if unit == "w":
        return 52.0 / n
    minutes = n * _MINUTES[unit]
    if calendar == "crypto":
        return 365.0 * 1440.0 / minutes
    if unit == "d":
        return 252.0 / n
    return 252.0 * 390.0 / minutes
