"""Indicator kernels on MarketData rows, computed per symbol block.

Simple moving averages are numpy (windowed sums of prices re-based on each symbol's first
price, so the running sum stays small); recursive and extremum indicators use polars
(``.over("symbol")`` when there is more than one symbol). Warm-up rows are NaN. Results are
cached on the MarketData (bounded by ``CACHE_BYTES``) so grid runs compute each distinct
indicator once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import polars as pl

from worker.engine.market import F64, I8, I64, B, MarketData

CACHE_BYTES = 512 * 1024 * 1024
_LOCK = threading.Lock()
_SOURCES = ("open", "high", "low", "close")


def cached(md: MarketData, key: tuple[object, ...], compute: Callable[[], F64]) -> F64:
    """Least-recently-used cache of indicator arrays on ``md``, at most CACHE_BYTES."""
    cache = md.cache
    with _LOCK:
        hit = cache.pop(key, None)
        if hit is not None:
            cache[key] = hit  # most recently used goes last
            out: F64 = hit
            return out
    value = compute()  # outside the lock: grid threads compute different arrays at once
    with _LOCK:
        used = sum(v.nbytes for v in cache.values())
        while cache and used + value.nbytes > CACHE_BYTES:
            used -= cache.pop(next(iter(cache))).nbytes
        cache[key] = value
    return value


def source(md: MarketData, name: str) -> F64:
    if name not in _SOURCES:
        raise ValueError(f"unknown price source {name!r}")
    out: F64 = getattr(md, name)
    return out


def shift(md: MarketData, x: F64, n: int = 1) -> F64:
    """Value ``n`` rows earlier within the same symbol, NaN where there is none."""
    out = np.empty_like(x)
    out[n:] = x[:-n]
    if n == 1:
        out[md.starts] = np.nan
    else:
        for lo, hi in zip(md.starts.tolist(), md.ends.tolist(), strict=True):
            out[lo : min(lo + n, hi)] = np.nan
    return out


def _rebased_cumsum(md: MarketData, src: str) -> F64:
    """Per block, cumulative sum of ``x - x[first row]`` (small numbers, little drift)."""

    def compute() -> F64:
        x = source(md, src)
        out = np.empty(md.n)
        for lo, hi in zip(md.starts.tolist(), md.ends.tolist(), strict=True):
            np.cumsum(x[lo:hi] - x[lo], out=out[lo:hi])
        return out

    return cached(md, ("cumsum", src), compute)


def sma(md: MarketData, period: int, src: str = "close") -> F64:
    """Simple moving average: ``base + (S[t] - S[t-p]) / p`` on the re-based running sum."""

    def compute() -> F64:
        x = source(md, src)
        csum = _rebased_cumsum(md, src)
        out = np.full(md.n, np.nan)
        for lo, hi in zip(md.starts.tolist(), md.ends.tolist(), strict=True):
            if hi - lo < period:
                continue
            window = out[lo + period - 1 : hi]
            window[0] = csum[lo + period - 1]
            np.subtract(csum[lo + period : hi], csum[lo : hi - period], out=window[1:])
            window /= period
            window += x[lo]
        return out

    return cached(md, ("sma", period, src), compute)


def _polars(md: MarketData, expr: pl.Expr) -> F64:
    if md.n_symbols > 1:
        expr = expr.over("symbol")
    series = md.frame.select(expr.cast(pl.Float64).fill_null(np.nan)).to_series()
    out: F64 = series.to_numpy().astype(np.float64, copy=False)
    return out


def ema(md: MarketData, period: int, src: str = "close") -> F64:
    """EMA with ``alpha = 2 / (period + 1)`` (span), ``adjust=False`` (recursive, seeded
    with the first value), NaN for the first ``period - 1`` bars."""
    expr = pl.col(src).ewm_mean(span=period, adjust=False, min_samples=period)
    return cached(md, ("ema", period, src), lambda: _polars(md, expr))


def rsi(md: MarketData, period: int, src: str = "close") -> F64:
    """Wilder's RSI: average gain and loss are EMAs with ``alpha = 1 / period``,
    ``adjust=False``, seeded with the first change; 100 when there was no loss."""
    delta = pl.col(src).diff()
    gain = delta.clip(lower_bound=0.0).ewm_mean(alpha=1 / period, adjust=False, min_samples=period)
    loss = (-delta).clip(lower_bound=0.0)
    loss = loss.ewm_mean(alpha=1 / period, adjust=False, min_samples=period)
    value = pl.when(loss == 0).then(pl.when(gain == 0).then(50.0).otherwise(100.0))
    expr = value.otherwise(100.0 - 100.0 / (1.0 + gain / loss))
    return cached(md, ("rsi", period, src), lambda: _polars(md, expr))


def rolling_max(md: MarketData, period: int, src: str = "high") -> F64:
    expr = pl.col(src).rolling_max(period, min_samples=period)
    return cached(md, ("max", period, src), lambda: _polars(md, expr))


def rolling_min(md: MarketData, period: int, src: str = "low") -> F64:
    expr = pl.col(src).rolling_min(period, min_samples=period)
    return cached(md, ("min", period, src), lambda: _polars(md, expr))


def rolling_std(md: MarketData, period: int, src: str = "close") -> F64:
    """Population standard deviation (ddof=0), the Bollinger convention."""
    expr = pl.col(src).rolling_std(period, min_samples=period, ddof=0)
    return cached(md, ("std", period, src), lambda: _polars(md, expr))


def pct_return(md: MarketData, period: int, src: str = "close") -> F64:
    x = source(md, src)
    return x / shift(md, x, period) - 1.0


# ---- signal helpers -------------------------------------------------------------------


def crosses(md: MarketData, a: F64, b: F64) -> tuple[B, B]:
    """Strict crosses of ``a`` over ``b``: (above, below). Above means previous a < previous
    b and now a > b; NaN (warm-up) compares False, so nothing crosses before both exist."""
    gt = np.greater(a, b)
    lt = np.less(a, b)
    above = np.zeros(md.n, dtype=np.bool_)
    below = np.zeros(md.n, dtype=np.bool_)
    np.logical_and(gt[1:], lt[:-1], out=above[1:])
    np.logical_and(lt[1:], gt[:-1], out=below[1:])
    above[md.starts] = False
    below[md.starts] = False
    return above, below


def _ffill_index(md: MarketData, mask: B) -> I64:
    """Per row, the last row <= it within its symbol where ``mask`` holds (or the block's
    first row)."""
    marks = mask | md.block_first()
    idx = np.where(marks, np.arange(md.n), 0)
    out: I64 = np.maximum.accumulate(idx)
    return out


def hold(md: MarketData, long_entry: B, short_entry: B) -> I8:
    """Target position held from each entry until the opposite entry; 0 before the first.

    A bar with both entries is no event. Built from the sparse entry rows with np.repeat.
    """
    event = long_entry.view(np.int8) - short_entry.view(np.int8)
    mask = event != 0
    mask[md.starts] = True
    marks = np.flatnonzero(mask)
    lengths = np.diff(marks, append=md.n)
    out: I8 = np.repeat(event[marks], lengths)
    return out


def hold_with_exits(
    md: MarketData, long_entry: B, long_exit: B, short_entry: B, short_exit: B
) -> I8:
    """State machine, vectorised: an entry (long xor short) sets the side; an exit of the
    held side on a bar without an entry makes it flat; otherwise the position is kept."""
    event = long_entry.astype(np.int8) - short_entry.astype(np.int8)
    entered = event != 0
    last_entry = _ffill_index(md, entered)
    pos: I8 = event[last_entry]
    last_xl = _ffill_index(md, long_exit & ~entered)
    last_xs = _ffill_index(md, short_exit & ~entered)
    pos[(pos == 1) & (last_xl > last_entry)] = 0
    pos[(pos == -1) & (last_xs > last_entry)] = 0
    return pos
