"""Performance metrics: pure functions on numpy arrays, empyrical conventions.

Returns are simple per-bar returns; NaN returns are ignored (as empyrical does). Every
function returns a finite float or None when the value is undefined (never NaN or inf).
Formulas are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Number = float | int | None
#: A metric's value: numbers, ``ruined`` (bool) and ``ruin_time`` (ISO text).
Metric = float | int | str | None
#: A per-bar return standard deviation at or below this is rounding noise of a flat curve.
SD_EPSILON = 1e-12

METRIC_NAMES = (
    "total_return",
    "sharpe_ratio",
    "max_drawdown",
    "win_rate",
    "total_trades",
    "winning_trades",
    "losing_trades",
    "final_value",
    "cagr",
    "volatility",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_duration_bars",
    "profit_factor",
    "expectancy",
    "avg_trade_return",
    "best_trade_return",
    "worst_trade_return",
    "exposure",
    "commissions_paid",
    "buy_and_hold_return",
    "periods_per_year",
    "bars",
    "ruined",
    "ruin_bar",
    "ruin_time",
    "margin_calls",
)


def finite(x: float | np.floating[Any] | None) -> float | None:
    """``x`` as a float, or None if it is None, NaN or infinite."""
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def _clean(returns: F64) -> F64:
    r = np.asarray(returns, dtype=np.float64)
    out: F64 = r[~np.isnan(r)]
    return out


def returns_from_equity(equity: F64, initial: float) -> F64:
    """Per-bar simple returns; the first bar's return is against the initial capital."""
    out: F64 = np.empty_like(equity)
    if out.shape[0] == 0:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        out[0] = equity[0] / initial
        np.divide(equity[1:], equity[:-1], out=out[1:])
    out -= 1.0
    return out


def cum_return(returns: F64) -> float | None:
    r = _clean(returns)
    return finite(np.prod(1.0 + r) - 1.0) if r.size else None


def annual_return(returns: F64, ppy: float) -> float | None:
    """CAGR: ``(Π(1+r))^(ppy/n) - 1``; -1 when the account was wiped out.

    As in empyrical, a NaN return compounds as 0 but still counts in ``n``.
    """
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64), nan=0.0)
    if r.size == 0:
        return None
    growth = float(np.prod(1.0 + r))
    if growth <= 0:
        return -1.0
    return finite(growth ** (ppy / r.size) - 1.0)


def annual_volatility(returns: F64, ppy: float) -> float | None:
    r = _clean(returns)
    if r.size < 2:
        return None
    return finite(np.std(r, ddof=1) * math.sqrt(ppy))


def sharpe_ratio(returns: F64, ppy: float) -> float | None:
    """``mean(r) / std(r, ddof=1) * sqrt(ppy)``, risk-free 0; None if std is 0."""
    r = _clean(returns)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    if not sd > SD_EPSILON:
        return None
    return finite(float(np.mean(r)) / sd * math.sqrt(ppy))


def downside_risk(returns: F64, ppy: float) -> float | None:
    r = _clean(returns)
    if r.size == 0:
        return None
    return finite(math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(ppy))


def sortino_ratio(returns: F64, ppy: float) -> float | None:
    """``mean(r) * ppy / downside_risk``; None without any negative return."""
    r = _clean(returns)
    dr = downside_risk(r, ppy)
    if dr is None or dr == 0.0:
        return None
    return finite(float(np.mean(r)) * ppy / dr)


def drawdown(wealth: F64) -> F64:
    """``wealth / running_max(wealth) - 1`` (0 at new highs, negative below)."""
    peak = np.maximum.accumulate(wealth)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = np.where(peak > 0, wealth / peak - 1.0, -1.0)
    return out


def _wealth(returns: F64) -> F64:
    r = _clean(returns)
    out: F64 = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return out


def max_drawdown(returns: F64) -> float | None:
    """Most negative ``drawdown`` of the wealth path starting at 1 (the start counts as a
    peak); 0.0 if it never fell."""
    r = _clean(returns)
    if r.size == 0:
        return None
    return finite(min(float(drawdown(_wealth(r)).min()), 0.0))


def max_drawdown_duration(dd: F64) -> int:
    """Longest run of consecutive bars below the previous peak (dd < 0)."""
    return _longest_run(dd < 0)


def _longest_run(mask: npt.NDArray[np.bool_]) -> int:
    padded = np.zeros(mask.shape[0] + 2, dtype=np.bool_)
    padded[1:-1] = mask
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # alternating starts and ends
    if edges.shape[0] == 0:
        return 0
    return int((edges[1::2] - edges[0::2]).max())


def peak_ratio(equity: F64, initial: float) -> F64:
    """Per bar ``equity / max(initial, running max of equity)``; drawdown is this minus 1."""
    peak = np.maximum.accumulate(equity)
    peak[: int(np.searchsorted(peak, initial))] = initial  # peak is non-decreasing
    np.divide(equity, peak, out=peak)
    return peak


def drawdown_curve(equity: F64, initial: float) -> F64:
    """Per bar ``equity / max(initial, running max of equity) - 1`` (<= 0)."""
    out = peak_ratio(equity, initial)
    out -= 1.0
    return out


def calmar_ratio(returns: F64, ppy: float) -> float | None:
    """``annual_return / |max_drawdown|``; None when there was no drawdown."""
    mdd = max_drawdown(returns)
    ar = annual_return(returns, ppy)
    if mdd is None or ar is None or mdd >= 0:
        return None
    return finite(ar / -mdd)


def trade_stats(pnl: F64, trade_returns: F64) -> dict[str, Number]:
    """Counts and averages over closed trades; a win is ``pnl > 0`` after costs."""
    n = int(pnl.shape[0])
    wins = int((pnl > 0).sum())
    gross_win = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    return {
        "total_trades": n,
        "winning_trades": wins,
        "losing_trades": n - wins,
        "win_rate": wins / n if n else None,
        "profit_factor": finite(gross_win / gross_loss) if gross_loss > 0 else None,
        "expectancy": finite(pnl.mean()) if n else None,
        "avg_trade_return": finite(trade_returns.mean()) if n else None,
        "best_trade_return": finite(trade_returns.max()) if n else None,
        "worst_trade_return": finite(trade_returns.min()) if n else None,
    }


def buy_and_hold_return(first_close: F64, last_close: F64) -> float | None:
    """Equal-weighted mean over symbols of ``last close / first close - 1`` in the window."""
    if first_close.size == 0:
        return None
    return finite(float(np.mean(last_close / first_close - 1.0)))


def sanitize(values: Mapping[str, Any]) -> dict[str, Metric]:
    """JSON-safe copy: ints, bools and text stay, floats must be finite else None."""
    out: dict[str, Metric] = {}
    for key, value in values.items():
        if value is None or isinstance(value, bool | str):
            out[key] = value
        elif isinstance(value, int | np.integer):
            out[key] = int(value)
        else:
            out[key] = finite(value)
    return out


#: Bars per block in ``equity_stats``: a block's temporaries stay in the L2 cache.
STATS_BLOCK = 1 << 16

#: ``block(lo, hi)``: the equity curve's bars ``lo .. hi - 1`` as a float64 array.
EquityBlock = Callable[[int, int], F64]
#: ``observe(lo, r, r2, Σr, Σr²)``: a block's per-bar returns, their squares (read-only) and
#: their sums, block by block in order.
BlockObserver = Callable[[int, F64, F64, float, float], None]


@dataclass(frozen=True)
class EquityStats:
    """What the equity metrics need from the curve (see ``equity_stats``)."""

    bars: int
    final: float
    total: float  # Σ r
    squares: float  # Σ r²
    down: float  # Σ min(r, 0)²
    min_ratio: float  # min over bars of equity / running peak (initial counts as a peak)
    min_equity: float  # lowest bar-close equity (inf without bars)
    underwater: int  # longest run of bars with equity below the running peak
    dev: float | None = None  # Σ (r - mean)², only when the one-pass variance is unsafe


def _block_returns(e: F64, prev: float, out: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(e[:1], prev, out=out[:1])
        np.divide(e[1:], e[:-1], out=out[1:])
    out -= 1.0
    return out


def _one_pass_ok(bars: int, total: float, squares: float) -> bool:
    mean = total / bars
    return bars * mean * mean < 1e-3 * squares


def equity_stats(
    block: EquityBlock, bars: int, initial: float, observe: BlockObserver | None = None
) -> EquityStats:
    """Equity statistics in one pass over cache-sized blocks, ``block(lo, hi)`` giving the
    curve's bars ``lo .. hi - 1``; each per-bar value is computed as on the whole array,
    and sums are per-block sums added in block order (so any producer of the same curve,
    whole or blockwise, gets the same numbers).

    The running peak is only scanned in blocks that reach a new high; elsewhere it is the
    constant peak carried in, so such a block's worst ratio is its minimum over that peak
    (correctly rounded division is monotone) and it is under water wherever it is below it.
    A non-finite curve falls back to whole-array numpy semantics (and ``observe`` sees
    only the blocks before it).
    """
    step = STATS_BLOCK
    total = squares = down = 0.0
    lowest = math.inf
    peak = prev = float(initial)
    min_ratio = math.inf
    best = run = 0
    buf = np.empty(min(step, bars))
    ratio_buf = np.empty(min(step, bars))
    for lo in range(0, bars, step):
        e = block(lo, min(lo + step, bars))
        m = e.shape[0]
        top, bottom = float(e.max()), float(e.min())
        if not (math.isfinite(top) and math.isfinite(bottom)):
            return _array_stats(_whole(block, bars), initial)
        lowest = min(lowest, bottom)
        r = _block_returns(e, prev, buf[:m])
        sq = ratio_buf[:m]
        block_total = float(r.sum())
        block_squares = float(np.multiply(r, r, out=sq).sum())
        total += block_total
        squares += block_squares
        if observe is not None:
            observe(lo, r, sq, block_total, block_squares)
        np.minimum(r, 0.0, out=r)
        down += float(np.multiply(r, r, out=sq).sum())
        prev = float(e[-1])
        if top > peak:
            ratio = np.maximum.accumulate(e, out=ratio_buf[:m])
            np.maximum(ratio, peak, out=ratio)
            peak = float(ratio[-1])
            np.divide(e, ratio, out=ratio)
            min_ratio = min(min_ratio, float(ratio.min()))
            under = ratio < 1.0
        else:
            min_ratio = min(min_ratio, bottom / peak)
            if top < peak:
                run += m
                continue
            under = e < peak
        false = np.flatnonzero(~under)
        if false.shape[0] == 0:
            run += m
            continue
        best = max(best, run + int(false[0]), _longest_run(under))
        run = m - 1 - int(false[-1])
    best = max(best, run)
    dev = None
    if bars >= 2 and math.isfinite(total) and not _one_pass_ok(bars, total, squares):
        mean = total / bars
        dev, prev = 0.0, float(initial)
        for lo in range(0, bars, step):
            e = block(lo, min(lo + step, bars))
            r = _block_returns(e, prev, buf[: e.shape[0]])
            r -= mean
            dev += float(np.multiply(r, r, out=r).sum())
            prev = float(e[-1])
    final = prev if bars else float(initial)
    return EquityStats(bars, final, total, squares, down, min_ratio, lowest, best, dev)


def _whole(block: EquityBlock, bars: int) -> F64:
    parts = [block(lo, min(lo + STATS_BLOCK, bars)) for lo in range(0, bars, STATS_BLOCK)]
    out: F64 = np.concatenate(parts) if parts else np.empty(0)
    return out


def _array_stats(equity: F64, initial: float) -> EquityStats:
    """Whole-array statistics (used for curves with non-finite values)."""
    bars = int(equity.shape[0])
    r = returns_from_equity(equity, initial)
    total = float(r.sum())
    squares = float(r @ r)
    dev = None
    if bars >= 2 and math.isfinite(total) and not _one_pass_ok(bars, total, squares):
        d = np.subtract(r, total / bars)
        dev = float(d @ d)
    neg = np.minimum(r, 0.0, out=r)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = peak_ratio(equity, initial)
    return EquityStats(
        bars,
        float(equity[-1]) if bars else float(initial),
        total,
        squares,
        float(neg @ neg),
        float(ratio.min()) if bars else math.inf,
        float(equity.min()) if bars else math.inf,
        _longest_run(ratio < 1.0),
        dev,
    )


def array_block(equity: F64) -> EquityBlock:
    """``equity_stats`` producer for a whole curve."""

    def block(lo: int, hi: int) -> F64:
        return equity[lo:hi]

    return block


def compute_all(
    *,
    equity: F64 | None = None,
    stats: EquityStats | None = None,
    initial: float,
    ppy: float,
    pnl: F64,
    trade_returns: F64,
    fees: F64,
    exposure: float | None,
    first_close: F64,
    last_close: F64,
) -> dict[str, Metric]:
    """Every metric in ``METRIC_NAMES`` from the equity curve (``equity`` or its
    ``equity_stats``) and the closed trades.

    Same definitions as the single-metric functions above (CAGR uses final/initial, which
    equals Π(1+r)).
    """
    if stats is None:
        assert equity is not None
        stats = equity_stats(array_block(equity), int(equity.shape[0]), initial)
    bars = stats.bars
    values: dict[str, Any] = dict.fromkeys(METRIC_NAMES)
    values.update(trade_stats(pnl, trade_returns))
    values.update(
        commissions_paid=float(fees.sum()),
        buy_and_hold_return=buy_and_hold_return(first_close, last_close),
        periods_per_year=float(ppy),
        bars=bars,
        final_value=stats.final,
        max_drawdown_duration_bars=0,
        exposure=exposure,
    )
    if not bars:
        return sanitize(values)
    growth = stats.final / initial
    values["total_return"] = growth - 1.0
    ar = -1.0 if growth <= 0 else finite(growth ** (ppy / bars) - 1.0)
    values["cagr"] = ar
    total = stats.total
    if bars >= 2 and math.isfinite(total):
        mean = total / bars
        if stats.dev is None:
            var = max(stats.squares - bars * mean * mean, 0.0) / (bars - 1)
        else:
            var = stats.dev / (bars - 1)
        sd = math.sqrt(var)
        values["volatility"] = finite(sd * math.sqrt(ppy))
        if sd > SD_EPSILON:
            values["sharpe_ratio"] = finite(mean / sd * math.sqrt(ppy))
        down = math.sqrt(stats.down / bars) * math.sqrt(ppy)
        if down > 0:
            values["sortino_ratio"] = finite(mean * ppy / down)
    mdd = min(stats.min_ratio - 1.0, 0.0)
    values["max_drawdown"] = finite(mdd)
    values["max_drawdown_duration_bars"] = stats.underwater
    if ar is not None and mdd < 0:
        values["calmar_ratio"] = finite(ar / -mdd)
    return sanitize(values)
