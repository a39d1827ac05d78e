"""Calendar returns: the return of each UTC month and year that has bars.

Pure numpy on bar times as UTC microseconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker.engine.return_metrics import finite

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeriodReturn:
    year: int
    month: int | None  # None for a yearly return
    value: float | None  # None when the period began with equity at or below zero


def calendar_periods(micros: I64, unit: str) -> tuple[I64, I64]:
    """(calendar key, row of the last bar) of each month (``unit="M"``, months since
    1970-01) or year (``"Y"``, years since 1970) that has bars; rows are sorted in time.
    Found by binary search on the period starts, so a million bars cost microseconds."""
    first_period = np.datetime64(int(micros[0]), "us").astype(f"datetime64[{unit}]")
    last_period = np.datetime64(int(micros[-1]), "us").astype(f"datetime64[{unit}]")
    periods = np.arange(first_period, last_period + 1)
    starts = periods.astype("datetime64[us]").astype(np.int64)
    first_rows = np.searchsorted(micros, starts, side="left")
    last_rows = np.append(first_rows[1:], len(micros)) - 1
    has_bars = last_rows >= first_rows
    keys: I64 = periods.astype(np.int64)[has_bars]
    rows: I64 = last_rows[has_bars].astype(np.int64)
    return keys, rows


def period_returns(micros: I64, equity: F64, initial: float, unit: str = "M") -> list[PeriodReturn]:
    """Return of each calendar month (``unit="M"``) or year (``"Y"``) that has bars: its
    last equity over the previous period's last (the first period's over ``initial``)."""
    if len(equity) == 0:
        return []
    return returns_over(calendar_periods(micros, unit), equity, initial, unit)


def returns_over(
    periods: tuple[I64, I64], equity: F64, initial: float, unit: str
) -> list[PeriodReturn]:
    """``period_returns`` on the ``calendar_periods`` of the curve's bar times (found once
    for curves on the same bars)."""
    keys, last = periods
    closing = np.asarray(equity, dtype=np.float64)[last]
    opening = np.concatenate([[initial], closing[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(opening > 0, closing / opening - 1.0, np.nan)
    out = []
    for key, value in zip(keys.tolist(), values.tolist(), strict=True):
        year, month = (1970 + key // 12, key % 12 + 1) if unit == "M" else (1970 + key, None)
        out.append(PeriodReturn(year, month, finite(value)))
    return out
