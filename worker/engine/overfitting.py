"""Overfitting statistics: pure functions on Sharpe ratios and per-period return sums.

Sharpe ratios here are per period (not annualised): divide an annualised Sharpe by
``sqrt(periods_per_year)`` first. Kurtosis is the plain fourth standardised moment (3 for a
normal distribution), as in the papers. Every function returns a finite float or None when
the value is undefined. Formulas are in docs/metrics.md ("Overfitting").

- Probabilistic Sharpe ratio: Bailey & López de Prado (2012), "The Sharpe ratio efficient
  frontier", Journal of Risk 15(2), eq. (11).
- Deflated Sharpe ratio: Bailey & López de Prado (2014), "The deflated Sharpe ratio",
  Journal of Portfolio Management 40(5), eq. (2) and the expected maximum of its appendix.
- Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV):
  Bailey, Borwein, López de Prado & Zhu (2015), "The probability of backtest overfitting",
  Journal of Computational Finance 20(4), section 2.
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from worker.engine.return_metrics import SD_EPSILON, finite

F64 = npt.NDArray[np.float64]
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()
#: Multiply-adds per CSCV pass (splits x partitions x trials): small enough that OpenBLAS
#: computes the pass's matrix products on the calling thread (its own threads, spinning on
#: a busy machine, made one 1,000-trial PBO take seconds), large enough that per-pass
#: overhead stays small. Passes run on the grid's threads instead.
PASS_MULTIPLY_ADDS = 200_000


def return_moments(returns: F64) -> tuple[float | None, float | None]:
    """Skewness and (non-excess) kurtosis of ``returns``, population moments; None, None
    for fewer than two returns or a constant series."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[~np.isnan(r)]
    if r.size < 2:
        return None, None
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if not math.sqrt(m2) > SD_EPSILON:
        return None, None
    return finite(np.mean(d**3) / m2**1.5), finite(np.mean(d**4) / m2**2)


def moments_from_sums(
    n: float, s1: float, s2: float, s3: float, s4: float
) -> tuple[float | None, float | None]:
    """Skewness and kurtosis from the power sums ``Σr^k`` of ``n`` returns (population
    moments, as ``return_moments``)."""
    if n < 2:
        return None, None
    m = s1 / n
    m2 = s2 / n - m * m
    if not m2 > SD_EPSILON**2:
        return None, None
    m3 = s3 / n - 3 * m * s2 / n + 2 * m**3
    m4 = s4 / n - 4 * m * s3 / n + 6 * m * m * s2 / n - 3 * m**4
    return finite(m3 / m2**1.5), finite(m4 / m2**2)


def probabilistic_sharpe_ratio(
    sharpe: float | None,
    benchmark: float,
    observations: int,
    skew: float | None,
    kurtosis: float | None,
) -> float | None:
    """P(true Sharpe > ``benchmark``) given the observed per-period ``sharpe`` of
    ``observations`` returns: ``Φ((SR - SR*) √(T-1) / √(1 - γ3 SR + (γ4-1)/4 SR²))``."""
    if sharpe is None or skew is None or kurtosis is None or observations < 2:
        return None
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not var > 0:
        return None
    z = (sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(var)
    return finite(_NORMAL.cdf(z))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """Expected maximum per-period Sharpe of ``trials`` unskilled strategies whose Sharpe
    ratios vary with ``variance``: ``√V ((1-γ) Φ⁻¹(1-1/N) + γ Φ⁻¹(1-1/(N e)))``; 0 for a
    single trial (no selection)."""
    if trials < 2 or not variance > 0:
        return 0.0
    a = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    b = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def deflated_sharpe_ratio(
    sharpe: float | None,
    trial_sharpes: F64,
    observations: int,
    skew: float | None,
    kurtosis: float | None,
) -> float | None:
    """The probabilistic Sharpe ratio against the expected maximum Sharpe of the trials
    (``trial_sharpes``: every combination's per-period Sharpe, undefined ones left out)."""
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    trials = trials[np.isfinite(trials)]
    variance = float(np.var(trials, ddof=1)) if trials.size >= 2 else 0.0
    benchmark = expected_max_sharpe(int(trials.size), variance)
    return probabilistic_sharpe_ratio(sharpe, benchmark, observations, skew, kurtosis)


@dataclass(frozen=True)
class PboResult:
    pbo: float
    splits: int
    partitions: int
    logits: F64  # one per split (in no particular order): log(ω / (1 - ω)), ω the OOS
    # relative rank of the in-sample best


def _sharpe(count: F64, s1: F64, s2: F64) -> F64:
    """Per-period Sharpe (ddof 1) of each row's trials from their sums (``count`` per row);
    a flat or degenerate set counts as 0."""
    n = count[:, None]
    mean = s1 / n
    sd = s1 * mean
    np.subtract(s2, sd, out=sd)
    sd /= n - 1
    np.maximum(sd, 0.0, out=sd)
    np.sqrt(sd, out=sd)
    defined = sd > SD_EPSILON
    np.divide(mean, sd, out=mean, where=defined)
    mean[~defined] = 0.0
    return mean


def _logits(chosen_by: F64, ranked_in: F64, trials: int) -> F64:
    """Per row: the trial best in ``chosen_by`` ranked in ``ranked_in`` (1 = worst, ties
    averaged), as ``log(ω / (1 - ω))`` with ``ω = rank / (trials + 1)``."""
    best = np.argmax(chosen_by, axis=1)
    pick = ranked_in[np.arange(ranked_in.shape[0]), best][:, None]
    rank = (ranked_in < pick).sum(axis=1) + ((ranked_in == pick).sum(axis=1) + 1) / 2.0
    omega = rank / (trials + 1)
    out: F64 = np.log(omega / (1.0 - omega))
    return out


def pbo_from_sums(counts: F64, s1: F64, s2: F64, *, threads: int = 1) -> PboResult | None:
    """PBO by CSCV from per-partition sums: ``counts[s]`` returns in partition ``s``,
    ``s1[n, s]`` / ``s2[n, s]`` the sum of returns / squared returns of trial ``n`` there.

    Every split of the S partitions into two halves is one in-sample / out-of-sample
    pair; the in-sample best trial (by Sharpe) is ranked out of sample, and PBO is the share
    of splits where it falls at or below the median (logit ≤ 0). A split and its mirror
    (the halves swapped) share their two Sharpe matrices, so each is computed once. None
    for fewer than two trials or partitions. Splits are evaluated in passes, on ``threads``
    threads (each pass writes its own logits: the result does not depend on them).
    """
    counts = np.asarray(counts, dtype=np.float64)
    trials, parts = s1.shape
    if trials < 2 or parts < 2 or parts % 2 or (counts < 1).any():
        return None
    # the halves holding partition 0; each one's complement is the mirror split
    halves = np.array(
        [(0, *rest) for rest in itertools.combinations(range(1, parts), parts // 2 - 1)]
    )
    masks = np.zeros((halves.shape[0], parts))
    masks[np.arange(halves.shape[0])[:, None], halves] = 1.0
    t1, t2, total = s1.sum(axis=1), s2.sum(axis=1), float(counts.sum())
    s1t, s2t = np.ascontiguousarray(s1.T), np.ascontiguousarray(s2.T)
    logits = np.empty(2 * halves.shape[0])

    def one_pass(lo: int) -> None:
        half = masks[lo : lo + step]
        n_a = half @ counts
        a1, a2 = half @ s1t, half @ s2t
        sr_a = _sharpe(n_a, a1, a2)
        sr_b = _sharpe(total - n_a, np.subtract(t1, a1, out=a1), np.subtract(t2, a2, out=a2))
        k = half.shape[0]
        logits[2 * lo : 2 * lo + k] = _logits(sr_a, sr_b, trials)
        logits[2 * lo + k : 2 * lo + 2 * k] = _logits(sr_b, sr_a, trials)

    step = max(1, PASS_MULTIPLY_ADDS // (parts * trials))
    starts = range(0, halves.shape[0], step)
    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one_pass, starts))
    else:
        for lo in starts:
            one_pass(lo)
    return PboResult(float(np.mean(logits <= 0.0)), int(logits.shape[0]), parts, logits)


def partition_bounds(bars: int, partitions: int) -> npt.NDArray[np.int64]:
    """``partitions + 1`` edges splitting ``bars`` into contiguous, near-equal parts."""
    out: npt.NDArray[np.int64] = np.linspace(0, bars, partitions + 1).astype(np.int64)
    return out


def pbo_from_returns(returns: F64, partitions: int) -> PboResult | None:
    """PBO of a ``(periods, trials)`` matrix of per-period returns (convenience for tests
    and small inputs; the grid collects the sums without building the matrix)."""
    r = np.asarray(returns, dtype=np.float64)
    edges = partition_bounds(r.shape[0], partitions)
    if (np.diff(edges) < 2).any():
        return None
    s1 = np.add.reduceat(r, edges[:-1], axis=0).T
    s2 = np.add.reduceat(r * r, edges[:-1], axis=0).T
    return pbo_from_sums(np.diff(edges).astype(np.float64), s1, s2)
