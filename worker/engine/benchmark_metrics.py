"""Metrics against a benchmark's per-bar returns, one pure function each (empyrical).

``returns`` and ``benchmark`` are per-bar simple returns on the same bars; a bar where
either is NaN is left out of both. ``risk_free_rate`` is annual (see annualisation.py).
None when undefined: fewer than 2 bars, or a benchmark (or active return) without variance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from worker.engine import annualisation as an
from worker.engine.return_metrics import SD_EPSILON, finite

F64 = npt.NDArray[np.float64]


def aligned(returns: F64, benchmark: F64) -> tuple[F64, F64]:
    """Both series on the bars where both are known."""
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if r.shape != b.shape:
        raise ValueError(f"returns ({r.shape[0]}) and benchmark ({b.shape[0]}) differ in length")
    keep = ~(np.isnan(r) | np.isnan(b))
    return r[keep], b[keep]


def beta(returns: F64, benchmark: F64) -> float | None:
    """``cov(r, b) / var(b)``, population moments (a constant risk-free rate subtracted
    from both would not change it)."""
    r, b = aligned(returns, benchmark)
    if r.size < 2:
        return None
    db = b - b.mean()
    var = float(np.mean(db * db))
    if not var > SD_EPSILON**2:
        return None
    return finite(float(np.mean((r - r.mean()) * db)) / var)


def alpha(returns: F64, benchmark: F64, ppy: float, risk_free_rate: float = 0.0) -> float | None:
    """Jensen's alpha per year, compounded as empyrical does:
    ``(1 + mean((r - rf) - β·(b - rf)))^ppy - 1``."""
    r, b = aligned(returns, benchmark)
    bt = beta(r, b)
    if bt is None:
        return None
    rf = an.per_period_rate(risk_free_rate, ppy)
    residual = float(np.mean((r - rf) - bt * (b - rf)))
    return finite(an.compound_mean(residual, ppy))


def correlation(returns: F64, benchmark: F64) -> float | None:
    """Pearson correlation of the per-bar returns; None if either is flat."""
    r, b = aligned(returns, benchmark)
    if r.size < 2:
        return None
    dr, db = r - r.mean(), b - b.mean()
    scale = float(np.sqrt(np.mean(dr * dr) * np.mean(db * db)))
    if not scale > SD_EPSILON**2:
        return None
    return finite(float(np.mean(dr * db)) / scale)


def tracking_error(returns: F64, benchmark: F64, ppy: float) -> float | None:
    """``std(r - b, ddof=1) · √ppy``: the active return's annual volatility."""
    r, b = aligned(returns, benchmark)
    if r.size < 2:
        return None
    return finite(an.annualise_deviation(float(np.std(r - b, ddof=1)), ppy))


def information_ratio(returns: F64, benchmark: F64, ppy: float) -> float | None:
    """``mean(r - b) / std(r - b, ddof=1) · √ppy`` (annualised, unlike quantstats')."""
    r, b = aligned(returns, benchmark)
    if r.size < 2:
        return None
    active = r - b
    sd = float(np.std(active, ddof=1))
    if not sd > SD_EPSILON:
        return None
    return finite(an.annualise_ratio(float(np.mean(active)) / sd, ppy))
