"""Tearsheet figures from an equity curve: drawdown periods, calendar returns, and the
buy-and-hold benchmark measured with the engine's own metric definitions.

Pure: arrays and frames in, values out. Timestamps are UTC; months and years are UTC ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from worker.engine import metrics as mx
from worker.engine.api import BacktestResult
from worker.results.epoch import epoch_micros

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: The metrics that describe an equity curve alone, computed for buy-and-hold too.
CURVE_METRICS = (
    "final_value",
    "total_return",
    "cagr",
    "volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown",
    "max_drawdown_duration_bars",
)
WORST_DRAWDOWNS = 10


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


@dataclass(frozen=True)
class PeriodReturn:
    year: int
    month: int | None  # None for a yearly return
    value: float | None  # None when the period began with equity at or below zero


def drawdown_periods(
    timestamps: pl.Series, drawdown: F64, limit: int = WORST_DRAWDOWNS
) -> list[DrawdownPeriod]:
    """The ``limit`` deepest drawdown periods, deepest first (ties: earliest first)."""
    under = np.asarray(drawdown, dtype=np.float64) < 0
    if not under.any():
        return []
    edges = np.diff(under.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # first bar back at the peak, or len(drawdown)
    depths = np.minimum.reduceat(drawdown, starts)
    chosen = np.argsort(depths, kind="stable")[:limit]
    last = len(drawdown) - 1
    troughs = [
        s + int(np.argmin(drawdown[s:e])) for s, e in zip(starts[chosen], ends[chosen], strict=True)
    ]
    rows = np.concatenate([starts[chosen], troughs, np.minimum(ends[chosen], last), [last]])
    times = timestamps.gather(rows).to_list()
    k = len(chosen)
    periods = []
    for j, i in enumerate(chosen.tolist()):
        start, end = int(starts[i]), int(ends[i])
        recovery = times[2 * k + j] if end <= last else None
        periods.append(
            DrawdownPeriod(
                start=times[j],
                trough=times[k + j],
                recovery=recovery,
                depth=float(depths[i]),
                bars=end - start,
                duration=(recovery or times[-1]) - times[j],
            )
        )
    return periods


def _calendar_periods(timestamps: pl.Series, unit: str) -> tuple[I64, I64]:
    """(calendar key, row of the last bar) of each month (``unit="M"``, months since
    1970-01) or year (``"Y"``, years since 1970) that has bars; rows are sorted in time.
    Found by binary search on the period starts, so a million bars cost microseconds."""
    micros = epoch_micros(timestamps)
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


def period_returns(
    timestamps: pl.Series, equity: F64, initial: float, unit: str = "M"
) -> list[PeriodReturn]:
    """Return of each calendar month (``unit="M"``) or year (``"Y"``) that has bars: its
    last equity over the previous period's last (the first period's over ``initial``)."""
    if len(equity) == 0:
        return []
    keys, last = _calendar_periods(timestamps, unit)
    closing = np.asarray(equity, dtype=np.float64)[last]
    opening = np.concatenate([[initial], closing[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(opening > 0, closing / opening - 1.0, np.nan)
    out = []
    for key, value in zip(keys.tolist(), values.tolist(), strict=True):
        year, month = (1970 + key // 12, key % 12 + 1) if unit == "M" else (1970 + key, None)
        out.append(PeriodReturn(year, month, mx.finite(value)))
    return out


def curve_metrics(curve: F64, initial: float, ppy: float) -> dict[str, mx.Metric]:
    """``CURVE_METRICS`` of any equity curve, by the engine's ``compute_all``."""
    empty = np.empty(0)
    values = mx.compute_all(
        equity=np.asarray(curve, dtype=np.float64),
        initial=initial,
        ppy=ppy,
        pnl=empty,
        trade_returns=empty,
        fees=empty,
        exposure=None,
        first_close=empty,
        last_close=empty,
    )
    return {name: values[name] for name in CURVE_METRICS}


@dataclass(frozen=True)
class Tearsheet:
    initial_capital: float
    drawdowns: list[DrawdownPeriod]
    monthly: list[PeriodReturn]
    yearly: list[PeriodReturn]
    benchmark_yearly: list[PeriodReturn]
    benchmark_metrics: dict[str, mx.Metric] | None


def tearsheet(result: BacktestResult) -> Tearsheet:
    """Everything the reports show beyond the engine's metrics, computed once per run."""
    initial = float(result.resolved_config["initial_capital"])
    ppy = float(result.resolved_config["periods_per_year"])
    times = result.equity["timestamp"]
    equity = result.equity["equity"].to_numpy()
    bench = None if result.buy_and_hold is None else result.buy_and_hold.to_numpy()
    return Tearsheet(
        initial_capital=initial,
        drawdowns=drawdown_periods(times, result.equity["drawdown"].to_numpy()),
        monthly=period_returns(times, equity, initial, "M"),
        yearly=period_returns(times, equity, initial, "Y"),
        benchmark_yearly=[] if bench is None else period_returns(times, bench, initial, "Y"),
        benchmark_metrics=None if bench is None else curve_metrics(bench, initial, ppy),
    )
