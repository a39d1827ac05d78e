"""Seeded synthetic bars: geometric Brownian motion per symbol, vectorised with numpy.

Daily bars (``Nd``) fall on weekdays only (a trading-day calendar without holidays), so
``252 * years`` bars span about as many calendar years as the annualisation assumes
(weekdays are about 261 a year: 2,520 bars from 2000-01-03 end on 2009-08-28, 9.7
calendar years; before, with weekends, they ended after 6.9); other timeframes are evenly spaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import polars as pl

from worker.engine.bars import canonicalize
from worker.engine.timeframes import parse_timeframe, periods_per_year, timeframe_delta


def _timestamps(start: datetime, n: int, timeframe: str) -> pl.Series:
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    delta = timeframe_delta(timeframe)
    if delta is None:  # months: calendar offsets
        months = int(timeframe.rstrip("Mmo") or 1)
        base = pl.Series([start] * n, dtype=pl.Datetime("us", "UTC"))
        offsets = pl.Series([f"{i * months}mo" for i in range(n)])
        return pl.DataFrame({"t": base, "o": offsets}).select(
            pl.col("t").dt.offset_by(pl.col("o"))
        )["t"]
    first = int(start.timestamp() * 1_000_000)
    if parse_timeframe(timeframe)[1] == "d":
        return _weekdays(first, n, parse_timeframe(timeframe)[0])
    step_us = int(delta.total_seconds() * 1_000_000)
    ticks = first + np.arange(n, dtype=np.int64) * step_us
    return pl.Series("timestamp", ticks).cast(pl.Datetime("us", "UTC"))


def _weekdays(first_us: int, n: int, every: int) -> pl.Series:
    """``n`` timestamps every ``every`` weekdays from the first weekday at or after the
    start, keeping the start's time of day."""
    day_us = 86_400_000_000
    first_day = np.datetime64(first_us // day_us, "D")
    days = np.busday_offset(first_day, np.arange(n, dtype=np.int64) * every, roll="forward")
    ticks = days.astype(np.int64) * day_us + first_us % day_us
    return pl.Series("timestamp", ticks).cast(pl.Datetime("us", "UTC"))


def generate_bars(
    symbols: Sequence[str] = ("AAA", "BBB"),
    n_bars: int = 1000,
    timeframe: str = "1d",
    start: datetime = datetime(2000, 1, 3, tzinfo=UTC),
    seed: int = 0,
    *,
    start_price: float = 100.0,
) -> pl.DataFrame:
    """``n_bars`` canonical bars per symbol.

    Each symbol gets an annual drift in [-5%, 15%] and volatility in [15%, 45%]; the open is
    the previous close times a small gap, high/low extend beyond max/min(open, close) by a
    half-normal amount, volume is log-normal. Same arguments -> identical frame.
    """
    if n_bars < 1 or not symbols:
        raise ValueError("need at least one symbol and one bar")
    rng = np.random.default_rng(seed)
    k = len(symbols)
    ppy = periods_per_year(timeframe)
    mu = rng.uniform(-0.05, 0.15, k) / ppy
    sigma = rng.uniform(0.15, 0.45, k) / np.sqrt(ppy)
    shape = (k, n_bars)
    log_ret = (mu - 0.5 * sigma**2)[:, None] + sigma[:, None] * rng.standard_normal(shape)
    gap = 0.15 * sigma[:, None] * rng.standard_normal(shape)
    close = start_price * np.exp(np.cumsum(log_ret, axis=1))
    prev_close = np.concatenate([np.full((k, 1), start_price), close[:, :-1]], axis=1)
    open_ = prev_close * np.exp(gap)
    wick = 0.5 * sigma[:, None]
    high = np.maximum(open_, close) * np.exp(wick * np.abs(rng.standard_normal(shape)))
    low = np.minimum(open_, close) * np.exp(-wick * np.abs(rng.standard_normal(shape)))
    volume = np.round(rng.lognormal(mean=12.0, sigma=0.5, size=shape))
    ts = _timestamps(start, n_bars, timeframe)
    df = pl.DataFrame(
        {
            "timestamp": pl.concat([ts] * k) if k > 1 else ts,
            "symbol": pl.Series(list(symbols), dtype=pl.String).gather(
                np.repeat(np.arange(k), n_bars)
            ),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
        }
    )
    return canonicalize(df)
