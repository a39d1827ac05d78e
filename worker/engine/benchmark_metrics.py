"""Metrics against a benchmark's per-bar returns, one pure function each (empyrical).

``returns`` and ``benchmark`` are per-bar simple returns on the same bars; a bar where
either is NaN is left out of both. ``risk_free_rate`` is annual (see annualisation.py).
None when undefined: fewer than 2 bars, or a benchmark (or active return) without variance.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from worker.engine import annualisation as an
from worker.engine.moment_kernels import centred_sums, curve_centred_sums
from worker.engine.return_metrics import SD_EPSILON, finite

F64 = npt.NDArray[np.float64]


def aligned(returns: F64, benchmark: F64) -> tuple[F64, F64]:
    """Both series on the bars where both are known (the inputs themselves when all are)."""
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if r.shape != b.shape:
        raise ValueError(f"returns ({r.shape[0]}) and benchmark ({b.shape[0]}) differ in length")
    if not np.isnan(np.dot(r, b)):  # NaN anywhere makes the product NaN
        return r, b
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


BENCHMARK_METRICS = ("alpha", "beta", "correlation", "tracking_error", "information_ratio")


#: Bars per block of ``centred_moments``: the block's temporaries stay in the L2 cache.
MOMENT_BLOCK = 1 << 16


def centred_moments(r: F64, b: F64, mr: float, mb: float) -> tuple[float, float, float]:
    """``(Σ(r - mr)², Σ(b - mb)², Σ(r - mr)(b - mb))`` over cache-sized blocks, each
    block's sum added in block order: no BLAS dot, whose threads make the sum depend on
    the machine's core count (and wait for a core on a busy one). One compiled pass
    (``moment_kernels.centred_sums``), summing each block as numpy does."""
    r = np.ascontiguousarray(r, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return centred_sums(r, b, float(mr), float(mb), MOMENT_BLOCK)


def benchmark_stats(
    returns: F64,
    benchmark: F64,
    ppy: float,
    risk_free_rate: float = 0.0,
    returns_mean: float | None = None,
    benchmark_mean: float | None = None,
) -> dict[str, float | None]:
    """All of ``BENCHMARK_METRICS`` from one set of centred moments (``centred_moments``:
    two passes over the bars instead of one set per metric): the same definitions as the
    functions above, equal to rounding (tested). ``returns_mean``, ``benchmark_mean``:
    ``returns.mean()`` and ``benchmark.mean()``, when the caller has them."""
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if r.shape != b.shape:
        raise ValueError(f"returns ({r.shape[0]}) and benchmark ({b.shape[0]}) differ in length")
    out: dict[str, float | None] = dict.fromkeys(BENCHMARK_METRICS)
    mr, mb = math.nan, math.nan
    if r.shape[0]:
        mr = float(r.mean()) if returns_mean is None else returns_mean
        mb = float(b.mean()) if benchmark_mean is None else benchmark_mean
    if math.isnan(mr) or math.isnan(mb):  # a NaN anywhere makes its mean NaN
        r, b = aligned(r, b)
        if r.shape[0]:
            mr, mb = float(r.mean()), float(b.mean())
    n = int(r.shape[0])
    if n < 2:
        return out
    return _from_moments(out, n, centred_moments(r, b, mr, mb), mr, mb, ppy, risk_free_rate)


def curve_benchmark_stats(
    equity: F64,
    benchmark: F64,
    initial: float,
    ppy: float,
    risk_free_rate: float,
    returns_mean: float,
    benchmark_mean: float,
) -> dict[str, float | None] | None:
    """``benchmark_stats`` of the two curves' returns against ``initial``
    (``returns_from_equity``), given their means, without building the returns
    (``moment_kernels.curve_centred_sums``); None when a mean is NaN (a NaN return: the
    bars must be ``aligned``, from the returns)."""
    e = np.ascontiguousarray(equity, dtype=np.float64)
    v = np.ascontiguousarray(benchmark, dtype=np.float64)
    if e.shape != v.shape:
        raise ValueError(f"returns ({e.shape[0]}) and benchmark ({v.shape[0]}) differ in length")
    mr, mb = float(returns_mean), float(benchmark_mean)
    if math.isnan(mr) or math.isnan(mb):
        return None
    out: dict[str, float | None] = dict.fromkeys(BENCHMARK_METRICS)
    n = int(e.shape[0])
    if n < 2:
        return out
    sums = curve_centred_sums(e, float(initial), v, float(initial), mr, mb, MOMENT_BLOCK)
    return _from_moments(out, n, sums, mr, mb, ppy, risk_free_rate)


def _from_moments(
    out: dict[str, float | None],
    n: int,
    sums: tuple[float, float, float],
    mr: float,
    mb: float,
    ppy: float,
    risk_free_rate: float,
) -> dict[str, float | None]:
    srr, sbb, srb = sums
    var_r, var_b, cov = srr / n, sbb / n, srb / n
    # var(r - b) from the same moments: dr - db is the centred active return
    active_var = max(var_r + var_b - 2.0 * cov, 0.0) * n / (n - 1)
    active_sd = math.sqrt(active_var)
    out["tracking_error"] = finite(an.annualise_deviation(active_sd, ppy))
    if active_sd > SD_EPSILON:
        out["information_ratio"] = finite(an.annualise_ratio((mr - mb) / active_sd, ppy))
    if var_b > SD_EPSILON**2:
        beta_value = cov / var_b
        out["beta"] = finite(beta_value)
        rf = an.per_period_rate(risk_free_rate, ppy)
        out["alpha"] = finite(an.compound_mean((mr - rf) - beta_value * (mb - rf), ppy))
    scale = math.sqrt(var_r * var_b)
    if scale > SD_EPSILON**2:
        out["correlation"] = finite(cov / scale)
    return out
