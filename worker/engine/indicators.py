"""Indicator kernels on MarketData rows, computed per symbol block.

Each indicator has one kernel, ``<name>_of(md, x, period)`` on any float array ``x`` in
row order, used by the built-in strategies (through the cached wrappers on price columns)
and by the rule language alike, so both get bit-identical values. Simple moving averages
are numpy (windowed sums re-based on each symbol's first value, so the running sum stays
small); recursive and extremum indicators use polars (``.over("symbol")`` when there is
more than one symbol). Warm-up and other missing rows are NaN. The wrappers cache results
on the MarketData (bounded by ``CACHE_BYTES``) so grid runs compute each distinct
indicator once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import polars as pl

from worker.engine import signal_kernels as kernels
from worker.engine.market import F64, I8, I64, B, MarketData

CACHE_BYTES = 512 * 1024 * 1024
_LOCK = threading.Lock()
#: Arrays being computed, per (MarketData, key): who else wants one waits for its event.
_PENDING: dict[tuple[int, tuple[object, ...]], threading.Event] = {}
_SOURCES = ("open", "high", "low", "close")


def cached(md: MarketData, key: tuple[object, ...], compute: Callable[[], F64]) -> F64:
    """Least-recently-used cache of indicator arrays on ``md``, at most ``md.cache_bytes``
    (CACHE_BYTES unless a grid set its own). Grid threads compute different arrays at once;
    a thread wanting an array another one is computing waits for it instead of computing
    it again."""
    cache = md.cache
    budget = CACHE_BYTES if md.cache_bytes is None else md.cache_bytes
    slot = (id(md), key)
    while True:
        with _LOCK:
            hit = cache.pop(key, None)
            if hit is not None:
                cache[key] = hit  # most recently used goes last
                out: F64 = hit
                return out
            pending = _PENDING.get(slot)
            if pending is None:
                mine = _PENDING[slot] = threading.Event()
                break
        pending.wait()  # then look again (it may have failed, or been evicted since)
    try:
        value = compute()  # outside the lock
        with _LOCK:
            used = sum(v.nbytes for v in cache.values())
            while cache and used + value.nbytes > budget:
                used -= cache.pop(next(iter(cache))).nbytes
            cache[key] = value
    finally:
        with _LOCK:
            del _PENDING[slot]
        mine.set()
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


def _rebased_cumsum(md: MarketData, x: F64) -> F64:
    """Per block, cumulative sum of ``x - x[first row]`` (small numbers, little drift)."""
    out = np.empty(md.n)
    kernels.rebased_cumsum(np.ascontiguousarray(x), md.starts, md.ends, out)
    return out


def sma_of(md: MarketData, x: F64, period: int, csum: F64 | None = None) -> F64:
    """Simple moving average of ``x`` per symbol: ``base + (S[t] - S[t-p]) / p`` on the
    re-based running sum ``S``; a window holding a missing (NaN) value is missing."""
    if np.isnan(x).any():
        return _sma_with_gaps(md, x, period)
    return _sma_known(md, x, period, csum)


def _sma_known(md: MarketData, x: F64, period: int, csum: F64 | None = None) -> F64:
    """``sma_of`` of an ``x`` without missing values."""
    csum = _rebased_cumsum(md, x) if csum is None else csum
    out = np.empty(md.n)
    kernels.sma_window(np.ascontiguousarray(x), csum, period, md.starts, md.ends, out)
    return out


def _sma_with_gaps(md: MarketData, x: F64, period: int) -> F64:
    """``sma_of`` for inputs with missing values (nested rule expressions): missing values
    count as 0 in the running sum and a window is valid when it counts none of them."""
    out = np.full(md.n, np.nan)
    for lo, hi in zip(md.starts.tolist(), md.ends.tolist(), strict=True):
        block = x[lo:hi]
        missing = np.isnan(block)
        if hi - lo < period or missing.all():
            continue
        base = block[np.argmin(missing)]
        csum = np.concatenate([[0.0], np.cumsum(np.where(missing, 0.0, block - base))])
        gaps = np.concatenate([[0], np.cumsum(missing)])
        total = (csum[period:] - csum[:-period]) / period + base
        total[gaps[period:] - gaps[:-period] > 0] = np.nan
        out[lo + period - 1 : hi] = total
    return out


def running_sum(md: MarketData, src: str = "close") -> F64:
    """The cached re-based running sum ``sma`` cuts its windows from."""
    x = source(md, src)
    return cached(md, ("cumsum", src), lambda: _rebased_cumsum(md, x))


def sma(md: MarketData, period: int, src: str = "close") -> F64:
    """Simple moving average of a price column (``sma_of``; the running sum is cached).
    Price columns are finite (``MarketData`` checks them), so nothing is missing."""

    def compute() -> F64:
        return _sma_known(md, source(md, src), period, running_sum(md, src))

    return cached(md, ("sma", period, src), compute)


def _polars_of(md: MarketData, x: F64, expr: pl.Expr) -> F64:
    """Evaluate ``expr`` on column ``x`` (NaN read as null) per symbol, NaN where null."""
    frame = pl.DataFrame({"x": pl.Series(x, nan_to_null=True)})
    if md.n_symbols > 1:
        frame = frame.with_columns(md.frame["symbol"])
        expr = expr.over("symbol")
    series = frame.select(expr.cast(pl.Float64).fill_null(np.nan)).to_series()
    out: F64 = series.to_numpy().astype(np.float64, copy=False)
    return out


def ema_of(md: MarketData, x: F64, period: int) -> F64:
    """EMA with ``alpha = 2 / (period + 1)`` (span), ``adjust=False`` (recursive, seeded
    with the first value), NaN for the first ``period - 1`` bars."""
    expr = pl.col("x").ewm_mean(span=period, adjust=False, min_samples=period)
    return _polars_of(md, x, expr)


def rsi_of(md: MarketData, x: F64, period: int) -> F64:
    """Wilder's RSI: average gain and loss are EMAs with ``alpha = 1 / period``,
    ``adjust=False``, seeded with the first change; 100 when there was no loss."""
    delta = pl.col("x").diff()
    gain = delta.clip(lower_bound=0.0).ewm_mean(alpha=1 / period, adjust=False, min_samples=period)
    loss = (-delta).clip(lower_bound=0.0)
    loss = loss.ewm_mean(alpha=1 / period, adjust=False, min_samples=period)
    value = pl.when(loss == 0).then(pl.when(gain == 0).then(50.0).otherwise(100.0))
    expr = value.otherwise(100.0 - 100.0 / (1.0 + gain / loss))
    return _polars_of(md, x, expr)


def rolling_max_of(md: MarketData, x: F64, period: int) -> F64:
    return _polars_of(md, x, pl.col("x").rolling_max(period, min_samples=period))


def rolling_min_of(md: MarketData, x: F64, period: int) -> F64:
    return _polars_of(md, x, pl.col("x").rolling_min(period, min_samples=period))


def rolling_std_of(md: MarketData, x: F64, period: int) -> F64:
    """Population standard deviation (ddof=0), the Bollinger convention."""
    return _polars_of(md, x, pl.col("x").rolling_std(period, min_samples=period, ddof=0))


def returns_of(md: MarketData, x: F64, period: int) -> F64:
    """``x / x[period rows earlier] - 1`` per symbol; missing where not finite (x/0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = x / shift(md, x, period) - 1.0
    out[~np.isfinite(out)] = np.nan
    return out


def atr(md: MarketData, period: int) -> F64:
    """Wilder's average true range: ``TR = max(high − low, |high − previous close|,
    |low − previous close|)`` (``high − low`` on a symbol's first bar), averaged by an EMA
    with ``alpha = 1 / period``, ``adjust=False``, seeded with the first TR; NaN for the
    first ``period − 1`` bars."""

    def compute() -> F64:
        prev = shift(md, md.close)
        with np.errstate(invalid="ignore"):
            tr = np.fmax(md.high - md.low, np.fmax(np.abs(md.high - prev), np.abs(md.low - prev)))
        expr = pl.col("x").ewm_mean(alpha=1 / period, adjust=False, min_samples=period)
        return _polars_of(md, tr, expr)

    return cached(md, ("atr", period), compute)


def ema(md: MarketData, period: int, src: str = "close") -> F64:
    return cached(md, ("ema", period, src), lambda: ema_of(md, source(md, src), period))


def rsi(md: MarketData, period: int, src: str = "close") -> F64:
    return cached(md, ("rsi", period, src), lambda: rsi_of(md, source(md, src), period))


def rolling_max(md: MarketData, period: int, src: str = "high") -> F64:
    return cached(md, ("max", period, src), lambda: rolling_max_of(md, source(md, src), period))


def rolling_min(md: MarketData, period: int, src: str = "low") -> F64:
    return cached(md, ("min", period, src), lambda: rolling_min_of(md, source(md, src), period))


def rolling_std(md: MarketData, period: int, src: str = "close") -> F64:
    return cached(md, ("std", period, src), lambda: rolling_std_of(md, source(md, src), period))


def pct_return(md: MarketData, period: int, src: str = "close") -> F64:
    return cached(md, ("ret", period, src), lambda: returns_of(md, source(md, src), period))


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


def cross_hold(md: MarketData, a: F64, b: F64) -> I8:
    """``hold(md, *crosses(md, a, b))`` without the two boolean arrays: long from a strict
    cross above until a strict cross below, and the reverse; 0 before the first (one pass:
    ``signal_kernels.cross_position``)."""
    out: I8 = np.empty(md.n, dtype=np.int8)
    kernels.cross_position(
        np.ascontiguousarray(a), np.ascontiguousarray(b), md.starts, md.ends, out
    )
    return out


def sma_cross_hold(md: MarketData, fast: int, slow: int, src: str = "close") -> I8:
    """``cross_hold(md, sma(md, fast, src), sma(md, slow, src))`` in one pass over the
    cached running sum, without the two average arrays
    (``signal_kernels.sma_cross_position``)."""
    out: I8 = np.empty(md.n, dtype=np.int8)
    x = np.ascontiguousarray(source(md, src))
    csum = running_sum(md, src)
    kernels.sma_cross_position(x, csum, fast, slow, md.starts, md.ends, out)
    return out


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
