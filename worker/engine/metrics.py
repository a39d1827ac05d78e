"""Performance metrics: pure functions on numpy arrays, empyrical conventions.

Returns are simple per-bar returns; NaN returns are ignored (as empyrical does). Every
function returns a finite float or None when the value is undefined (never NaN or inf).
Formulas are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Number = float | int | None
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


def sanitize(values: Mapping[str, Any]) -> dict[str, float | int | None]:
    """JSON-safe copy: ints stay ints, floats must be finite else None."""
    out: dict[str, float | int | None] = {}
    for key, value in values.items():
        if value is None or isinstance(value, bool):
            out[key] = None if value is None else int(value)
        elif isinstance(value, int | np.integer):
            out[key] = int(value)
        else:
            out[key] = finite(value)
    return out


def compute_all(
    *,
    equity: F64,
    initial: float,
    ppy: float,
    pnl: F64,
    trade_returns: F64,
    fees: F64,
    exposure: float | None,
    first_close: F64,
    last_close: F64,
    ratio: F64 | None = None,
) -> dict[str, float | int | None]:
    """Every metric in ``METRIC_NAMES`` from an equity curve and closed trades.

    Same definitions as the single-metric functions above, computed with few passes over
    the curve (CAGR uses final/initial, which equals Π(1+r)). ``ratio`` is
    ``peak_ratio(equity, initial)`` if the caller already has it.
    """
    bars = int(equity.shape[0])
    values: dict[str, Any] = dict.fromkeys(METRIC_NAMES)
    values.update(trade_stats(pnl, trade_returns))
    values.update(
        commissions_paid=float(fees.sum()),
        buy_and_hold_return=buy_and_hold_return(first_close, last_close),
        periods_per_year=float(ppy),
        bars=bars,
        final_value=float(equity[-1]) if bars else initial,
        max_drawdown_duration_bars=0,
        exposure=exposure,
    )
    if not bars:
        return sanitize(values)
    growth = float(equity[-1]) / initial
    values["total_return"] = growth - 1.0
    ar = -1.0 if growth <= 0 else finite(growth ** (ppy / bars) - 1.0)
    values["cagr"] = ar
    r = returns_from_equity(equity, initial)
    total = float(r.sum())
    if bars >= 2 and math.isfinite(total):
        mean = total / bars
        squares = float(r @ r)
        if bars * mean * mean < 1e-3 * squares:  # no cancellation to fear: one pass
            var = max(squares - bars * mean * mean, 0.0) / (bars - 1)
        else:
            dev = np.subtract(r, mean)
            var = float(dev @ dev) / (bars - 1)
        sd = math.sqrt(var)
        values["volatility"] = finite(sd * math.sqrt(ppy))
        if sd > SD_EPSILON:
            values["sharpe_ratio"] = finite(mean / sd * math.sqrt(ppy))
        neg = np.minimum(r, 0.0, out=r)
        down = math.sqrt(float(neg @ neg) / bars) * math.sqrt(ppy)
        if down > 0:
            values["sortino_ratio"] = finite(mean * ppy / down)
    ratio = peak_ratio(equity, initial) if ratio is None else ratio
    mdd = min(float(ratio.min()) - 1.0, 0.0)
    values["max_drawdown"] = finite(mdd)
    values["max_drawdown_duration_bars"] = _longest_run(ratio < 1.0)
    if ar is not None and mdd < 0:
        values["calmar_ratio"] = finite(ar / -mdd)
    return sanitize(values)
