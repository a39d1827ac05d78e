"""Return metrics, one pure function each (empyrical's conventions and NaN handling).

Returns are simple per-bar returns; NaN returns are ignored by means and deviations (as
empyrical does). Every function returns a finite float or None when the value is undefined
(never NaN or inf). ``risk_free_rate`` is an annual rate, made per-bar by
``annualisation.per_period_rate``. Formulas: docs/metrics.md. These are the reference
definitions; ``equity_stats`` computes the same numbers blockwise for whole runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from worker.engine import annualisation as an
from worker.engine.drawdowns import drawdown
from worker.engine.moment_kernels import curve_returns

F64 = npt.NDArray[np.float64]
#: A per-bar return standard deviation at or below this is rounding noise of a flat curve.
SD_EPSILON = 1e-12


def finite(x: float | np.floating[Any] | None) -> float | None:
    """``x`` as a float, or None if it is None, NaN or infinite."""
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def clean(returns: F64) -> F64:
    """The returns without NaN."""
    r = np.asarray(returns, dtype=np.float64)
    out: F64 = r[~np.isnan(r)]
    return out


def returns_from_equity(equity: F64, initial: float) -> F64:
    """Per-bar simple returns; the first bar's return is against the initial capital."""
    out: F64 = np.empty(equity.shape[0])
    curve_returns(np.ascontiguousarray(equity, dtype=np.float64), float(initial), out)
    return out


def cum_return(returns: F64) -> float | None:
    r = clean(returns)
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
    return finite(an.annualise_growth(growth, r.size, ppy))


def annual_volatility(returns: F64, ppy: float) -> float | None:
    r = clean(returns)
    if r.size < 2:
        return None
    return finite(an.annualise_deviation(float(np.std(r, ddof=1)), ppy))


def sharpe_ratio(returns: F64, ppy: float, risk_free_rate: float = 0.0) -> float | None:
    """``mean(r - rf) / std(r, ddof=1) · √ppy``, ``rf`` per bar; None if std is 0."""
    r = clean(returns)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    if not sd > SD_EPSILON:
        return None
    excess = float(np.mean(r)) - an.per_period_rate(risk_free_rate, ppy)
    return finite(an.annualise_ratio(excess / sd, ppy))


def downside_risk(returns: F64, ppy: float, threshold: float = 0.0) -> float | None:
    """``√(mean(min(r - threshold, 0)²)) · √ppy`` over all bars; ``threshold`` per bar."""
    r = clean(returns)
    if r.size == 0:
        return None
    below = np.minimum(r - threshold, 0.0)
    return finite(an.annualise_deviation(math.sqrt(float(np.mean(below**2))), ppy))


def sortino_ratio(returns: F64, ppy: float, risk_free_rate: float = 0.0) -> float | None:
    """``mean(r - rf) · ppy / downside_risk(r, rf)``; None without any return below rf."""
    r = clean(returns)
    rf = an.per_period_rate(risk_free_rate, ppy)
    dr = downside_risk(r, ppy, rf)
    if dr is None or dr == 0.0:
        return None
    return finite(an.annualise_mean(float(np.mean(r)) - rf, ppy) / dr)


def wealth(returns: F64) -> F64:
    """The wealth path ``1, Π(1+r)…`` of the returns without NaN."""
    r = clean(returns)
    out: F64 = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return out


def max_drawdown(returns: F64) -> float | None:
    """Most negative ``drawdown`` of the wealth path starting at 1 (the start counts as a
    peak); 0.0 if it never fell."""
    r = clean(returns)
    if r.size == 0:
        return None
    return finite(min(float(drawdown(wealth(r)).min()), 0.0))


def calmar_ratio(returns: F64, ppy: float) -> float | None:
    """``annual_return / |max_drawdown|``; None when there was no drawdown."""
    mdd = max_drawdown(returns)
    ar = annual_return(returns, ppy)
    if mdd is None or ar is None or mdd >= 0:
        return None
    return finite(ar / -mdd)
