"""Drawdowns: the under-water curve, its longest run, and its periods in time.

Numpy and compiled loops (curve_kernels.py). A period starts at the first bar below the
running peak and recovers at the first bar back at it (docs/metrics.md, Drawdowns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from worker.engine import curve_kernels as kernels

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS_PER_DAY = 86_400_000_000
#: How many of the deepest periods a run reports with their dates.
WORST_DRAWDOWNS = 10
#: Bars per block of ``peak_ratio``'s scan (its temporaries stay in the L2 cache).
PEAK_BLOCK = 1 << 16


def drawdown(wealth: F64) -> F64:
    """``wealth / running_max(wealth) - 1`` (0 at new highs, negative below)."""
    peak = np.maximum.accumulate(wealth)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = np.where(peak > 0, wealth / peak - 1.0, -1.0)
    return out


def peak_ratio(equity: F64, initial: float) -> F64:
    """Per bar ``equity / max(initial, running max of equity)``; drawdown is this minus 1.

    The running max is scanned only in blocks of ``PEAK_BLOCK`` bars that reach a new high;
    elsewhere it is the peak carried in (the same values, at a fraction of the cost of a
    sequential scan). A curve with NaN takes the whole-array scan."""
    n = int(equity.shape[0])
    out: F64 = np.empty(n)
    peak = float(initial)
    for lo in range(0, n, PEAK_BLOCK):
        e = equity[lo : lo + PEAK_BLOCK]
        ratio = out[lo : lo + PEAK_BLOCK]
        top = float(e.max())
        if math.isnan(top):
            return _scanned_peak_ratio(equity, initial)
        if top > peak:
            np.maximum.accumulate(e, out=ratio)
            np.maximum(ratio, peak, out=ratio)
            peak = float(ratio[-1])
            np.divide(e, ratio, out=ratio)
        else:
            np.divide(e, peak, out=ratio)
    return out


def _scanned_peak_ratio(equity: F64, initial: float) -> F64:
    peak = np.maximum.accumulate(equity)
    peak[: int(np.searchsorted(peak, initial))] = initial  # peak is non-decreasing
    np.divide(equity, peak, out=peak)
    return peak


def drawdown_curve(equity: F64, initial: float) -> F64:
    """Per bar ``equity / max(initial, running max of equity) - 1`` (<= 0): one compiled
    pass (``peak_ratio`` minus 1, bit for bit), or ``peak_ratio`` for a curve with NaN."""
    out: F64 = np.empty(equity.shape[0])
    if kernels.drawdown_from_peak(np.ascontiguousarray(equity, dtype=np.float64), initial, out):
        return out
    out = peak_ratio(equity, initial)
    out -= 1.0
    return out


def longest_run(mask: npt.NDArray[np.bool_]) -> int:
    """Length of the longest run of consecutive True values."""
    padded = np.zeros(mask.shape[0] + 2, dtype=np.bool_)
    padded[1:-1] = mask
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # alternating starts and ends
    if edges.shape[0] == 0:
        return 0
    return int((edges[1::2] - edges[0::2]).max())


def max_drawdown_duration(dd: F64) -> int:
    """Longest run of consecutive bars below the previous peak (dd < 0)."""
    return longest_run(dd < 0)


@dataclass(frozen=True)
class DrawdownTable:
    """Every period under water, in time order, as rows of the curve ``dd``: ``start`` the
    first bar below the peak, ``end`` the first bar back at the peak (``len(dd)`` when never
    recovered); ``depth`` the period's deepest drawdown (< 0), ``lows`` the row of its
    deepest bar (the first, on a tie) and ``duration_us`` from start to recovery (or to the
    last bar), in microseconds."""

    start: I64
    end: I64
    depth: F64
    duration_us: I64
    dd: F64
    bars: int
    lows: I64

    def trough(self, i: int) -> int:
        """Row of period ``i``'s deepest bar (the first, on a tie)."""
        return int(self.lows[i])

    @property
    def count(self) -> int:
        return int(self.start.shape[0])

    @property
    def recovered(self) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = self.end < self.bars
        return out


def drawdown_table(micros: I64, dd: F64) -> DrawdownTable:
    """The periods of the drawdown curve ``dd`` on bar times ``micros`` (UTC microseconds)."""
    dd = np.ascontiguousarray(dd, dtype=np.float64)
    n = int(dd.shape[0])
    most = (n + 1) // 2  # runs are separated by at least one bar
    starts, ends, lows = (np.empty(most, dtype=np.int64) for _ in range(3))
    depths: F64 = np.empty(most)
    k = kernels.drawdown_periods(dd, starts, ends, depths, lows)
    starts, ends, lows = starts[:k].copy(), ends[:k].copy(), lows[:k].copy()
    duration = micros[np.minimum(ends, n - 1)] - micros[starts]
    return DrawdownTable(starts, ends, depths[:k].copy(), duration, dd, n, lows)


@dataclass(frozen=True)
class DrawdownPeriod:
    """One stretch under water. ``start`` is the first bar below the previous peak,
    ``recovery`` the first bar back at it (None: still under water at the last bar);
    ``bars`` counts the bars under water, as ``max_drawdown_duration_bars`` does."""

    start: datetime
    trough: datetime
    recovery: datetime | None
    depth: float
    bars: int
    duration: timedelta


def _time(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def worst_periods(
    table: DrawdownTable, micros: I64, limit: int = WORST_DRAWDOWNS
) -> list[DrawdownPeriod]:
    """The ``limit`` deepest periods, deepest first (ties: earliest first)."""
    chosen = np.argsort(table.depth, kind="stable")[:limit]
    out = []
    for i in chosen.tolist():
        end = int(table.end[i])
        out.append(
            DrawdownPeriod(
                start=_time(int(micros[table.start[i]])),
                trough=_time(int(micros[table.trough(i)])),
                recovery=_time(int(micros[end])) if end < table.bars else None,
                depth=float(table.depth[i]),
                bars=end - int(table.start[i]),
                duration=timedelta(microseconds=int(table.duration_us[i])),
            )
        )
    return out


def average_drawdown(table: DrawdownTable) -> float | None:
    """Mean depth of the periods (a negative fraction); None without any."""
    return float(table.depth.mean()) if table.count else None


def duration_days(table: DrawdownTable) -> tuple[float | None, float | None]:
    """(longest, mean) period duration in days; None without any period."""
    if not table.count:
        return None, None
    days = table.duration_us / MICROS_PER_DAY
    return float(days.max()), float(days.mean())
